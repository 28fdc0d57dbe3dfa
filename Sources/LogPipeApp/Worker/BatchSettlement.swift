import AMQPBridge
import LogPipeCore
import Logging

/// The last step of every batch: copies what was not stored to a retry tier or the DLQ (confirmed), then settles
/// every delivery. Testable with any ``WorkChannel``.
struct BatchSettlement: Sendable {
    let connection: any WorkChannel
    let mover: MessageMover
    let policy: RetryPolicy
    let logger: Logger
    let metrics: LogPipeMetrics?

    /// Publishes the retry or DLQ copy of every delivery that was not stored, all in flight at once;
    /// returns the indices whose copy the broker did not confirm.
    func move(_ batch: [AMQPDelivery], _ outcomes: [RetryPolicy.Outcome]) async -> Set<Int> {
        return await withTaskGroup(of: Int?.self) { group in
            for (index, outcome) in outcomes.enumerated() where outcome != .stored {
                let delivery = batch[index]
                let decision = policy.decide(outcome, attempt: delivery.attempt)
                group.addTask { [mover, logger, metrics] in
                    do {
                        switch decision {
                        case .ack:
                            return nil
                        case .retry(let tier, _, let nextAttempt):
                            guard case .transient(let reason) = outcome else { return nil }
                            try await mover.retry(delivery, tier: tier, nextAttempt: nextAttempt, reason: reason)
                            metrics?.deliveries("retried", count: WorkBatching.logCount(delivery))
                        case .park(let reason):
                            try await mover.park(delivery, reason: reason)
                            metrics?.deliveries("parked", count: WorkBatching.logCount(delivery))
                            logger.warning(
                                "message parked in the DLQ",
                                metadata: [
                                    "log.id": "\(delivery.properties.messageID ?? "-")", "amqp.delivery_tag": "\(delivery.deliveryTag)",
                                    "message.bytes": "\(delivery.body.count)", "error.reason": "\(reason)",
                                    "logpipe.attempt": "\(delivery.attempt)",
                                ])
                        }
                        return nil
                    } catch {
                        logger.warning(
                            "could not move a message; it goes back to the work queue",
                            metadata: [
                                "amqp.delivery_tag": "\(delivery.deliveryTag)", "error": "\(error)",
                            ])
                        return index
                    }
                }
            }
            var failed = Set<Int>()
            for await index in group { if let index { failed.insert(index) } }
            return failed
        }
    }

    /// Acks the batch with one multiple-ack, or, when some copies failed, settles each delivery on its own:
    /// acks the others and hands the failed ones back to the queue. A delivery that cannot be settled (it came
    /// on an earlier connection: the broker redelivers it) never stops the others from being settled, so no
    /// delivery of the current connection is left for a later multiple-ack to ack unstored.
    func settle(_ batch: [AMQPDelivery], requeueing failed: Set<Int>) async {
        if failed.isEmpty, let last = batch.last, batch.allSatisfy({ $0.receipt.isSameConnection(as: last.receipt) }) {
            do {
                try await connection.ack(last.receipt, multiple: true)
                return
            } catch {
                // The connection was lost before the ack: the broker redelivers, the store keeps one copy.
                logger.warning("ack failed; the batch will be redelivered", metadata: ["error": "\(error)"])
                return
            }
        }
        var unsettled = 0
        for (index, delivery) in batch.enumerated() {
            do {
                if failed.contains(index) {
                    try await connection.nack(delivery.receipt, multiple: false, requeue: true)
                } else {
                    try await connection.ack(delivery.receipt, multiple: false)
                }
            } catch {
                unsettled += 1
            }
        }
        if unsettled > 0 {
            logger.warning(
                "some deliveries could not be settled; the broker redelivers them",
                metadata: [
                    "batch.size": "\(batch.count)", "amqp.unsettled": "\(unsettled)",
                ])
        }
    }
}
