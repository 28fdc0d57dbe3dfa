import CZlib

/// Compresses `bytes` as one gzip member (zlib), for request bodies in tests.
public func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(logpipe_deflate_init_gzip(&stream, 6) == Z_OK)
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    var input = bytes
    let written = input.withUnsafeMutableBufferPointer { inputBuffer in
        output.withUnsafeMutableBufferPointer { outputBuffer -> Int in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            stream.next_out = outputBuffer.baseAddress
            stream.avail_out = UInt32(outputBuffer.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outputBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<written])
}
