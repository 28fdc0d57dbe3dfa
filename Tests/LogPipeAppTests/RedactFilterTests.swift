import Glibc
@testable import LogPipeApp
import LogPipeCore
import Testing

@Suite("logpipe redact (the stdin → stdout filter)")
struct RedactFilterTests {
    /// Feeds `input` through the filter via temporary files and returns what it wrote and its counts.
    func filter(_ input: String) -> (String, [String: Int]) {
        let base = "/tmp/logpipe-redact-test-\(UInt32.random(in: 0...UInt32.max))"
        let inputPath = base + ".in", outputPath = base + ".out"
        defer { unlink(inputPath); unlink(outputPath) }
        let writeInput = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(writeInput, $0.baseAddress, $0.count) }
        close(writeInput)
        let readInput = open(inputPath, O_RDONLY)
        let writeOutput = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let counts = RedactFilter(redactor: Redactor()).run(input: readInput, output: writeOutput)
        close(readInput)
        close(writeOutput)
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
    func linesInOrder() {
        let (output, counts) = filter("mail bob@example.com\n\nplain 2026-11-29\nip 10.0.0.1 and 10.0.0.2\nlast line without newline")
        #expect(output == "mail [REDACTED:EMAIL]\n\nplain 2026-11-29\nip [REDACTED:IP_ADDRESS] and [REDACTED:IP_ADDRESS]\nlast line without newline\n")
        #expect(counts == ["EMAIL": 1, "IP_ADDRESS": 2])
    }

    @Test("a line longer than the read buffer is one line")
    func longLine() {
        let long = String(repeating: "x", count: 200_000) + " 555-0199"
        let (output, counts) = filter(long + "\nnext\n")
        #expect(output == String(repeating: "x", count: 200_000) + " [REDACTED:PHONE]\nnext\n")
        #expect(counts == ["PHONE": 1])
    }
}
