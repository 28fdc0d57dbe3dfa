import Synchronization

/// The deliveries of one subscription, buffered as the broker sends them (at most `prefetch` unacked).
///
/// Iterate it one by one, or take batches with ``nextBatch(max:linger:)``. Waiting is cancellation-safe:
/// a cancelled or stopped wait returns `nil` and never drops a buffered delivery. A batch's linger ends as soon
/// as the batch is full, its time is up, or ``wake()`` is called (the caller has something else to do with it).
/// When to linger, and for how long, is the caller's policy; this type only buffers and waits as told.
public final class AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    /// How long a batch waits, once it has its first delivery, for more (it never waits once it is full).
    public enum Linger: Sendable, Equatable {
        /// Take what is buffered.
        case none
        /// At most this long.
        case upTo(Duration)
        /// Until ``wake()`` (or the batch is full).
        case untilWoken
    }

    private struct Waiter {
        let id: UInt64
        /// Resumed once this many deliveries are buffered.
        let threshold: Int
        /// Resumed by ``wake()`` and by its deadline too.
        let lingering: Bool
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var buffer: [AMQPDelivery] = []
        var head = 0
        var finished = false
        var stopped = false
        var waiter: Waiter?
        var nextWaiterID: UInt64 = 1
        /// A ``wake()`` no linger has consumed yet.
        var woken = false

        var count: Int { buffer.count - head }

        mutating func take(_ max: Int) -> [AMQPDelivery] {
            let end = Swift.min(buffer.count, head + max)
            let taken = Array(buffer[head..<end])
            head = end
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64, head * 2 >= buffer.count {
                // Batches smaller than the prefetch never empty the buffer: drop what was taken, or every
                // delivery ever received stays in memory (a batch of half the prefetch grew a process to 700 MB).
                buffer.removeFirst(head)
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

    /// What the current wait waits for: how many buffered deliveries, and whether it lingers (for tests).
    var waiting: (threshold: Int, lingering: Bool)? { state.withLock { $0.waiter.map { ($0.threshold, $0.lingering) } } }

    /// Deliveries the buffer holds, taken ones included until they are dropped (for tests).
    var retainedCount: Int { state.withLock { $0.buffer.count } }

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

    /// Waits for at least one delivery, then, if fewer than `max` are buffered, lingers once for more until
    /// `max` are buffered or `linger` is over; returns up to `max`. `nil` when the subscription ended or
    /// ``stopWaiting()`` was called.
    public func nextBatch(max: Int, linger: Duration) async -> [AMQPDelivery]? {
        await nextBatch(max: max, linger: linger > .zero ? .upTo(linger) : .none)
    }

    /// Waits for at least one delivery, then lingers as `linger` says while fewer than `max` are buffered;
    /// returns up to `max`. `nil` when the subscription ended or ``stopWaiting()`` was called.
    public func nextBatch(max: Int, linger: Linger) async -> [AMQPDelivery]? {
        await nextBatch(max: max) { linger }
    }

    /// As ``nextBatch(max:linger:)-(_,Linger)``, with the linger chosen once the first delivery is buffered (a
    /// caller can decide from what it is doing by then).
    public func nextBatch(max: Int, linger: () -> Linger) async -> [AMQPDelivery]? {
        let max = Swift.max(1, max)
        while true {
            guard await waitFor(1, lingering: false) else { return nil }
            switch linger() {
            case .none:
                break
            case .upTo(let duration):
                // A wake() from before this batch is stale: this linger has its own deadline.
                state.withLock { $0.woken = false }
                if bufferedCount < max { await lingerUntilFull(max, deadline: .now + duration) }
            case .untilWoken:
                if bufferedCount < max { await lingerUntilFull(max, deadline: nil) }
            }
            let batch = state.withLock { $0.take(max) }
            if !batch.isEmpty { return batch }
            // What was buffered was dropped while lingering (a reconnect made those deliveries stale; the broker
            // redelivers them): wait for the next ones. Returning nil here ended the caller's consuming for good
            // while the subscription stayed alive, holding a prefetch of unacked messages (found on a cluster).
        }
    }

    /// Ends the current or next linger (not a wait for the first delivery): the caller has something to do with
    /// what is buffered now (a worker: its store became free).
    public func wake() {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter, waiter.lingering else {
                state.woken = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume()
    }

    /// Forgets a ``wake()`` no linger has consumed (the caller started what the wake was about).
    public func discardWake() {
        state.withLock { $0.woken = false }
    }

    /// Makes current and future waits return `nil`, even with deliveries buffered (they stay unacked, and
    /// ``cancel()`` or closing the connection returns them to the queue). Used for graceful shutdown.
    public func stopWaiting() {
        let waiter = state.withLock { state -> Waiter? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.continuation.resume()
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
        let waiter = state.withLock { state -> Waiter? in
            state.buffer.append(delivery)
            guard let waiter = state.waiter, state.count >= waiter.threshold else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume()
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
        let waiter = state.withLock { state -> Waiter? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.continuation.resume()
    }

    /// True when a delivery is buffered; false when there will be none (finished, stopped, cancelled).
    private func waitFor(_ threshold: Int, lingering: Bool) async -> Bool {
        while true {
            if Task.isCancelled { return state.withLock { $0.count > 0 } }
            let ready = state.withLock { state -> Bool? in
                if state.stopped { return false }
                if state.count >= threshold { return true }
                if state.finished { return state.count > 0 }
                return nil
            }
            if let ready { return ready }
            await suspend(threshold: threshold, lingering: lingering)
            if lingering { return state.withLock { $0.count > 0 } }
        }
    }

    /// Lingers until `max` deliveries are buffered, `deadline` passes, ``wake()`` is called, or waiting ends.
    private func lingerUntilFull(_ max: Int, deadline: ContinuousClock.Instant?) async {
        guard let deadline else {
            _ = await waitFor(max, lingering: true)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = await self.waitFor(max, lingering: true) }
            group.addTask { try? await Task.sleep(until: deadline) }
            // Whichever ends first ends the other: a cancelled wait and a cancelled sleep both return at once.
            await group.next()
            group.cancelAll()
        }
    }

    /// Suspends until the state changes as the waiter asked (a lingering one also on wake() and cancellation).
    private func suspend(threshold: Int, lingering: Bool) async {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // Cancelled before the waiter is stored: the cancellation handler found nothing to resume.
                    if Task.isCancelled || state.count >= threshold || state.finished || state.stopped { return true }
                    if lingering && state.woken {
                        state.woken = false
                        return true
                    }
                    state.waiter = Waiter(id: id, threshold: threshold, lingering: lingering, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter
            }
            waiter?.continuation.resume()
        }
    }

    // MARK: - AsyncSequence

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: AMQPConsumer
        public mutating func next() async -> AMQPDelivery? { await consumer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: self) }
}
