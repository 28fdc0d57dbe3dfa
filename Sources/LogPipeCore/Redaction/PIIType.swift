/// The kinds of personal data the built-in engine finds (docs/redaction.md).
public enum PIIType: String, Sendable, CaseIterable, Codable {
    case email = "EMAIL"
    case phone = "PHONE"
    case ssn = "SSN"
    case creditCard = "CREDIT_CARD"
    case ipAddress = "IP_ADDRESS"
    /// Credentials: JWTs, bearer/basic values, passwords in URLs, private keys, fixed-prefix tokens, and the
    /// whole value of an attribute whose key names a secret.
    case secret = "SECRET"

    /// The text that replaces a match: `[REDACTED:<TYPE>]`.
    public var mask: String { "[REDACTED:\(rawValue)]" }

    /// The mask as UTF-8, computed once per type.
    var maskBytes: [UInt8] { Self.masks[ordinal] }

    /// The type's place in ``allCases``.
    var ordinal: Int {
        switch self {
        case .email: 0
        case .phone: 1
        case .ssn: 2
        case .creditCard: 3
        case .ipAddress: 4
        case .secret: 5
        }
    }

    private static let masks: [[UInt8]] = allCases.map { Array($0.mask.utf8) }

    /// The types' names, by ``ordinal``.
    static let names: [String] = allCases.map(\.rawValue)
}

/// The outcome of redacting one text: the redacted text and how many matches of each type it had.
public struct Redaction: Sendable, Hashable {
    public var text: String
    /// Matches per type name (`EMAIL`, `PHONE`, …, and custom rule names); types with no match are absent.
    public var counts: [String: Int]

    public init(text: String, counts: [String: Int]) {
        self.text = text
        self.counts = counts
    }

    public var total: Int { counts.values.reduce(0, +) }
}
