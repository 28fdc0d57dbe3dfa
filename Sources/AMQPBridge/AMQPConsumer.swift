import Synchronization

/// The deliveries of one subscription, buffered as the broker sends them (at most `prefetch` unacked).
///
/// Iterate it one by one, or take batches with ``nextBatch(max:linger:)``. Waiting is cancellation-safe:
/// a cancelled or stopped wait returns `nil` and never drops a buffered delivery.
public final class AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    private struct State {
        var buffer: [AMQPDelivery] = []
        var head = 0
        var finished = false
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?

        var count: Int { buffer.count - head }

        mutating func take(_ max: Int) -> [AMQPDelivery] {
            let end = Swift.min(buffer.count, head + max)
            let taken = Array(buffer[head..<end])
            head = end
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return taken
        }
    }

    private let state = Mutex(State())
    private let onCancel: @Sendable () -> Void
    private let onCancelAndWait: @Sendable () async -> Void

    init(onCancel: @escaping @Sendable () -> Void, onCancelAndWait: @escaping @Sendable () async -> Void) {
        self.onCancel = onCancel
        self.onCancelAndWait = onCancelAndWait
    }

    /// Deliveries buffered and not yet taken.
    public var bufferedCount: Int { state.withLock { $0.count } }

    /// Waits for the next delivery; `nil` when the subscription ended, the wait was stopped or cancelled.
    public func next() async -> AMQPDelivery? {
        await nextBatch(max: 1, linger: .zero)?.first
    }

    /// Waits at most `timeout` for the next delivery; `nil` on timeout or when the subscription ended.
    /// A delivery that arrives as the timeout fires is returned, never dropped.
    public func next(timeout: Duration) async -> AMQPDelivery? {
        await withTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask { await self.next() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var delivery: AMQPDelivery?
            // The first child to finish cancels the other; the waiting one returns a delivery buffered by then.
            while let result = await group.next() {
                group.cancelAll()
                if let result { delivery = result }
            }
            return delivery
        }
    }

    /// Waits for at least one delivery, then, if fewer than `max` are buffered, lingers once for more;
    /// returns up to `max`. `nil` when the subscription ended or ``stopWaiting()`` was called.
    public func nextBatch(max: Int, linger: Duration) async -> [AMQPDelivery]? {
        while true {
            guard await waitForOne() else { return nil }
            if linger > .zero, bufferedCount < max { try? await Task.sleep(for: linger) }
            let batch = state.withLock { $0.take(Swift.max(1, max)) }
            if !batch.isEmpty { return batch }
            // What was buffered was dropped while lingering (a reconnect made those deliveries stale; the broker
            // redelivers them): wait for the next ones. Returning nil here ended the caller's consuming for good
            // while the subscription stayed alive, holding a prefetch of unacked messages (found on a cluster).
        }
    }

    /// Makes current and future waits return `nil`, even with deliveries buffered (they stay unacked, and
    /// ``cancel()`` or closing the connection returns them to the queue). Used for graceful shutdown.
    public func stopWaiting() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Ends the subscription: the broker stops delivering and requeues what was not acked.
    public func cancel() {
        stopWaiting()
        onCancel()
    }

    /// Ends the subscription and returns once its channel is closed, so what it held unacked is back in the
    /// queue (a quorum queue redelivers requeued messages to a live subscription at once).
    public func cancelAndWait() async {
        stopWaiting()
        await onCancelAndWait()
    }

    // MARK: - Fed by the connection thread

    func yield(_ delivery: AMQPDelivery) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.buffer.append(delivery)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Drops buffered deliveries of connections older than `generation` (their receipts can no longer be
    /// settled, and the broker gives those messages to a consumer again).
    func dropDeliveries(before generation: UInt64) {
        state.withLock { state in
            guard state.buffer[state.head...].contains(where: { $0.receipt.generation < generation }) else { return }
            state.buffer = state.buffer[state.head...].filter { $0.receipt.generation >= generation }
            state.head = 0
        }
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// True when a delivery is buffered; false when there will be none (finished, stopped, cancelled).
    private func waitForOne() async -> Bool {
        while true {
            if Task.isCancelled { return state.withLock { $0.count > 0 } }
            let ready = state.withLock { state -> Bool? in
                if state.stopped { return false }
                if state.count > 0 { return true }
                if state.finished { return false }
                return nil
            }
            if let ready { return ready }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.count > 0 || state.finished || state.stopped { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
    }

    // MARK: - AsyncSequence

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: AMQPConsumer
        public mutating func next() async -> AMQPDelivery? { await consumer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: self) }
}
