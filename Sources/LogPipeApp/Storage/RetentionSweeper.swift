import LogPipeCore
import Logging
import ServiceLifecycle

/// Deletes expired rows from the SQLite store at an interval (MongoDB does it itself, with TTL indexes).
/// A failed sweep is logged and tried again at the next interval; it never stops the worker.
struct RetentionSweeper: Service {
    let store: SQLiteLogStore
    let retention: RetentionPolicy
    let interval: Duration
    let logger: Logger

    func run() async throws {
        logger.info(
            "retention on",
            metadata: [
                "retention.default": "\(retention.period.map(DurationText.format) ?? "forever")",
                "retention.overrides": "\(retention.overrides.count)",
            ])
        // The sleep ends early when shutdown begins (the task is cancelled then), and a sweep in progress
        // finishes its current small batch.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try await Task.sleep(for: interval)
            }
        }
    }

    func sweep() async {
        do {
            let deleted = try await store.deleteExpired(retention: retention, now: .now)
            if deleted > 0 { logger.info("expired logs deleted", metadata: ["logs.count": "\(deleted)"]) }
        } catch {
            logger.warning("retention sweep failed; trying again later", metadata: ["error": "\(error)"])
        }
    }
}
