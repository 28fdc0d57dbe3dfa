import CRabbitMQ
import Glibc

/// Something the broker sent that the connection loop must act on.
enum RawEvent {
    case delivery(AMQPDelivery)
    /// `basic.ack` (acked = true) or `basic.nack` for published messages up to and including `tag`.
    case confirm(tag: UInt64, multiple: Bool, acked: Bool)
    /// A mandatory message came back unroutable; correlated by message id and routing key.
    case returned(messageID: String?, routingKey: String, replyCode: UInt16, replyText: String)
    case channelClosed(channel: UInt16, replyCode: UInt16, replyText: String)
    case consumerCancelled(channel: UInt16)
    case blocked(Bool)
}

/// A message whose method frame has arrived and whose header and body frames are still coming.
struct PartialContent {
    enum Kind {
        case deliver(exchange: String, routingKey: String, deliveryTag: UInt64, redelivered: Bool)
        case returned(routingKey: String, replyCode: UInt16, replyText: String)
    }

    var kind: Kind
    var properties = AMQPProperties()
    var bodySize = 0
    var headerSeen = false
    var body: [UInt8] = []
}

extension RawConnection {
    /// Reads frames without waiting until one completes an event; `nil` when nothing complete has arrived.
    ///
    /// Content (method, header and body frames) is assembled here frame by frame, per channel, so a message
    /// whose frames arrive in several reads is never half-read and never lost. Throws `connectionLost` when
    /// the socket failed, a heartbeat was missed or the broker closed the connection.
    func nextEvent(generation: UInt64) throws -> RawEvent? {
        if !hasBufferedInput { amqp_maybe_release_buffers(handle) }
        while true {
            var frame = amqp_frame_t()
            var immediately = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(handle, &frame, &immediately)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.connectionLost, "reading from the broker failed: \(Self.statusText(status))")
            }
            let channel = frame.channel
            switch Int32(frame.frame_type) {
            case AMQP_FRAME_METHOD:
                if let event = try methodEvent(frame.payload.method, channel: channel) { return event }
            case AMQP_FRAME_HEADER:
                guard var partial = partials[channel], !partial.headerSeen else { continue }
                let header = frame.payload.properties
                partial.headerSeen = true
                partial.bodySize = Int(header.body_size)
                if let decoded = header.decoded {
                    partial.properties = AMQPProperties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
                }
                partial.body.reserveCapacity(partial.bodySize)
                if let event = complete(partial, channel: channel, generation: generation) { return event }
                partials[channel] = partial
            case AMQP_FRAME_BODY:
                guard var partial = partials[channel], partial.headerSeen else { continue }
                partial.body.append(contentsOf: frame.payload.body_fragment.array)
                if let event = complete(partial, channel: channel, generation: generation) { return event }
                partials[channel] = partial
            default:
                continue  // heartbeats are handled inside rabbitmq-c
            }
        }
    }

    /// The event for a finished message, or `nil` (and nothing removed) while body bytes are missing.
    private func complete(_ partial: PartialContent, channel: UInt16, generation: UInt64) -> RawEvent? {
        guard partial.headerSeen, partial.body.count >= partial.bodySize else { return nil }
        partials[channel] = nil
        switch partial.kind {
        case .deliver(let exchange, let routingKey, let deliveryTag, let redelivered):
            return .delivery(
                AMQPDelivery(
                    body: partial.body, properties: partial.properties, exchange: exchange, routingKey: routingKey,
                    redelivered: redelivered, deliveryTag: deliveryTag,
                    receipt: AMQPReceipt(generation: generation, channel: channel, deliveryTag: deliveryTag)))
        case .returned(let routingKey, let replyCode, let replyText):
            return .returned(
                messageID: partial.properties.messageID, routingKey: routingKey, replyCode: replyCode,
                replyText: replyText)
        }
    }

    private func methodEvent(_ method: amqp_method_t, channel: UInt16) throws -> RawEvent? {
        switch method.id {
        case Method.basicDeliver:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            partials[channel] = PartialContent(
                kind: .deliver(
                    exchange: deliver.exchange.string, routingKey: deliver.routing_key.string,
                    deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0))
            return nil
        case Method.basicReturn:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            partials[channel] = PartialContent(
                kind: .returned(
                    routingKey: returned.routing_key.string, replyCode: returned.reply_code, replyText: returned.reply_text.string))
            return nil
        case Method.basicAck:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .confirm(tag: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
        case Method.basicNack:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .confirm(tag: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
        case Method.channelClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(handle, channel, Method.channelCloseOK, &closeOK)
            markClosed(channel)
            partials[channel] = nil
            return .channelClosed(channel: channel, replyCode: close.reply_code, replyText: close.reply_text.string)
        case Method.connectionClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(handle, 0, Method.connectionCloseOK, &closeOK)
            throw AMQPError(.connectionLost, "broker closed the connection: \(close.reply_text.string)", replyCode: close.reply_code)
        case Method.basicCancel:
            return .consumerCancelled(channel: channel)
        case Method.connectionBlocked:
            return .blocked(true)
        case Method.connectionUnblocked:
            return .blocked(false)
        default:
            return nil
        }
    }
}
