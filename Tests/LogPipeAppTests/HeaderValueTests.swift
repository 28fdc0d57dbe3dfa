import HTTPTypes
import Testing

@testable import LogPipeApp

@Suite("Header values read like HTTPFields' subscript")
struct HeaderValueTests {
    @Test(
        "absent, one field, several fields joined, names in any case",
        arguments: [
            [(String, String)](),
            [("Content-Type", "application/json")],
            [("X-Tenant-ID", "acme"), ("Content-Type", "text/plain"), ("x-tenant-id", "other")],
            [("content-type", "application/x-ndjson"), ("X-Request-ID", "r1")],
        ])
    func sameAsSubscript(_ pairs: [(String, String)]) throws {
        var fields = HTTPFields()
        for (name, value) in pairs { fields.append(HTTPField(name: try #require(HTTPField.Name(name)), value: value)) }
        for name in [HTTPField.Name.contentType, try #require(HTTPField.Name("X-Tenant-ID")), .authorization] {
            #expect(fields.value(name) == fields[name], "\(name)")
        }
    }
}
