import AMQPBridge
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeApp
import LogPipeCore
import Synchronization
import TestSupport
import Testing

let requestIDHeader = HTTPField.Name("X-Request-ID")!
let tenantHeader = HTTPField.Name("X-Tenant-ID")!

func jsonObject(_ bytes: some Sequence<UInt8>) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

/// The API publishing to a real RabbitMQ node: what arrives on the work queue, and what never does.
@Suite("API → RabbitMQ", .timeLimit(.minutes(3)))
struct APIToBrokerTests {
    func application(_ fixture: BrokerFixture) -> some ApplicationProtocol {
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: fixture.connection, topology: fixture.topology),
            configuration: fixture.configuration)
        return Application(router: api.router())
    }

    @Test("a JSON log arrives on the work queue with the routing key, properties and body (live HTTP)")
    func jsonLogArrives() async throws {
        let fixture = try await BrokerFixture.start()
        let before = UInt64(Date().timeIntervalSince1970)
        let acceptedLogID: String? = try await application(fixture).test(.live) { client in
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "application/json", requestIDHeader: "req-json-1"],
                body: ByteBuffer(
                    string:
                        #"{"tenant_id":"acme","text":"user bob@example.com logged in","level":"info","source":"web","timestamp":"2026-11-29T10:00:00Z","attributes":{"port":443,"ok":true}}"#
                )
            ) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[requestIDHeader] == "req-json-1")
                return try jsonObject(response.body.readableBytesView)["log_id"] as? String
            }
        }
        let messages = try await fixture.drain(fixture.topology.workQueue)
        await fixture.tearDown()

        let message = try #require(messages.first)
        #expect(messages.count == 1)
        let logID = try #require(acceptedLogID)
        #expect(message.exchange == fixture.topology.ingestExchange)
        #expect(message.routingKey == "tenant.acme")
        #expect(message.properties.contentType == "application/json")
        #expect(message.properties.deliveryMode == 2)
        #expect(message.properties.messageID == logID)
        #expect(message.properties.correlationID == "req-json-1")
        #expect(message.properties.headers["x-tenant-id"] == .string("acme"))
        let timestamp = try #require(message.properties.timestamp)
        #expect(timestamp >= before && timestamp <= before + 60)
        let body = try jsonObject(message.body)
        #expect(body["v"] as? Int == 1)
        #expect(body["tenant_id"] as? String == "acme")
        #expect(body["log_id"] as? String == logID)
        #expect(body["text"] as? String == "user bob@example.com logged in")
        #expect(body["request_id"] as? String == "req-json-1")
        #expect(body["level"] as? String == "info")
        #expect(body["source"] as? String == "web")
        #expect(body["timestamp"] as? String == "2026-11-29T10:00:00Z")
        #expect(RFC3339.isValid(try #require(body["received_at"] as? String)))
        let attributes = try #require(body["attributes"] as? [String: Any])
        #expect(attributes["port"] as? Int == 443)
        #expect(attributes["ok"] as? Bool == true)
    }

    @Test("a text log arrives with the header's tenant and log id")
    func textLogArrives() async throws {
        let fixture = try await BrokerFixture.start()
        try await application(fixture).test(.router) { client in
            try await client.execute(
                uri: "/ingest", method: .post,
                headers: [.contentType: "text/plain", tenantHeader: "beta-2", HTTPField.Name("X-Log-ID")!: "text-1"],
                body: ByteBuffer(string: "disk full on /var")
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        let messages = try await fixture.drain(fixture.topology.workQueue)
        await fixture.tearDown()
        #expect(messages.count == 1)
        let message = try #require(messages.first)
        #expect(message.routingKey == "tenant.beta-2")
        #expect(message.properties.messageID == "text-1")
        #expect(message.properties.headers["x-tenant-id"] == .string("beta-2"))
        let body = try jsonObject(message.body)
        #expect(body["text"] as? String == "disk full on /var")
        #expect(body["tenant_id"] as? String == "beta-2")
        #expect(body["log_id"] as? String == "text-1")
    }

    @Test("invalid requests get their 4xx and publish nothing; a valid one afterwards is the only message")
    func invalidInputPublishesNothing() async throws {
        let fixture = try await BrokerFixture.start()
        let cases: [(String, String?, String, Int)] = [
            ("application/json", nil, "{bad json", 400),
            ("text/plain", "acme", "", 400),
            ("application/json", nil, #"{"tenant_id":"acme"}"#, 400),
            ("application/json", nil, #"{"tenant_id":"../x","text":"x"}"#, 400),
            ("application/json", nil, #"{"tenant_id":"a.b","text":"x"}"#, 400),
            ("application/json", nil, #"{"tenant_id":"$x","text":"x"}"#, 400),
            ("application/json", nil, #"{"tenant_id":"A","text":"x"}"#, 400),
            ("application/json", nil, #"{"tenant_id":"\#(String(repeating: "a", count: 65))","text":"x"}"#, 400),
            ("application/json", "other", #"{"tenant_id":"acme","text":"x"}"#, 400),
            ("text/plain", "a.b", "x", 400),
            ("application/xml", "acme", "<x/>", 415),
            ("multipart/form-data", "acme", "x", 415),
        ]
        try await application(fixture).test(.router) { client in
            for (contentType, tenant, body, status) in cases {
                var headers: HTTPFields = [.contentType: contentType]
                if let tenant { headers[tenantHeader] = tenant }
                try await client.execute(uri: "/ingest", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
                    #expect(response.status.code == status, "\(contentType) \(body)")
                }
            }
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "text/plain", tenantHeader: "acme"],
                body: ByteBuffer(string: "sentinel")
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        let messages = try await fixture.drain(fixture.topology.workQueue)
        await fixture.tearDown()
        #expect(messages.count == 1)
        #expect(try jsonObject(messages.first?.body ?? [])["text"] as? String == "sentinel")
    }

    @Test("every 202 of a burst of 2,000 concurrent requests is in the queue once, grouped per tenant under load")
    func burst() async throws {
        let fixture = try await BrokerFixture.start()
        let total = 2000
        let concurrency = 64
        let tally = Tally()
        try await application(fixture).test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        for index in stride(from: worker, to: total, by: concurrency) {
                            let body = #"{"tenant_id":"t\#(index % 7)","text":"burst line \#(index)","log_id":"burst-\#(index)"}"#
                            try await client.execute(
                                uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                                body: ByteBuffer(string: body)
                            ) { response in
                                let logID = try jsonObject(response.body.readableBytesView)["log_id"] as? String
                                tally.record(status: Int(response.status.code), logID: logID)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let accepted = tally.acceptedIDs.withLock { $0 }
        let counts = tally.statuses.withLock { $0 }
        #expect(counts[202] == total, "statuses: \(counts)")
        // A 202 comes after the confirm, so everything is in the queue already.
        let messages = try await fixture.drain(fixture.topology.workQueue)
        await fixture.tearDown()
        var queuedIDs: [String] = []
        for message in messages {
            let records = try WorkBody.parse(message.body)
            queuedIDs += records.map(\.logID)
            #expect(Set(records.map(\.tenantID.routingKey)) == [message.routingKey])
            if records.count == 1 {
                #expect(message.properties.messageID == records[0].logID)
            } else {
                // Logs of a tenant that arrived while its earlier message awaited a confirm travel as one chunk.
                #expect(message.properties.headers["logpipe-count"]?.intValue == Int64(records.count))
                #expect(message.properties.messageID == "\(records[0].logID)+\(records.count - 1)")
                #expect(message.properties.correlationID == records[0].requestID)
            }
        }
        #expect(queuedIDs.count == total)  // each log exactly once
        #expect(Set(queuedIDs) == accepted)
        #expect(messages.count < total, "under concurrency, logs of a tenant share messages")
        #expect(Set(messages.map(\.routingKey)) == Set((0..<7).map { "tenant.t\($0)" }))
    }
}

/// Statuses and accepted log ids of concurrent requests.
final class Tally: Sendable {
    let acceptedIDs = Mutex<Set<String>>([])
    let statuses = Mutex<[Int: Int]>([:])

    func record(status: Int, logID: String?) {
        statuses.withLock { $0[status, default: 0] += 1 }
        if status == 202 { acceptedIDs.withLock { _ = $0.insert(logID ?? "?") } }
    }
}

@Suite("API → RabbitMQ failures", .timeLimit(.minutes(2)))
struct APIPublishFailureTests {
    func post(_ fixture: BrokerFixture) async throws -> (status: Int, code: String?, retryAfter: String?) {
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: fixture.connection, topology: fixture.topology),
            configuration: fixture.configuration)
        return try await Application(router: api.router()).test(.router) { client in
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"tenant_id":"acme","text":"x"}"#)
            ) { response in
                let body = try jsonObject(response.body.readableBytesView)
                return (Int(response.status.code), (body["error"] as? [String: Any])?["code"] as? String, response.headers[.retryAfter])
            }
        }
    }

    @Test("paced to the workers: over the work queue's backlog bound a log waits, then is a 503 `broker_backlog`; once the queue drains logs are 202s again")
    func pacedToTheWorkers() async throws {
        let fixture = try await BrokerFixture.start()
        let gate = WorkBacklogGate(limit: 5, maxWait: .milliseconds(300))
        let monitor = Task {
            try await WorkBacklogMonitor(
                gate: gate, connection: fixture.connection, queues: [fixture.topology.workQueue],
                interval: .milliseconds(20), logger: TestEnvironment.logger
            ).run()
        }
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: fixture.connection, topology: fixture.topology, backlog: gate),
            configuration: fixture.configuration)
        try await Application(router: api.router()).test(.router) { client in
            func post(_ index: Int) async throws -> (Int, String?) {
                try await client.execute(
                    uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"tenant_id":"acme","text":"line \#(index)"}"#)
                ) { response in
                    let error = try jsonObject(response.body.readableBytesView)["error"] as? [String: Any]
                    return (Int(response.status.code), error?["code"] as? String)
                }
            }
            // No worker: the queue only grows.
            for index in 0..<6 { #expect(try await post(index).0 == 202) }
            #expect(try await eventually { gate.isClosed })
            let start = ContinuousClock.now
            let refused = try await post(6)
            #expect(refused.0 == 503 && refused.1 == "broker_backlog")
            #expect(ContinuousClock.now - start >= .milliseconds(300))  // it waited for the workers first

            try await fixture.connection.purge(fixture.topology.workQueue)
            #expect(try await eventually { !gate.isClosed })
            #expect(try await post(7).0 == 202)
        }
        monitor.cancel()
        _ = try? await monitor.value
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 1)
        await fixture.tearDown()
    }

    @Test("a log the broker cannot route (no queue bound) is a 503 `unroutable`, never a 202")
    func unroutable() async throws {
        let fixture = try await BrokerFixture.start()
        try await fixture.connection.deleteQueue(fixture.topology.workQueue)
        let result = try await post(fixture)
        await fixture.tearDown()
        #expect(result.status == 503)
        #expect(result.code == "unroutable")
        #expect(result.retryAfter == "1")
    }

    @Test("a confirm that does not arrive in time is a 503 `confirm_timeout`")
    func confirmTimeout() async throws {
        let fixture = try await BrokerFixture.start(confirmTimeout: .microseconds(1))
        let result = try await post(fixture)
        await fixture.tearDown()
        #expect(result.status == 503)
        #expect(result.code == "confirm_timeout")
    }
}
