/// Exchanges, queues and bindings to declare idempotently (after every connect).
public struct AMQPTopology: Sendable, Hashable {
    public struct Exchange: Sendable, Hashable {
        public var name: String
        public var type: String
        public var durable: Bool
        public init(name: String, type: String, durable: Bool = true) {
            self.name = name
            self.type = type
            self.durable = durable
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

    public struct Binding: Sendable, Hashable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
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
