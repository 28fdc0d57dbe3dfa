// Redaction benchmark: logpipe's single-pass engine against a straightforward regex implementation of the
// same rules (NSRegularExpression, the six types), and the seed design's Python regexes when python3 is present,
// on one generated corpus of realistic log lines, single thread. Build with `-c release`.
//
//   swift run -c release redaction-bench [--mib 32] [--runs 5] [--json FILE] [--write-corpus FILE]
import Foundation
import LogPipeCore

struct Options {
    var mebibytes = 32
    var runs = 5
    var jsonPath: String?
    /// Write the corpus here, one line per log, and exit (to profile `logpipe redact` on the same lines).
    var corpusPath: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--mib": mebibytes = Int(iterator.next() ?? "") ?? mebibytes
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--json": jsonPath = iterator.next()
            case "--write-corpus": corpusPath = iterator.next()
            default: FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8)); exit(2)
            }
        }
    }
}

/// Deterministic log lines: access logs, application logs, JSON lines; about one in five carries PII.
struct Corpus {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 31)
        }
    }

    static func lines(bytes target: Int) -> [String] {
        var generator = Generator(state: 42)
        var lines: [String] = []
        var total = 0
        func pick<T>(_ items: [T]) -> T { items.randomElement(using: &generator)! }
        func number(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
        while total < target {
            let ts = "2026-11-\(10 + number(0...19))T\(10 + number(0...13)):\(10 + number(0...49)):\(10 + number(0...49)).\(100 + number(0...899))Z"
            let ip = "\(number(1...223)).\(number(0...255)).\(number(0...255)).\(number(1...254))"
            let line: String
            switch number(0...13) {
            case 0:
                line =
                    "\(ts) INFO  [http-nio-8080-exec-\(number(1...32))] c.e.api.UserController - GET /api/v1/users/\(number(1000...99999)) 200 took \(number(1...900))ms"
            case 1:
                line =
                    "\(ip) - - [29/Nov/2026:10:\(10 + number(0...49)):00 +0000] \"GET /static/app.\(number(100...999)).js HTTP/1.1\" \(pick([200, 304, 404])) \(number(200...90000)) \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.109\""
            case 2:
                line =
                    "{\"ts\":\"\(ts)\",\"level\":\"warn\",\"msg\":\"retrying upstream call\",\"attempt\":\(number(1...5)),\"request_id\":\"550e8400-e29b-41d4-a716-4466554\(number(10000...99999))\",\"latency_ms\":\(number(1...5000))}"
            case 3:
                line =
                    "\(ts) ERROR login failed for user \(pick(["alice", "bob", "carol", "dave"])).\(pick(["smith", "jones"]))@\(pick(["example.com", "corp.example.org", "mail.example.net"])) from \(ip)"
            case 4:
                line =
                    "\(ts) INFO  payment processed card=\(pick(["4111 1111 1111 1111", "5555555555554444", "3782 822463 10005"])) amount=$\(number(1...999)).\(number(10...99)) order=ORD-2026-\(number(100000...999999))"
            case 5:
                line =
                    "\(ts) DEBUG db query took \(number(1...3)).\(number(100...999))s rows=\(number(0...10000)) sha=d41d8cd98f00b204e9800998ecf8427e cache=\(pick(["hit", "miss"]))"
            case 6:
                line = "\(ts) INFO  sms sent to \(pick(["+44 20 7946 0958", "(555) 123-4567", "+1 555 123 4567", "555-0199"])) status=delivered provider=twilio"
            case 7: line = "\(ts) kernel: eth\(number(0...3)): link up, 1000 Mbps, full duplex, addr fe80::\(String(number(1...65535), radix: 16))%eth0"
            case 8:
                line =
                    "\(ts) INFO  worker-\(number(1...8)) processed batch \(number(1...99999)) of \(number(1...500)) logs in \(number(1...999))ms (\(number(1...99)).\(number(1...9)) MiB/s) version=2.\(number(0...20)).\(number(0...9))"
            case 9:
                line =
                    "\(ts) WARN  slow request method=POST path=/checkout status=\(pick([200, 201, 500, 503])) duration=\(number(1...30)).\(number(100...999))s bytes=\(number(100...2_000_000))"
            case 10: line = "\(ts) AUDIT user ssn=\(pick(["123-45-6789", "078-05-1120"])) verified by agent_\(number(1...99)) ticket #\(number(1000...9999))"
            case 12:
                line =
                    "\(ts) DEBUG outbound call headers={Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyIsImV4cCI6MTc2NDM3NDQwMH0.\(number(100000...999999))abcdefXYZ} upstream=billing"
            case 13:
                line =
                    "\(ts) INFO  connecting to \(pick(["postgres://app:s3cr3t@db.internal:5432/app", "amqp://guest:guest@rabbit:5672/", "redis://cache.internal:6379/0"])) pool=\(number(1...32))"
            default:
                line =
                    "\(ts) INFO  GC pause \(number(1...200))ms heap=\(number(100...4000))MB threads=\(number(10...400)) uptime=\(number(1...99))h\(number(1...59))m"
            }
            lines.append(line)
            total += line.utf8.count + 1
        }
        return lines
    }
}

