import Synchronization

/// Bounds the request bodies the API holds at once, in bytes actually read (read, decompressed, decoded,
/// parsed, awaiting confirms), and shares them fairly between clients. A request is charged as its bytes
/// arrive, never for what it only declares:
///
/// - its first chunk is **admitted** in arrival order once the budget has room (``acquire(_:for:)``), so under
///   overload new bodies wait in line in their socket buffers instead of memory growing with the connections,
///   and a client that sends headers and then nothing holds nothing;
/// - its later chunks (and what gzip inflates them to, and what its decoded form takes) are **charged** ahead
///   of every admission (``charge(_:for:)``), and may overdraw the budget by up to its capacity again: requests
///   already being read never wait behind new ones, so two large uploads cannot deadlock each other. Past the
///   overdraft they wait too, and the body timeout ends whoever waits longest.
///
/// **Fairness.** A request is charged at most ``requestShare`` (a quarter of the capacity), so no single body,
/// however slow, holds the budget. A client (an API key, else a peer address) may hold at most ``clientShare``
/// (a quarter) in all: past it, its new bodies and the later chunks of its newer requests wait in line without
/// holding back anybody else's. Its oldest request is exempt (it waits only for the budget itself, within its
/// own share), so a client's parallel uploads never wait on each other forever. One client so holds at most
/// half the budget, and the rest is always there for the others.
///
/// Memory held by bodies is at most twice the capacity (plus what single bodies larger than their share
/// hold beyond it). Every wait is cancellable (a timed-out request leaves the line); everything taken is given
/// back with ``release(_:for:)`` when the request is answered.
final class BodyBudget: Sendable {
    /// Who a request belongs to, for fairness: its API key's hash, or its peer's address (16 bytes either way,
    /// so that telling clients apart costs no string).
    struct Client: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
    }

    /// A request charged on behalf of a client.
    struct Owner: Hashable, Sendable {
        var client: Client
        var request: UInt64
    }

    private struct Waiter {
        var id: UInt64
        var bytes: Int
        var owner: Owner?
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct ClientState {
        var held = 0
        /// Its requests holding or waiting for bytes, oldest first.
        var requests: [UInt64] = []
    }

    private struct State {
        /// Charges may overdraw the budget by this much (as much again as its capacity).
        let capacity: Int
        var available: Int
        var admissions: [Waiter] = []
        var charges: [Waiter] = []
        var clients: [Client: ClientState] = [:]
        var nextID: UInt64 = 0
        /// Waits created but not yet in line, and those of them cancelled before they got there.
        var pending: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    let capacity: Int
    /// The most one request is charged.
    let requestShare: Int
    /// The most one client's requests other than its oldest may hold.
    let clientShare: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.requestShare = max(1, capacity / 4)
        self.clientShare = max(1, capacity / 4)
        state = Mutex(State(capacity: capacity, available: capacity))
    }

    /// A new request of `client`, to charge with ``acquire(_:for:)`` and ``charge(_:for:)`` and to end with
    /// ``release(_:for:)``.
    func register(_ client: Client) -> Owner {
        state.withLock { state in
            state.nextID += 1
            state.clients[client, default: ClientState()].requests.append(state.nextID)
            return Owner(client: client, request: state.nextID)
        }
    }

    /// Admits a new body: waits, in arrival order, until `bytes` (capped at the request's share) fit and takes
    /// them. Returns what was taken. Throws `CancellationError` when the task is cancelled while waiting.
    func acquire(_ bytes: Int, for owner: Owner? = nil) async throws -> Int {
        try await take(min(max(bytes, 1), owner == nil ? capacity : requestShare), owner: owner, admission: true)
    }

    /// Charges more bytes of a body already admitted: at once while the overdraft allows, ahead of every
    /// admission otherwise. Returns what was taken.
    func charge(_ bytes: Int, for owner: Owner? = nil) async throws -> Int {
        guard bytes > 0 else { return 0 }
        return try await take(min(bytes, capacity), owner: owner, admission: false)
    }

    /// Gives back `bytes`; with `owner`, also ends that request (its client's next one becomes its oldest).
    func release(_ bytes: Int, for owner: Owner? = nil) {
        let resume = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.available += bytes
            if let owner, var client = state.clients[owner.client] {
                client.held -= bytes
                client.requests.removeAll { $0 == owner.request }
                state.clients[owner.client] = client.requests.isEmpty ? nil : client
            }
            return Self.grant(&state, clientShare: clientShare)
        }
        for waiter in resume { waiter.resume() }
    }

    /// Bytes free now (negative while overdrawn; for tests and metrics).
    var available: Int { state.withLock { $0.available } }

    /// Requests waiting now (for tests).
    var waitingCount: Int { state.withLock { $0.admissions.count + $0.charges.count } }

    /// What a client holds now (for tests).
    func held(by client: Client) -> Int { state.withLock { $0.clients[client]?.held ?? 0 } }

    /// Clients with requests in work (for tests: none is left behind once every request has ended).
    var clientCount: Int { state.withLock { $0.clients.count } }

    private func take(_ bytes: Int, owner: Owner?, admission: Bool) async throws -> Int {
        let id = state.withLock { state -> UInt64? in
            // In line behind nobody, and it fits: taken at once.
            if state.admissions.isEmpty, state.charges.isEmpty,
                Self.fits(bytes, owner: owner, admission: admission, state, clientShare: clientShare)
            {
                Self.debit(bytes, owner: owner, &state)
                return nil
            }
            state.nextID += 1
            state.pending.insert(state.nextID)
            return state.nextID
        }
        guard let id else { return bytes }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resume, cancelledEarly) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], Bool) in
                    state.pending.remove(id)
                    if state.cancelled.remove(id) != nil { return ([], true) }
                    let waiter = Waiter(id: id, bytes: bytes, owner: owner, continuation: continuation)
                    if admission { state.admissions.append(waiter) } else { state.charges.append(waiter) }
                    return (Self.grant(&state, clientShare: clientShare), false)
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
                // The ones behind it may fit now; else they would wait for an unrelated release.
                return (removed, removed == nil ? [] : Self.grant(&state, clientShare: clientShare))
            }
            waiter?.continuation.resume(throwing: CancellationError())
            for next in resume { next.resume() }
        }
        return bytes
    }

    /// Whether `bytes` fit the budget (an admission keeps it in credit, a charge may overdraw it by its
    /// capacity) and the owner's client (its oldest request aside, within ``clientShare``).
    private static func fits(_ bytes: Int, owner: Owner?, admission: Bool, _ state: State, clientShare: Int) -> Bool {
        if let owner, let client = state.clients[owner.client], client.requests.first != owner.request,
            client.held + bytes > clientShare
        {
            return false
        }
        return admission ? state.available >= bytes : state.available - bytes >= -state.capacity
    }

    private static func debit(_ bytes: Int, owner: Owner?, _ state: inout State) {
        state.available -= bytes
        if let owner { state.clients[owner.client]?.held += bytes }
    }

    /// Grants the waiters that fit now, charges first, then admissions, each line in order. A waiter held back
    /// only by its own client's share is passed over; one held back by the budget stops its line (and a blocked
    /// charge stops the admissions too).
    private static func grant(_ state: inout State, clientShare: Int) -> [CheckedContinuation<Void, any Error>] {
        var resume: [CheckedContinuation<Void, any Error>] = []
        var charges = state.charges
        defer { state.charges = charges }
        guard grantLine(&charges, admission: false, &state, clientShare: clientShare, into: &resume) else { return resume }
        var admissions = state.admissions
        _ = grantLine(&admissions, admission: true, &state, clientShare: clientShare, into: &resume)
        state.admissions = admissions
        return resume
    }

    /// Grants what fits in one line; false when a waiter is held back by the budget itself.
    private static func grantLine(
        _ line: inout [Waiter], admission: Bool, _ state: inout State, clientShare: Int,
        into resume: inout [CheckedContinuation<Void, any Error>]
    ) -> Bool {
        var index = 0
        while index < line.count {
            let waiter = line[index]
            if fits(waiter.bytes, owner: waiter.owner, admission: admission, state, clientShare: clientShare) {
                debit(waiter.bytes, owner: waiter.owner, &state)
                resume.append(line.remove(at: index).continuation)
            } else if fits(waiter.bytes, owner: nil, admission: admission, state, clientShare: clientShare) {
                index += 1  // its client is at its share: the others go on
            } else {
                return false
            }
        }
        return true
    }
}

