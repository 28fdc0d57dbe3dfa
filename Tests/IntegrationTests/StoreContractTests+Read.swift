import Foundation
import LogPipeCore
import MongoBridge
import Testing

@testable import LogPipeApp

/// The read side of the store contract (the Loki read API): the same scans and queries, with the same answers,
/// on SQLite and on the MongoDB store.
extension StoreContractTests {
    /// A fresh store of `kind` and its reader.
    func storeAndReader(_ kind: Kind) throws -> (store: any LogStore, reader: any LogReader) {
        if kind == .sqlite {
            let path = "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite"
            return (try SQLiteLogStore(path: path), SQLiteLogReader(path: path))
        }
        let store = try #require(try kind.make() as? MongoLogStore)
        return (store, try MongoLogReader(uri: TestEnvironment.mongoURI, database: store.database))
    }

    /// Milliseconds of `received(n)`.
    func at(_ n: Int) -> Int64 { Int64(UnixTime(stamp: received(n))!.milliseconds) }

    func scan(_ reader: any LogReader, _ scan: LogScan, tenant: TenantID = acme) async throws -> [String] {
        let seen = Collector<[String]>([])
        try await reader.scan(tenant: tenant, scan) { page in
            seen.update { $0.append(contentsOf: page.map(\.logID)) }
            return true
        }
        return seen.value
    }

    @Test("read: a scan covers [start, end) by received_at, in either order, page after page, one tenant only", arguments: Kind.allCases)
    func readScanRange(_ kind: Kind) async throws {
        let (store, reader) = try storeAndReader(kind)
        _ = try await store.write((1...7).map { log("r\($0)", receivedAt: received($0)) } + [log("b1", Self.beta, receivedAt: received(3))])
        // Two logs received in the same millisecond are both read, once each, across a page boundary.
        _ = try await store.write([log("r3b", receivedAt: received(3))])
        let newest = try await scan(reader, LogScan(startMilliseconds: at(2), endMilliseconds: at(6), newestFirst: true, pageSize: 2))
        #expect(newest.count == 5 && Set(newest) == ["r2", "r3", "r3b", "r4", "r5"])
        #expect(newest.first == "r5" && newest.last == "r2")
        let oldest = try await scan(reader, LogScan(startMilliseconds: at(2), endMilliseconds: at(6), newestFirst: false, pageSize: 2))
        #expect(oldest == newest.reversed() || (oldest.first == "r2" && oldest.last == "r5" && Set(oldest) == Set(newest)))
        #expect(try await scan(reader, LogScan(startMilliseconds: 0, endMilliseconds: at(7) + 1, newestFirst: true), tenant: Self.beta) == ["b1"])
        #expect(try await scan(reader, LogScan(startMilliseconds: 0, endMilliseconds: at(7), newestFirst: true), tenant: TenantID("nobody")!).isEmpty)
    }

    @Test("read: level, source and attribute equalities and line filters select the same logs on every store", arguments: Kind.allCases)
    func readFilters(_ kind: Kind) async throws {
        let (store, reader) = try storeAndReader(kind)
        var logs = [
            log("f1", text: "disk full on /var", receivedAt: received(1), level: "error"),
            log("f2", text: "login ok for u1", receivedAt: received(2)),
            log("f3", text: "Disk OK", receivedAt: received(3)),
            log("f4", text: "timeout after 250ms", receivedAt: received(4), level: "warn"),
        ]
        logs[1].attributes = ["port": .int(8080), "ok": .bool(false), "ratio": .double(0.25), "user": .string("u2")]
        logs[2].source = "worker"
        _ = try await store.write(logs)
        func ids(_ equalities: [ScanEquality] = [], _ filters: [LineFilter] = []) async throws -> Set<String> {
            Set(try await scan(reader, LogScan(startMilliseconds: 0, endMilliseconds: at(9), newestFirst: true, equalities: equalities, lineFilters: filters)))
        }
        #expect(try await ids([.init(field: .level, value: "error")]) == ["f1"])
        #expect(try await ids([.init(field: .source, value: "worker")]) == ["f3"])
        #expect(try await ids([.init(field: .attribute("port"), value: "443")]) == ["f1", "f3", "f4"], "numbers match their text")
        #expect(try await ids([.init(field: .attribute("port"), value: "8080")]) == ["f2"])
        #expect(try await ids([.init(field: .attribute("ok"), value: "true")]) == ["f1", "f3", "f4"], "booleans match true/false")
        #expect(try await ids([.init(field: .attribute("ratio"), value: "0.25")]) == ["f2"])
        #expect(try await ids([.init(field: .attribute("user"), value: "u1")]) == ["f1", "f3", "f4"])
        #expect(try await ids([], [.contains("disk")]) == ["f1"])
        #expect(try await ids([], [.notContains("disk")]) == ["f2", "f3", "f4"])
        #expect(try await ids([], [.matches(try LinearRegex("(?i)disk"))]) == ["f1", "f3"])
        #expect(try await ids([], [.notMatches(try LinearRegex("\\d+ms$")), .contains("i")]) == ["f1", "f2", "f3"])
        #expect(try await ids([.init(field: .level, value: "info")], [.matches(try LinearRegex("^login"))]) == ["f2"])
    }

