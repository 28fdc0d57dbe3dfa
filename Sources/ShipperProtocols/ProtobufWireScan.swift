/// A walk over protobuf wire bytes that counts the messages decoding them would build, without building any.
///
/// swift-protobuf decodes a whole request before anything can look at it, and a message costs far more once
/// decoded than on the wire: an empty `LogRecord` is 2 bytes sent and about 200 bytes built, so 8 KB of gzip
/// inflate to millions of them. The endpoints therefore walk the bytes first (linear, no allocation besides a
/// stack of open messages), refuse a request over its record or size limits, and charge what the decoded
/// form will take to the body budget before decoding.
///
/// The walk knows only which fields hold submessages (``Shape``); every other field is skipped by its wire
/// type. It refuses what swift-protobuf would refuse too (truncated fields, a length past its message, wire
/// types 3, 4, 6 and 7, field number 0) and nesting deeper than swift-protobuf's own limit.
struct ProtobufWireScan {
    /// Which fields of which message kinds hold submessages: kinds are small integers, 0 is the root.
    struct Shape: Sendable {
        var kinds: Int
        var child: @Sendable (_ kind: Int, _ field: UInt64) -> Int?
    }

    enum Failure: Error, Equatable {
        /// Not a protobuf message of this shape.
        case malformed
        /// More messages of the counted kind than `limit`.
        case tooMany
        /// More messages in all than `maxMessages`.
        case tooLarge
    }

    /// swift-protobuf's default recursion limit: deeper messages would fail to decode anyway.
    static let maxDepth = 100

    /// Messages of each kind (the root not counted) in `bytes`. Stops at the first message of kind
    /// `counted` past `limit`, and at the first message past `maxMessages`.
    static func count(
        _ bytes: UnsafeRawBufferPointer, shape: Shape, counted: Int, limit: Int, maxMessages: Int
    ) throws(Failure) -> [Int] {
        var counts = [Int](repeating: 0, count: shape.kinds)
        var total = 0
        var open: [(kind: Int, end: Int)] = [(0, bytes.count)]
        var position = 0
        while let current = open.last {
            if position == current.end {
                open.removeLast()
                continue
            }
            let key = try varint(bytes, &position, end: current.end)
            let field = key >> 3
            guard field != 0 else { throw .malformed }
            switch key & 7 {
            case 0: _ = try varint(bytes, &position, end: current.end)
            case 1: try skip(8, &position, end: current.end)
            case 5: try skip(4, &position, end: current.end)
            case 2:
                let length = try varint(bytes, &position, end: current.end)
                guard length <= UInt64(current.end - position) else { throw .malformed }
                guard let kind = shape.child(current.kind, field) else {
                    position += Int(length)
                    continue
                }
                counts[kind] += 1
                total += 1
                if kind == counted, counts[kind] > limit { throw .tooMany }
                guard total <= maxMessages else { throw .tooLarge }
                guard open.count < maxDepth else { throw .malformed }
                open.append((kind, position + Int(length)))
            default: throw .malformed
            }
        }
        return counts
    }

    private static func skip(_ count: Int, _ position: inout Int, end: Int) throws(Failure) {
        guard end - position >= count else { throw .malformed }
        position += count
    }

    private static func varint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, end: Int) throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw .malformed
    }
}
