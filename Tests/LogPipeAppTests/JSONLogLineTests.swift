import Foundation
import Logging
import Testing

@testable import LogPipeApp

/// `LOGPIPE_LOG_FORMAT=json` lines, written with the hand-written JSON writer.
@Suite("JSON log lines")
struct JSONLogLineTests {
    @Test("metadata of every kind is valid JSON with sorted keys: strings escaped, arrays and dictionaries nested")
    func metadata() throws {
        var bytes: [UInt8] = []
        let value: Logger.Metadata.Value = .dictionary([
            "b": .string("quote \" backslash \\ newline \n tab \t nul \u{0} slash / é"),
            "a": .array([.string("x"), .stringConvertible(42), .dictionary(["z": "1", "y": "2"])]),
        ])
        StderrLogHandler.appendJSON(value, to: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"a":["x","42",{"y":"2","z":"1"}],"b":"#))
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(decoded["b"] as? String == "quote \" backslash \\ newline \n tab \t nul \u{0} slash / é")
        #expect((decoded["a"] as? [Any])?.count == 3)
    }
}

/// `LOGPIPE_LOG_FORMAT=text` lines hold ids and headers from outside: none may forge a line or drive a terminal.
@Suite("Text log lines")
struct TextLogLineTests {
    @Test("metadata and messages are escaped: a newline cannot start a forged line, an escape sequence stays text")
    func escaped() {
        let handler = StderrLogHandler(label: "logpipe", logLevel: .info, format: .text)
        let event = LogEvent(
            level: .warning, message: "parked \u{1B}[31m",
            metadata: ["log.id": "x\n2026-12-06T00:00:00.000Z critical logpipe: forged", "tenant.id": "a\u{9B}b"],
            source: "LogPipeApp", file: #file, function: #function, line: #line)
        let line = String(decoding: handler.line(event), as: UTF8.self)
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(line.contains(#"log.id=x\n2026-12-06T00:00:00.000Z critical logpipe: forged"#))
        #expect(line.contains(#"tenant.id=a\u{9B}b"#))
        #expect(line.contains(#"parked \u{1B}[31m"#))
        #expect(!line.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x9B })
    }
}
