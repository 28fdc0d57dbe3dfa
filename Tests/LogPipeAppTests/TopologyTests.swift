import AMQPBridge
@testable import LogPipeApp
import Testing

@Suite("Topology")
struct TopologyTests {
    @Test("delays name their retry queue in the largest whole unit", arguments: [
        (Duration.seconds(1), "1s"), (.seconds(10), "10s"), (.seconds(60), "1m"), (.seconds(600), "10m"),
        (.seconds(7200), "2h"), (.milliseconds(250), "250ms"), (.milliseconds(1500), "1500ms"),
    ])
    func labels(_ delay: Duration, _ label: String) {
        #expect(Topology.label(delay) == label)
    }

    @Test("one retry queue per tier: TTL = the delay, dead-lettering through the default exchange to the work queue")
    func retryQueues() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1), .seconds(10), .seconds(60), .seconds(600)])
        #expect(topology.retryQueues == ["lp.retry.1s", "lp.retry.10s", "lp.retry.1m", "lp.retry.10m"])
        #expect(topology.retryQueue(tier: 2) == "lp.retry.1m")
        let declared = topology.declarations.queues.first { $0.name == "lp.retry.10s" }
        #expect(declared?.durable == true)
        #expect(declared?.arguments == [
            "x-message-ttl": .int(10_000), "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("lp.work"),
        ])
        #expect(topology.declarations.queues.map(\.name) == ["lp.work", "lp.dlq", "lp.retry.1s", "lp.retry.10s", "lp.retry.1m", "lp.retry.10m"])
        #expect(topology.table.contains("lp.retry.10m") && topology.table.contains("x-message-ttl=600000 ms"))
    }

    @Test("a delay listed twice gets one queue")
    func duplicateDelay() {
        let topology = Topology(namespace: "lp", retryDelays: [.seconds(1), .seconds(1), .seconds(5)])
        #expect(topology.retryQueues == ["lp.retry.1s", "lp.retry.5s"])
        #expect(topology.retryQueue(tier: 1) == "lp.retry.1s")
        #expect(topology.declarations.queues.count == 4)
    }
}
