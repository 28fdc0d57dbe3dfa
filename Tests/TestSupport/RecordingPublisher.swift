import LogPipeApp
import LogPipeCore
import Synchronization

/// A publisher that records what it was given, or fails as told: the API's HTTP behaviour without a broker (the
/// real broker path is in the integration tests).
public final class RecordingPublisher: LogPublisher {
    private let published = Mutex<[LogRecord]>([])
    private let batchesSeen = Mutex<[[LogRecord]]>([])
    let failure: PublishFailure?
    let unready: (check: String, detail: String)?
    /// Runs as each batch is published (before it counts as confirmed): what the API holds then can be looked at.
    let onBatch: (@Sendable () -> Void)?

    public init(failure: PublishFailure? = nil, unready: (check: String, detail: String)? = nil, onBatch: (@Sendable () -> Void)? = nil) {
        self.failure = failure
        self.unready = unready
        self.onBatch = onBatch
    }

    public func publish(_ record: LogRecord) async throws(PublishFailure) {
        if let failure { throw failure }
        published.withLock { $0.append(record) }
    }

    public func publish(batch records: [LogRecord]) async throws(PublishFailure) {
        onBatch?()
        if let failure { throw failure }
        published.withLock { $0.append(contentsOf: records) }
        batchesSeen.withLock { $0.append(records) }
    }

    public var unreadyReason: (check: String, detail: String)? { unready }

    /// Every record published, singles and batches, in order.
    public var records: [LogRecord] { published.withLock { $0 } }
    /// The batches published, each as it came.
    public var batches: [[LogRecord]] { batchesSeen.withLock { $0 } }
}
