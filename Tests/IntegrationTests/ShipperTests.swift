import AMQPBridge
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import ShipperProtocols
import SnappyBridge
import SwiftProtobuf
import TestSupport
import Testing

@testable import LogPipeApp

/// The shippers' endpoints end to end (API → RabbitMQ → worker → SQLite), with a real client where one runs
/// here: the OpenTelemetry Python SDK's OTLP/HTTP exporter.
@Suite("Shipper endpoints", .timeLimit(.minutes(3)))
struct ShipperTests {
    static let acme = TenantID("acme")!

    static func store() throws -> SQLiteLogStore {
        try SQLiteLogStore(path: "/tmp/logpipe-shipper-tests/\(UUID().uuidString).sqlite")
    }

    @Test("the OpenTelemetry Python SDK (OTLP/HTTP, protobuf) sends 120 logs with a resource and attributes: each is stored once, mapped and redacted")
    func openTelemetrySDK() async throws {
        let python = TestEnvironment.repositoryRoot.appendingPathComponent(".build/otel-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestEnvironment.Missing(description: "no OpenTelemetry SDK at \(python): run `bash scripts/setup.sh --test`")
        }
        try await withPipeline(store: try Self.store(), retryPolicy: RetryPolicy(), testing: .live) { _, client, store in
            let port = try #require(client.port)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [
                TestEnvironment.repositoryRoot.appendingPathComponent("Tests/Clients/otel_send.py").path,
                "http://127.0.0.1:\(port)/v1/logs", "120", "acme",
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let exited = try await eventually(timeout: .seconds(60), every: .milliseconds(100)) { !process.isRunning }
            #expect(exited)
            let printed = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(printed)")
            let stored = try await eventually(timeout: .seconds(30)) { try await store.count(tenant: Self.acme) == 120 }
            #expect(stored)
            let info = try #require(try await store.get(tenant: Self.acme, logID: "otel-4"))
            #expect(info.text == "payment 4 accepted from [REDACTED:IP_ADDRESS]")
            #expect(info.level == "INFO")
            #expect(info.source == "checkout")
            #expect(info.attributes?["user_email"] == .string("[REDACTED:EMAIL]"))
            #expect(info.attributes?["password"] == .string("[REDACTED:SECRET]"))
            #expect(info.attributes?["order"] == .int(4))
            #expect(info.attributes?["host.name"] == .string("web-1"))
            #expect(info.attributes?["otel.scope.name"] == .string("checkout.payments"))
            #expect(info.timestamp != nil)
            let warning = try #require(try await store.get(tenant: Self.acme, logID: "otel-5"))
            #expect(warning.text == "payment 5 declined for card [REDACTED:CREDIT_CARD]")
            #expect(warning.level == "WARN")
        }
    }

