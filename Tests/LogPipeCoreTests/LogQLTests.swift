import LogPipeCore
import Testing

/// The LogQL subset of the read API: what is answered, and what is refused naming the part.
@Suite("LogQL subset")
struct LogQLTests {
    func log(_ text: String, level: String? = "error", source: String? = "api", attributes: [String: AttributeValue]? = nil) -> StoredLog {
        StoredLog(
            logID: "l", tenantID: TenantID("acme")!, text: text, redactions: [:], receivedAt: "2026-12-01T10:00:00.000Z",
            processedAt: "2026-12-01T10:00:00.100Z", requestID: "r", fields: LogFields(level: level, source: source, attributes: attributes))
    }

    func selector(_ text: String) throws -> LogSelector {
        guard case .logs(let selector) = try LogQLQuery(text) else { throw LogQLError(.invalid, "not a log query") }
        return selector
    }

    @Test("stream selectors with =, !=, =~ and !~ on level, source and attributes")
    func matchers() throws {
        let attributes: [String: AttributeValue] = ["status": .int(500), "service.name": .string("checkout"), "ok": .bool(false)]
        let entry = log("payment failed", attributes: attributes)
        #expect(try selector(#"{level="error"}"#).matches(entry))
        #expect(try !selector(#"{level!="error"}"#).matches(entry))
        #expect(try selector(#"{level=~"err.*|warn"}"#).matches(entry))
        #expect(try !selector(#"{level=~"err"}"#).matches(entry), "label regexes match the whole value")
        #expect(try selector(#"{source!~"web|worker"}"#).matches(entry))
        #expect(try selector(#"{status="500", service_name="checkout", ok="false"}"#).matches(entry))
        #expect(try selector(#"{missing=""}"#).matches(entry), "an absent label is the empty value")
        #expect(try !selector(#"{missing!=""}"#).matches(entry))
        #expect(try selector("{}").matches(entry), "an empty selector selects all of a tenant's logs")
        #expect(try selector(#"{level="error",}"#).matches(entry), "a trailing comma is allowed")
    }

