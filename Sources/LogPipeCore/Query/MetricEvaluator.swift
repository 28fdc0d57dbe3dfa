/// Evaluates a `count_over_time`/`rate` query over the logs a scan selected, as Loki does: at each step
/// `t = start, start + step, … ≤ end`, the value is the number of a series' logs with a time in `(t − range, t]`
/// (divided by the range in seconds for `rate`); steps without logs have no point.
public struct MetricEvaluator: Sendable {
    public let query: MetricQuery
    public let startMilliseconds: Int64
    public let endMilliseconds: Int64
    public let stepMilliseconds: Int64
    private var times: [LokiLabels: [Int64]] = [:]

    /// The most points a series may have (Loki's limit).
    public static let maxPoints = 11_000

    public init(query: MetricQuery, startMilliseconds: Int64, endMilliseconds: Int64, stepMilliseconds: Int64) throws(LogQLError) {
        guard stepMilliseconds > 0 else { throw LogQLError(.invalid, "step must be positive") }
        guard endMilliseconds >= startMilliseconds else { throw LogQLError(.invalid, "end must not be before start") }
        guard (endMilliseconds - startMilliseconds) / stepMilliseconds < Int64(Self.maxPoints) else {
            throw LogQLError(.unsupported, "the query would make more than \(Self.maxPoints) points per series; raise step or shorten the range")
        }
        self.query = query
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.stepMilliseconds = stepMilliseconds
    }

    /// The times a scan must cover: `[start − range + 1 ms, end + 1 ms)`.
    public var scanStart: Int64 { startMilliseconds - query.rangeMilliseconds + 1 }
    public var scanEnd: Int64 { endMilliseconds + 1 }

    /// Counts a selected log received at `milliseconds`.
    public mutating func add(_ log: StoredLog, at milliseconds: Int64) {
        let key: LokiLabels
        switch query.grouping {
        case .streams: key = LokiLabels(log)
        case .sum(let names):
            key = LokiLabels(names.compactMap { name in LokiLabels.value(of: name, in: log).map { LokiLabels.Label(name: name, value: $0) } })
        }
        times[key, default: []].append(milliseconds)
    }

    /// One series per group with at least one point, sorted by labels.
    public func series() -> [MetricSeries] {
        let divisor = query.function == .rate ? Double(query.rangeMilliseconds) / 1000 : 1
        var result: [MetricSeries] = []
        for (labels, unsorted) in times {
            let sorted = unsorted.sorted()
            var points: [MetricSeries.Point] = []
            var low = 0
            var high = 0
            var step = startMilliseconds
            while step <= endMilliseconds {
                while high < sorted.count && sorted[high] <= step { high += 1 }
                while low < high && sorted[low] <= step - query.rangeMilliseconds { low += 1 }
                if high > low { points.append(.init(milliseconds: step, value: Double(high - low) / divisor)) }
                step += stepMilliseconds
            }
            if !points.isEmpty { result.append(MetricSeries(labels: labels, points: points)) }
        }
        return result.sorted { $0.labels.labels.lexicographicallyPrecedes($1.labels.labels) { ($0.name, $0.value) < ($1.name, $1.value) } }
    }
}

/// One series of a metric result.
public struct MetricSeries: Sendable, Hashable {
    public struct Point: Sendable, Hashable {
        public var milliseconds: Int64
        public var value: Double

        public init(milliseconds: Int64, value: Double) {
            self.milliseconds = milliseconds
            self.value = value
        }
    }

    public var labels: LokiLabels
    public var points: [Point]

    public init(labels: LokiLabels, points: [Point]) {
        self.labels = labels
        self.points = points
    }
}
