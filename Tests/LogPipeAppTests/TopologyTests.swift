import AMQPBridge
import LogPipeCore
import Testing

@testable import LogPipeApp

@Suite("Topology")
struct TopologyTests {
    @Test(
        "delays name their retry queue in the largest whole unit",
        arguments: [
            (Duration.seconds(1), "1s"), (.seconds(10), "10s"), (.seconds(60), "1m"), (.seconds(600), "10m"),
            (.seconds(7200), "2h"), (.milliseconds(250), "250ms"), (.milliseconds(1500), "1500ms"),
        ])
    func labels(_ delay: Duration, _ label: String) {
        #expect(DurationText.format(delay) == label)
    }

    @Test("one retry queue per tier: TTL = the delay, dead-lettering through the default exchange to the work queue")
    func retryQueues() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1), .seconds(10), .seconds(60), .seconds(600)])
        #expect(topology.retryQueues == ["lp.retry.1s", "lp.retry.10s", "lp.retry.1m", "lp.retry.10m"])
        #expect(topology.retryQueue(tier: 2) == "lp.retry.1m")
        let declared = topology.declarations.queues.first { $0.name == "lp.retry.10s" }
        #expect(declared?.durable == true)
        #expect(
            declared?.arguments == [
                "x-message-ttl": .int(10_000), "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("lp.work"),
            ])
        #expect(topology.declarations.queues.map(\.name) == ["lp.work", "lp.dlq", "lp.retry.1s", "lp.retry.10s", "lp.retry.1m", "lp.retry.10m"])
        #expect(topology.table.contains("lp.retry.10m") && topology.table.contains("x-message-ttl=600000"))
    }

    @Test("a delay listed twice gets one queue")
    func duplicateDelay() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1), .seconds(1), .seconds(5)])
        #expect(topology.retryQueues == ["lp.retry.1s", "lp.retry.5s"])
        #expect(topology.retryQueue(tier: 1) == "lp.retry.1s")
        #expect(topology.declarations.queues.count == 4)
    }

    @Test("classic queues are declared exactly as before the queue type existed (existing deployments keep matching)")
    func classicUnchanged() {
        let declared = Topology(namespace: "lp", retryDelays: [.seconds(1)]).declarations
        #expect(declared.queues.first { $0.name == "lp.work" }?.arguments == ["x-dead-letter-exchange": .string("lp.dlx")])
        #expect(declared.queues.first { $0.name == "lp.dlq" }?.arguments == [:])
        #expect(declared.exchanges.map(\.name) == ["lp.ingest", "lp.dlx"])
        #expect(declared.bindings.contains(.init(queue: "lp.work", exchange: "lp.ingest", routingKey: "tenant.*")))
    }

    @Test("quorum: every queue quorum; work queues with a delivery limit; at-least-once dead-lettering needs reject-publish")
    func quorum() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1), .seconds(10)], queueType: .quorum, deliveryLimit: 7)
        let queues = Dictionary(uniqueKeysWithValues: topology.declarations.queues.map { ($0.name, $0.arguments) })
        #expect(queues.values.allSatisfy { $0["x-queue-type"] == .string("quorum") })
        #expect(
            queues["lp.work"] == [
                "x-queue-type": .string("quorum"), "x-dead-letter-exchange": .string("lp.dlx"), "x-delivery-limit": .int(7),
                "x-dead-letter-strategy": .string("at-least-once"), "x-overflow": .string("reject-publish"),
            ])
        #expect(
            queues["lp.retry.10s"] == [
                "x-queue-type": .string("quorum"), "x-message-ttl": .int(10_000), "x-dead-letter-exchange": .string(""),
                "x-dead-letter-routing-key": .string("lp.work"), "x-dead-letter-strategy": .string("at-least-once"),
                "x-overflow": .string("reject-publish"),
            ])
        #expect(queues["lp.dlq"] == ["x-queue-type": .string("quorum")])
        #expect(topology.table.contains("x-delivery-limit=7") && topology.table.contains("quorum"))
    }

    @Test("shards: a consistent-hash exchange on message_id behind the ingest exchange, N work queues, retries through the hash")
    func shards() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1)], workShards: 4)
        #expect(topology.workQueues == ["lp.work.0", "lp.work.1", "lp.work.2", "lp.work.3"])
        let declared = topology.declarations
        #expect(declared.exchanges.contains(.init(name: "lp.shard", type: "x-consistent-hash", arguments: ["hash-property": .string("message_id")])))
        #expect(declared.bindings.contains(.init(destination: .exchange("lp.shard"), exchange: "lp.ingest", routingKey: "tenant.*")))
        for queue in topology.workQueues {
            #expect(declared.bindings.contains(.init(queue: queue, exchange: "lp.shard", routingKey: "1")))
        }
        #expect(!declared.queues.contains { $0.name == "lp.work" })
        #expect(declared.queues.first { $0.name == "lp.retry.1s" }?.arguments["x-dead-letter-exchange"] == .string("lp.shard"))
        #expect(topology.allQueues == ["lp.work.0", "lp.work.1", "lp.work.2", "lp.work.3", "lp.dlq", "lp.retry.1s"])
        #expect(topology.table.contains("lp.shard") && topology.table.contains("hash-property=message_id"))
    }
}
