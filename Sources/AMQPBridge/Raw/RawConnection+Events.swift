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
    case ignored
}

extension RawConnection {
    /// Reads the next event without waiting; `nil` when nothing complete has arrived yet.
    ///
    /// Throws `connectionLost` when the socket failed, a heartbeat was missed or the broker closed the connection.
    func nextEvent(generation: UInt64) throws -> RawEvent? {
        var envelope = amqp_envelope_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        if !hasBufferedInput { amqp_maybe_release_buffers(handle) }
        let reply = amqp_consume_message(handle, &envelope, &immediately, 0)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            defer { amqp_destroy_envelope(&envelope) }
            return .delivery(AMQPDelivery(
                body: envelope.message.body.array, properties: AMQPProperties(envelope.message.properties),
                exchange: envelope.exchange.string, routingKey: envelope.routing_key.string,
                redelivered: envelope.redelivered != 0, deliveryTag: envelope.delivery_tag,
                receipt: AMQPReceipt(generation: generation, channel: envelope.channel,
                                     deliveryTag: envelope.delivery_tag)))
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_TIMEOUT.rawValue:
            return nil
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue:
            return try nextFrameEvent()
        default:
            throw AMQPError(.connectionLost, "reading from the broker failed: \(Self.replyText(reply))")
        }
    }

    /// Handles the frame that `amqp_consume_message` put back because it was not a `basic.deliver`.
    private func nextFrameEvent() throws -> RawEvent {
        var frame = amqp_frame_t()
        let status = amqp_simple_wait_frame(handle, &frame)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "reading a frame failed: \(Self.statusText(status))")
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return .ignored }
        let method = frame.payload.method
        switch method.id {
        case Method.basicAck:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .confirm(tag: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
        case Method.basicNack:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .confirm(tag: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
        case Method.basicReturn:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let routingKey = returned.routing_key.string
            let replyText = returned.reply_text.string
            var message = amqp_message_t()
            let reply = amqp_read_message(handle, frame.channel, &message, 0)
            guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                throw AMQPError(.connectionLost, "reading a returned message failed: \(Self.replyText(reply))")
            }
            defer { amqp_destroy_message(&message) }
            return .returned(messageID: AMQPProperties(message.properties).messageID, routingKey: routingKey,
                             replyCode: returned.reply_code, replyText: replyText)
        case Method.channelClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(handle, frame.channel, Method.channelCloseOK, &closeOK)
            markClosed(frame.channel)
            return .channelClosed(channel: frame.channel, replyCode: close.reply_code, replyText: close.reply_text.string)
        case Method.connectionClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(handle, 0, Method.connectionCloseOK, &closeOK)
            throw AMQPError(.connectionLost, "broker closed the connection: \(close.reply_text.string)",
                            replyCode: close.reply_code)
        case Method.basicCancel:
            return .consumerCancelled(channel: frame.channel)
        case Method.connectionBlocked:
            return .blocked(true)
        case Method.connectionUnblocked:
            return .blocked(false)
        default:
            return .ignored
        }
    }
}
