import Glibc

/// The system calls the connection thread makes besides rabbitmq-c's: waiting on descriptors, the write
/// watchdog's shutdown, the session's duplicate of the socket. With ``WakePipe`` and the rabbitmq-c calls, this
/// folder is the bridge's one place that calls C.
enum Descriptors {
    /// Waits until one of `descriptors` is readable or `timeout` passes (at millisecond precision); returns, for
    /// each, whether it is readable.
    static func waitReadable(_ descriptors: [Int32], timeout: Duration) -> [Bool] {
        var polled = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&polled, nfds_t(polled.count), milliseconds(timeout))
        return polled.map { $0.revents != 0 }
    }

    /// Waits `duration`, on no descriptor (the watchdog's tick).
    static func pause(_ duration: Duration) {
        _ = waitReadable([], timeout: duration)
    }

    /// Ends both directions of a socket: a write blocked on it returns with an error.
    static func shutDown(_ descriptor: Int32) {
        _ = shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// A second descriptor for the same socket (-1 when none could be made), to close with ``close(_:)``.
    static func duplicate(_ descriptor: Int32) -> Int32 {
        dup(descriptor)
    }

    static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }
}
