import Foundation
import Glibc
import LogPipeCore
import Logging
import Testing

@testable import LogPipeApp

@Suite("logpipe redact (the stdin → stdout filter)")
struct RedactFilterTests {
    /// Feeds `input` through the filter via temporary files and returns what it wrote and its counts.
    func filter(_ input: String, json: Bool = false, redactor: Redactor = Redactor()) throws -> (String, [String: Int]) {
        let base = "/tmp/logpipe-redact-test-\(UInt32.random(in: 0...UInt32.max))"
        let inputPath = base + ".in", outputPath = base + ".out"
        defer { unlink(inputPath); unlink(outputPath) }
        let writeInput = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(writeInput, $0.baseAddress, $0.count) }
        close(writeInput)
        let readInput = open(inputPath, O_RDONLY)
        let writeOutput = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(readInput) }
        let counts: [String: Int]
        do {
            defer { close(writeOutput) }
            counts = try RedactFilter(redactor: redactor, json: json).run(input: readInput, output: writeOutput)
        }
        let readOutput = open(outputPath, O_RDONLY)
        defer { close(readOutput) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readOutput, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        return (String(decoding: output, as: UTF8.self), counts)
    }

    @Test("one output line per input line, in order, with totals per type")
    func linesInOrder() throws {
        let (output, counts) = try filter("mail bob@example.com\n\nplain 2026-11-29\nip 10.0.0.1 and 10.0.0.2\nlast line without newline")
        #expect(output == "mail [REDACTED:EMAIL]\n\nplain 2026-11-29\nip [REDACTED:IP_ADDRESS] and [REDACTED:IP_ADDRESS]\nlast line without newline\n")
        #expect(counts == ["EMAIL": 1, "IP_ADDRESS": 2])
    }

    @Test("a line longer than the read buffer is one line")
    func longLine() throws {
        let long = String(repeating: "x", count: 200_000) + " 555-0199"
        let (output, counts) = try filter(long + "\nnext\n")
        #expect(output == String(repeating: "x", count: 200_000) + " [REDACTED:PHONE]\nnext\n")
        #expect(counts == ["PHONE": 1])
    }

    @Test("SECRET in text: a bearer token, a URL password and an AWS key id; the scheme word, user and host stay")
    func secretsInText() throws {
        let (output, counts) = try filter("curl -H 'Authorization: Bearer abcDEF123456ghiJKL789' https://ops:pa55w0rd@git.example.com/x AKIAIOSFODNN7EXAMPLE\n")
        #expect(output == "curl -H 'Authorization: Bearer [REDACTED:SECRET]' https://ops:[REDACTED:SECRET]@git.example.com/x [REDACTED:SECRET]\n")
        #expect(counts == ["SECRET": 3])
    }

    @Test("--json: every string at any depth is redacted, secret keys are masked whole, numbers and booleans kept; other lines are text")
    func jsonLines() throws {
        let input =
            #"{"text":"login ok","source":"bob@example.com","attributes":{"client_ip":"10.1.2.3","password":"hunter2","n":5,"x":1.50,"ok":true,"none":null,"tags":["a@example.com"],"path":"a\/b \"q\"\u00e9"}}"#
            + "\nnot json 10.0.0.1\n"
        let (output, counts) = try filter(input, json: true)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        // Members in their order, numbers as written (1.50 stays 1.50), strings re-escaped as the workers write them.
        #expect(
            lines[0]
                == #"{"text":"login ok","source":"[REDACTED:EMAIL]","attributes":{"client_ip":"[REDACTED:IP_ADDRESS]","password":"[REDACTED:SECRET]","n":5,"x":1.50,"ok":true,"none":null,"tags":["[REDACTED:EMAIL]"],"path":"a/b \"q\"é"}}"#
        )
        #expect(lines[1] == "not json [REDACTED:IP_ADDRESS]")
        #expect(counts == ["EMAIL": 2, "IP_ADDRESS": 2, "SECRET": 1])
    }

    @Test("--json: a secret key's list has each element masked; a broken object and a top-level array are text")
    func jsonEdges() throws {
        let input = #"{"token":["abc",7,{"password":1234,"note":"ok"}]}"# + "\n" + #"{"a":"bob@example.com""# + "\n" + #"["bob@example.com"]"# + "\n"
        let (output, counts) = try filter(input, json: true)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == #"{"token":["[REDACTED:SECRET]","[REDACTED:SECRET]",{"password":"[REDACTED:SECRET]","note":"ok"}]}"#)
        #expect(lines[1] == #"{"a":"[REDACTED:EMAIL]""#)
        #expect(lines[2] == #"["[REDACTED:EMAIL]"]"#)
        #expect(counts == ["SECRET": 3, "EMAIL": 2])
    }

    @Test("--tenant redacts as the workers do: the tenants file's secret_keys and LOGPIPE_SECRET_KEYS (else it could mask less than what is stored)")
    func tenantPolicyAsTheWorkers() throws {
        let path = "/tmp/logpipe-redact-tenants-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { unlink(path) }
        try #"{"acme": {"secret_keys": ["member_no"]}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let policy = try RedactCommand.policy(LogPipeConfiguration(environment: ["LOGPIPE_TENANTS_FILE": path, "LOGPIPE_SECRET_KEYS": "pin"]), rules: nil)
        let acme = try #require(TenantID("acme"))
        let other = try #require(TenantID("other"))
        let line = #"{"member_no":"A-77","pin":"4321","note":"ok"}"# + "\n"
        let forAcme = try filter(line, json: true, redactor: policy.redactor(for: acme)).0
        #expect(forAcme == #"{"member_no":"[REDACTED:SECRET]","pin":"[REDACTED:SECRET]","note":"ok"}"# + "\n")
        let forOther = try filter(line, json: true, redactor: policy.redactor(for: other)).0
        #expect(forOther == #"{"member_no":"A-77","pin":"[REDACTED:SECRET]","note":"ok"}"# + "\n")
        // The worker's own policy from the same environment agrees.
        let configuration = try LogPipeConfiguration(environment: ["LOGPIPE_TENANTS_FILE": path, "LOGPIPE_SECRET_KEYS": "pin"])
        let worker = try Runtime(configuration: configuration, logger: Logger(label: "test")).redactionPolicy()
        #expect(worker.redactor(for: acme).secretKeys == policy.redactor(for: acme).secretKeys)
    }

    @Test("an unreadable tenants file stops `redact` with the workers' error")
    func unreadableTenantsFile() {
        #expect(throws: (any Error).self) {
            _ = try RedactCommand.policy(LogPipeConfiguration(environment: ["LOGPIPE_TENANTS_FILE": "/nonexistent/tenants.json"]), rules: nil)
        }
    }

    @Test("a newline at the last byte of a read, and one at the first byte of the next, split lines where they are")
    func newlinesAtReadBoundaries() throws {
        let first = String(repeating: "a", count: 65_535) + "\n"  // its newline is byte 65,536: the last of the first read
        let second = "\n" + String(repeating: "b", count: 10) + " 10.0.0.1"  // an empty line first
        let (output, counts) = try filter(first + second)
        #expect(output == String(repeating: "a", count: 65_535) + "\n\n" + String(repeating: "b", count: 10) + " [REDACTED:IP_ADDRESS]\n")
        #expect(counts == ["IP_ADDRESS": 1])
    }

    @Test("an input that cannot be read and an output that cannot be written fail the command, not end it quietly")
    func readAndWriteErrors() throws {
        let null = open("/dev/null", O_RDONLY)
        defer { close(null) }
        #expect(throws: CommandFailure.self) { _ = try RedactFilter(redactor: Redactor()).run(input: -1, output: null) }
        let path = "/tmp/logpipe-redact-input-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        try "mail bob@example.com\n".write(toFile: path, atomically: true, encoding: .utf8)
        let input = open(path, O_RDONLY)
        defer { close(input) }
        // /dev/null opened read-only: every write fails with EBADF.
        #expect(throws: CommandFailure.self) { _ = try RedactFilter(redactor: Redactor()).run(input: input, output: null) }
    }
}
