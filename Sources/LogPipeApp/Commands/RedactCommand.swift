import ArgumentParser
import Foundation
import Glibc
import LogPipeCore
import Logging

/// `logpipe redact`: the redaction engine as a filter, stdin to stdout, one output line per input line.
struct RedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Redact PII from stdin line by line (the workers' engine) and write the lines to stdout.",
        discussion: """
            With --json each line is a JSON object (a log as /ingest takes it, or any structured record): every \
            string in it is redacted, at any depth, and the whole value of every key that names a secret \
            (password, token, api_key, … or LOGPIPE_SECRET_KEYS) becomes [REDACTED:SECRET], as the workers store \
            attributes; members keep their order and numbers their text. A line that is not a JSON object is \
            redacted as text.
            """)

    @Flag(help: "Print the number of redactions per type to stderr at the end.")
    var report = false

    @Option(
        help: "Redact as the workers do for this tenant: its custom rules (--rules or LOGPIPE_REDACTION_RULES_FILE) and its secret_keys (LOGPIPE_TENANTS_FILE)."
    )
    var tenant: String?

    @Option(help: "A JSON rules file (env LOGPIPE_REDACTION_RULES_FILE).")
    var rules: String?

    @Flag(help: "Each line is a JSON object: redact every string value, and mask secret keys' values whole.")
    var json = false

    func run() throws {
        var tenantID: TenantID?
        if let tenant {
            guard let parsed = TenantID(tenant) else { throw ValidationError("--tenant is not a valid tenant id") }
            tenantID = parsed
        }
        let policy = try Self.policy(environment: ProcessInfo.processInfo.environment, rules: rules)
        let totals = RedactFilter(redactor: policy.redactor(for: tenantID), json: json).run(input: STDIN_FILENO, output: STDOUT_FILENO)
        if report {
            let lines = totals.keys.sorted().map { "\($0)\t\(totals[$0]!)" }
            FileHandle.standardError.write(Data(((lines.isEmpty ? ["no redactions"] : lines).joined(separator: "\n") + "\n").utf8))
        }
    }
}

extension RedactCommand {
    /// The workers' redaction policy, read the same way (the configuration from `environment`, `<NAME>_FILE`
    /// included; the rules file, `LOGPIPE_SECRET_KEYS` and the tenants file's `secret_keys`), with `rules` in
    /// place of the configured rules file when given.
    static func policy(environment: [String: String], rules: String?) throws -> RedactionPolicy {
        var configuration = try LogPipeConfiguration(environment: environment)
        if let rules { configuration.redactionRulesFile = rules }
        return try Runtime(configuration: configuration, logger: Logger(label: "logpipe.redact")).redactionPolicy()
    }
}

/// Redacts lines from one file descriptor to another: one output line per input line, in order.
struct RedactFilter {
    let redactor: Redactor
    var json = false

    /// Returns the number of redactions per type.
    func run(input: Int32, output: Int32) -> [String: Int] {
        var totals: [String: Int] = [:]
        var reader = LineReader(descriptor: input)
        var writer = BufferedWriter(descriptor: output)
        while let line = reader.nextLine() {
            let result = json ? redactJSON(line) : line.withUnsafeBufferPointer { redactor.redact(utf8: $0) }
            writer.write(result.text)
            writer.write("\n")
            for (type, count) in result.counts { totals[type, default: 0] += count }
        }
        writer.flush()
        return totals
    }
}

extension RedactFilter {
    /// One JSON object line with every string redacted and secret keys masked, through the fast reader and
    /// writer: members keep their order, numbers their literal text. Any other line is redacted as text.
    func redactJSON(_ line: [UInt8]) -> Redaction {
        var counts: [String: Int] = [:]
        var output: [UInt8] = []
        output.reserveCapacity(line.count + 32)
        let copied = line.withUnsafeBytes { bytes -> Bool in
            var scanner = JSONScanner(bytes)
            guard scanner.peek() == UInt8(ascii: "{") else { return false }
            do {
                try copy(&scanner, key: nil, from: bytes, into: &output, counts: &counts)
                try scanner.expectEnd()
                return true
            } catch {
                return false
            }
        }
        guard copied else { return line.withUnsafeBufferPointer { redactor.redact(utf8: $0) } }
        return Redaction(text: String(decoding: output, as: UTF8.self), counts: counts)
    }

    /// Copies the value at the scanner to `output`, redacted; `key` is the member (or the array's member) it
    /// belongs to. A secret key's scalar value is masked whole; its objects and arrays are walked.
    private func copy(
        _ scanner: inout JSONScanner, key: String?, from bytes: UnsafeRawBufferPointer, into output: inout [UInt8],
        counts: inout [String: Int]
    ) throws(JSONScanner.Failure) {
        let first = scanner.peek()
        let isContainer = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        if let key, !isContainer, redactor.secretKeys.matches(key) {
            try scanner.skipValue()
            counts[PIIType.secret.rawValue, default: 0] += 1
            JSONWriting.appendString(PIIType.secret.mask, to: &output)
            return
        }
        switch first {
        case UInt8(ascii: "{"):
            output.append(UInt8(ascii: "{"))
            var separator = false
            try scanner.object { name, inner throws(JSONScanner.Failure) in
                if separator { output.append(UInt8(ascii: ",")) }
                separator = true
                JSONWriting.appendString(name, to: &output)
                output.append(UInt8(ascii: ":"))
                try copy(&inner, key: name, from: bytes, into: &output, counts: &counts)
            }
            output.append(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            output.append(UInt8(ascii: "["))
            var separator = false
            try scanner.array { inner throws(JSONScanner.Failure) in
                if separator { output.append(UInt8(ascii: ",")) }
                separator = true
                try copy(&inner, key: key, from: bytes, into: &output, counts: &counts)
            }
            output.append(UInt8(ascii: "]"))
        case UInt8(ascii: "\""):
            let redaction = redactor.redact(try scanner.string())
            counts.merge(redaction.counts, uniquingKeysWith: +)
            JSONWriting.appendString(redaction.text, to: &output)
        default:
            // Numbers, booleans and null: their bytes as written.
            let start = scanner.offset
            try scanner.skipValue()
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<scanner.offset]))
        }
    }
}

/// Loading the rules file: a missing or invalid file is a start-up error naming the file and the rule.
enum RedactionRules {
    static func load(path: String?) throws -> RedactionPolicy {
        guard let path else { return RedactionPolicy() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("cannot read the redaction rules file \(path)")
        }
        do {
            return try RedactionPolicy(json: data)
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }
}

/// Splits a file descriptor into lines without a trailing `\n` (invalid UTF-8 is repaired when decoded).
struct LineReader {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func nextLine() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if finished {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            buffer.removeSubrange(0..<start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { finished = true } else { buffer.append(contentsOf: chunk[0..<count]) }
        }
    }
}

/// Buffers writes to a file descriptor.
struct BufferedWriter {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
