import LogPipeCore
import Synchronization

/// The deadlines of the request bodies being read, all enforced by one sweeping task.
///
/// A body read races its deadline (`LOGPIPE_BODY_TIMEOUT_S`). A timer task of its own per request (a child
/// task that sleeps, is cancelled when the body comes first, and a task group to race the two) cost about
/// as much as parsing and answering a single log. Here a read registers its deadline and a closure that
/// cancels it; one task, started when the first deadline is registered and ended when none is left, looks
/// every `tick` for the deadlines that have passed. A deadline so fires at most one `tick` late.
///
/// The same task enforces the minimum transfer rate (`LOGPIPE_BODY_MIN_RATE`): a body that has not received
/// `minimumRate × rateWindow` bytes in a window of ``rateWindow`` is expired too, so a client that trickles
/// its body holds its share of the body budget and its connection for one window, not for the whole timeout.
final class BodyDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var progress: BodyCharge?
        /// When the current rate window began, and what had arrived then.
        var windowStart: ContinuousClock.Instant
        var receivedAtWindowStart: Int
        var expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var sweeping = false
        /// Deadlines expired for a slow body rather than the timeout, until ``remove(_:)`` asks.
        var tooSlow: Set<UInt64> = []
    }

    /// Why a body's reading was ended.
    enum Expiry: Equatable {
        case timeout
        case tooSlow
    }

    /// How often the sweeping task looks.
    let tick: Duration
    /// Bytes per second a body must keep arriving at (0: no minimum), measured over windows of ``rateWindow``.
    let minimumRate: Int
    let rateWindow: Duration
    private let state = Mutex(State())

    /// For deadlines `timeout` away: a tick of a quarter of it, between 10 and 250 ms.
    init(timeout: Duration, minimumRate: Int = 0, rateWindow: Duration = .seconds(2)) {
        tick = min(max(timeout / 4, .milliseconds(10)), .milliseconds(250))
        self.minimumRate = minimumRate
        self.rateWindow = rateWindow
    }

    /// Calls `expire` (once, on the sweeping task) when `deadline` has passed, or when `progress` shows the body
    /// arriving slower than the minimum rate, unless ``remove(_:)`` came first.
    func add(_ deadline: ContinuousClock.Instant, progress: BodyCharge? = nil, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let now = ContinuousClock.now
        let (id, start) = state.withLock { state -> (UInt64, Bool) in
            state.nextID += 1
            state.entries[state.nextID] = Entry(
                deadline: deadline, progress: progress, windowStart: now, receivedAtWindowStart: 0, expire: expire)
            defer { state.sweeping = true }
            return (state.nextID, !state.sweeping)
        }
        if start { Task { await self.sweep() } }
        return id
    }

    /// Takes a deadline back; why it expired when it had (its `expire` was called), else nil.
    func remove(_ id: UInt64) -> Expiry? {
        state.withLock { state in
            guard state.entries.removeValue(forKey: id) == nil else { return nil }
            return state.tooSlow.remove(id) == nil ? .timeout : .tooSlow
        }
    }

    /// Deadlines registered and not yet passed or removed, and whether the sweeping task runs (for tests).
    var count: Int { state.withLock { $0.entries.count } }
    var isSweeping: Bool { state.withLock { $0.sweeping } }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let expired = state.withLock { state -> [Entry]? in
                if state.entries.isEmpty {
                    state.sweeping = false
                    return nil
                }
                var passed: [Entry] = []
                for (id, entry) in state.entries {
                    if entry.deadline <= now || tooSlow(id, entry, now: now, &state) {
                        state.entries[id] = nil
                        passed.append(entry)
                    }
                }
                return passed
            }
            guard let expired else { return }
            for entry in expired { entry.expire() }
        }
    }

    /// Whether a body's last full window brought less than the minimum; starts the next window when not. Time
    /// spent waiting for the body budget does not count: the body waits in its socket then, not at the client.
    private func tooSlow(_ id: UInt64, _ entry: Entry, now: ContinuousClock.Instant, _ state: inout State) -> Bool {
        guard minimumRate > 0, let charge = entry.progress else { return false }
        let (received, waiting) = charge.progress
        guard waiting || now - entry.windowStart >= rateWindow else { return false }
        let needed = Int(Double(minimumRate) * (Double(DurationText.milliseconds(rateWindow)) / 1000))
        guard waiting || received - entry.receivedAtWindowStart >= needed else {
            state.tooSlow.insert(id)
            return true
        }
        state.entries[id]?.windowStart = now
        state.entries[id]?.receivedAtWindowStart = received
        return false
    }
}
