import Testing

@testable import AMQPBridge

@Suite("Publisher confirm bookkeeping")
struct ConfirmTrackerTests {
    let later = ContinuousClock.now + .seconds(60)

    func tracker(_ count: Int) -> ConfirmTracker<Int> {
        var tracker = ConfirmTracker<Int>()
        for token in 1...count {
            let tag = tracker.add(token, deadline: later, messageID: "m\(token)", routingKey: "tenant.a")
            #expect(tag == UInt64(token))
        }
        return tracker
    }

    func names(_ settled: [(Int, ConfirmTracker<Int>.Outcome)]) -> [String] {
        settled.map { token, outcome in
            switch outcome {
            case .confirmed: "\(token):ok"
            case .nacked: "\(token):nack"
            case .unroutable: "\(token):returned"
            }
        }
    }

    @Test("a multiple ack settles every earlier publish, a single ack only its own")
    func multipleAndSingle() {
        var tracker = tracker(5)
        #expect(names(tracker.settle(tag: 2, multiple: false, acked: true)) == ["2:ok"])
        #expect(names(tracker.settle(tag: 4, multiple: true, acked: true)) == ["1:ok", "3:ok", "4:ok"])
        #expect(tracker.count == 1)
        #expect(names(tracker.settle(tag: 4, multiple: true, acked: true)).isEmpty)
        #expect(names(tracker.settle(tag: 5, multiple: false, acked: false)) == ["5:nack"])
        #expect(tracker.isEmpty)
    }

    @Test("a returned message fails when its ack arrives; others are unaffected")
    func returned() {
        var tracker = ConfirmTracker<Int>()
        _ = tracker.add(1, deadline: later, messageID: "same", routingKey: "tenant.a")
        _ = tracker.add(2, deadline: later, messageID: "same", routingKey: "tenant.b")
        _ = tracker.add(3, deadline: later, messageID: "same", routingKey: "tenant.b")
        let matched = tracker.markReturned(messageID: "same", routingKey: "tenant.b", replyCode: 312, replyText: "NO_ROUTE")
        #expect(matched)
        #expect(names(tracker.settle(tag: 3, multiple: true, acked: true)) == ["1:ok", "2:returned", "3:ok"])
        let unmatched = tracker.markReturned(messageID: "none", routingKey: "tenant.b", replyCode: 312, replyText: "NO_ROUTE")
        #expect(!unmatched)
    }

    @Test("publishes past their deadline expire oldest first and leave later ones")
    func expiry() {
        let now = ContinuousClock.now
        var tracker = ConfirmTracker<Int>()
        _ = tracker.add(1, deadline: now - .seconds(2), messageID: nil, routingKey: "k")
        _ = tracker.add(2, deadline: now - .seconds(1), messageID: nil, routingKey: "k")
        _ = tracker.add(3, deadline: now + .seconds(5), messageID: nil, routingKey: "k")
        #expect(tracker.earliestDeadline == now - .seconds(2))
        let expired = tracker.expire(now: now)
        #expect(expired == [1, 2])
        #expect(tracker.earliestDeadline == now + .seconds(5))
        #expect(names(tracker.settle(tag: 3, multiple: true, acked: true)) == ["3:ok"])
        #expect(tracker.earliestDeadline == nil)
    }

    @Test("removeAll hands back every pending token in order and tags keep counting")
    func removeAll() {
        var tracker = tracker(3)
        let removed = tracker.removeAll()
        #expect(removed == [1, 2, 3])
        #expect(tracker.isEmpty)
        #expect(tracker.nextTag == 4)
    }
}
