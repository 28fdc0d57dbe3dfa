import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import LogPipeCore
import Logging
import NIOCore

/// Live tail (`GET /loki/api/v1/tail`, WebSocket): first the newest `limit` logs since `start` (default an hour
/// ago), oldest first, then every second the logs stored since, as Loki's tail messages
/// (`{"streams":[…],"dropped_entries":null}`). The store is polled: each poll reads the last
/// ``latenessMilliseconds`` again (a log is received by the API before a worker stores it) and sends only logs not
/// sent yet, so a log stored up to that long after it was received still reaches the tail.
enum LokiTail {
    static let path = "/loki/api/v1/tail"
    /// How far back each poll looks.
    static let latenessMilliseconds: Int64 = 10_000
    /// The most logs one poll sends.
    static let maxPerPoll = 5_000

    /// The log query of a tail request (a metric query cannot be tailed).
    static func selector(_ parameters: LokiParameters) throws(IngestError) -> LogSelector {
        guard case .logs(let selector) = try LokiReadAPI.parse(parameters["query"]) else {
            throw IngestError(.unsupportedQuery, "LogQL: only log queries can be tailed")
        }
        return selector
    }
}

extension LokiReadAPI {
    /// Whether an HTTP request becomes a tail WebSocket: only for the tail path, an authorised tenant and a valid
    /// query; anything else goes on to the router, whose tail route answers the error.
    func upgrade(
        _ head: HTTPRequest, _ channel: any Channel, _ logger: Logger
    ) -> ShouldUpgradeResult<
        WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
    > {
        let target = head.path ?? ""
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard path == LokiTail.path, let runner else { return .dontUpgrade }
        let parameters = LokiParameters(query: target.contains("?") ? String(target.split(separator: "?", maxSplits: 1)[1]) : nil)
        let request: (TenantID, LogSelector, Int64, Int)
        do throws(IngestError) {
            let tenant = try access.tenant(headers: head.headerFields, peer: channel.remoteAddress?.ipAddress)
            let selector = try LokiTail.selector(parameters)
            let now = Int64(UnixTime.now.milliseconds) * 1_000_000
            let start = try parameters.nanoseconds("start", fallback: now - Self.defaultSinceMilliseconds * 1_000_000)
            request = (tenant, selector, Self.ceilMilliseconds(start), try parameters.limit(maximum: Self.maxEntries))
        } catch {
            return .dontUpgrade
        }
        logger.debug("tail opened", metadata: ["tenant.id": "\(request.0)"])
        return .upgrade(
            [:],
            { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // The client's frames are read (and dropped) so that its close ends the tail.
                    group.addTask { for try await _ in inbound {} }
                    group.addTask {
                        try await Self.follow(runner, tenant: request.0, request.1, start: request.2, limit: request.3) { logs in
                            try await outbound.write(.text(LokiResponses.tailMessage(logs)))
                        }
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
            })
    }

    /// Sends the backfill, then polls once a second until cancelled.
    static func follow(
        _ runner: LokiQueryRunner, tenant: TenantID, _ selector: LogSelector, start: Int64, limit: Int,
        send: @Sendable ([StoredLog]) async throws -> Void
    ) async throws {
        var now = Int64(UnixTime.now.milliseconds)
        let backfill = try await runner.logs(tenant: tenant, selector, start: start, end: now + 1, limit: limit, newestFirst: true)
        var sent: [String: Int64] = [:]
        for log in backfill { sent[log.logID] = milliseconds(log) }
        if !backfill.isEmpty { try await send(Array(backfill.reversed())) }
        var from = max(start, now - LokiTail.latenessMilliseconds)
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(1))
            now = Int64(UnixTime.now.milliseconds)
            let logs = try await runner.logs(tenant: tenant, selector, start: from, end: now + 1, limit: LokiTail.maxPerPoll, newestFirst: false)
            let fresh = logs.filter { sent[$0.logID] == nil }
            for log in fresh { sent[log.logID] = milliseconds(log) }
            if !fresh.isEmpty { try await send(fresh) }
            from = max(start, now - LokiTail.latenessMilliseconds)
            sent = sent.filter { $0.value >= from }
        }
    }

    private static func milliseconds(_ log: StoredLog) -> Int64 {
        UnixTime(stamp: log.receivedAt).map { Int64($0.milliseconds) } ?? 0
    }
}
