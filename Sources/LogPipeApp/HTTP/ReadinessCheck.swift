import AMQPBridge
import Hummingbird
import LogPipeCore

/// One thing a process needs to do its job; `GET /readiness` is 200 only when every check passes.
public struct ReadinessCheck: Sendable {
    /// The name shown in the response (`broker`, `consumer`, `store`).
    public let name: String
    /// `nil` when ready, else why not (no secrets, no log contents).
    public let probe: @Sendable () async -> String?
    /// The broker node (`host:port`) the check's connection is on, shown whatever the result.
    public let node: @Sendable () -> String?

    public init(name: String, node: @escaping @Sendable () -> String? = { nil }, probe: @escaping @Sendable () async -> String?) {
        self.name = name
        self.node = node
        self.probe = probe
    }

    /// The API's publisher: connected, confirm channel open, not blocked.
    public static func publisher(_ publisher: any LogPublisher) -> ReadinessCheck {
        ReadinessCheck(name: "broker", node: { publisher.node }) { publisher.unreadyReason?.detail }
    }

    /// A worker's consuming connection: connected and subscribed to every queue it consumes.
    public static func consumer(_ connection: AMQPConnection) -> ReadinessCheck {
        ReadinessCheck(name: "consumer", node: { connection.endpoint?.address }) {
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
        var results: [String: Result] = [:]
        var failing: String?
        for check in checks {
            let detail = await check.probe()
            results[check.name] = Result(ok: detail == nil, detail: detail, node: check.node())
            if detail != nil { failing = failing ?? check.name }
        }
        let body = Body(status: failing == nil ? "ready" : "not_ready", failingCheck: failing, checks: results, requestID: requestID)
        if failing != nil {
            return APIResponses.json(.serviceUnavailable, body, requestID: requestID, extraHeaders: [.retryAfter: "1"])
        }
        return APIResponses.json(.ok, body, requestID: requestID)
    }

    /// One check in the readiness body.
    struct Result: Encodable {
        var ok: Bool
        var detail: String?
        var node: String?
    }

    /// `GET /readiness`: the status, the first failing check, every check's result.
    struct Body: Encodable {
        var status: String
        var failingCheck: String?
        var checks: [String: Result]
        var requestID: String
        enum CodingKeys: String, CodingKey {
            case status, checks
            case failingCheck = "failing_check"
            case requestID = "request_id"
        }
    }
}
