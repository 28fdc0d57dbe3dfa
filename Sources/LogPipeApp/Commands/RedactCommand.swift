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
        let policy = try Self.policy(LogPipeConfiguration.fromProcessEnvironment(), rules: rules)
        let totals = try RedactFilter(redactor: policy.redactor(for: tenantID), json: json).run(input: STDIN_FILENO, output: STDOUT_FILENO)
        if report {
            let lines = totals.keys.sorted().map { "\($0)\t\(totals[$0]!)" }
            FileHandle.standardError.write(Data(((lines.isEmpty ? ["no redactions"] : lines).joined(separator: "\n") + "\n").utf8))
        }
    }
}

extension RedactCommand {
    /// The workers' redaction policy, read the same way from `configuration` (the rules file, `LOGPIPE_SECRET_KEYS`
    /// and the tenants file's `secret_keys`), with `rules` in place of the configured rules file when given.
    static func policy(_ configuration: LogPipeConfiguration, rules: String?) throws -> RedactionPolicy {
        var configuration = configuration
        if let rules { configuration.redactionRulesFile = rules }
        return try Runtime(configuration: configuration, logger: Logger(label: "logpipe.redact")).redactionPolicy()
    }
}

/// Redacts lines from one file descriptor to another: one output line per input line, in order.
struct RedactFilter {
    let redactor: Redactor
    var json = false

    /// Returns the number of redactions per type; throws when the input cannot be read or the output written
    /// (what was redacted before the failure has been written).
    func run(input: Int32, output: Int32) throws -> [String: Int] {
        // One tally for the whole input: no dictionary per line.
        var tally = RedactionTally()
        var reader = LineReader(descriptor: input)
        var writer = BufferedWriter(descriptor: output)
        while let text = reader.withNextLine({ line -> String in
            guard json else { return redactor.redact(utf8: line, into: &tally) }
            let result = redactJSON(Array(line))
            tally.add(result.counts)
            return result.text
        }) {
            writer.write(text)
            writer.write("\n")
        }
        writer.flush()
        if let error = reader.readError { throw CommandFailure("cannot read the input: \(String(cString: strerror(error)))") }
        if let error = writer.writeError { throw CommandFailure("cannot write the output: \(String(cString: strerror(error)))") }
        return tally.counts
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

/// Splits a file descriptor into lines without a trailing `\n` (invalid UTF-8 is repaired when decoded), handed
/// out in place: `memchr` finds the newline, no array is made per line, and bytes already searched are not
/// searched again while a long line arrives.
struct LineReader {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the next newline goes on (bytes before it hold none).
    private var searched = 0
    private var finished = false
    /// The `errno` of a read that failed (the input then ends there).
    private(set) var readError: Int32?

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Calls `body` with the next line (its bytes are valid during the call only); nil at the end of the input.
    mutating func withNextLine<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        while true {
            let from = max(start, searched)
            let newline = buffer.withUnsafeBufferPointer { all -> Int? in
                guard from < all.count, let base = all.baseAddress,
                    let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), all.count - from)
                else { return nil }
                return UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            }
            if let newline {
                let lineStart = start
                start = newline + 1
                searched = start
                return buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[lineStart..<newline])) }
            }
            searched = buffer.count
            if finished {
                guard start < buffer.count else { return nil }
                let lineStart = start
                start = buffer.count
                return buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[lineStart...])) }
            }
            fill()
        }
    }

    /// Drops the lines handed out and reads up to 64 KiB more (retrying when interrupted); sets `finished` at the end.
    private mutating func fill() {
        buffer.removeSubrange(0..<start)
        searched -= start
        start = 0
        let kept = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: 1 << 16))
        var count: Int
        repeat {
            count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + kept, 1 << 16) }
        } while count < 0 && errno == EINTR
        if count < 0 { readError = errno }
        buffer.removeLast((1 << 16) - max(0, count))
        if count <= 0 { finished = true }
    }
}

/// Buffers writes to a file descriptor.
struct BufferedWriter {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    /// The `errno` of a write that failed (nothing more is written after it).
    private(set) var writeError: Int32?

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        var offset = 0
        while offset < buffer.count, writeError == nil {
            let written = buffer[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno != EINTR { writeError = errno }
                continue
            }
            if written == 0 {  // nothing taken from a non-empty buffer: stop rather than spin
                writeError = EIO
                continue
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
