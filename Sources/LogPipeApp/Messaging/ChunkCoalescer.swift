import LogPipeCore
import Synchronization

/// Group commit for publishes: a tenant's logs that arrive while earlier messages of that tenant await their
/// confirm leave together as one batch chunk.
///
/// While fewer than `inFlight` messages of a tenant await a confirm, a request's logs for that tenant (one log,
/// or one chunk of a batch) are sent at once as they are. Past that, they wait in the tenant's lane and leave
/// together as one chunk when a confirm comes back, or at once when the chunk is full (`chunkLogs`,
/// `chunkBytes`). Under load the broker and the workers see a few large messages instead of many small ones;
/// at low load nothing waits. Every caller returns only once the message that carries its logs was confirmed,
/// with that message's outcome, or, when the message it waited behind timed out or lost its connection, at once
/// with that failure: its logs were never sent, and sending them into the same silence would make it wait out a
/// second confirm timeout.
final class ChunkCoalescer: Sendable {
    /// One log and its encoded work body.
    struct Item: Sendable {
        let record: LogRecord
        let encoded: [UInt8]
    }

    /// Sends one message carrying `items` (one item: the plain log body; more: a batch chunk) and returns
    /// the outcome of its confirm.
    typealias Send = @Sendable (_ tenant: TenantID, _ items: [Item]) async -> PublishFailure?
    /// Sends one message per chunk, together, and returns each one's outcome in order.
    typealias SendMany = @Sendable (_ chunks: [Chunk]) async -> [PublishFailure?]

    /// A tenant's logs that travel as one message.
    struct Chunk: Sendable {
        var tenant: TenantID
        var items: [Item]
    }

    private struct Group {
        let items: [Item]
        let continuation: CheckedContinuation<PublishFailure?, Never>
    }

    private struct Lane {
        var inFlight = 0
        var waiting: [Group] = []
        var waitingLogs = 0
        var waitingBytes = 0

        /// Moves the waiting groups out and counts the message that will carry them as in flight.
        mutating func take() -> [Group] {
            inFlight += 1
            return drain()
        }

        /// Moves the waiting groups out (to be answered without a message).
        mutating func drain() -> [Group] {
            let taken = waiting
            waiting = []
            waitingLogs = 0
            waitingBytes = 0
            return taken
        }
    }

    let inFlight: Int
    let chunkLogs: Int
    let chunkBytes: Int
    private let send: Send
    private let sendMany: SendMany
    private let lanes = Mutex<[TenantID: Lane]>([:])

    init(inFlight: Int, chunkLogs: Int, chunkBytes: Int, send: @escaping Send, sendMany: @escaping SendMany) {
        precondition(inFlight >= 1 && chunkLogs >= 1)
        self.inFlight = inFlight
        self.chunkLogs = chunkLogs
        self.chunkBytes = chunkBytes
        self.send = send
        self.sendMany = sendMany
    }

    /// Publishes a request's chunks (each of one tenant, at most a chunk's worth): those whose tenant has room in
    /// flight leave at once, together (one hop to the broker connection for all of them); the others wait in
    /// their tenant's lane as with ``publish(_:tenant:)``. Returns the first failure, once every chunk is settled.
    func publish(_ chunks: [Chunk]) async -> PublishFailure? {
        let alone = lanes.withLock { lanes in
            chunks.map { chunk -> Bool in
                var lane = lanes[chunk.tenant, default: Lane()]
                guard lane.inFlight < inFlight, lane.waiting.isEmpty else { return false }
                lane.inFlight += 1
                lanes[chunk.tenant] = lane
                return true
            }
        }
        let now = zip(chunks, alone).filter(\.1).map(\.0)
        let later = zip(chunks, alone).filter { !$0.1 }.map(\.0)
        if later.isEmpty { return await sendAlone(now) }
        return await withTaskGroup(of: PublishFailure?.self) { group in
            for chunk in later {
                group.addTask { await self.wait(chunk.items, tenant: chunk.tenant) }
            }
            var first = await sendAlone(now)
            for await error in group where first == nil { first = error }
            return first
        }
    }

    private func sendAlone(_ chunks: [Chunk]) async -> PublishFailure? {
        guard !chunks.isEmpty else { return nil }
        let errors = await sendMany(chunks)
        for (chunk, error) in zip(chunks, errors) { finished(chunk.tenant, error) }
        return errors.lazy.compactMap { $0 }.first
    }

    /// Publishes `items` (all of `tenant`, at most a chunk's worth); returns once the message carrying them was
    /// confirmed (`nil`) or failed (the error).
    func publish(_ items: [Item], tenant: TenantID) async -> PublishFailure? {
        guard !items.isEmpty else { return nil }
        let alone = lanes.withLock { lanes -> Bool in
            var lane = lanes[tenant, default: Lane()]
            guard lane.inFlight < inFlight, lane.waiting.isEmpty else { return false }
            lane.inFlight += 1
            lanes[tenant] = lane
            return true
        }
        if alone {
            let error = await send(tenant, items)
            finished(tenant, error)
            return error
        }
        return await wait(items, tenant: tenant)
    }

    /// Puts `items` in the tenant's lane; they leave with the lane's next chunk.
    private func wait(_ items: [Item], tenant: TenantID) async -> PublishFailure? {
        let bytes = items.reduce(0) { $0 + $1.encoded.count + 1 }
        return await withCheckedContinuation { continuation in
            let ready = lanes.withLock { lanes -> [[Group]] in
                var lane = lanes[tenant, default: Lane()]
                var ready: [[Group]] = []
                if !lane.waiting.isEmpty, lane.waitingLogs + items.count > chunkLogs || lane.waitingBytes + bytes > chunkBytes {
                    ready.append(lane.take())
                }
                lane.waiting.append(Group(items: items, continuation: continuation))
                lane.waitingLogs += items.count
                lane.waitingBytes += bytes
                // A confirm may have come back since the first look; a full chunk never waits.
                if lane.inFlight < inFlight || lane.waitingLogs >= chunkLogs || lane.waitingBytes >= chunkBytes {
                    ready.append(lane.take())
                }
                lanes[tenant] = lane
                return ready
            }
            for groups in ready { flush(tenant, groups) }
        }
    }

    /// Logs waiting now, across tenants (for tests).
    var waitingLogs: Int { lanes.withLock { $0.values.reduce(0) { $0 + $1.waitingLogs } } }

    /// A message of the tenant was settled with `outcome`: its waiting logs, if any, leave now as one chunk, or fail
    /// with the outcome when it says the broker is silent or gone (``PublishFailure/failsWaiting``).
    private func finished(_ tenant: TenantID, _ outcome: PublishFailure?) {
        let failure = outcome.flatMap { $0.failsWaiting ? $0 : nil }
        let (next, failed) = lanes.withLock { lanes -> ([Group]?, [Group]) in
            guard var lane = lanes[tenant] else { return (nil, []) }
            lane.inFlight -= 1
            let outcome: ([Group]?, [Group]) =
                lane.waiting.isEmpty ? (nil, []) : failure == nil ? (lane.take(), []) : (nil, lane.drain())
            lanes[tenant] = lane.inFlight == 0 && lane.waiting.isEmpty ? nil : lane
            return outcome
        }
        for group in failed { group.continuation.resume(returning: failure) }
        if let next { flush(tenant, next) }
    }

    private func flush(_ tenant: TenantID, _ groups: [Group]) {
        Task {
            let error = await send(tenant, groups.count == 1 ? groups[0].items : groups.flatMap(\.items))
            for group in groups { group.continuation.resume(returning: error) }
            finished(tenant, error)
        }
    }
}