/// What one request took from the ``BodyBudget``, given back in one go when it is answered, and how much of
/// its body has arrived (for the minimum transfer rate, ``BodyDeadlines``).
final class BodyCharge: Sendable {
    private struct Held {
        var bytes = 0
        var received = 0
        /// In line for the budget: its body waits in the socket, which is not the client's doing.
        var waiting = false
    }

    private let budget: BodyBudget
    private let owner: BodyBudget.Owner?
    private let held = Mutex(Held())

    /// A request of `client` (nil: charged to the budget alone, without a client's share).
    init(budget: BodyBudget, client: BodyBudget.Client? = nil) {
        self.budget = budget
        self.owner = client.map(budget.register)
    }

    /// Admits the body with its first chunk, or charges a later one (and counts what arrived, when
    /// `received`). One request holds at most its share of the budget (a body larger than that is charged
    /// its share and never waits on itself).
    func take(_ bytes: Int, received: Bool = false) async throws {
        let current = held.withLock { held in
            if received { held.received += bytes }
            return held.bytes
        }
        let limit = owner == nil ? budget.capacity : budget.requestShare
        let wanted = min(bytes, limit - current)
        guard wanted > 0 || current == 0 else { return }
        held.withLock { $0.waiting = true }
        defer { held.withLock { $0.waiting = false } }
        let taken = current == 0 ? try await budget.acquire(bytes, for: owner) : try await budget.charge(wanted, for: owner)
        held.withLock { $0.bytes += taken }
    }

    /// Charges what a request's decoded form will take (estimated before it is built): up to the whole
    /// capacity, beyond the request's share, since it is memory the request really holds.
    func takeDecoded(_ bytes: Int) async throws {
        let wanted = min(bytes, budget.capacity - held.withLock { $0.bytes })
        guard wanted > 0 else { return }
        let taken = try await budget.charge(wanted, for: owner)
        held.withLock { $0.bytes += taken }
    }

    var bytes: Int { held.withLock { $0.bytes } }

    /// Body bytes received so far, and whether the request waits for the budget now.
    var progress: (received: Int, waiting: Bool) { held.withLock { ($0.received, $0.waiting) } }

    /// Body bytes received so far.
    var received: Int { held.withLock { $0.received } }

    func releaseAll() {
        let bytes = held.withLock { held -> Int in
            defer { held.bytes = 0 }
            return held.bytes
        }
        if bytes > 0 || owner != nil { budget.release(bytes, for: owner) }
    }
}
