/// A tenant id: `^[a-z0-9][a-z0-9_-]{0,62}$`.
///
/// The rule keeps `.`, `*` and `#` out of routing keys and `$`, `.` and `system.` out of collection names,
/// so a valid id is safe as a routing-key segment, a MongoDB collection name and a quoted SQLite table name.
public struct TenantID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Returns `nil` unless `value` follows the tenant id rule.
    public init?(_ value: String) {
        guard Self.isValid(value) else { return nil }
        self.rawValue = value
    }

    public var description: String { rawValue }

    /// The routing key the API publishes with: `tenant.<id>`.
    public var routingKey: String { "tenant.\(rawValue)" }

    /// Names a store keeps for itself (`sqlite_*`: SQLite refuses to create such tables). Valid by the rule
    /// above, but refused by the API (400 `reserved_tenant`) and parked by the worker.
    public var isReserved: Bool { Self.isReserved(rawValue) }

    public static func isReserved(_ value: String) -> Bool { value.hasPrefix("sqlite_") }

    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...63).contains(bytes.count), let first = bytes.first, isLowerAlnum(first) else { return false }
        return bytes.dropFirst().allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(String.self)
        guard Self.isValid(value) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid tenant id"))
        }
        self.rawValue = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
