import Glibc

/// One live connection generation: the raw connection and its confirm bookkeeping.
///
/// Thread-confined to the connection loop's thread, like ``RawConnection``.
extension ConnectionLoop {
    final class Session {
        let raw: RawConnection
        let generation: UInt64
        let confirmTimeout: Duration
        private var confirms = ConfirmTracker<CheckedContinuation<Void, any Error>>()
        /// A duplicate of the socket's descriptor for the write watchdog: shutting it down stops a blocked write
        /// on this connection's socket, and it stays this socket's even after rabbitmq-c closes its own
        /// descriptor (a number the process may reuse at once). Closed with the session.
        let watchDescriptor: Int32

        init(raw: RawConnection, generation: UInt64, confirmTimeout: Duration) {
            self.raw = raw
            self.generation = generation
            self.confirmTimeout = confirmTimeout
            self.watchDescriptor = dup(raw.socketDescriptor)
        }

        deinit {
            if watchDescriptor >= 0 { Glibc.close(watchDescriptor) }
        }

        func publish(
            exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties,
            mandatory: Bool, continuation: CheckedContinuation<Void, any Error>
        ) throws {
            do {
                try raw.publish(
                    exchange: exchange, routingKey: routingKey, mandatory: mandatory,
                    properties: properties, body: body)
            } catch let error as AMQPError {
                continuation.resume(throwing: error)
                throw error
            }
            _ = confirms.add(
                continuation, deadline: .now + confirmTimeout, messageID: properties.messageID,
                routingKey: routingKey)
        }

        func settle(tag: UInt64, multiple: Bool, acked: Bool) {
            for (continuation, outcome) in confirms.settle(tag: tag, multiple: multiple, acked: acked) {
                switch outcome {
                case .confirmed:
                    continuation.resume()
                case .nacked:
                    continuation.resume(throwing: AMQPError(.nacked, "the broker refused the message (basic.nack)"))
                case .unroutable(let replyCode, let replyText):
                    continuation.resume(
                        throwing: AMQPError(
                            .unroutable, "no queue is bound for the routing key (\(replyText))",
                            replyCode: replyCode))
                }
            }
        }

        func markReturned(messageID: String?, routingKey: String, replyCode: UInt16, replyText: String) {
            confirms.markReturned(messageID: messageID, routingKey: routingKey, replyCode: replyCode, replyText: replyText)
        }

        func expireConfirms() {
            for continuation in confirms.expire(now: .now) {
                continuation.resume(throwing: AMQPError(.confirmTimeout, "no publisher confirm within \(confirmTimeout)"))
            }
        }

        var earliestConfirmDeadline: ContinuousClock.Instant? { confirms.earliestDeadline }

        func failAllConfirms(_ error: AMQPError) {
            for continuation in confirms.removeAll() { continuation.resume(throwing: error) }
        }

        /// Acknowledgements only make sense on the connection that delivered the message.
        func checkCurrent(_ receipt: AMQPReceipt) throws {
            guard receipt.generation == generation else {
                throw AMQPError(.staleDelivery, "the delivery came on an earlier connection; the broker redelivers it")
            }
        }
    }
}
