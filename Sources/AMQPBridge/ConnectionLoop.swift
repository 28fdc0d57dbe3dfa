import Foundation
import Logging
import Synchronization

/// The thread behind an ``AMQPConnection``: connects, runs queued commands, reads frames, settles confirms
/// and reconnects with exponential backoff. It performs the I/O; what to do (which node, which subscriptions,
/// what a broker event ends, when to reconnect) is decided by two values it owns, ``ConnectionStateMachine`` and
/// ``ReconnectSchedule``, tested without a broker.
///
/// `@unchecked Sendable` is sound because the stored properties marked *thread-owned* are read and written
/// only by the loop's own thread (started once in ``start()``); everything other threads touch lives in
/// `shared`, a `Mutex`, or is immutable.
final class ConnectionLoop: @unchecked Sendable {
    /// Work for the connection thread. `execute` runs with a live session; it resumes its caller itself and
    /// rethrows `connectionLost` so the loop tears the connection down. `fail` runs when there is no session.
    struct Command: Sendable {
        let execute: @Sendable (Session) throws -> Void
        let fail: @Sendable (AMQPError) -> Void
        /// A socket write (publish, ack, nack) the watchdog bounds; RPCs have rabbitmq-c's own timeout.
        var isWrite = false
    }

    private struct Shared {
        var commands: [Command] = []
        var wakeSignalled = false
        var connected = false
        var blocked = false
        var closing = false
        var started = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var consumersToAdd: [(UInt64, ConnectionStateMachine.Subscription)] = []
        var consumersToRemove: [UInt64] = []
        /// Callers waiting until a removed consumer's channel is closed (its unacked deliveries returned).
        var removalWaiters: [CheckedContinuation<Void, Never>] = []
        var nextConsumerID: UInt64 = 1
        /// Connections made so far (1 after the first connect); a channel error that restarts the connection shows.
        var connects = 0
        /// While the thread writes (publishes, acks): when it must be done, and its socket. A broker that stops
        /// reading (stopped, overloaded) blocks the write with no timeout of rabbitmq-c's; the watchdog then
        /// shuts the socket down, the write fails and every waiting publish gets its answer.
        var writeWatch: (deadline: ContinuousClock.Instant, descriptor: Int32, fired: Bool)?
        /// Consumers registered that have no live subscription now (cancelled by the broker, or consume failed).
        var consumersDown = 0
        /// The endpoint of the open connection (an index into `configuration.endpoints`).
        var endpoint: Int?
        /// Why the last connect failed; cleared by a successful one.
        var lastError: AMQPError?
        /// Connects that failed on every endpoint, since the start.
        var failedConnects = 0
    }

    let configuration: AMQPConfiguration
    let topology: AMQPTopology
    let logger: Logger
    private let shared = Mutex(Shared())
    private let wake = WakePipe()

    // Thread-owned.
    private var session: Session?
    /// The decisions: which node to try, which subscriptions to make, what a broker event ends.
    private var machine: ConnectionStateMachine

    init(configuration: AMQPConfiguration, topology: AMQPTopology, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.logger = logger
        self.machine = ConnectionStateMachine(endpointCount: configuration.endpoints.count)
    }

    var isConnected: Bool { shared.withLock { $0.connected } }
    var connects: Int { shared.withLock { $0.connects } }
    /// Connected, and every registered consumer subscribed.
    var isConsuming: Bool { shared.withLock { $0.connected && $0.consumersDown == 0 } }
    var isBlocked: Bool { shared.withLock { $0.blocked } }
    var endpoint: AMQPEndpoint? { shared.withLock { $0.endpoint }.map { configuration.endpoints[$0] } }
    var lastError: AMQPError? { shared.withLock { $0.lastError } }
    var failedConnects: Int { shared.withLock { $0.failedConnects } }

