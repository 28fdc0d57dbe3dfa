import LogPipeCore

/// A walk over a JSON body that counts what decoding it would build, before anything is built: the objects
/// in it (each becomes at least one decoded message) and the elements of the arrays under `recordKeys` (the
/// records). It stops at the first count past its limit. Linear in the body; nesting is bounded by
/// ``JSONScanner``.
struct JSONShapeCount {
    enum Outcome: Equatable {
        case counted
        case malformed
        case tooMany
        case tooLarge
    }

    let maxObjects: Int
    let maxRecords: Int
    let recordKeys: Set<String>
    private(set) var objects = 0
    private(set) var records = 0
    private var over: Outcome?

    init(maxObjects: Int, maxRecords: Int, recordKeys: Set<String>) {
        self.maxObjects = maxObjects
        self.maxRecords = maxRecords
        self.recordKeys = recordKeys
    }

    mutating func run(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var scanner = JSONScanner(bytes)
        do throws(JSONScanner.Failure) {
            try walk(&scanner, key: nil)
            try scanner.expectEnd()
        } catch {
            return over ?? .malformed
        }
        return .counted
    }

    private mutating func walk(_ scanner: inout JSONScanner, key: String?) throws(JSONScanner.Failure) {
        switch scanner.peek() {
        case UInt8(ascii: "{"):
            objects += 1
            guard objects <= maxObjects else { throw stop(.tooLarge) }
            try scanner.object { member, value throws(JSONScanner.Failure) in try walk(&value, key: member) }
        case UInt8(ascii: "["):
            let counting = key.map(recordKeys.contains) ?? false
            try scanner.array { element throws(JSONScanner.Failure) in
                if counting {
                    records += 1
                    guard records <= maxRecords else { throw stop(.tooMany) }
                }
                try walk(&element, key: nil)
            }
        default:
            try scanner.skipValue()
        }
    }

    private mutating func stop(_ outcome: Outcome) -> JSONScanner.Failure {
        over = outcome
        return .syntax
    }
}
