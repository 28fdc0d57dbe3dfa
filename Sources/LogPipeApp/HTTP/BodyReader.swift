import Foundation
import Hummingbird
import LogPipeCore
import NIOCore
import ShipperProtocols
import ZlibBridge

/// Reads the write routes' bodies under the API's limits. Memory stays bounded under overload: every chunk, and
/// what it inflates to, is charged to the request's ``BodyCharge`` before it is kept (a client that sends
/// headers and then nothing holds nothing); the body must arrive within the body timeout and above the minimum
/// rate; the request limit applies to the decompressed size. What a body decodes to is charged the same way
/// (``takeDecoded(_:context:)``).
struct BodyReader: Sendable {
    /// `LOGPIPE_MAX_REQUEST_BYTES`: the largest body, decompressed.
    let maxRequestBytes: Int
    /// `LOGPIPE_BODY_TIMEOUT_S`, and the deadlines of the bodies arriving (with `LOGPIPE_BODY_MIN_RATE`).
    let timeout: Duration
    let deadlines: BodyDeadlines

    init(maxRequestBytes: Int, timeout: Duration, minimumRate: Int) {
        self.maxRequestBytes = maxRequestBytes
        self.timeout = timeout
        self.deadlines = BodyDeadlines(timeout: timeout, minimumRate: minimumRate)
    }

    /// The body, decompressed when `Content-Encoding: gzip`, read within the timeout of the headers (then 408
    /// `request_timeout`); reading stops as soon as the limit is passed.
    func read(_ request: Request, context: APIRequestContext) async throws(IngestError) -> Data {
        let charge = try context.bodyCharge()
        if let length = Self.declaredLength(request), length > maxRequestBytes { throw Self.tooLarge(maxRequestBytes) }
        let gzip: Bool
        switch Self.contentEncoding(request) {
        case nil, "", "identity": gzip = false
        case "gzip", "x-gzip": gzip = true
        default: throw IngestError(.unsupportedEncoding, "unsupported Content-Encoding; send gzip or no encoding")
        }
        let limit = maxRequestBytes
        let body = request.body
        // The read runs as a task of its own so that its deadline can cancel it (which ends the connection's
        // input) while this task still answers 408; the request's own cancellation reaches it too.
        let reader = Task { await Self.collect(body, gzip: gzip, limit: limit, charge: charge) }
        let deadline = deadlines.add(.now + timeout, progress: charge) { reader.cancel() }
        let result = await withTaskCancellationHandler {
            await reader.value
        } onCancel: {
            reader.cancel()
        }
        switch (deadlines.remove(deadline), result) {
        case (.timeout?, .failure):
            throw IngestError(
                .requestTimeout, "the request body did not arrive within \(DurationText.format(timeout)); send the whole body without pausing")
        case (.tooSlow?, .failure):
            throw IngestError(
                .requestTimeout,
                "the request body arrived slower than \(deadlines.minimumRate) bytes/s (LOGPIPE_BODY_MIN_RATE); send the whole body without pausing")
        default:
            return try result.get()
        }
    }

    /// Charges what a request's decoded form takes to the body budget, waiting for room like its body did.
    func takeDecoded(_ bytes: Int, context: APIRequestContext) async throws(IngestError) {
        let charge = try context.bodyCharge()
        do {
            try await charge.takeDecoded(bytes)
        } catch {
            throw ShipperLimits.abandoned  // cancelled while waiting: the client went away or the server stops
        }
    }

    /// The declared `Content-Length`: `nil` when absent or not a plain number (the HTTP parser frames the body
    /// either way), `Int.max` when it is a number too large for an `Int`. Never traps, whatever the header says.
    static func declaredLength(_ request: Request) -> Int? {
        guard let text = request.headers.value(.contentLength) else { return nil }
        let digits = text.utf8
        guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int(text) ?? Int.max
    }

    /// The `Content-Encoding`, trimmed and lowercased; `nil` when absent.
    static func contentEncoding(_ request: Request) -> String? {
        request.headers.value(.contentEncoding)?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    private static func tooLarge(_ limit: Int) -> IngestError {
        IngestError(.requestTooLarge, "the request body is larger than \(limit) bytes (decompressed)")
    }

    /// Reads the whole body, charging each chunk before it is kept.
    private static func collect(_ body: RequestBody, gzip: Bool, limit: Int, charge: BodyCharge) async -> Result<Data, IngestError> {
        let corrupt = IngestError(.invalidGzip, "the body is not a valid gzip stream")
        var inflater: GzipInflater?
        if gzip {
            do { inflater = try GzipInflater(limit: limit) } catch { return .failure(corrupt) }
        }
        var data = Data()
        var received = 0
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                guard received <= limit else { return .failure(tooLarge(limit)) }
                try await charge.take(buffer.readableBytes, received: true)
                if let inflater {
                    let before = inflater.output.count
                    var failure: GzipInflater.Failure?
                    buffer.withUnsafeReadableBytes { bytes in
                        do throws(GzipInflater.Failure) { try inflater.feed(bytes) } catch { failure = error }
                    }
                    if let failure { return .failure(failure == .tooLarge ? tooLarge(limit) : corrupt) }
                    try await charge.take(inflater.output.count - before)
                } else {
                    data.append(contentsOf: buffer.readableBytesView)
                }
            }
        } catch {
            // The connection ended, or the read was cancelled by the timeout.
            return .failure(IngestError(.invalidBody, "the request body could not be read"))
        }
        guard let inflater else { return .success(data) }
        do throws(GzipInflater.Failure) {
            return .success(Data(try inflater.finish()))
        } catch {
            return .failure(error == .tooLarge ? tooLarge(limit) : corrupt)
        }
    }
}