/// The same rules as straightforward regular expressions, applied one after another.
struct RegexRedactor {
    let rules: [(NSRegularExpression, String)] = [
        (#"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"#, "[REDACTED:EMAIL]"),
        (#"\b\d{3}-\d{2}-\d{4}\b"#, "[REDACTED:SSN]"),
        (#"\b(?:\d[ -]?){12,18}\d\b"#, "[REDACTED:CREDIT_CARD]"),
        (#"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"#, "[REDACTED:IP_ADDRESS]"),
        (
            #"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?:%\w+)?"#,
            "[REDACTED:IP_ADDRESS]"
        ),
        (#"(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}\b|\b\d{3}-\d{4}\b"#, "[REDACTED:PHONE]"),
        (
            #"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*|(?<=://[^:/@\s]{1,64}:)[^@/\s]+(?=@)|(?<=Bearer )[A-Za-z0-9._~+/-]{8,}=*"#,
            "[REDACTED:SECRET]"
        ),
    ].map { (try! NSRegularExpression(pattern: $0.0), $0.1) }

    func redact(_ text: String) -> String {
        var text = text
        for (regex, mask) in rules {
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: mask)
        }
        return text
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Runs `body` over the items `runs` times; returns the median MiB/s of their `bytes`.
func measure<Item>(_ items: [Item], bytes: Int, runs: Int, _ body: (Item) -> Int) -> (mibPerSecond: Double, checksum: Int) {
    var rates: [Double] = []
    var checksum = 0
    for _ in 0..<runs {
        let start = ContinuousClock.now
        var sum = 0
        for item in items { sum &+= body(item) }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rates.append(Double(bytes) / 1_048_576 / seconds)
        checksum = sum
    }
    return (median(rates), checksum)
}

/// The same over lines, counting each line and its newline.
func measure(_ lines: [String], runs: Int, _ body: (String) -> Int) -> (mibPerSecond: Double, checksum: Int) {
    measure(lines, bytes: lines.reduce(0) { $0 + $1.utf8.count + 1 }, runs: runs, body)
}

/// The corpus as logs whose bytes are all in one kind of field: `text` (each line), string attribute values and
/// their keys (each line's words, up to 8 a log), attributes under secret keys (masked whole, never scanned), and
/// `source` and `level`. The request id is a UUID, as the API makes it (not scanned).
func fieldCorpora(_ lines: [String]) -> [(name: String, records: [LogRecord], bytes: Int)] {
    let tenant = TenantID("bench")!
    func record(text: String = "", source: String? = nil, level: String? = nil, attributes: [String: AttributeValue]? = nil) -> LogRecord {
        LogRecord(
            tenantID: tenant, logID: "0193a5c2-0000-7000-8000-000000000000", text: text, receivedAt: "2026-12-07T00:00:00.000Z",
            requestID: "0193a5c2-0000-7000-8000-000000000001", fields: LogFields(level: level, source: source, attributes: attributes))
    }
    var text: [LogRecord] = [], values: [LogRecord] = [], secrets: [LogRecord] = [], labels: [LogRecord] = []
    var textBytes = 0, valueBytes = 0, secretBytes = 0, labelBytes = 0
    let secretNames = ["password", "api_key", "token", "client_secret"]
    let sources = ["billing-api", "checkout", "auth", "nginx"], levels = ["info", "warn", "error", "debug"]
    for (index, line) in lines.enumerated() {
        text.append(record(text: line))
        textBytes += line.utf8.count
        let words = line.split(separator: " ").prefix(8).map(String.init)
        var attributes: [String: AttributeValue] = [:]
        for (position, word) in words.enumerated() {
            attributes["field_\(position)"] = .string(word)
            valueBytes += word.utf8.count + "field_\(position)".utf8.count
        }
        values.append(record(attributes: attributes))
        let secret = words.last ?? line
        secrets.append(record(attributes: [secretNames[index % secretNames.count]: .string(secret)]))
        secretBytes += secret.utf8.count
        let source = sources[index % sources.count], level = levels[index % levels.count]
        labels.append(record(source: source, level: level))
        labelBytes += source.utf8.count + level.utf8.count
    }
    return [
        ("text", text, textBytes), ("attributes (keys, values)", values, valueBytes),
        ("secret-key attributes", secrets, secretBytes), ("source and level", labels, labelBytes),
    ]
}

func seedPython(_ lines: [String], runs: Int) -> Double? {
    let python = "/usr/bin/python3"
    guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
    let corpus = NSTemporaryDirectory() + "logpipe-redaction-corpus.txt"
    FileManager.default.createFile(atPath: corpus, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
    // The seed design's five regexes (../shared/bench/peer_seed.py), timed on the same corpus.
    let script = #"""
        import re, sys, time, statistics
        PII = [("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
               ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
               ("CREDIT_CARD", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
               ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
               ("PHONE", re.compile(r"(?:\+?\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})?[ .-]?\d{3}[ .-]\d{4}\b"))]
        lines = open(sys.argv[1]).read().splitlines()
        size = sum(len(l.encode()) + 1 for l in lines)
        rates = []
        for _ in range(int(sys.argv[2])):
            t = time.perf_counter()
            for line in lines:
                for name, rx in PII:
                    line = rx.sub("[REDACTED_" + name + "]", line)
            rates.append(size / 1048576 / (time.perf_counter() - t))
        print(statistics.median(rates))
        """#
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script, corpus, String(runs)]
    let output = Pipe()
    process.standardOutput = output
    guard (try? process.run()) != nil else { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try? FileManager.default.removeItem(atPath: corpus)
    return Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}

let options = Options(CommandLine.arguments)
let lines = Corpus.lines(bytes: options.mebibytes << 20)
if let path = options.corpusPath {
    FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
    exit(0)
}
let redactor = Redactor()
let engine = measure(lines, runs: options.runs) { redactor.redact($0).total }
// The regex version is slow: measure it on an eighth of the corpus (same mix of lines).
let regexLines = Array(lines.prefix(max(1, lines.count / 8)))
let regex = RegexRedactor()
let regexRate = measure(regexLines, runs: options.runs) { regex.redact($0).utf8.count }
let seed = seedPython(regexLines, runs: options.runs)

// The same engine through the worker's per-log call, field by field (an eighth of the corpus each).
let fields = fieldCorpora(Array(lines.prefix(max(1, lines.count / 8)))).map { field in
    // The worker's per-log call: every stored field of the log.
    (field.name, measure(field.records, bytes: field.bytes, runs: options.runs) { redactor.redact(fields: $0).text.utf8.count }.mibPerSecond)
}

var hostile: [(String, Double)] = []
for unit in ["1", "@", "1.", "a@", "1:", "+1", "4111 ", "eyJaaaaaaaaaaaa.", "Bearer ", "a://b:c@", "-----BEGIN PRIVATE KEY-----", "s "] {
    let text = String(repeating: unit, count: (1 << 20) / unit.utf8.count)
    let rate = measure([text], runs: options.runs) { redactor.redact($0).total }
    hostile.append(("1 MiB of \"\(unit)\"", rate.mibPerSecond))
}

let cpu =
    (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
print("redaction benchmark — \(lines.count) lines, \(options.mebibytes) MiB, single thread, median of \(options.runs) runs")
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu)")
print(String(repeating: "-", count: 64))
func row(_ name: String, _ rate: Double) { print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%10.1f MiB/s", rate)) }
row("logpipe engine (LogPipeCore.Redactor)", engine.mibPerSecond)
row("same rules as NSRegularExpression", regexRate.mibPerSecond)
if let seed { row("seed design's Python regexes", seed) }
for (name, rate) in fields { row("engine, per log: \(name)", rate) }
for (name, rate) in hostile { row("engine, hostile: \(name)", rate) }
print(String(repeating: "-", count: 64))
print(
    String(format: "engine / regex: %.1f×", engine.mibPerSecond / regexRate.mibPerSecond)
        + (seed.map { String(format: "   engine / seed Python: %.1f×", engine.mibPerSecond / $0) } ?? ""))

/// The figures as `--json` writes them.
struct Report: Encodable {
    var lines: Int
    var mebibytes: Int
    var runs: Int
    var cores: Int
    var cpu: String
    var engineMiBs: Double
    var regexMiBs: Double
    var seedPythonMiBs: Double?
    var hostileMiBs: [String: Double]
    var fieldMiBs: [String: Double]

    enum CodingKeys: String, CodingKey {
        case lines, mebibytes, runs, cores, cpu
        case engineMiBs = "engine_mib_s", regexMiBs = "regex_mib_s", seedPythonMiBs = "seed_python_mib_s", hostileMiBs = "hostile_mib_s"
        case fieldMiBs = "field_mib_s"
    }
}

if let path = options.jsonPath {
    let report = Report(
        lines: lines.count, mebibytes: options.mebibytes, runs: options.runs, cores: ProcessInfo.processInfo.activeProcessorCount,
        cpu: cpu, engineMiBs: engine.mibPerSecond, regexMiBs: regexRate.mibPerSecond, seedPythonMiBs: seed,
        hostileMiBs: Dictionary(hostile, uniquingKeysWith: { first, _ in first }),
        fieldMiBs: Dictionary(fields, uniquingKeysWith: { first, _ in first }))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    FileManager.default.createFile(atPath: path, contents: try encoder.encode(report))
}
