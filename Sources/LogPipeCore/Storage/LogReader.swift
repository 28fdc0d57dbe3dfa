/// The read side of a store (the Loki read API): a tenant's logs in time order, one page at a time. Only the
/// tenant's own table or collection is read.
public protocol LogReader: Sendable {
    /// Visits the tenant's logs received in `scan`'s range, newest or oldest first, in pages of at most
    /// `scan.pageSize`, until `visit` returns false or the range is exhausted. A tenant without logs is an empty
    /// range. `visit` runs on the reader's own thread, one page after another.
    func scan(tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(StoreError)
}

/// What a read asks a store for.
public struct LogScan: Sendable, Hashable {
    /// Received at or after this time (milliseconds since the epoch).
    public var startMilliseconds: Int64
    /// Received before this time.
    public var endMilliseconds: Int64
    public var newestFirst: Bool
    /// Conditions the store may apply itself so that it reads fewer logs. They never select more than the query
    /// would, and the caller checks every log it is given, so a store may leave any of them out.
    public var equalities: [ScanEquality]
    /// Line filters the reader applies itself: every log it visits passes them all.
    public var lineFilters: [LineFilter]
    public var pageSize: Int

    public init(
        startMilliseconds: Int64, endMilliseconds: Int64, newestFirst: Bool, equalities: [ScanEquality] = [],
        lineFilters: [LineFilter] = [], pageSize: Int = 500
    ) {
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.newestFirst = newestFirst
        self.equalities = equalities
        self.lineFilters = lineFilters
        self.pageSize = pageSize
    }
}

/// A field of a stored log equal to a label value.
public struct ScanEquality: Sendable, Hashable {
    public enum Field: Sendable, Hashable {
        case level
        case source
        /// An attribute whose key is exactly this (a label name without `_` comes from that key only).
        case attribute(String)
    }

    public var field: Field
    /// The label value; an attribute matches it as a string, or as the number or boolean it spells.
    public var value: String

    public init(field: Field, value: String) {
        self.field = field
        self.value = value
    }

    /// What a selector's matchers let a store filter on exactly: `=` matchers with a non-empty value on `level`,
    /// `source`, or a label name without `_` (`{status="500"}` → the attribute `status`).
    public static func of(_ selector: LogSelector) -> [ScanEquality] {
        selector.matchers.compactMap { matcher in
            guard matcher.op == .equal, !matcher.value.isEmpty else { return nil }
            switch matcher.name {
            case "level": return ScanEquality(field: .level, value: matcher.value)
            case "source": return ScanEquality(field: .source, value: matcher.value)
            default:
                guard !matcher.name.contains("_"), LokiLabels.isValidName(matcher.name) else { return nil }
                return ScanEquality(field: .attribute(matcher.name), value: matcher.value)
            }
        }
    }

    /// The attribute values that spell `value`: the string, and the integer, double and boolean it reads as.
    public var attributeForms: [AttributeValue] {
        var forms: [AttributeValue] = [.string(value)]
        if let integer = Int64(value) { forms.append(.int(integer)) }
        if let number = Double(value), number.isFinite, Int64(value) == nil { forms.append(.double(number)) }
        if value == "true" || value == "false" { forms.append(.bool(value == "true")) }
        return forms
    }
}
