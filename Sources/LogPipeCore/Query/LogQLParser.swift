/// Recursive descent over LogQL tokens for the subset ``LogQLQuery`` answers. Valid LogQL outside it (parsers,
/// label filters, other functions, binary operations, …) is refused with `.unsupported` naming the part.
struct LogQLParser {
    private let tokens: [LogQLToken]
    private var index = 0

    /// The range functions LogQL has, for a precise refusal.
    static let otherRangeFunctions: Set<String> = [
        "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time", "max_over_time", "min_over_time",
        "first_over_time", "last_over_time", "stdvar_over_time", "stddev_over_time", "quantile_over_time",
        "absent_over_time", "rate_counter",
    ]
    /// The vector aggregations LogQL has besides `sum`.
    static let otherAggregations: Set<String> = [
        "avg", "min", "max", "count", "stddev", "stdvar", "bottomk", "topk", "sort", "sort_desc", "label_replace",
        "approx_topk",
    ]
    /// The pipeline stages LogQL has besides line filters and `| drop __error__`.
    static let otherStages: Set<String> = [
        "json", "logfmt", "regexp", "pattern", "unpack", "line_format", "label_format", "decolorize", "keep", "drop",
        "unwrap",
    ]

    init(_ text: String) throws(LogQLError) {
        tokens = try LogQLLexer.tokens(text)
    }

    private var peek: LogQLToken { tokens[index] }
    private mutating func take() -> LogQLToken {
        defer { if index < tokens.count - 1 { index += 1 } }
        return tokens[index]
    }

    private mutating func expect(_ token: LogQLToken, _ what: String) throws(LogQLError) {
        let found = take()
        guard found == token else { throw LogQLError(.invalid, "expected \(what), found \(found.shown)") }
    }

    mutating func query() throws(LogQLError) -> LogQLQuery {
        let query = try expression()
        switch peek {
        case .end: return query
        case .op(let op) where ["+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<="].contains(op):
            throw LogQLError(.unsupported, "binary operations ('\(op)') are not supported")
        case .identifier(let word) where ["and", "or", "unless", "offset", "bool"].contains(word):
            throw LogQLError(.unsupported, "'\(word)' is not supported")
        default: throw LogQLError(.invalid, "unexpected \(peek.shown) after the query")
        }
    }

    private mutating func expression() throws(LogQLError) -> LogQLQuery {
        switch peek {
        case .open("{"): return .logs(try logExpression())
        case .identifier("vector"): return .constant(try constantSum())
        case .identifier("sum"): return .metric(try aggregation())
        case .identifier(let name) where name == "count_over_time" || name == "rate":
            return .metric(try rangeAggregation(grouping: .streams))
        case .identifier(let name) where Self.otherRangeFunctions.contains(name) || Self.otherAggregations.contains(name):
            throw LogQLError(.unsupported, "the function '\(name)' is not supported (count_over_time, rate and sum are)")
        case .identifier(let name): throw LogQLError(.invalid, "unknown function or keyword '\(name)'")
        case .open("("): throw LogQLError(.unsupported, "a parenthesised expression is not supported")
        default: throw LogQLError(.invalid, "a query starts with a stream selector {…} or a function, not \(peek.shown)")
        }
    }

    /// `vector(1)+vector(1)`: the sum of constant vectors.
    private mutating func constantSum() throws(LogQLError) -> Double {
        var total = 0.0
        while true {
            try expect(.identifier("vector"), "vector")
            try expect(.open("("), "'('")
            guard case .number(let text) = take(), let value = Double(text) else { throw LogQLError(.invalid, "vector() takes a number") }
            try expect(.close(")"), "')'")
            total += value
            guard peek == .op("+") else { return total }
            _ = take()
        }
    }

    private mutating func aggregation() throws(LogQLError) -> MetricQuery {
        _ = take()  // sum
        var labels = try groupingClause()
        try expect(.open("("), "'(' after sum")
        guard case .identifier(let name) = peek, name == "count_over_time" || name == "rate" else {
            if case .identifier(let name) = peek, Self.otherRangeFunctions.contains(name) || Self.otherAggregations.contains(name) || name == "sum" {
                throw LogQLError(.unsupported, "sum over '\(name)' is not supported (sum over count_over_time or rate is)")
            }
            throw LogQLError(.unsupported, "sum is supported over count_over_time or rate only")
        }
        var inner = try rangeAggregation(grouping: .streams)
        try expect(.close(")"), "')' closing sum")
        if let after = try groupingClause() {
            guard labels == nil else { throw LogQLError(.invalid, "a sum has two grouping clauses") }
            labels = after
        }
        inner.grouping = .sum(by: labels ?? [])
        return inner
    }

