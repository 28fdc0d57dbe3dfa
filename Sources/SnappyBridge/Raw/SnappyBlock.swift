import CSnappy

/// Snappy's block format (not the framed stream format): what Prometheus remote write and the Loki push API
/// send. Decompression checks the length the block declares against a limit before allocating anything.
public enum SnappyBlock {
    public enum Failure: Error, Equatable {
        /// Not a valid snappy block.
        case corrupt
        /// The block would decompress to more than the limit.
        case tooLarge
    }

    /// The decompressed bytes of `compressed`, at most `limit` of them.
    public static func decompress(_ compressed: UnsafeRawBufferPointer, limit: Int) throws(Failure) -> [UInt8] {
        guard let base = compressed.baseAddress?.assumingMemoryBound(to: CChar.self), compressed.count > 0 else { throw .corrupt }
        var length = 0
        guard snappy_uncompressed_length(base, compressed.count, &length) == SNAPPY_OK else { throw .corrupt }
        guard length <= limit else { throw .tooLarge }
        guard snappy_validate_compressed_buffer(base, compressed.count) == SNAPPY_OK else { throw .corrupt }
        var output = [UInt8](repeating: 0, count: length)
        var written = length
        let status = output.withUnsafeMutableBytes { buffer in
            snappy_uncompress(base, compressed.count, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), &written)
        }
        guard status == SNAPPY_OK, written == length else { throw .corrupt }
        return output
    }

    /// The length a block declares (its header), or nil when the header is not valid.
    public static func decompressedLength(_ compressed: UnsafeRawBufferPointer) -> Int? {
        guard let base = compressed.baseAddress?.assumingMemoryBound(to: CChar.self), compressed.count > 0 else { return nil }
        var length = 0
        return snappy_uncompressed_length(base, compressed.count, &length) == SNAPPY_OK ? length : nil
    }

    /// `bytes` compressed (for tests and tools that build Loki requests).
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var length = snappy_max_compressed_length(bytes.count)
        var output = [UInt8](repeating: 0, count: max(1, length))
        let status = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { buffer in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count,
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        precondition(status == SNAPPY_OK, "snappy_compress cannot fail with a large enough output")
        return Array(output.prefix(length))
    }
}
