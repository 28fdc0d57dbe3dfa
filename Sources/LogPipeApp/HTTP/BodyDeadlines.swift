import Synchronization

/// The deadlines of the request bodies being read, all enforced by one sweeping task.
///
/// A body read races its deadline (`LOGPIPE_BODY_TIMEOUT_S`). A timer task of its own per request (a child
/// task that sleeps, is cancelled when the body comes first, and a task group to race the two) cost about
/// as much as parsing and answering a single log. Here a read registers its deadline and a closure that
/// cancels it; one task, started when the first deadline is registered and ended when none is left, looks
/// every `tick` for the deadlines that have passed. A deadline so fires at most one `tick` late.
final class BodyDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var sweeping = false
    }

    /// How often the sweeping task looks.
    let tick: Duration
    private let state = Mutex(State())

    /// For deadlines `timeout` away: a tick of a quarter of it, between 10 and 250 ms.
    init(timeout: Duration) {
        tick = min(max(timeout / 4, .milliseconds(10)), .milliseconds(250))
    }

    /// Calls `expire` (once, on the sweeping task) when `deadline` has passed, unless ``remove(_:)`` came first.
    func add(_ deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, start) = state.withLock { state -> (UInt64, Bool) in
            state.nextID += 1
            state.entries[state.nextID] = Entry(deadline: deadline, expire: expire)
            defer { state.sweeping = true }
            return (state.nextID, !state.sweeping)
        }
        if start { Task { await self.sweep() } }
        return id
    }

    /// Takes a deadline back; `true` when it had already passed (its `expire` was called).
    func remove(_ id: UInt64) -> Bool {
        state.withLock { $0.entries.removeValue(forKey: id) == nil }
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
                let passed = state.entries.filter { $0.value.deadline <= now }
                for id in passed.keys { state.entries[id] = nil }
                return Array(passed.values)
            }
            guard let expired else { return }
            for entry in expired { entry.expire() }
        }
    }
}
