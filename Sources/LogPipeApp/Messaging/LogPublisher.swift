import AMQPBridge
import Foundation
import LogPipeCore

/// Publishes validated logs and answers only once they are safe (confirmed by the broker).
public protocol LogPublisher: Sendable {
    /// Returns when the broker confirmed the record; throws a 503-class ``IngestError`` otherwise.
    func publish(_ record: LogRecord) async throws(IngestError)
    /// `nil` when the publisher can do its job, else the name and reason of the failing check.
    var unreadyReason: (check: String, detail: String)? { get }
}

/// Publishes each log as one persistent, mandatory message to the ingest exchange (DESIGN §3).
public struct AMQPLogPublisher: LogPublisher {
    let connection: AMQPConnection
    let topology: Topology

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    public func publish(_ record: LogRecord) async throws(IngestError) {
        if connection.isBlocked {
            throw IngestError(.brokerBlocked, "the broker is refusing publishes (resource alarm); retry later")
        }
        let body: [UInt8]
        do {
            body = Array(try Self.encoder.encode(record))
        } catch {
            throw IngestError(.internalError, "the log could not be encoded")
        }
        let properties = AMQPProperties(
            contentType: "application/json", deliveryMode: 2, messageID: record.logID,
            correlationID: record.requestID, timestamp: UnixTime.now.seconds,
            headers: ["x-tenant-id": .string(record.tenantID.rawValue)])
        do {
            try await connection.publish(exchange: topology.ingestExchange, routingKey: record.tenantID.routingKey,
                                         body: body, properties: properties, mandatory: true)
        } catch let error as AMQPError {
            throw Self.ingestError(for: error)
        } catch {
            throw IngestError(.brokerUnavailable, "the broker is unavailable; retry later")
        }
    }

    public var unreadyReason: (check: String, detail: String)? {
        if !connection.isConnected { return ("broker", "no confirmed publishing channel to the broker") }
        if connection.isBlocked { return ("broker", "the broker blocked publishing (resource alarm)") }
        return nil
    }

    /// Encodes records as DESIGN §3's JSON body.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    static func ingestError(for error: AMQPError) -> IngestError {
        switch error.code {
        case .confirmTimeout:
            IngestError(.confirmTimeout, "the broker did not confirm the log in time; retry later (the log may be stored twice, never lost)")
        case .nacked:
            IngestError(.brokerRejected, "the broker refused the log; retry later")
        case .unroutable:
            IngestError(.unroutable, "no queue is bound for this tenant's routing key; the broker topology needs attention")
        case .connectionLost:
            IngestError(.brokerUnavailable, "the broker connection was lost before the log was confirmed; retry")
        default:
            IngestError(.brokerUnavailable, "the broker is unavailable; retry later")
        }
    }
}
