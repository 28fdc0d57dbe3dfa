import AMQPBridge
import LogPipeCore
import Logging
import ServiceLifecycle
import Synchronization

/// Paces the API to the workers: while `<ns>.work` holds more than `limit` ready messages, publishes wait
/// (up to `maxWait`, then 503 `broker_backlog`) until the workers have brought it back under three quarters of
/// the limit. Without it, an API faster than its workers grows the queue without bound and every log's
/// ingest→stored latency with it; with it, clients are slowed to the rate at which logs are stored.
///
/// ``WorkBacklogMonitor`` reads the depth and wakes or times out the waiting publishes; without a running
/// monitor the gate never closes.
public final class WorkBacklogGate: Sendable {
    private struct Waiter {
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var closed = false
        var waiters: [Waiter] = []
    }

    /// Ready messages in the work queue above which publishes wait.
    public let limit: Int
    /// How long a publish waits at most before its request is answered 503.
    public let maxWait: Duration
    private let state = Mutex(State())

    public init(limit: Int, maxWait: Duration) {
        precondition(limit > 0)
        self.limit = limit
        self.maxWait = maxWait
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Publishes waiting now.
    public var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Returns at once while the queue is under its bound; else waits for it to drain, or throws after `maxWait`.
    func admit() async throws(PublishFailure) {
        guard state.withLock({ $0.closed }) else { return }
        let deadline = ContinuousClock.now + maxWait
        let admitted = await withCheckedContinuation { continuation in
            let open = state.withLock { state -> Bool in
                guard state.closed else { return true }
                state.waiters.append(Waiter(deadline: deadline, continuation: continuation))
                return false
            }
            if open { continuation.resume(returning: true) }
        }
        if !admitted { throw .workBacklog }
    }

    /// Applies a fresh reading of the queue depth; returns whether the gate changed (closed or opened).
    @discardableResult
    func update(readyMessages: Int, now: ContinuousClock.Instant = .now) -> Bool {
        let (changed, resume) = state.withLock { state -> (Bool, [(CheckedContinuation<Bool, Never>, Bool)]) in
            let wasClosed = state.closed
            if readyMessages > limit {
                state.closed = true
            } else if readyMessages <= limit * 3 / 4 {
                state.closed = false
            }
            var resume: [(CheckedContinuation<Bool, Never>, Bool)] = []
            if !state.closed {
                resume = state.waiters.map { ($0.continuation, true) }
                state.waiters.removeAll()
            } else {
                state.waiters.removeAll { waiter in
                    guard waiter.deadline <= now else { return false }
                    resume.append((waiter.continuation, false))
                    return true
                }
            }
            return (wasClosed != state.closed, resume)
        }
        for (continuation, admitted) in resume { continuation.resume(returning: admitted) }
        return changed
    }

    /// Lets every waiting publish through (the monitor stops; the API shuts down).
    func openForGood() {
        let waiters = state.withLock { state in
            state.closed = false
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: true) }
    }
}

/// Reads the depth of the work queues (`<ns>.work`, or every shard: the bound is on their sum) every `interval`
/// (passive declares on the publishing connection) for the ``WorkBacklogGate``.
public struct WorkBacklogMonitor: Service {
    let gate: WorkBacklogGate
    let connection: AMQPConnection
    let queues: [String]
    let interval: Duration
    let logger: Logger

    public init(gate: WorkBacklogGate, connection: AMQPConnection, queues: [String], interval: Duration = .milliseconds(100), logger: Logger) {
        self.gate = gate
        self.connection = connection
        self.queues = queues
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        defer { gate.openForGood() }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let ready = await readyMessages() {
                if gate.update(readyMessages: ready) {
                    if gate.isClosed {
                        logger.warning(
                            "ingest paused: the work queue is over its backlog bound",
                            metadata: [
                                "amqp.queues": "\(queues.count)", "queue.ready": "\(ready)", "queue.limit": "\(gate.limit)",
                            ])
                    } else {
                        logger.info("ingest resumed", metadata: ["amqp.queues": "\(queues.count)", "queue.ready": "\(ready)"])
                    }
                }
            } else {
                // Without a reading, fail no one: the publish itself reports a missing broker.
                gate.update(readyMessages: 0)
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Ready messages summed over the work queues; `nil` when one cannot be read.
    private func readyMessages() async -> Int? {
        var total = 0
        for queue in queues {
            guard let status = try? await connection.queueStatus(queue) else { return nil }
            total += Int(status.messageCount)
        }
        return total
    }
}
