/// A value in an AMQP header table. Only the kinds logpipe needs are modelled; others decode as `.other`.
public enum AMQPFieldValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// A nested field table (e.g. the `capabilities` of client properties).
    indirect case table([String: AMQPFieldValue])
    /// An array of values (e.g. `x-death`, the broker's record of dead-lettering).
    indirect case array([AMQPFieldValue])
    /// A field of a kind the bridge does not decode (decimal, array, …), kept by its type letter.
    case other(kind: UInt8)

    /// The string value, if this is a string.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    /// The integer value, if this is an integer.
    public var intValue: Int64? { if case .int(let value) = self { value } else { nil } }
    /// The nested table, if this is a table.
    public var tableValue: [String: AMQPFieldValue]? { if case .table(let value) = self { value } else { nil } }
    /// The elements, if this is an array.
    public var arrayValue: [AMQPFieldValue]? { if case .array(let value) = self { value } else { nil } }
}

/// The `basic` properties of a message that logpipe sets or reads.
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    /// 2 = persistent, 1 = transient.
    public var deliveryMode: UInt8?
    public var messageID: String?
    public var correlationID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var headers: [String: AMQPFieldValue]

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, deliveryMode: UInt8? = nil,
        messageID: String? = nil, correlationID: String? = nil, timestamp: UInt64? = nil,
        headers: [String: AMQPFieldValue] = [:]
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.deliveryMode = deliveryMode
        self.messageID = messageID
        self.correlationID = correlationID
        self.timestamp = timestamp
        self.headers = headers
    }

    /// Properties for a persistent message (`delivery_mode=2`).
    public static func persistent(contentType: String? = nil) -> AMQPProperties {
        AMQPProperties(contentType: contentType, deliveryMode: 2)
    }
}

/// A message as it was delivered (by `basic.deliver` or `basic.get`).
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var exchange: String
    public var routingKey: String
    public var redelivered: Bool
    /// The broker's delivery tag on the channel it arrived on.
    public var deliveryTag: UInt64
    /// Identifies the channel and connection generation the tag belongs to.
    public let receipt: AMQPReceipt
    /// For `basic.get`: how many messages were left in the queue after this one.
    public var messageCount: UInt32?
}

/// Where a delivery came from, so that an acknowledgement goes to the right channel of the right connection.
public struct AMQPReceipt: Sendable, Hashable {
    let generation: UInt64
    let channel: UInt16
    let deliveryTag: UInt64

    /// True when both deliveries came on the same channel of the same connection (one multiple-ack can
    /// settle both).
    public func isSameConnection(as other: AMQPReceipt) -> Bool {
        generation == other.generation && channel == other.channel
    }
}
