/// One live connection generation: the raw connection and its confirm bookkeeping.
///
/// Thread-confined to the connection loop's thread, like ``RawConnection``.
extension ConnectionLoop {
    final class Session {
        let raw: RawConnection
        let generation: UInt64
        let confirmTimeout: Duration
        private var confirms = ConfirmTracker<ConfirmWaiter>()
        /// A duplicate of the socket's descriptor for the write watchdog: shutting it down stops a blocked write
        /// on this connection's socket, and it stays this socket's even after rabbitmq-c closes its own
        /// descriptor (a number the process may reuse at once). Closed with the session.
        let watchDescriptor: Int32

        init(raw: RawConnection, generation: UInt64, confirmTimeout: Duration) {
            self.raw = raw
            self.generation = generation
            self.confirmTimeout = confirmTimeout
            self.watchDescriptor = Descriptors.duplicate(raw.socketDescriptor)
        }

        deinit {
            if watchDescriptor >= 0 { Descriptors.close(watchDescriptor) }
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
                .one(continuation), deadline: .now + confirmTimeout, messageID: properties.messageID,
                routingKey: routingKey)
        }

        /// Publishes `messages` in order, one confirm entry each; `continuation` gets every outcome once all are
        /// settled. A failed write fails that message and the ones after it (they were never sent) and rethrows.
        func publish(_ messages: [AMQPConnection.OutgoingMessage], continuation: CheckedContinuation<[AMQPError?], Never>) throws {
            let group = PublishGroup(count: messages.count, continuation: continuation)
            let deadline = ContinuousClock.now + confirmTimeout
            for (index, message) in messages.enumerated() {
                do {
                    try raw.publish(
                        exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory,
                        properties: message.properties, body: message.body)
                } catch {
                    let failure = error as? AMQPError ?? AMQPError(.connectionLost, "publish failed: \(error)")
                    for unsent in index..<messages.count { group.settle(unsent, failure) }
                    throw failure
                }
                _ = confirms.add(
                    .member(group, index), deadline: deadline, messageID: message.properties.messageID, routingKey: message.routingKey)
            }
        }

        func settle(tag: UInt64, multiple: Bool, acked: Bool) {
            for (waiter, outcome) in confirms.settle(tag: tag, multiple: multiple, acked: acked) {
                switch outcome {
                case .confirmed:
                    waiter.resume(nil)
                case .nacked:
                    waiter.resume(AMQPError(.nacked, "the broker refused the message (basic.nack)"))
                case .unroutable(let replyCode, let replyText):
                    waiter.resume(AMQPError(.unroutable, "no queue is bound for the routing key (\(replyText))", replyCode: replyCode))
                }
            }
        }

        func markReturned(messageID: String?, routingKey: String, replyCode: UInt16, replyText: String) {
            confirms.markReturned(messageID: messageID, routingKey: routingKey, replyCode: replyCode, replyText: replyText)
        }

        func expireConfirms() {
            for waiter in confirms.expire(now: .now) {
                waiter.resume(AMQPError(.confirmTimeout, "no publisher confirm within \(confirmTimeout)"))
            }
        }

        var earliestConfirmDeadline: ContinuousClock.Instant? { confirms.earliestDeadline }

        func failAllConfirms(_ error: AMQPError) {
            for waiter in confirms.removeAll() { waiter.resume(error) }
        }

        /// Acknowledgements only make sense on the connection that delivered the message.
        func checkCurrent(_ receipt: AMQPReceipt) throws {
            guard receipt.generation == generation else {
                throw AMQPError(.staleDelivery, "the delivery came on an earlier connection; the broker redelivers it")
            }
        }
    }
}

/// Who waits for a publish's confirm: one caller, or one message of a group published together.
enum ConfirmWaiter {
    case one(CheckedContinuation<Void, any Error>)
    case member(PublishGroup, Int)

    /// `nil`: confirmed.
    func resume(_ error: AMQPError?) {
        switch self {
        case .one(let continuation):
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        case .member(let group, let index):
            group.settle(index, error)
        }
    }
}

/// The outcomes of messages published together, handed over once the last one is settled. Thread-confined to
/// the connection loop's thread, like the session that settles it.
final class PublishGroup {
    private var outcomes: [AMQPError?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[AMQPError?], Never>

    init(count: Int, continuation: CheckedContinuation<[AMQPError?], Never>) {
        outcomes = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func settle(_ index: Int, _ error: AMQPError?) {
        outcomes[index] = error
        remaining -= 1
        if remaining == 0 { continuation.resume(returning: outcomes) }
    }
}
