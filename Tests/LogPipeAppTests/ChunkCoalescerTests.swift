import LogPipeCore
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// The grouping logic of ``ChunkCoalescer`` with a recording `send` whose confirms the test releases by hand
/// (the end-to-end path through RabbitMQ is covered by the integration suites).
@Suite("Chunk coalescer (group commit of publishes)")
struct ChunkCoalescerTests {
    /// Records every message sent and holds its confirm until the test releases it.
    final class Broker: Sendable {
        struct Sent: Sendable {
            let tenant: TenantID
            let logIDs: [String]
        }

        private struct State {
            var sent: [Sent] = []
            var held: [CheckedContinuation<PublishFailure?, Never>] = []
            var outcome: PublishFailure?
        }

        private let state = Mutex(State())

        func send(_ tenant: TenantID, _ items: [ChunkCoalescer.Item]) async -> PublishFailure? {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    state.sent.append(Sent(tenant: tenant, logIDs: items.map(\.record.logID)))
                    state.held.append(continuation)
                }
            }
        }

        /// Chunks sent together, in one call each.
        private let groups = Mutex<[[String]]>([])
        var sentTogether: [[String]] { groups.withLock { $0 } }

        func send(_ chunks: [ChunkCoalescer.Chunk]) async -> [PublishFailure?] {
            groups.withLock { $0.append(chunks.map(\.tenant.rawValue)) }
            return await withTaskGroup(of: (Int, PublishFailure?).self) { group in
                for (index, chunk) in chunks.enumerated() {
                    group.addTask { (index, await self.send(chunk.tenant, chunk.items)) }
                }
                var outcomes = [PublishFailure?](repeating: nil, count: chunks.count)
                for await (index, outcome) in group { outcomes[index] = outcome }
                return outcomes
            }
        }

        var sent: [Sent] { state.withLock { $0.sent } }

        /// Confirms (or fails, with `outcome`) every message sent so far.
        func confirmAll(_ outcome: PublishFailure? = nil) {
            let held = state.withLock { state in
                defer { state.held.removeAll() }
                return state.held
            }
            for continuation in held { continuation.resume(returning: outcome) }
        }
    }

    static func item(_ id: String, tenant: String = "acme") -> ChunkCoalescer.Item {
        let record = LogRecord(
            tenantID: TenantID(tenant)!, logID: id, text: "text of \(id)",
            receivedAt: "2026-11-29T00:00:00.000Z", requestID: "req-\(id)")
        return ChunkCoalescer.Item(record: record, encoded: record.jsonBytes)
    }

    static func coalescer(_ broker: Broker, inFlight: Int = 1, chunkLogs: Int = 250) -> ChunkCoalescer {
        ChunkCoalescer(inFlight: inFlight, chunkLogs: chunkLogs, chunkBytes: 1 << 20) { tenant, items in
            await broker.send(tenant, items)
        } sendMany: { chunks in
            await broker.send(chunks)
        }
    }

    @Test("a request's chunks of idle tenants leave together in one send; a busy tenant's chunk waits for its confirm")
    func requestChunksTogether() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        let acme = TenantID("acme")!, beta = TenantID("beta")!, gamma = TenantID("gamma")!
        async let busy = coalescer.publish([Self.item("b0", tenant: "beta")], tenant: beta)
        #expect(try await eventually { broker.sent.count == 1 })
        async let outcome = coalescer.publish([
            .init(tenant: acme, items: [Self.item("a1"), Self.item("a2")]),
            .init(tenant: beta, items: [Self.item("b1", tenant: "beta")]),
            .init(tenant: gamma, items: [Self.item("g1", tenant: "gamma")]),
        ])
        #expect(try await eventually { broker.sent.count == 3 })
        #expect(broker.sentTogether == [["acme", "gamma"]])
        #expect(coalescer.waitingLogs == 1)
        broker.confirmAll()  // b0, a1+a2 and g1: beta's lane frees, b1 leaves
        #expect(await busy == nil)
        #expect(try await eventually { broker.sent.count == 4 })
        #expect(broker.sent.last?.logIDs == ["b1"])
        broker.confirmAll()
        #expect(await outcome == nil)
        #expect(coalescer.waitingLogs == 0)
    }

    @Test("an idle tenant's log is sent alone at once")
    func aloneWhenIdle() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        async let outcome = coalescer.publish([Self.item("a")], tenant: TenantID("acme")!)
        #expect(try await eventually { broker.sent.count == 1 })
        broker.confirmAll()
        #expect(await outcome == nil)
        #expect(broker.sent.map(\.logIDs) == [["a"]])
        #expect(coalescer.waitingLogs == 0)
    }

    @Test("logs arriving while a message is in flight leave together when its confirm comes back")
    func groupsBehindAConfirm() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        let (first, second, third) = try await Self.oneInFlightThreeWaiting(coalescer, broker)
        #expect(broker.sent.count == 1)  // nothing else left while "a" awaits its confirm

        broker.confirmAll()
        #expect(await first.value == nil)
        #expect(try await eventually { broker.sent.count == 2 })
        #expect(Set(broker.sent[1].logIDs) == ["b", "c", "d"])
        broker.confirmAll()
        #expect(await second.value == nil)
        #expect(await third.value == nil)
        #expect(coalescer.waitingLogs == 0)
    }

    /// Tenant `acme`: log "a" sent and awaiting its confirm, "b" and then "c", "d" waiting behind it.
    static func oneInFlightThreeWaiting(
        _ coalescer: ChunkCoalescer, _ broker: Broker
    ) async throws -> (Task<PublishFailure?, Never>, Task<PublishFailure?, Never>, Task<PublishFailure?, Never>) {
        let tenant = TenantID("acme")!
        let first = Task { await coalescer.publish([Self.item("a")], tenant: tenant) }
        #expect(try await eventually { broker.sent.count == 1 })
        let second = Task { await coalescer.publish([Self.item("b")], tenant: tenant) }
        #expect(try await eventually { coalescer.waitingLogs == 1 })
        let third = Task { await coalescer.publish([Self.item("c"), Self.item("d")], tenant: tenant) }
        #expect(try await eventually { coalescer.waitingLogs == 3 })
        return (first, second, third)
    }

    @Test("a full chunk leaves at once, even with a message in flight")
    func fullChunkDoesNotWait() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker, chunkLogs: 2)
        let tenant = TenantID("acme")!
        async let first = coalescer.publish([Self.item("a")], tenant: tenant)
        #expect(try await eventually { broker.sent.count == 1 })
        async let second = coalescer.publish([Self.item("b")], tenant: tenant)
        #expect(try await eventually { coalescer.waitingLogs == 1 })
        async let third = coalescer.publish([Self.item("c")], tenant: tenant)
        #expect(try await eventually { broker.sent.count == 2 })
        #expect(Set(broker.sent[1].logIDs) == ["b", "c"])
        broker.confirmAll()
        #expect(await first == nil)
        #expect(await second == nil)
        #expect(await third == nil)
    }

    @Test("every log of a failed chunk gets the failure")
    func failureReachesEveryCaller() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        let tenant = TenantID("acme")!
        async let first = coalescer.publish([Self.item("a")], tenant: tenant)
        #expect(try await eventually { broker.sent.count == 1 })
        async let second = coalescer.publish([Self.item("b")], tenant: tenant)
        async let third = coalescer.publish([Self.item("c")], tenant: tenant)
        #expect(try await eventually { coalescer.waitingLogs == 2 })
        broker.confirmAll()
        #expect(await first == nil)
        #expect(try await eventually { broker.sent.count == 2 })
        broker.confirmAll(.rejected)
        #expect(await second == .rejected)
        #expect(await third == .rejected)
    }

    @Test(
        "logs waiting behind a message whose confirm timed out, or whose connection was lost, fail with it at once, unsent; the next log goes alone",
        arguments: [PublishFailure.confirmTimeout, .connectionLost, .unavailable])
    func silentBrokerFailsTheWaiting(failure: PublishFailure) async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        let tenant = TenantID("acme")!
        let (first, second, third) = try await Self.oneInFlightThreeWaiting(coalescer, broker)
        broker.confirmAll(failure)
        #expect(await first.value == failure)
        #expect(await second.value == failure)
        #expect(await third.value == failure)
        #expect(broker.sent.count == 1)  // b, c and d were never sent
        #expect(coalescer.waitingLogs == 0)
        async let fourth = coalescer.publish([Self.item("e")], tenant: tenant)
        #expect(try await eventually { broker.sent.count == 2 })
        #expect(broker.sent.last?.logIDs == ["e"])
        broker.confirmAll()
        #expect(await fourth == nil)
    }

    @Test("tenants do not wait for each other")
    func tenantsAreIndependent() async throws {
        let broker = Broker()
        let coalescer = Self.coalescer(broker)
        async let first = coalescer.publish([Self.item("a", tenant: "acme")], tenant: TenantID("acme")!)
        #expect(try await eventually { broker.sent.count == 1 })
        async let second = coalescer.publish([Self.item("b", tenant: "globex")], tenant: TenantID("globex")!)
        #expect(try await eventually { broker.sent.count == 2 })
        #expect(broker.sent.map(\.tenant.rawValue) == ["acme", "globex"])
        broker.confirmAll()
        #expect(await first == nil)
        #expect(await second == nil)
    }
}
