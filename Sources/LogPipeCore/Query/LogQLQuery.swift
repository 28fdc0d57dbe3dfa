/// A parsed LogQL query, the subset logpipe answers (docs/api.md, "Reading logs"): a log query, a
/// `count_over_time`/`rate` metric query (optionally summed by labels), or a constant vector (Grafana's
/// health check, `vector(1)+vector(1)`).
public enum LogQLQuery: Sendable, Hashable {
    case logs(LogSelector)
    case metric(MetricQuery)
    case constant(Double)

    /// Parses `text`; the error names the unsupported or invalid part.
    public init(_ text: String) throws(LogQLError) {
        var parser = try LogQLParser(text)
        self = try parser.query()
    }

    /// A LogQL duration (`5m`, `1h30m`, `250ms`) in milliseconds; nil when it is not one.
    public static func milliseconds(duration text: String) -> Int64? { LogQLLexer.milliseconds(text) }
}

/// A stream selector and its line filters: `{level="error", source=~"api|web"} |= "timeout" != "debug"`.
public struct LogSelector: Sendable, Hashable {
    public var matchers: [LabelMatcher]
    public var filters: [LineFilter]

    public init(matchers: [LabelMatcher] = [], filters: [LineFilter] = []) {
        self.matchers = matchers
        self.filters = filters
    }

    /// Whether a log with these labels and this line is selected.
    public func matches(labels: LokiLabels, line: String) -> Bool {
        for matcher in matchers where !matcher.matches(labels[matcher.name] ?? "") { return false }
        for filter in filters where !filter.matches(line) { return false }
        return true
    }

    /// Whether a stored log is selected.
    public func matches(_ log: StoredLog) -> Bool {
        // Line filters first: they need no label set.
        for filter in filters where !filter.matches(log.text) { return false }
        return matchesLabels(log)
    }

    /// Whether a stored log's labels satisfy every matcher (line filters aside).
    public func matchesLabels(_ log: StoredLog) -> Bool {
        for matcher in matchers where !matcher.matches(LokiLabels.value(of: matcher.name, in: log) ?? "") { return false }
        return true
    }
}

/// `name op "value"`. A label a log lacks has the value `""` (as in Loki: `{x=""}` selects logs without `x`).
public struct LabelMatcher: Sendable, Hashable {
    public enum Operator: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case matches = "=~"
        case notMatches = "!~"
    }

    public var name: String
    public var op: Operator
    public var value: String
    let regex: LinearRegex?

    public init(_ name: String, _ op: Operator, _ value: String) throws(LogQLError) {
        self.name = name
        self.op = op
        self.value = value
        switch op {
        case .equal, .notEqual: regex = nil
        case .matches, .notMatches:
            do {
                regex = try LinearRegex(value, fullMatch: true)
            } catch {
                throw LogQLError(.unsupported, "the regular expression of the matcher on '\(name)': \(error.message)")
            }
        }
    }

    public func matches(_ candidate: String) -> Bool {
        switch op {
        case .equal: candidate == value
        case .notEqual: candidate != value
        case .matches: regex!.matches(candidate)
        case .notMatches: !regex!.matches(candidate)
        }
    }
}

/// `|= "text"`, `!= "text"`, `|~ "regex"`, `!~ "regex"` on the log line (the stored, redacted text).
public enum LineFilter: Sendable, Hashable {
    case contains(String)
    case notContains(String)
    case matches(LinearRegex)
    case notMatches(LinearRegex)

    public func matches(_ line: String) -> Bool {
        switch self {
        case .contains(let text): ByteSearch.contains(line, Array(text.utf8))
        case .notContains(let text): !ByteSearch.contains(line, Array(text.utf8))
        case .matches(let regex): regex.matches(line)
        case .notMatches(let regex): !regex.matches(line)
        }
    }
}

/// `count_over_time(<log query>[range])` or `rate(…)`, per stream or summed (`sum by (level) (…)`).
public struct MetricQuery: Sendable, Hashable {
    public enum Function: String, Sendable, Hashable {
        case countOverTime = "count_over_time"
        case rate
    }

    /// How series are formed: one per stream (no aggregation), or one per value of the `by` labels.
    public enum Grouping: Sendable, Hashable {
        case streams
        case sum(by: [String])
    }

    public var function: Function
    public var selector: LogSelector
    /// The range of each window, in milliseconds.
    public var rangeMilliseconds: Int64
    public var grouping: Grouping

    public init(function: Function, selector: LogSelector, rangeMilliseconds: Int64, grouping: Grouping) {
        self.function = function
        self.selector = selector
        self.rangeMilliseconds = rangeMilliseconds
        self.grouping = grouping
    }
}

/// A query that is invalid (`.invalid`: a syntax error) or valid LogQL that logpipe does not answer
/// (`.unsupported`); the message names the part, never log contents.
public struct LogQLError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case invalid, unsupported
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