    /// `by (a, b)`; nil when there is none; `without` is refused.
    private mutating func groupingClause() throws(LogQLError) -> [String]? {
        guard case .identifier(let word) = peek, word == "by" || word == "without" else { return nil }
        guard word == "by" else { throw LogQLError(.unsupported, "'without' grouping is not supported (by is)") }
        _ = take()
        try expect(.open("("), "'(' after by")
        var names: [String] = []
        while case .identifier(let name) = peek {
            _ = take()
            names.append(name)
            guard peek == .comma else { break }
            _ = take()
        }
        try expect(.close(")"), "')' closing the by labels")
        return names
    }

    private mutating func rangeAggregation(grouping: MetricQuery.Grouping) throws(LogQLError) -> MetricQuery {
        guard case .identifier(let name) = take(), let function = MetricQuery.Function(rawValue: name) else {
            throw LogQLError(.invalid, "expected count_over_time or rate")
        }
        try expect(.open("("), "'(' after \(name)")
        let selector = try logExpression()
        try expect(.open("["), "a range such as [5m] after the log query of \(name)")
        guard case .number(let text) = take(), let range = LogQLLexer.milliseconds(text), range > 0 else {
            throw LogQLError(.invalid, "the range of \(name) must be a duration such as 5m or 30s")
        }
        try expect(.close("]"), "']'")
        if case .identifier("offset") = peek { throw LogQLError(.unsupported, "'offset' is not supported") }
        try expect(.close(")"), "')' closing \(name)")
        return MetricQuery(function: function, selector: selector, rangeMilliseconds: range, grouping: grouping)
    }

    private mutating func logExpression() throws(LogQLError) -> LogSelector {
        var selector = LogSelector(matchers: try matchers())
        while true {
            switch peek {
            case .op("|="), .op("!="), .op("|~"), .op("!~"):
                guard case .op(let op) = take() else { continue }
                guard case .string(let value) = take() else {
                    if case .identifier(let function) = tokens[index - 1] {
                        throw LogQLError(.unsupported, "line filter functions such as \(function)(…) are not supported")
                    }
                    throw LogQLError(.invalid, "a line filter \(op) takes a string")
                }
                if case .identifier("or") = peek { throw LogQLError(.unsupported, "'or' between line filters is not supported") }
                selector.filters.append(try Self.lineFilter(op, value))
            case .op("|"):
                _ = take()
                try pipelineStage()
            case .op("|>"): throw LogQLError(.unsupported, "pattern line filters (|>, !>) are not supported")
            default: return selector
            }
        }
    }

    static func lineFilter(_ op: String, _ value: String) throws(LogQLError) -> LineFilter {
        switch op {
        case "|=": return .contains(value)
        case "!=": return .notContains(value)
        default:
            do {
                let regex = try LinearRegex(value)
                return op == "|~" ? .matches(regex) : .notMatches(regex)
            } catch {
                throw LogQLError(.unsupported, "the regular expression of a line filter: \(error.message)")
            }
        }
    }

    /// After `|`: only `drop __error__[, __error_details__]` (Grafana adds it; logpipe makes no parse errors, so it
    /// changes nothing).
    private mutating func pipelineStage() throws(LogQLError) {
        guard case .identifier(let stage) = take() else { throw LogQLError(.invalid, "expected a pipeline stage after '|'") }
        guard stage == "drop" else {
            if Self.otherStages.contains(stage) { throw LogQLError(.unsupported, "the pipeline stage '| \(stage)' is not supported") }
            throw LogQLError(.unsupported, "label filter expressions ('| \(stage) …') are not supported")
        }
        while true {
            guard case .identifier(let name) = take() else { throw LogQLError(.invalid, "'| drop' takes label names") }
            guard name == "__error__" || name == "__error_details__" else {
                throw LogQLError(.unsupported, "'| drop' is supported for __error__ and __error_details__ only")
            }
            if case .op = peek, peek == .op("=") || peek == .op("=~") || peek == .op("!=") || peek == .op("!~") {
                throw LogQLError(.unsupported, "'| drop' with a matcher is not supported")
            }
            guard peek == .comma else { return }
            _ = take()
        }
    }

    private mutating func matchers() throws(LogQLError) -> [LabelMatcher] {
        try expect(.open("{"), "'{'")
        var matchers: [LabelMatcher] = []
        while peek != .close("}") {
            guard case .identifier(let name) = take() else { throw LogQLError(.invalid, "expected a label name in the stream selector") }
            guard case .op(let symbol) = take(), let op = LabelMatcher.Operator(rawValue: symbol) else {
                throw LogQLError(.invalid, "expected =, !=, =~ or !~ after the label '\(name)'")
            }
            guard case .string(let value) = take() else { throw LogQLError(.invalid, "the value of the label '\(name)' must be a string") }
            matchers.append(try LabelMatcher(name, op, value))
            guard peek == .comma else { break }
            _ = take()
        }
        try expect(.close("}"), "'}' closing the stream selector")
        return matchers
    }
}
