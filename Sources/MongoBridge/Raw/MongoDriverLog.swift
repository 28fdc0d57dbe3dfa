import CMongoC
import Synchronization

/// libmongoc's own log lines (server monitoring, failed handshakes, misuse of the API). Without a handler the
/// driver prints them to stderr in a format of its own, which breaks a process's log format (one JSON object
/// per line) and escapes its log level; ``route(_:)`` hands them to the application instead.
public enum MongoDriverLog {
    /// The driver's levels, from `mongoc_log_level_t` (`CRITICAL` is an error, `MESSAGE` info; `TRACE` is dropped).
    public enum Level: Sendable {
        case error, warning, info, debug
    }

    /// Receives every driver line from now on: its level, the driver's domain (`cluster`, `monitor`, …) and its
    /// message. Process-wide (libmongoc has one handler); a later call replaces the handler. The handler runs on
    /// whichever driver thread logs, so it must be thread-safe.
    public static func route(_ handler: @escaping @Sendable (Level, String, String) -> Void) {
        current.withLock { $0 = handler }
        installed.withLock { done in
            guard !done else { return }
            mongoc_log_set_handler(forward, nil)
            done = true
        }
    }

    private static let current = Mutex<(@Sendable (Level, String, String) -> Void)?>(nil)
    private static let installed = Mutex(false)

    private static let forward: mongoc_log_func_t = { level, domain, message, _ in
        let mapped: Level
        switch level {
        case MONGOC_LOG_LEVEL_ERROR, MONGOC_LOG_LEVEL_CRITICAL: mapped = .error
        case MONGOC_LOG_LEVEL_WARNING: mapped = .warning
        case MONGOC_LOG_LEVEL_MESSAGE, MONGOC_LOG_LEVEL_INFO: mapped = .info
        case MONGOC_LOG_LEVEL_DEBUG: mapped = .debug
        default: return
        }
        deliver(mapped, domain: domain.map { String(cString: $0) } ?? "", message: message.map { String(cString: $0) } ?? "")
    }

    /// Hands one driver line to the handler. A line can quote a server's reply (a duplicate key, a document): it is
    /// cut like the errors' messages (``MongoClientPool/safeMessage(_:)``).
    static func deliver(
        _ level: Level, domain: String, message: String,
        to handler: (@Sendable (Level, String, String) -> Void)? = current.withLock({ $0 })
    ) {
        handler?(level, domain, MongoClientPool.safeMessage(message))
    }
}