    @Test("read: query_range, log volume and labels give the same answers on every store", arguments: Kind.allCases)
    func readQueries(_ kind: Kind) async throws {
        let (store, reader) = try storeAndReader(kind)
        _ = try await store.write([
            log("a", text: "GET /orders 200", receivedAt: received(1)),
            log("b", text: "GET /orders 503", receivedAt: received(2), level: "error"),
            log("c", text: "POST /pay 503", receivedAt: received(3), level: "error"),
            log("d", text: "GET /health 200", receivedAt: received(4), level: "debug"),
            log("e", Self.beta, text: "GET /orders 503", receivedAt: received(2), level: "error"),
        ])
        let runner = LokiQueryRunner(reader: reader, maxLogs: 1_000)
        func logs(_ query: String, limit: Int = 100, newestFirst: Bool = true) async throws -> [String] {
            guard case .logs(let selector) = try LogQLQuery(query) else { return [] }
            return try await runner.logs(tenant: Self.acme, selector, start: at(0), end: at(9), limit: limit, newestFirst: newestFirst).map(\.logID)
        }
        #expect(try await logs(#"{level="error"} |= "503""#) == ["c", "b"])
        #expect(try await logs(#"{level=~"error|debug"} != "POST""#, newestFirst: false) == ["b", "d"])
        #expect(try await logs(#"{source="web", port="443"} |~ "GET /\\w+ 200""#, limit: 1) == ["d"])
        #expect(try await logs(#"{level!="info"} !~ "^GET""#) == ["c"])
        guard case .metric(let volume) = try LogQLQuery(#"sum by (level) (count_over_time({} | drop __error__ [10s]))"#) else { return }
        // One step at 10:00:09, whose 10 s window holds every log.
        let evaluator = try MetricEvaluator(query: volume, startMilliseconds: at(9), endMilliseconds: at(9), stepMilliseconds: 10_000)
        let series = try await runner.metric(tenant: Self.acme, evaluator)
        #expect(series.map { $0.labels["level"] ?? "" } == ["debug", "error", "info"])
        #expect(series.map { $0.points.map(\.value).reduce(0, +) } == [1, 2, 1], "the other tenant's log is not counted")
        let sets = try await runner.labelSets(tenant: Self.acme, [], start: at(0), end: at(9))
        #expect(Set(sets.compactMap { $0["level"] }) == ["info", "error", "debug"])
        #expect(Set(sets.flatMap { $0.labels.map(\.name) }) == ["level", "source", "port", "ok", "ratio", "user"])
    }

    @Test("read (MongoDB store): what a query needs is the received_at index the store creates; equalities are pushed to the server")
    func readMongoIndexAndFilter() async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
        _ = try await store.write([log("i1")])
        #expect(try Self.receivedAtIndex(store, "acme") != nil)
        let filter = MongoLogReader.filter(
            LogScan(startMilliseconds: 1, endMilliseconds: 2, newestFirst: true, equalities: [.init(field: .attribute("port"), value: "443")]))
        #expect(filter.map(\.key) == ["received_at", "attributes.port"])
        #expect(filter[1].value == .document([BSONField("$in", .array([.string("443"), .int64(443)]))]))
    }
}
