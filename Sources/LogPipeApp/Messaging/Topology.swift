import AMQPBridge
import LogPipeCore

/// logpipe's RabbitMQ names and topology (DESIGN §3) under one namespace.
public struct Topology: Sendable, Equatable {
    public let namespace: String
    /// One retry queue per delay, in tier order.
    public let retryDelays: [Duration]

    public init(namespace: String, retryDelays: [Duration] = RetryPolicy().delays) {
        self.namespace = namespace
        self.retryDelays = retryDelays
    }

    /// Topic exchange producers publish to with routing key `tenant.<id>`.
    public var ingestExchange: String { "\(namespace).ingest" }
    /// Dead-letter exchange of the work queue.
    public var deadLetterExchange: String { "\(namespace).dlx" }
    /// The queue workers consume.
    public var workQueue: String { "\(namespace).work" }
    /// Parked messages; never consumed automatically.
    public var deadLetterQueue: String { "\(namespace).dlq" }

    /// The retry queue of tier `tier` (`<ns>.retry.<delay>`, e.g. `logpipe.retry.10s`).
    public func retryQueue(tier: Int) -> String { "\(namespace).retry.\(Self.label(retryDelays[tier]))" }
    /// Every retry queue, in tier order (a delay listed twice gets one queue).
    public var retryQueues: [String] {
        var seen = Set<String>()
        return retryDelays.indices.map { retryQueue(tier: $0) }.filter { seen.insert($0).inserted }
    }

    /// A delay as a queue-name suffix in the largest whole unit: 1s, 10s, 1m, 10m, 1h, 250ms.
    public static func label(_ delay: Duration) -> String {
        let milliseconds = Self.milliseconds(delay)
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    static func milliseconds(_ delay: Duration) -> Int64 { DurationText.milliseconds(delay) }

    /// Namespaces are 1–64 characters of `[A-Za-z0-9_.-]`.
    public static func isValidNamespace(_ value: String) -> Bool {
        (1...64).contains(value.utf8.count) && value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                true
            default:
                false
            }
        }
    }

    /// What every process declares at start-up (idempotent).
    public var declarations: AMQPTopology {
        AMQPTopology(
            exchanges: [
                .init(name: ingestExchange, type: "topic"),
                .init(name: deadLetterExchange, type: "topic"),
            ],
            queues: [
                .init(name: workQueue, arguments: ["x-dead-letter-exchange": .string(deadLetterExchange)]),
                .init(name: deadLetterQueue),
            ] + retryQueueDeclarations,
            bindings: [
                .init(queue: workQueue, exchange: ingestExchange, routingKey: "tenant.*"),
                .init(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: "#"),
            ])
    }

    /// Retry queues hold a copy for their delay (queue-level TTL, so expiry is in order), then dead-letter it
    /// through the default exchange straight back to the work queue.
    var retryQueueDeclarations: [AMQPTopology.Queue] {
        var seen = Set<String>()
        return retryDelays.indices.compactMap { tier in
            let name = retryQueue(tier: tier)
            guard seen.insert(name).inserted else { return nil }
            return .init(name: name, arguments: [
                "x-message-ttl": .int(Self.milliseconds(retryDelays[tier])),
                "x-dead-letter-exchange": .string(""),
                "x-dead-letter-routing-key": .string(workQueue),
            ])
        }
    }

    /// A table of the declared topology for `logpipe topology`.
    public var table: String {
        let rows = [
            ("exchange", ingestExchange, "topic, durable; producers publish with routing key tenant.<tenant_id>"),
            ("exchange", deadLetterExchange, "topic, durable; dead-letter exchange of \(workQueue)"),
            ("queue", workQueue, "durable; bound to \(ingestExchange) with tenant.*; x-dead-letter-exchange=\(deadLetterExchange)"),
            ("queue", deadLetterQueue, "durable; bound to \(deadLetterExchange) with #; parked messages, never consumed automatically"),
        ] + zip(retryQueues, retryQueueDeclarations).map { name, queue in
            ("queue", name, "durable; x-message-ttl=\(queue.arguments["x-message-ttl"]?.intValue ?? 0) ms, then dead-letters to \(workQueue)")
        }
        let kindWidth = rows.map(\.0.count).max()!
        let nameWidth = rows.map(\.1.count).max()!
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: width - text.count) }
        var lines = ["\(pad("KIND", kindWidth))  \(pad("NAME", nameWidth))  DETAILS"]
        lines += rows.map { "\(pad($0.0, kindWidth))  \(pad($0.1, nameWidth))  \($0.2)" }
        return lines.joined(separator: "\n")
    }
}
