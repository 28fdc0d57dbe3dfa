import CZlib

/// Streaming gzip decompression (zlib) with a hard limit on the output: it stops as soon as the output
/// would pass the limit, so a gzip bomb costs at most `limit` bytes and the input read so far.
/// Concatenated gzip members are accepted (RFC 1952); a stream that ends mid-member is `truncated`.
public final class GzipInflater {
    public enum Failure: Error, Equatable, Sendable {
        case corrupt
        case truncated
        case tooLarge
    }

    public let limit: Int
    public private(set) var output: [UInt8] = []
    private let stream: UnsafeMutablePointer<z_stream>
    private var memberEnded = false
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public init(limit: Int) throws(Failure) {
        self.limit = limit
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard logpipe_inflate_init_gzip(stream) == Z_OK else {
            stream.deallocate()
            throw .corrupt
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates the next piece of the compressed stream.
    public func feed(_ input: UnsafeRawBufferPointer) throws(Failure) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        while true {
            if memberEnded {
                // Bytes after a finished member: another member (or garbage, which inflate refuses).
                guard inflateReset(stream) == Z_OK else { throw .corrupt }
                memberEnded = false
            }
            let capacity = scratch.count
            let status = scratch.withUnsafeMutableBytes { out -> Int32 in
                stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(capacity)
                return inflate(stream, Z_NO_FLUSH)
            }
            let produced = capacity - Int(stream.pointee.avail_out)
            guard output.count + produced <= limit else { throw .tooLarge }
            output.append(contentsOf: scratch[0..<produced])
            switch status {
            case Z_STREAM_END:
                memberEnded = true
                if stream.pointee.avail_in == 0 { return }
            case Z_OK, Z_BUF_ERROR:
                // Done with this input once all of it is consumed and the output was not cut short.
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
                if status == Z_BUF_ERROR && produced == 0 { return }
            default:
                throw .corrupt
            }
        }
    }

    /// The whole decompressed body; fails if the stream stopped inside a member.
    public func finish() throws(Failure) -> [UInt8] {
        guard memberEnded else { throw .truncated }
        return output
    }
}
