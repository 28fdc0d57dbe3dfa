/// Publisher-confirm bookkeeping for one channel: which publishes wait for `basic.ack`, which came back
/// unroutable, which waited too long. A value type, driven by the connection loop and tested without I/O.
///
/// Delivery tags are assigned 1, 2, 3, … in publish order, as the broker counts them after `confirm.select`.
struct ConfirmTracker<Token> {
    /// How one publish ended.
    enum Outcome {
        case confirmed
        case nacked
        case unroutable(replyCode: UInt16, replyText: String)
    }

    private struct Entry {
        var token: Token
        var deadline: ContinuousClock.Instant
        var messageID: String?
        var routingKey: String
        var returned: (replyCode: UInt16, replyText: String)?
    }

    private var entries: [UInt64: Entry] = [:]
    /// The next tag the broker will assign.
    private(set) var nextTag: UInt64 = 1
    /// No entry has a tag below this one.
    private var lowestTag: UInt64 = 1

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Records a publish that was just written; returns its delivery tag.
    mutating func add(_ token: Token, deadline: ContinuousClock.Instant, messageID: String?, routingKey: String) -> UInt64 {
        let tag = nextTag
        nextTag += 1
        entries[tag] = Entry(token: token, deadline: deadline, messageID: messageID, routingKey: routingKey)
        return tag
    }

    /// Settles the publishes a `basic.ack`/`basic.nack` covers, oldest first.
    mutating func settle(tag: UInt64, multiple: Bool, acked: Bool) -> [(Token, Outcome)] {
        var settled: [(Token, Outcome)] = []
        guard !multiple || tag >= lowestTag else { return settled }
        for current in multiple ? lowestTag...tag : tag...tag {
            guard let entry = entries.removeValue(forKey: current) else { continue }
            if !acked {
                settled.append((entry.token, .nacked))
            } else if let returned = entry.returned {
                settled.append((entry.token, .unroutable(replyCode: returned.replyCode, replyText: returned.replyText)))
            } else {
                settled.append((entry.token, .confirmed))
            }
        }
        advanceLowest()
        return settled
    }

    /// Marks the oldest unsettled publish with this message id and routing key as returned. RabbitMQ sends
    /// `basic.return` before the `basic.ack` of the same message and in publish order, so the oldest match is it.
    @discardableResult
    mutating func markReturned(messageID: String?, routingKey: String, replyCode: UInt16, replyText: String) -> Bool {
        var tag = lowestTag
        while tag < nextTag {
            if var entry = entries[tag], entry.returned == nil, entry.messageID == messageID, entry.routingKey == routingKey {
                entry.returned = (replyCode, replyText)
                entries[tag] = entry
                return true
            }
            tag += 1
        }
        return false
    }

    /// Removes and returns the publishes whose deadline has passed (they are in deadline order).
    mutating func expire(now: ContinuousClock.Instant) -> [Token] {
        var expired: [Token] = []
        var tag = lowestTag
        while tag < nextTag {
            if let entry = entries[tag] {
                guard entry.deadline <= now else { break }
                expired.append(entries.removeValue(forKey: tag)!.token)
            }
            tag += 1
        }
        advanceLowest()
        return expired
    }

    /// The earliest deadline among unsettled publishes.
    var earliestDeadline: ContinuousClock.Instant? {
        var tag = lowestTag
        while tag < nextTag {
            if let entry = entries[tag] { return entry.deadline }
            tag += 1
        }
        return nil
    }

    /// Removes everything (the channel is gone); the caller fails the tokens.
    mutating func removeAll() -> [Token] {
        let tokens = entries.keys.sorted().map { entries[$0]!.token }
        entries.removeAll()
        lowestTag = nextTag
        return tokens
    }

    private mutating func advanceLowest() {
        while lowestTag < nextTag, entries[lowestTag] == nil { lowestTag += 1 }
    }
}
