import AMQPBridge
import LogPipeCore

/// How the queues are replicated (`LOGPIPE_QUEUE_TYPE`).
public enum QueueType: String, Sendable, Equatable, CaseIterable {
    /// One node holds each queue (the default for a one-node run).
    case classic
    /// Raft-replicated over the cluster's nodes: a queue survives the loss of a minority of them.
    case quorum
}

/// logpipe's RabbitMQ names and topology (docs/architecture.md) under one namespace.
public struct Topology: Sendable, Equatable {
    public let namespace: String
    /// One retry queue per delay, in tier order.
    public let retryDelays: [Duration]
    public let queueType: QueueType
    /// Work queues behind the consistent-hash exchange (1 = the single `<ns>.work`).
    public let workShards: Int
    /// Quorum work queues dead-letter a message delivered this many times without being settled (a message
    /// that crashes every worker that takes it) to the DLQ with reason `delivery_limit`.
    public let deliveryLimit: Int

    public init(
        namespace: String, retryDelays: [Duration] = RetryPolicy().delays, queueType: QueueType = .classic,
        workShards: Int = 1, deliveryLimit: Int = 20
    ) {
        precondition(workShards >= 1 && deliveryLimit >= 1)
        self.namespace = namespace
        self.retryDelays = retryDelays
        self.queueType = queueType
        self.workShards = workShards
        self.deliveryLimit = deliveryLimit
    }

    /// Topic exchange producers publish to with routing key `tenant.<id>`.
    public var ingestExchange: String { "\(namespace).ingest" }
    /// Dead-letter exchange of the work queues.
    public var deadLetterExchange: String { "\(namespace).dlx" }
    /// The consistent-hash exchange in front of the work queues when there are several.
    public var shardExchange: String { "\(namespace).shard" }
    /// The single work queue (`<ns>.work`; with shards, see ``workQueues``).
    public var workQueue: String { "\(namespace).work" }
    /// The queues workers consume: `<ns>.work`, or `<ns>.work.0 … <ns>.work.<N-1>`.
    public var workQueues: [String] {
        workShards == 1 ? [workQueue] : (0..<workShards).map { workQueue(shard: $0) }
    }
    /// Work queue `k` of several.
    public func workQueue(shard: Int) -> String { "\(namespace).work.\(shard)" }
    /// Parked messages; never consumed automatically.
    public var deadLetterQueue: String { "\(namespace).dlq" }
    /// Every queue of the topology, for depth metrics: work queues, the DLQ, the retry tiers.
    public var allQueues: [String] { workQueues + [deadLetterQueue] + retryQueues }

    /// The retry queue of tier `tier` (`<ns>.retry.<delay>`, e.g. `logpipe.retry.10s`).
    public func retryQueue(tier: Int) -> String { "\(namespace).retry.\(DurationText.format(retryDelays[tier]))" }
    /// Every retry queue, in tier order (a delay listed twice gets one queue).
    public var retryQueues: [String] {
        var seen = Set<String>()
        return retryDelays.indices.map { retryQueue(tier: $0) }.filter { seen.insert($0).inserted }
    }

