import Foundation
import HTTPTypes
import LogPipeApp
import LogPipeCore
import Testing

/// The HTTP layer's table from error codes to statuses, against the two documents that promise it.
@Suite("API error statuses")
struct APIErrorStatusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("every code has its own name and a status of its own (none falls through to 500 unnoticed)")
    func total() {
        let codes = IngestError.Code.api
        #expect(Set(codes.map(\.rawValue)).count == codes.count)
        for code in codes where code != .internalError {
            #expect(code.httpStatus != .internalServerError, "\(code) has no status")
        }
        #expect(IngestError.Code.invalidJSON.httpStatus == .badRequest)
        #expect(IngestError.Code.tenantNotAllowed.httpStatus == .forbidden)
        #expect(IngestError.Code.brokerBacklog.httpStatus == .serviceUnavailable)
    }

    @Test("openapi.yaml's error code enum is exactly the codes the API answers with")
    func openAPIEnum() throws {
        let spec = try String(contentsOf: Self.root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        // The `code` property's enum: the run of `- name` lines around `- invalid_json`.
        let lines = spec.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let item = /- ([a-z0-9_]+)/
        let anchor = try #require(lines.firstIndex(of: "- invalid_json"))
        var first = anchor, last = anchor
        while first > 0, lines[first - 1].wholeMatch(of: item) != nil { first -= 1 }
        while last + 1 < lines.count, lines[last + 1].wholeMatch(of: item) != nil { last += 1 }
        let listed = Set(lines[first...last].compactMap { $0.wholeMatch(of: item).map { String($0.output.1) } })
        #expect(listed == Set(IngestError.Code.api.map(\.rawValue)))
    }

    @Test("docs/api.md's status table gives each code the status the API answers with")
    func documentedStatuses() throws {
        let docs = try String(contentsOf: Self.root.appendingPathComponent("docs/api.md"), encoding: .utf8)
        var documented: [String: Int] = [:]
        for row in docs.split(separator: "\n") {
            guard let match = row.firstMatch(of: /^\| (\d{3})[^|]*\| (.*) \|$/) else { continue }
            // The codes are the backticked snake_case words before any parenthesis of explanation.
            let status = Int(match.output.1)!
            for code in match.output.2.replacing(/\([^)]*\)/, with: "").matches(of: /`([a-z0-9_]+)`/) {
                documented[String(code.output.1)] = status
            }
        }
        for code in IngestError.Code.api {
            #expect(documented[code.rawValue] == Int(code.httpStatus.code), "docs/api.md on \(code)")
        }
    }
}
