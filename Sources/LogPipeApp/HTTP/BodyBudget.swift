import Synchronization

/// Bounds the request bodies the API works on at once (read, parsed, encoded, awaiting confirms): a request
/// takes its share before its body is read and gives it back when it is answered, in arrival order. Under
/// overload, requests wait in line (their bodies stay in the socket buffers) instead of memory growing with
/// the number of connections. A request larger than the whole budget takes all of it and runs alone.
final class BodyBudget: Sendable {
    private struct State {
        var available: Int
        var waiting: [(bytes: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var head = 0
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = Mutex(State(available: capacity))
    }

    /// Waits until `bytes` (capped at the capacity) are free and takes them; returns what was taken, to be
    /// given back with ``release(_:)``.
    func acquire(_ bytes: Int) async -> Int {
        let bytes = min(max(bytes, 1), capacity)
        let granted = state.withLock { state -> Bool in
            guard state.head == state.waiting.count, state.available >= bytes else { return false }
            state.available -= bytes
            return true
        }
        if granted { return bytes }
        await withCheckedContinuation { continuation in
            let resume = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.waiting.append((bytes, continuation))
                return Self.grant(&state)
            }
            for waiter in resume { waiter.resume() }
        }
        return bytes
    }

    func release(_ bytes: Int) {
        let resume = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.available += bytes
            return Self.grant(&state)
        }
        for waiter in resume { waiter.resume() }
    }

    /// Bytes free now (for tests).
    var available: Int { state.withLock { $0.available } }

    /// Requests waiting now (for tests).
    var waitingCount: Int { state.withLock { $0.waiting.count - $0.head } }

    /// Takes the shares of the waiters at the head of the line that fit now.
    private static func grant(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        var resume: [CheckedContinuation<Void, Never>] = []
        while state.head < state.waiting.count, state.waiting[state.head].bytes <= state.available {
            state.available -= state.waiting[state.head].bytes
            resume.append(state.waiting[state.head].continuation)
            state.head += 1
        }
        if state.head == state.waiting.count {
            state.waiting.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head > 1024 {
            state.waiting.removeFirst(state.head)
            state.head = 0
        }
        return resume
    }
}
