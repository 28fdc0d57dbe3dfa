/// Exchanges, queues and bindings to declare idempotently (after every connect).
public struct AMQPTopology: Sendable, Hashable {
    public struct Exchange: Sendable, Hashable {
        public var name: String
        public var type: String
        public var durable: Bool
        /// Exchange arguments such as the consistent-hash exchange's `hash-property`.
        public var arguments: [String: AMQPFieldValue]
        public init(name: String, type: String, durable: Bool = true, arguments: [String: AMQPFieldValue] = [:]) {
            self.name = name
            self.type = type
            self.durable = durable
            self.arguments = arguments
        }
    }

    public struct Queue: Sendable, Hashable {
        public var name: String
        public var durable: Bool
        /// Queue arguments such as `x-message-ttl`, `x-dead-letter-exchange`, `x-queue-type`.
        public var arguments: [String: AMQPFieldValue]
        public init(name: String, durable: Bool = true, arguments: [String: AMQPFieldValue] = [:]) {
            self.name = name
            self.durable = durable
            self.arguments = arguments
        }
    }

    /// Routes messages of `exchange` that match `routingKey` to a queue, or to another exchange.
    public struct Binding: Sendable, Hashable {
        public enum Destination: Sendable, Hashable {
            case queue(String)
            case exchange(String)
        }
        public var destination: Destination
        public var exchange: String
        /// The binding key (for a consistent-hash exchange: the destination's weight, e.g. `"1"`).
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.init(destination: .queue(queue), exchange: exchange, routingKey: routingKey)
        }
        public init(destination: Destination, exchange: String, routingKey: String) {
            self.destination = destination
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}

/// What `queue.declare` (passive) reports about a queue.
public struct AMQPQueueStatus: Sendable, Hashable {
    public var messageCount: UInt32
    public var consumerCount: UInt32

    public init(messageCount: UInt32, consumerCount: UInt32) {
        self.messageCount = messageCount
        self.consumerCount = consumerCount
    }
}
