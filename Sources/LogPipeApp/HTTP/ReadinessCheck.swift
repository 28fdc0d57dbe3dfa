import AMQPBridge
import LogPipeCore

/// One thing a process needs to do its job; `GET /readiness` is 200 only when every check passes.
public struct ReadinessCheck: Sendable {
    /// The name shown in the response (`broker`, `consumer`, `store`).
    public let name: String
    /// `nil` when ready, else why not (no secrets, no log contents).
    public let probe: @Sendable () async -> String?

    public init(name: String, probe: @escaping @Sendable () async -> String?) {
        self.name = name
        self.probe = probe
    }

    /// The API's publisher: connected, confirm channel open, not blocked.
    public static func publisher(_ publisher: any LogPublisher) -> ReadinessCheck {
        ReadinessCheck(name: "broker") { publisher.unreadyReason?.detail }
    }

    /// A worker's consuming connection.
    public static func consumer(_ connection: AMQPConnection) -> ReadinessCheck {
        ReadinessCheck(name: "consumer") { connection.isConnected ? nil : "the worker has no connection to the broker" }
    }

    /// The store answers.
    public static func store(_ store: any LogStore) -> ReadinessCheck {
        ReadinessCheck(name: "store") {
            do throws(StoreError) {
                try await store.ping()
                return nil
            } catch {
                return error.message
            }
        }
    }
}