    @Test("OTLP JSON (the specification's example) is answered 200 with a JSON ExportLogsServiceResponse and stored; bad bodies are 400")
    func otlpJSON() async throws {
        try await withPipeline(store: try Self.store(), retryPolicy: RetryPolicy(), testing: .live) { _, client, store in
            let body = ByteBuffer(string: OTLPMappingFixture.specExample)
            try await client.execute(uri: "/v1/logs", method: .post, headers: [.contentType: "application/json"], body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == "{}")
            }
            #expect(try await eventually { try await store.count(tenant: Self.acme) == 1 })
            let log = try #require(try await store.tail(tenant: Self.acme, limit: 1).first)
            #expect(log.text == "Example log record")
            #expect(log.attributes?["trace_id"] == .string("5b8efff798038103d269b633813fc60c"))
            for (type, bad) in [("application/json", "{"), ("application/x-protobuf", "\u{ff}\u{ff}\u{ff}")] {
                try await client.execute(uri: "/v1/logs", method: .post, headers: [.contentType: type], body: ByteBuffer(string: bad)) { response in
                    #expect(response.status == .badRequest, "\(type)")
                }
            }
            try await client.execute(uri: "/v1/logs", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .unsupportedMediaType)
            }
        }
    }

    @Test("Loki push: snappy protobuf and gzipped JSON are answered 204 and stored with labels as attributes; a bad push is 400 and stores nothing")
    func loki() async throws {
        try await withPipeline(store: try Self.store(), retryPolicy: RetryPolicy(), testing: .live) { _, client, store in
            var entry = Logpipe_Loki_Entry()
            entry.timestamp.seconds = 1_764_590_400
            entry.line = "GET /health 200 from 10.0.0.9"
            var stream = Logpipe_Loki_Stream()
            stream.labels = #"{job="nginx", level="info"}"#
            stream.entries = [entry]
            var push = Logpipe_Loki_PushRequest()
            push.streams = [stream]
            let protobuf = SnappyBlock.compress(Array(try push.serializedData()))
            try await client.execute(
                uri: "/loki/api/v1/push", method: .post,
                headers: [.contentType: "application/x-protobuf", ShipperTests.orgID: "acme"],
                body: ByteBuffer(bytes: protobuf)
            ) { response in
                #expect(response.status == .noContent)
            }
            let json = #"{"streams":[{"stream":{"app":"worker"},"values":[["1764590401000000000","mail bob@example.com"]]}]}"#
            try await client.execute(
                uri: "/loki/api/v1/push", method: .post,
                headers: [.contentType: "application/json", .contentEncoding: "gzip", ShipperTests.orgID: "acme"],
                body: ByteBuffer(bytes: gzip(Array(json.utf8)))
            ) { response in
                #expect(response.status == .noContent)
            }
            #expect(try await eventually { try await store.count(tenant: Self.acme) == 2 })
            let logs = try await store.tail(tenant: Self.acme, limit: 2)
            #expect(Set(logs.map(\.text)) == ["GET /health 200 from [REDACTED:IP_ADDRESS]", "mail [REDACTED:EMAIL]"])
            let nginx = try #require(logs.first { $0.attributes?["job"] == .string("nginx") })
            #expect(nginx.level == "info")
            #expect(nginx.source == "nginx")
            #expect(nginx.timestamp == "2025-12-01T12:00:00.000Z")
            let bad = #"{"streams":[{"stream":{"app":"worker"},"values":[["1","kept?"],["2",""]]}]}"#
            try await client.execute(
                uri: "/loki/api/v1/push", method: .post, headers: [.contentType: "application/json", ShipperTests.orgID: "acme"],
                body: ByteBuffer(string: bad)
            ) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(
                uri: "/loki/api/v1/push", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: json)
            ) { response in
                #expect(response.status == .badRequest, "no tenant")
            }
            // Nothing of the bad push was published: a later push is stored, the good entry of the bad one never.
            let later = #"{"streams":[{"stream":{"app":"worker"},"values":[["3","sentinel"]]}]}"#
            try await client.execute(
                uri: "/loki/api/v1/push", method: .post, headers: [.contentType: "application/json", ShipperTests.orgID: "acme"],
                body: ByteBuffer(string: later)
            ) { response in #expect(response.status == .noContent) }
            #expect(try await eventually { try await store.count(tenant: Self.acme) == 3 })
            #expect(try await store.find(tenant: Self.acme, LogQuery(contains: "kept?", limit: 5)).isEmpty)
        }
    }

    static let orgID = HTTPField.Name("X-Scope-OrgID")!

    @Test("syslog-ng 3.38's http() destination with an NDJSON body (batches of 100, two workers) delivers 1,000 lines: each stored once, redacted")
    func syslogNG() async throws {
        try await withPipeline(store: try Self.store(), retryPolicy: RetryPolicy(), testing: .live) { _, client, store in
            let port = try #require(client.port)
            let directory = "/tmp/logpipe-syslog-ng-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let input = directory + "/input.log"
            let lines = (0..<1000).map { "line \($0) user u\($0)@example.com from 10.0.\($0 / 250).\($0 % 250)" }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: input))
            let config = """
                @version: 3.38
                options { stats-freq(0); time-reopen(1); };
                source s_file { file("\(input)" flags(no-parse) follow-freq(0.1)); };
                destination d_logpipe {
                  http(url("http://127.0.0.1:\(port)/ingest") method("POST")
                       headers("Content-Type: application/x-ndjson", "X-Tenant-ID: acme")
                       body("$(format-json --scope none text=$MESSAGE source=syslog-ng)")
                       batch-lines(100) batch-timeout(200) workers(2));
                };
                log { source(s_file); destination(d_logpipe); };
                """
            try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/syslog-ng.conf"))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/syslog-ng")
            process.arguments = [
                "-F", "-f", directory + "/syslog-ng.conf", "--persist-file=\(directory)/syslog-ng.persist",
                "--pidfile=\(directory)/syslog-ng.pid", "--control=\(directory)/syslog-ng.ctl", "--no-caps",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            defer {
                // SIGTERM, then SIGKILL if it is still flushing to a server that is gone (runs left it behind).
                if process.isRunning { process.terminate() }
                let deadline = Date().addingTimeInterval(3)
                while process.isRunning, Date() < deadline { usleep(20_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            let acme = Self.acme
            let stored = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
                try await store.count(tenant: acme) >= 1000
            }
            #expect(stored, "syslog-ng: \(process.isRunning ? "running" : "exited \(process.terminationStatus)")")
            #expect(try await store.count(tenant: acme) == 1000, "each line once")
            let texts = Set(try await store.find(tenant: acme, LogQuery(limit: 2000)).map(\.text))
            #expect(texts.count == 1000)
            #expect(texts.contains("line 7 user [REDACTED:EMAIL] from [REDACTED:IP_ADDRESS]"))
            process.terminate()
        }
    }
}

/// The OTLP specification's example request (opentelemetry-proto examples/logs.json) with a tenant attribute.
enum OTLPMappingFixture {
    static let specExample = #"""
        {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}},
                                                    {"key":"tenant.id","value":{"stringValue":"acme"}}]},
          "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
            "logRecords":[{"timeUnixNano":"1544712660300000000","severityText":"Information",
              "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
              "body":{"stringValue":"Example log record"},
              "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}}]}]}]}]}
        """#
}
