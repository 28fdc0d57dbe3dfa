import AMQPBridge
import Hummingbird
import LogPipeCore

/// One thing a process needs to do its job; `GET /readiness` is 200 only when every check passes.
public struct ReadinessCheck: Sendable {
    /// The name shown in the response (`broker`, `consumer`, `store`).
    public let name: String
    /// `nil` when ready, else why not (no secrets, no log contents).
    public let probe: @Sendable () async -> String?
    /// Facts shown beside the result whatever it is (the broker node a connection is on).
    public let info: @Sendable () -> [String: String]

    public init(name: String, info: @escaping @Sendable () -> [String: String] = { [:] }, probe: @escaping @Sendable () async -> String?) {
        self.name = name
        self.info = info
        self.probe = probe
    }

    /// The API's publisher: connected, confirm channel open, not blocked.
    public static func publisher(_ publisher: any LogPublisher) -> ReadinessCheck {
        ReadinessCheck(name: "broker", info: { publisher.node.map { ["node": $0] } ?? [:] }) { publisher.unreadyReason?.detail }
    }

    /// A worker's consuming connection: connected and subscribed to every queue it consumes.
    public static func consumer(_ connection: AMQPConnection) -> ReadinessCheck {
        ReadinessCheck(name: "consumer", info: { connection.endpoint.map { ["node": $0.address] } ?? [:] }) {
            if !connection.isConnected {
                return "the worker has no connection to the broker" + (connection.lastError.map { " (\($0.reason))" } ?? "")
            }
            return connection.isConsuming ? nil : "the worker is not consuming (a subscription was cancelled or failed; retrying)"
        }
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

extension ReadinessCheck {
    /// 200 when every check passes; else 503 naming the first failing check, with every check's state.
    static func respond(_ checks: [ReadinessCheck], requestID: String) async -> Response {
        var results: [String: Any] = [:]
        var failing: String?
        for check in checks {
            var result: [String: Any] = check.info()
            if let detail = await check.probe() {
                result["ok"] = false
                result["detail"] = detail
                failing = failing ?? check.name
            } else {
                result["ok"] = true
            }
            results[check.name] = result
        }
        if let failing {
            return APIResponses.json(.serviceUnavailable, ["status": "not_ready", "failing_check": failing, "checks": results],
                                     requestID: requestID, extraHeaders: [.retryAfter: "1"])
        }
        return APIResponses.json(.ok, ["status": "ready", "checks": results], requestID: requestID)
    }
}
