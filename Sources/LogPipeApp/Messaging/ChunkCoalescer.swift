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
/// with that message's outcome.
final class ChunkCoalescer: Sendable {
    /// One log and its encoded work body.
    struct Item: Sendable {
        let record: LogRecord
        let encoded: [UInt8]
    }

    /// Sends one message carrying `items` (one item: the plain log body; more: a batch chunk) and returns
    /// the outcome of its confirm.
    typealias Send = @Sendable (_ tenant: TenantID, _ items: [Item]) async -> IngestError?

    private struct Group {
        let items: [Item]
        let continuation: CheckedContinuation<IngestError?, Never>
    }

    private struct Lane {
        var inFlight = 0
        var waiting: [Group] = []
        var waitingLogs = 0
        var waitingBytes = 0

        /// Moves the waiting groups out and counts the message that will carry them as in flight.
        mutating func take() -> [Group] {
            let taken = waiting
            waiting = []
            waitingLogs = 0
            waitingBytes = 0
            inFlight += 1
            return taken
        }
    }

    let inFlight: Int
    let chunkLogs: Int
    let chunkBytes: Int
    private let send: Send
    private let lanes = Mutex<[TenantID: Lane]>([:])

    init(inFlight: Int, chunkLogs: Int, chunkBytes: Int, send: @escaping Send) {
        precondition(inFlight >= 1 && chunkLogs >= 1)
        self.inFlight = inFlight
        self.chunkLogs = chunkLogs
        self.chunkBytes = chunkBytes
        self.send = send
    }

    /// Publishes `items` (all of `tenant`, at most a chunk's worth); returns once the message carrying them was
    /// confirmed (`nil`) or failed (the error).
    func publish(_ items: [Item], tenant: TenantID) async -> IngestError? {
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
            finished(tenant)
            return error
        }
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

    /// A message of the tenant was settled: its waiting logs, if any, leave now as one chunk.
    private func finished(_ tenant: TenantID) {
        let next = lanes.withLock { lanes -> [Group]? in
            guard var lane = lanes[tenant] else { return nil }
            lane.inFlight -= 1
            let taken = lane.waiting.isEmpty ? nil : lane.take()
            lanes[tenant] = lane.inFlight == 0 && lane.waiting.isEmpty ? nil : lane
            return taken
        }
        if let next { flush(tenant, next) }
    }

    private func flush(_ tenant: TenantID, _ groups: [Group]) {
        Task {
            let error = await send(tenant, groups.count == 1 ? groups[0].items : groups.flatMap(\.items))
            for group in groups { group.continuation.resume(returning: error) }
            finished(tenant)
        }
    }
}
