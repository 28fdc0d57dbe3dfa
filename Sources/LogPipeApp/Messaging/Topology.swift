import AMQPBridge

/// logpipe's RabbitMQ names and topology (DESIGN §3) under one namespace.
public struct Topology: Sendable, Equatable {
    public let namespace: String

    public init(namespace: String) { self.namespace = namespace }

    /// Topic exchange producers publish to with routing key `tenant.<id>`.
    public var ingestExchange: String { "\(namespace).ingest" }
    /// Dead-letter exchange of the work queue.
    public var deadLetterExchange: String { "\(namespace).dlx" }
    /// The queue workers consume.
    public var workQueue: String { "\(namespace).work" }
    /// Parked messages; never consumed automatically.
    public var deadLetterQueue: String { "\(namespace).dlq" }

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
            ],
            bindings: [
                .init(queue: workQueue, exchange: ingestExchange, routingKey: "tenant.*"),
                .init(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: "#"),
            ])
    }

    /// A table of the declared topology for `logpipe topology`.
    public var table: String {
        let rows = [
            ("exchange", ingestExchange, "topic, durable; producers publish with routing key tenant.<tenant_id>"),
            ("exchange", deadLetterExchange, "topic, durable; dead-letter exchange of \(workQueue)"),
            ("queue", workQueue, "durable; bound to \(ingestExchange) with tenant.*; x-dead-letter-exchange=\(deadLetterExchange)"),
            ("queue", deadLetterQueue, "durable; bound to \(deadLetterExchange) with #; parked messages, never consumed automatically"),
        ]
        let kindWidth = rows.map(\.0.count).max()!
        let nameWidth = rows.map(\.1.count).max()!
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: width - text.count) }
        var lines = ["\(pad("KIND", kindWidth))  \(pad("NAME", nameWidth))  DETAILS"]
        lines += rows.map { "\(pad($0.0, kindWidth))  \(pad($0.1, nameWidth))  \($0.2)" }
        return lines.joined(separator: "\n")
    }
}