    /// Namespaces are 1–64 characters of `[A-Za-z0-9_.-]`.
    public static func isValidNamespace(_ value: String) -> Bool {
        (1...64).contains(value.utf8.count)
            && value.utf8.allSatisfy { byte in
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
        var exchanges: [AMQPTopology.Exchange] = [
            .init(name: ingestExchange, type: "topic"),
            .init(name: deadLetterExchange, type: "topic"),
        ]
        var bindings: [AMQPTopology.Binding] = []
        if workShards > 1 {
            // Hashing the message id (the log_id, or a chunk's first log_id) spreads a hot tenant over every shard.
            exchanges.append(.init(name: shardExchange, type: "x-consistent-hash", arguments: ["hash-property": .string("message_id")]))
            bindings.append(.init(destination: .exchange(shardExchange), exchange: ingestExchange, routingKey: "tenant.*"))
            bindings += workQueues.map { .init(queue: $0, exchange: shardExchange, routingKey: "1") }
        } else {
            bindings.append(.init(queue: workQueue, exchange: ingestExchange, routingKey: "tenant.*"))
        }
        bindings.append(.init(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: "#"))
        return AMQPTopology(
            exchanges: exchanges,
            queues: workQueues.map { .init(name: $0, arguments: workQueueArguments) } + [.init(name: deadLetterQueue, arguments: typeArguments)]
                + retryQueueDeclarations,
            bindings: bindings)
    }

    /// `x-queue-type` for quorum queues; classic queues are declared without it, as they always were (a
    /// queue declared before this setting existed keeps matching).
    private var typeArguments: [String: AMQPFieldValue] {
        queueType == .quorum ? ["x-queue-type": .string("quorum")] : [:]
    }

    /// Quorum queues that dead-letter do it at least once (a copy the DLX target has not confirmed stays in the
    /// source queue), which RabbitMQ allows only with `reject-publish` overflow.
    private var deadLetteringArguments: [String: AMQPFieldValue] {
        queueType == .quorum ? ["x-dead-letter-strategy": .string("at-least-once"), "x-overflow": .string("reject-publish")] : [:]
    }

    var workQueueArguments: [String: AMQPFieldValue] {
        var arguments = typeArguments.merging(deadLetteringArguments) { first, _ in first }
        arguments["x-dead-letter-exchange"] = .string(deadLetterExchange)
        if queueType == .quorum { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        return arguments
    }

    /// Retry queues hold a copy for their delay (queue-level TTL, so expiry is in order), then dead-letter it
    /// through the default exchange straight back to the work queue, or with shards through the consistent-hash
    /// exchange (to the shard of its message id).
    var retryQueueDeclarations: [AMQPTopology.Queue] {
        var seen = Set<String>()
        return retryDelays.indices.compactMap { tier in
            let name = retryQueue(tier: tier)
            guard seen.insert(name).inserted else { return nil }
            var arguments = typeArguments.merging(deadLetteringArguments) { first, _ in first }
            arguments["x-message-ttl"] = .int(DurationText.milliseconds(retryDelays[tier]))
            if workShards > 1 {
                arguments["x-dead-letter-exchange"] = .string(shardExchange)
            } else {
                arguments["x-dead-letter-exchange"] = .string("")
                arguments["x-dead-letter-routing-key"] = .string(workQueue)
            }
            return .init(name: name, arguments: arguments)
        }
    }

    /// A table of the declared topology for `logpipe topology`: every exchange and queue with its arguments.
    public var table: String {
        let declared = declarations
        func describe(_ arguments: [String: AMQPFieldValue]) -> String {
            arguments.sorted { $0.key < $1.key }.map { key, value in
                switch value {
                case .string(let text): "\(key)=\(text.isEmpty ? "\"\"" : text)"
                case .int(let number): "\(key)=\(number)"
                default: "\(key)=\(value)"
                }
            }.joined(separator: " ")
        }
        func bound(_ destination: AMQPTopology.Binding.Destination) -> String {
            let routes = declared.bindings.filter { $0.destination == destination }.map { "\($0.exchange) (\($0.routingKey))" }
            return routes.isEmpty ? "" : "; bound to " + routes.joined(separator: ", ")
        }
        func role(_ name: String) -> String {
            if workQueues.contains(name) { return "; workers consume it" }
            if name == deadLetterQueue { return "; parked messages, never consumed automatically" }
            if name == ingestExchange { return "; producers publish with routing key tenant.<tenant_id>" }
            if name == deadLetterExchange { return "; dead-letter exchange of the work queues" }
            if name == shardExchange { return "; hashes message_id over \(workShards) work queues" }
            return "; holds a copy for its delay, then dead-letters it back to the work queues"
        }
        var rows = declared.exchanges.map { exchange in
            (
                "exchange", exchange.name,
                ([exchange.type, "durable", describe(exchange.arguments)].filter { !$0.isEmpty }.joined(separator: ", "))
                    + bound(.exchange(exchange.name)) + role(exchange.name)
            )
        }
        rows += declared.queues.map { queue in
            (
                "queue", queue.name,
                (["durable", describe(queue.arguments)].filter { !$0.isEmpty }.joined(separator: ", "))
                    + bound(.queue(queue.name)) + role(queue.name)
            )
        }
        let kindWidth = rows.map(\.0.count).max()!
        let nameWidth = rows.map(\.1.count).max()!
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: width - text.count) }
        var lines = ["\(pad("KIND", kindWidth))  \(pad("NAME", nameWidth))  DETAILS"]
        lines += rows.map { "\(pad($0.0, kindWidth))  \(pad($0.1, nameWidth))  \($0.2)" }
        return lines.joined(separator: "\n")
    }
}