    func start() {
        let first = shared.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in run() }
        thread.name = "amqp-\(configuration.connectionName)"
        thread.start()
        let watchdog = Thread { [self] in watchWrites() }
        watchdog.name = "amqp-\(configuration.connectionName)-watchdog"
        watchdog.start()
    }

    /// Shuts down the socket of a write that has run past its deadline (see `Shared.writeWatch`), ten times
    /// a second, until the loop has exited.
    private func watchWrites() {
        while true {
            let (exited, fired) = shared.withLock { state -> (Bool, Bool) in
                guard !state.exited else { return (true, false) }
                guard let watch = state.writeWatch, !watch.fired, ContinuousClock.now > watch.deadline else { return (false, false) }
                // Under the lock: the loop clears the watch under it too, so this never hits a finished write.
                Descriptors.shutDown(watch.descriptor)
                state.writeWatch?.fired = true
                return (false, true)
            }
            if exited { return }
            if fired {
                logger.warning(
                    "AMQP write blocked past the confirm deadline (the broker is not reading); closing the connection",
                    metadata: ["amqp.url": "\(configuration.redactedURL)"])
            }
            Descriptors.pause(.milliseconds(100))  // a tick of the watchdog, not a synchronisation
        }
    }

    func close() async {
        let running = shared.withLock { state -> Bool in
            state.closing = true
            return state.started && !state.exited
        }
        wake.signal()
        guard running else { failQueued(AMQPError(.closed, "the connection was closed")); return }
        await withCheckedContinuation { continuation in
            let done = shared.withLock { state -> Bool in
                if state.exited { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func enqueue(_ command: Command) {
        let (rejected, signal) = shared.withLock { state -> (Bool, Bool) in
            // Between connections a command is answered at once (nothing was sent) instead of waiting for
            // the reconnect: callers answer 503 within their deadline, whatever the broker does meanwhile.
            if state.closing || !state.started || (!state.connected && state.connects > 0) { return (true, false) }
            state.commands.append(command)
            defer { state.wakeSignalled = true }
            return (false, !state.wakeSignalled)
        }
        if rejected {
            let (closing, started) = shared.withLock { ($0.closing, $0.started) }
            command.fail(
                closing
                    ? AMQPError(.closed, "the connection was closed")
                    : started
                        ? AMQPError(.notConnected, "no connection to the broker (reconnecting)")
                        : AMQPError(.notConnected, "the connection was not started"))
        } else if signal {
            wake.signal()
        }
    }

    func reserveConsumerID() -> UInt64 {
        shared.withLock { state in
            defer { state.nextConsumerID += 1 }
            return state.nextConsumerID
        }
    }

    func addConsumer(id: UInt64, queue: String, prefetch: UInt16, consumer: AMQPConsumer) {
        let subscription = ConnectionStateMachine.Subscription(queue: queue, prefetch: prefetch, sink: consumer)
        shared.withLock { $0.consumersToAdd.append((id, subscription)) }
        wake.signal()
    }

    func removeConsumer(_ id: UInt64) {
        shared.withLock { $0.consumersToRemove.append(id) }
        wake.signal()
    }

    /// Removes a consumer and returns once the thread has closed its channel (or there is no connection).
    func removeConsumerAndWait(_ id: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = shared.withLock { state -> Bool in
                state.consumersToRemove.append(id)
                guard state.started, !state.exited else { return true }
                state.removalWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() } else { wake.signal() }
        }
    }

    // MARK: - The thread

    private func run() {
        var schedule = ReconnectSchedule(configuration)
        while !shared.withLock({ $0.closing }) {
            if session == nil {
                if let wait = schedule.beforeConnect(now: .now) { waitForWake(timeout: wait) }
                if connect() {
                    schedule.connected(at: .now)
                } else {
                    failQueued(AMQPError(.notConnected, "no connection to the broker (reconnecting)"))
                    // Subscriptions cancelled meanwhile end now (and whoever waits for that returns): there is no
                    // channel to close.
                    applyConsumerChanges()
                    let mismatch = shared.withLock { $0.lastError?.code == .topologyMismatch }
                    waitForWake(timeout: schedule.failed(topologyMismatch: mismatch))
                    continue
                }
            }
            do {
                try runOnce()
            } catch let error as AMQPError {
                tearDown(error)
            } catch {
                tearDown(AMQPError(.library, "\(error)"))
            }
        }
        shutDown()
    }

    /// Connects to the first endpoint that accepts, in the machine's order, declares the topology and
    /// resubscribes the consumers. A topology the broker refuses is not the node's fault: no other node is tried.
    private func connect() -> Bool {
        let endpoints = configuration.endpoints
        var lastError: AMQPError?
        for index in machine.connectOrder {
            let endpoint = endpoints[index]
            do {
                let raw = try RawConnection(configuration: configuration, endpoint: endpoint)
                let generation = machine.connecting()
                let session = Session(raw: raw, generation: generation, confirmTimeout: configuration.confirmTimeout)
                if !topology.exchanges.isEmpty || !topology.queues.isEmpty { try raw.declare(topology) }
                self.session = session
                applyConsumerChanges()
                for id in machine.unsubscribed { try subscribe(id) }
                machine.connected(endpoint: index)
                shared.withLock { state in
                    state.connected = true
                    state.blocked = false
                    state.connects += 1
                    state.endpoint = index
                    state.lastError = nil
                }
                logger.info(
                    "AMQP connected",
                    metadata: [
                        "amqp.url": "\(endpoint.redactedURL)", "amqp.node": "\(endpoint.address)",
                        "amqp.generation": "\(generation)",
                    ])
                return true
            } catch {
                session?.raw.destroy()
                session = nil
                machine.connectFailed()
                let failure = error as? AMQPError ?? AMQPError(.library, "\(error)")
                lastError = failure
                if failure.code == .topologyMismatch {
                    logger.error("AMQP topology refused by the broker", metadata: ["amqp.node": "\(endpoint.address)", "error": "\(failure)"])
                    break
                }
                logger.warning(
                    "AMQP connect failed",
                    metadata: [
                        "amqp.url": "\(endpoint.redactedURL)", "amqp.node": "\(endpoint.address)",
                        "error": "\(failure)",
                    ])
            }
        }
        shared.withLock { state in
            state.lastError = lastError
            state.failedConnects += 1
        }
        return false
    }

    private func runOnce() throws {
        guard let session else { return }
        applyConsumerChanges()
        let commands = shared.withLock { state -> [Command] in
            defer { state.commands.removeAll(keepingCapacity: true); state.wakeSignalled = false }
            return state.commands
        }
        if !commands.isEmpty {
            // Each write (publish, ack) must end by the earliest confirm deadline, or the confirm timeout from
            // its start, and gets at least a second (flow control pauses a busy broker's reads briefly), plus
            // 0.9 s of grace: a waiting publish is answered within its confirm timeout and a second or two.
            // RPCs are not watched: rabbitmq-c's RPC timeout bounds them.
            session.expireConfirms()
            let earliest = session.earliestConfirmDeadline
            defer { shared.withLock { $0.writeWatch = nil } }
            for (index, command) in commands.enumerated() {
                if command.isWrite {
                    let now = ContinuousClock.now
                    let due = min(now + configuration.confirmTimeout, earliest ?? now + configuration.confirmTimeout)
                    let deadline = max(due, now + .seconds(1)) + .milliseconds(900)
                    shared.withLock { $0.writeWatch = (deadline, session.watchDescriptor, false) }
                } else {
                    shared.withLock { $0.writeWatch = nil }
                }
                do {
                    try command.execute(session)
                } catch {
                    // The connection is lost: the commands after this one were never sent. They get their
                    // answer now (before, they were dropped and their callers waited forever).
                    for later in commands[(index + 1)...] {
                        later.fail(AMQPError(.notConnected, "the connection was lost before this was sent"))
                    }
                    throw error
                }
            }
        }
        session.expireConfirms()
        resubscribeIfDue()
        if self.session !== session { return }  // resubscribing found the connection gone and tore it down

        let pendingWork = shared.withLock { !$0.commands.isEmpty || !$0.consumersToAdd.isEmpty || $0.closing }
        var timeout = Duration.milliseconds(250)
        if pendingWork || session.raw.hasBufferedInput {
            timeout = .zero
        } else if let deadline = session.earliestConfirmDeadline {
            timeout = min(timeout, max(.zero, deadline - ContinuousClock.now))
        }
        let readable = Descriptors.waitReadable([session.raw.socketDescriptor, wake.readDescriptor], timeout: timeout)
        if readable[1] { wake.drain() }
        // Read what has arrived (bounded, so queued commands are not starved); always call in at least once
        // so rabbitmq-c sends heartbeats and notices a dead peer.
        for _ in 0..<1024 {
            guard let event = try session.raw.nextEvent(generation: session.generation) else { break }
            handle(event, session: session)
            if self.session !== session { break }  // the event tore the connection down
        }
    }

    private func handle(_ event: RawEvent, session: Session) {
        switch event {
        case .delivery(let delivery):
            switch machine.delivery(onChannel: delivery.receipt.channel) {
            case .yield(let sink):
                sink.yield(delivery)
            case .drop:
                logger.debug(
                    "AMQP delivery on a closed consumer channel; the broker requeued it",
                    metadata: ["amqp.channel": "\(delivery.receipt.channel)"])
            }
        case .confirm(let tag, let multiple, let acked):
            session.settle(tag: tag, multiple: multiple, acked: acked)
        case .returned(let messageID, let routingKey, let replyCode, let replyText):
            session.markReturned(messageID: messageID, routingKey: routingKey, replyCode: replyCode, replyText: replyText)
        case .channelClosed(let channel, let replyCode, let replyText):
            logger.warning(
                "AMQP channel closed by the broker",
                metadata: [
                    "amqp.channel": "\(channel)", "amqp.reply_code": "\(replyCode)", "amqp.reply_text": "\(replyText)",
                ])
            if machine.channelClosed(channel, publishChannel: RawConnection.publishChannel) == .tearDown {
                tearDown(AMQPError(.connectionLost, "channel \(channel) closed by the broker: \(replyText)", replyCode: replyCode))
            }
        case .consumerCancelled(let channel):
            logger.warning("AMQP consumer cancelled by the broker", metadata: ["amqp.channel": "\(channel)"])
            if machine.subscriptionCancelled(onChannel: channel) == .tearDown {
                tearDown(AMQPError(.connectionLost, "the broker cancelled the subscription on channel \(channel)"))
            }
        case .blocked(let blocked):
            shared.withLock { $0.blocked = blocked }
            logger.warning(blocked ? "AMQP connection blocked by the broker" : "AMQP connection unblocked")
            // Confirms cannot come while the broker does not read our socket: answer the waiting publishers
            // now instead of at their timeout (what they sent may still be taken once the alarm clears).
            if blocked {
                session.failAllConfirms(AMQPError(.blocked, "the broker blocked publishing (resource alarm) before confirming"))
            }
        }
    }

    private func applyConsumerChanges() {
        let (added, removed, waiters) = shared.withLock { state in
            defer { state.consumersToAdd.removeAll(); state.consumersToRemove.removeAll(); state.removalWaiters.removeAll() }
            return (state.consumersToAdd, state.consumersToRemove, state.removalWaiters)
        }
        defer { for waiter in waiters { waiter.resume() } }
        for (id, subscription) in added {
            if case .subscribe = machine.add(id, subscription) { try? subscribe(id) }
        }
        for id in removed {
            guard case .finish(let sink, let channel) = machine.remove(id) else { continue }
            sink.finish()
            if let channel { session?.raw.closeChannel(channel) }
        }
        if !removed.isEmpty { publishConsumersDown() }  // a removed consumer that never subscribed no longer counts
    }

    /// Opens a channel for the consumer and starts `basic.consume` on it. Deliveries still buffered from an
    /// earlier connection are dropped first: their receipts are stale, and the broker redelivers them.
    private func subscribe(_ id: UInt64) throws {
        defer { publishConsumersDown() }
        guard let session, let subscription = machine.subscriptions[id] else { return }
        subscription.sink.dropDeliveries(before: session.generation)
        let channel = machine.freeChannel
        do {
            try session.raw.consume(
                channel: channel, queue: subscription.queue, prefetch: subscription.prefetch,
                tag: "\(configuration.connectionName)-\(id)")
            machine.subscribed(id, channel: channel)
        } catch let error as AMQPError where error.code == .serverException {
            // Tried again every second (resubscribeIfDue); readiness says the worker is not consuming meanwhile.
            logger.error("AMQP consume failed", metadata: ["amqp.queue": "\(subscription.queue)", "error": "\(error)"])
        }
    }

    /// Subscriptions whose `basic.consume` failed (no such queue yet) are tried again when the machine says so.
    private func resubscribeIfDue() {
        for id in machine.resubscribeDue(now: .now) {
            do {
                // A queue deleted meanwhile is declared again; a declaration the broker refuses (a queue that
                // exists with other arguments) is logged and does not stop the subscription from being tried.
                if let session, !topology.queues.isEmpty {
                    do {
                        try session.raw.declare(topology)
                    } catch let error as AMQPError where error.code == .serverException || error.code == .topologyMismatch {
                        logger.error("AMQP topology declaration failed", metadata: ["error": "\(error)"])
                    }
                }
                try subscribe(id)
            } catch let error as AMQPError where error.code == .serverException {
                // A channel error (the channel is reopened on next use): tried again in a second.
                logger.error("AMQP resubscribe failed", metadata: ["error": "\(error)"])
            } catch {
                tearDown(error as? AMQPError ?? AMQPError(.library, "\(error)"))
                return
            }
        }
    }

    private func publishConsumersDown() {
        let down = machine.consumersDown
        shared.withLock { $0.consumersDown = down }
    }

    private func tearDown(_ error: AMQPError) {
        guard let session else { return }
        machine.connectionLost()
        shared.withLock {
            $0.connected = false; $0.endpoint = nil
        }
        logger.warning("AMQP connection lost", metadata: ["error": "\(error)", "amqp.generation": "\(session.generation)"])
        session.failAllConfirms(error.code == .closed ? error : AMQPError(.connectionLost, error.reason, replyCode: error.replyCode))
        session.raw.destroy()
        self.session = nil
        // What was queued for the lost connection gets its answer now, not after the next connect attempt
        // (which waits up to the connect timeout on a broker that accepts but does not answer).
        failQueued(AMQPError(.notConnected, "no connection to the broker (reconnecting)"))
    }

    private func shutDown() {
        if let session {
            session.failAllConfirms(AMQPError(.closed, "the connection was closed before the broker confirmed"))
            session.raw.destroy(polite: true)
            self.session = nil
            machine.connectionLost()  // consumers added or removed below touch no channel
        }
        shared.withLock {
            $0.connected = false; $0.endpoint = nil
        }
        failQueued(AMQPError(.closed, "the connection was closed"))
        applyConsumerChanges()
        for sink in machine.close() { sink.finish() }
        let waiters = shared.withLock { state in
            state.exited = true
            defer { state.exitWaiters.removeAll() }
            return state.exitWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func failQueued(_ error: AMQPError) {
        let commands = shared.withLock { state in
            defer { state.commands.removeAll(); state.wakeSignalled = false }
            return state.commands
        }
        for command in commands { command.fail(error) }
    }

    private func waitForWake(timeout: Duration) {
        _ = Descriptors.waitReadable([wake.readDescriptor], timeout: timeout)
        wake.drain()
    }
}