    @Test("chained line filters, in double-quoted and raw strings")
    func lineFilters() throws {
        let entry = log(#"GET /api/orders 503 took 12ms "slow""#)
        #expect(try selector(#"{level="error"} |= "503" != "200" |~ "took \\d+ms" !~ "(?i)debug""#).matches(entry))
        #expect(try selector(#"{level="error"} |= `"slow"`"#).matches(entry))
        #expect(try selector("{} |~ `\\d{3}`").matches(entry))
        #expect(try !selector(#"{} |= "404""#).matches(entry))
        #expect(try !selector(#"{} != "orders""#).matches(entry))
        #expect(try selector(#"{} |= """#).matches(entry), "an empty filter matches every line")
    }

    @Test("Grafana's log-volume query parses: sum by (level, detected_level) over count_over_time, with | drop __error__")
    func logVolume() throws {
        let query = try LogQLQuery(#"sum by (level, detected_level) (count_over_time({source="api"} |= `` | drop __error__[1m]))"#)
        guard case .metric(let metric) = query else {
            Issue.record("not a metric query")
            return
        }
        #expect(metric.function == .countOverTime)
        #expect(metric.rangeMilliseconds == 60_000)
        #expect(metric.grouping == .sum(by: ["level", "detected_level"]))
        #expect(metric.selector.matchers.map(\.name) == ["source"])
        guard case .metric(let rate) = try LogQLQuery(#"sum(rate({level="error"}[5m])) by (source)"#) else { return }
        #expect(rate.function == .rate && rate.grouping == .sum(by: ["source"]) && rate.rangeMilliseconds == 300_000)
        guard case .metric(let perStream) = try LogQLQuery(#"count_over_time({level="error"} |~ "x" [1h30m])"#) else { return }
        #expect(perStream.grouping == .streams && perStream.rangeMilliseconds == 5_400_000)
    }

    @Test("Grafana's health check query is a constant vector")
    func healthCheck() throws {
        #expect(try LogQLQuery("vector(1)+vector(1)") == .constant(2))
    }

    /// (query, words the refusal names).
    static let unsupported: [(String, String)] = [
        (#"{app="x"} | json"#, "'| json'"),
        (#"{app="x"} | logfmt | level="error""#, "'| logfmt'"),
        (#"{app="x"} | status >= 500"#, "label filter"),
        (#"{app="x"} | line_format "{{.msg}}""#, "'| line_format'"),
        (#"{app="x"} | drop status"#, "__error__"),
        (#"{app="x"} |= "a" or "b""#, "'or'"),
        (#"{app="x"} |= ip("10.0.0.0/8")"#, "line filter functions"),
        (#"{app="x"} |> "<_> error""#, "pattern line filters"),
        (#"bytes_over_time({app="x"}[5m])"#, "'bytes_over_time'"),
        (#"topk(5, count_over_time({app="x"}[5m]))"#, "'topk'"),
        (#"sum without (level) (count_over_time({app="x"}[5m]))"#, "without"),
        (#"sum(sum_over_time({app="x"} | unwrap bytes [5m]))"#, "sum over 'sum_over_time'"),
        (#"count_over_time({app="x"}[5m]) > 10"#, "binary operations"),
        (#"count_over_time({app="x"}[5m] offset 1h)"#, "offset"),
        (#"{app=~`(a)\1`}"#, "backreferences"),
        (#"{app="x"} |~ "(?=a)""#, "look-ahead"),
    ]

    @Test("valid LogQL outside the subset is refused as unsupported, naming the part", arguments: unsupported)
    func refusals(_ query: String, _ named: String) {
        #expect {
            _ = try LogQLQuery(query)
        } throws: { error in
            guard let error = error as? LogQLError else { return false }
            return error.kind == .unsupported && error.message.contains(named)
        }
    }

    @Test(
        "invalid queries are refused as invalid",
        arguments: [#"{app="x""#, #"{app=x}"#, "app", #"{app="x"} |= "unterminated"#, #"count_over_time({a="b"})"#, ""])
    func invalid(_ query: String) {
        #expect {
            _ = try LogQLQuery(query)
        } throws: { error in
            (error as? LogQLError)?.kind == .invalid
        }
    }

    @Test("labels: level and source, attributes with keys made label names, values as text")
    func labels() {
        let entry = log("x", attributes: ["http.status": .int(404), "9lives": .bool(true), "ratio": .double(0.25), "level": .string("shadowed")])
        let labels = LokiLabels(entry)
        #expect(labels.labels.map(\.name) == ["_9lives", "http_status", "level", "ratio", "source"])
        #expect(labels["http_status"] == "404")
        #expect(labels["_9lives"] == "true")
        #expect(labels["ratio"] == "0.25")
        #expect(labels["level"] == "error", "an attribute cannot shadow the stored level")
        #expect(LokiLabels(log("x", level: nil, source: nil)).labels.isEmpty)
        let clash = log("x", attributes: ["http.status": .int(1), "http_status": .int(2), "http-status": .int(3)])
        for label in LokiLabels(clash).labels + labels.labels {
            let source = label.name == "_9lives" || label.name == "ratio" || label.value == "404" ? entry : clash
            #expect(LokiLabels.value(of: label.name, in: source) == LokiLabels(source)[label.name], "\(label.name)")
        }
        #expect(LokiLabels(clash)["http_status"] == "3", "the first key in sorted order wins: http-status")
    }

    @Test("store pushdown: only exact equalities on level, source and label names without '_'")
    func equalities() throws {
        let pushed = ScanEquality.of(try selector(#"{level="error", source!="x", status="500", service_name="y", empty="", kind=~"a"}"#))
        #expect(pushed == [ScanEquality(field: .level, value: "error"), ScanEquality(field: .attribute("status"), value: "500")])
        #expect(ScanEquality(field: .attribute("ok"), value: "true").attributeForms == [.string("true"), .bool(true)])
        #expect(ScanEquality(field: .attribute("n"), value: "500").attributeForms == [.string("500"), .int(500)])
        #expect(ScanEquality(field: .attribute("n"), value: "0.5").attributeForms == [.string("0.5"), .double(0.5)])
    }

    @Test("metric evaluation counts each series' logs in (t − range, t] at each step; rate divides by the range")
    func metricEvaluation() throws {
        guard case .metric(let query) = try LogQLQuery(#"sum by (level) (count_over_time({} [10s]))"#) else { return }
        var evaluator = try MetricEvaluator(query: query, startMilliseconds: 10_000, endMilliseconds: 30_000, stepMilliseconds: 10_000)
        #expect(evaluator.scanStart == 1 && evaluator.scanEnd == 30_001)
        for (time, level) in [(5_000, "info"), (10_000, "info"), (10_001, "error"), (20_000, "info"), (29_999, "error")] {
            evaluator.add(log("x", level: level), at: Int64(time))
        }
        let series = evaluator.series()
        #expect(series.map { $0.labels["level"] } == ["error", "info"])
        #expect(series[0].points == [.init(milliseconds: 20_000, value: 1), .init(milliseconds: 30_000, value: 1)])
        #expect(series[1].points == [.init(milliseconds: 10_000, value: 2), .init(milliseconds: 20_000, value: 1)])
        guard case .metric(let rate) = try LogQLQuery(#"rate({} [10s])"#) else { return }
        var rates = try MetricEvaluator(query: rate, startMilliseconds: 10_000, endMilliseconds: 10_000, stepMilliseconds: 1_000)
        rates.add(log("x"), at: 9_000)
        #expect(rates.series().first?.points == [.init(milliseconds: 10_000, value: 0.1)])
        #expect(throws: LogQLError.self) { try MetricEvaluator(query: rate, startMilliseconds: 0, endMilliseconds: 20_000_000, stepMilliseconds: 1) }
    }
}
