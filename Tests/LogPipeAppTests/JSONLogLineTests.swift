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
