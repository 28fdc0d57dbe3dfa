import AMQPBridge

/// Why logs were not taken by the broker. Nothing of the publish counts as accepted, and sending the same logs
/// again is safe (their `log_id`s store nothing twice). What a client is told (code, status, text, when to
/// retry) is the HTTP layer's decision: ``IngestError/init(_:)`` in HTTP/APIErrorStatus.swift.
public enum PublishFailure: Error, Sendable, Hashable {
    /// No confirmed publishing channel to the broker.
    case unavailable
    /// The connection was lost after the publish and before its confirm: the logs may be queued.
    case connectionLost
    /// The broker raised a resource alarm; `published`: after the messages went out (they may be queued).
    case blocked(published: Bool)
    /// More messages await a confirm than the publisher allows (``AMQPLogPublisher/Limits/maxPendingConfirms``).
    case confirmBacklog
    /// The work queue is over its backlog bound and did not drain in time (``WorkBacklogGate``).
    case workBacklog
    /// No confirm arrived within the confirm timeout: the logs may be queued.
    case confirmTimeout
    /// The broker nacked the message.
    case rejected
    /// No queue is bound for the tenant's routing key (the message came back as mandatory-unroutable).
    case unroutable

    /// The failure a bridge error means for a publish.
    init(_ error: AMQPError) {
        switch error.code {
        case .confirmTimeout: self = .confirmTimeout
        case .nacked: self = .rejected
        case .unroutable: self = .unroutable
        case .blocked: self = .blocked(published: true)
        case .connectionLost: self = .connectionLost
        default: self = .unavailable
        }
    }

    /// Whether the logs queued behind a message that failed so share its fate: the connection under them is gone
    /// or silent, so their own publish would fail the same way.
    var failsWaiting: Bool {
        switch self {
        case .confirmTimeout, .connectionLost, .unavailable: true
        default: false
        }
    }
}
