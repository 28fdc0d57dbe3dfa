import Synchronization

/// Bounds the request bodies the API holds at once, in bytes actually read (read, decompressed, parsed,
/// awaiting confirms). A request is charged as its bytes arrive, never for what it only declares:
///
/// - its first chunk is **admitted** in arrival order once the budget has room (``acquire(_:)``), so under
///   overload new bodies wait in line in their socket buffers instead of memory growing with the connections,
///   and a client that sends headers and then nothing holds nothing;
/// - its later chunks (and what gzip inflates them to) are **charged** ahead of every admission
///   (``charge(_:)``), and may overdraw the budget by up to its capacity again: requests already being read
///   never wait behind new ones, so two large uploads cannot deadlock each other. Past the overdraft they wait
///   too, and the body timeout ends whoever waits longest.
///
/// One request is charged at most the whole capacity. Memory held by bodies is so at most twice the capacity
/// (plus what single bodies larger than the budget hold beyond it). Every wait is cancellable (a timed-out request
/// leaves the line); everything taken is given back with ``release(_:)`` when the request is answered.
final class BodyBudget: Sendable {
    private struct Waiter {
        var id: UInt64
        var bytes: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var available: Int
        var admissions: [Waiter] = []
        var charges: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waits created but not yet in line, and those of them cancelled before they got there.
        var pending: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = Mutex(State(available: capacity))
    }

    /// Admits a new body: waits, in arrival order, until `bytes` (capped at the capacity) fit and takes them.
    /// Returns what was taken. Throws `CancellationError` when the task is cancelled while waiting.
    func acquire(_ bytes: Int) async throws -> Int {
        try await take(min(max(bytes, 1), capacity), admission: true)
    }

    /// Charges more bytes of a body already admitted: at once while the overdraft allows, ahead of every
    /// admission otherwise. Returns what was taken.
    func charge(_ bytes: Int) async throws -> Int {
        guard bytes > 0 else { return 0 }
        return try await take(min(bytes, capacity), admission: false)
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let resume = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.available += bytes
            return Self.grant(&state, capacity: capacity)
        }
        for waiter in resume { waiter.resume() }
    }

    /// Bytes free now (negative while overdrawn; for tests and metrics).
    var available: Int { state.withLock { $0.available } }

    /// Requests waiting now (for tests).
    var waitingCount: Int { state.withLock { $0.admissions.count + $0.charges.count } }

    private func take(_ bytes: Int, admission: Bool) async throws -> Int {
        let granted = state.withLock { state -> Bool in
            guard Self.fits(bytes, admission: admission, state, capacity: capacity) else { return false }
            state.available -= bytes
            return true
        }
        if granted { return bytes }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.pending.insert(state.nextID)
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resume, cancelledEarly) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], Bool) in
                    state.pending.remove(id)
                    if state.cancelled.remove(id) != nil { return ([], true) }
                    let waiter = Waiter(id: id, bytes: bytes, continuation: continuation)
                    if admission { state.admissions.append(waiter) } else { state.charges.append(waiter) }
                    return (Self.grant(&state, capacity: capacity), false)
                }
                if cancelledEarly { continuation.resume(throwing: CancellationError()) }
                for waiter in resume { waiter.resume() }
            }
        } onCancel: {
            let (waiter, resume) = state.withLock { state -> (Waiter?, [CheckedContinuation<Void, any Error>]) in
                var removed: Waiter?
                if let index = state.admissions.firstIndex(where: { $0.id == id }) {
                    removed = state.admissions.remove(at: index)
                } else if let index = state.charges.firstIndex(where: { $0.id == id }) {
                    removed = state.charges.remove(at: index)
                } else if state.pending.contains(id) {
                    state.cancelled.insert(id)  // not in line yet; else already granted
                }
                // The ones behind it may fit now (found in review: they waited for an unrelated release).
                return (removed, removed == nil ? [] : Self.grant(&state, capacity: capacity))
            }
            waiter?.continuation.resume(throwing: CancellationError())
            for next in resume { next.resume() }
        }
        return bytes
    }

    private static func fits(_ bytes: Int, admission: Bool, _ state: State, capacity: Int) -> Bool {
        if admission {
            // In line behind nobody, and it fits (a body as large as the whole budget runs alone).
            return state.admissions.isEmpty && state.charges.isEmpty && state.available >= bytes
        }
        return state.charges.isEmpty && state.available - bytes >= -capacity
    }

    /// Grants the waiters at the head of the lines that fit now: charges first, then admissions.
    private static func grant(_ state: inout State, capacity: Int) -> [CheckedContinuation<Void, any Error>] {
        var resume: [CheckedContinuation<Void, any Error>] = []
        while let first = state.charges.first, state.available - first.bytes >= -capacity {
            state.available -= first.bytes
            resume.append(state.charges.removeFirst().continuation)
        }
        while state.charges.isEmpty, let first = state.admissions.first, state.available >= first.bytes {
            state.available -= first.bytes
            resume.append(state.admissions.removeFirst().continuation)
        }
        return resume
    }
}

/// What one request took from the ``BodyBudget``, given back in one go when it is answered.
final class BodyCharge: Sendable {
    private let budget: BodyBudget
    private let held = Mutex(0)

    init(budget: BodyBudget) { self.budget = budget }

    /// Admits the body with its first chunk, or charges a later one. One request holds at most the whole
    /// capacity (a body larger than the budget is charged that much and never waits on its own share).
    func take(_ bytes: Int) async throws {
        let current = held.withLock { $0 }
        let wanted = min(bytes, budget.capacity - current)
        guard wanted > 0 || current == 0 else { return }
        let taken = current == 0 ? try await budget.acquire(bytes) : try await budget.charge(wanted)
        held.withLock { $0 += taken }
    }

    var bytes: Int { held.withLock { $0 } }

    func releaseAll() {
        let bytes = held.withLock { value -> Int in
            defer { value = 0 }
            return value
        }
        budget.release(bytes)
    }
}
