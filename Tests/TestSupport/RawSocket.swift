import Foundation
import Glibc

/// A plain TCP client on loopback for hostile-HTTP tests: sends exactly the bytes given (malformed headers,
/// bodies that stop halfway, pipelined requests) and reads what comes back, with deadlines.
///
/// Every call that can block runs on a thread of its own: a server under test in the same process runs its
/// handlers on the cooperative pool (two threads on two cores), which a blocking read would starve.
public final class RawSocket: @unchecked Sendable {
    public let descriptor: Int32

    /// Connects to `127.0.0.1:port`, from `source` (another loopback address such as `127.0.0.2`, so that a test
    /// can be two clients) when given. The `connect` runs on a thread of its own: it blocks while the server's listen
    /// backlog is full, and the server accepts only when the Swift pool runs its tasks.
    public static func connect(port: Int, from source: String? = nil) async throws -> RawSocket {
        try await offPool { try RawSocket(port: port, from: source) }
    }

    private init(port: Int, from source: String?) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(descriptor)
                throw Failure("bind to \(source): errno \(errno)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            close(descriptor)
            throw Failure("connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit { close(descriptor) }

    public func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) async throws {
        let result: Result<Void, Failure> = await Self.onThread { [self] in Result { () throws(Failure) in try sendBlocking(bytes) } }
        try result.get()
    }

    /// Runs `body` on a new thread and waits for it without holding a cooperative thread.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    private func sendBlocking(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure("send: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads until `complete` says the bytes so far are enough, the peer closes, or `timeout` passes.
    public func read(timeout: Duration, until complete: @escaping @Sendable (String) -> Bool = { _ in false }) async -> (text: String, closed: Bool) {
        await Self.onThread { [self] in readBlocking(timeout: timeout, until: complete) }
    }

    private func readBlocking(timeout: Duration, until complete: (String) -> Bool) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
            let milliseconds = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&descriptors, 1, milliseconds) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<count]
            if complete(String(decoding: received, as: UTF8.self)) { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Reads one whole HTTP response (headers and a `Content-Length` body).
    public func readResponse(timeout: Duration) async -> (status: Int?, text: String, closed: Bool) {
        let (text, closed) = await read(timeout: timeout) { text in RawSocket.responseLength(text) != nil }
        let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
        return (status, text, closed)
    }

    /// The length of the first whole response in `text`, when it is all there.
    static func responseLength(_ text: String) -> Int? {
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound].lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let bodyBytes = text[end.upperBound...].utf8.count
        return bodyBytes >= length ? text.distance(from: text.startIndex, to: end.upperBound) + length : nil
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
