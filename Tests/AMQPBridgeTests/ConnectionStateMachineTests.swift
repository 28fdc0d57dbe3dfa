import Testing

@testable import AMQPBridge

/// The connection thread's decisions (nodes, subscriptions, broker events, teardown), without a broker.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    static func subscription(_ queue: String) -> ConnectionStateMachine.Subscription {
        ConnectionStateMachine.Subscription(
            queue: queue, prefetch: 10, sink: AMQPConsumer(onCancel: {}, onCancelAndWait: {}))
    }

    /// A machine connected to endpoint 0 of `endpoints`, with consumers 1 and 2 subscribed on channels 3 and 4.
    static func connectedWithTwoConsumers(endpoints: Int = 3) -> ConnectionStateMachine {
        var machine = ConnectionStateMachine(endpointCount: endpoints)
        _ = machine.add(1, subscription("q1"))
        _ = machine.add(2, subscription("q2"))
        _ = machine.connecting()
        for id in machine.unsubscribed { machine.subscribed(id, channel: machine.freeChannel) }
        machine.connected(endpoint: 0)
        return machine
    }

    @Test("a connect starts at the last connection's node; after a loss it starts at the next, so a dead node is tried last")
    func endpointOrder() {
        var machine = ConnectionStateMachine(endpointCount: 3)
        #expect(machine.connectOrder == [0, 1, 2])
        let first = machine.connecting()
        #expect(first == 1)
        machine.connected(endpoint: 1)
        #expect(machine.state == .connected(generation: 1, endpoint: 1))
        #expect(machine.connectOrder == [1, 2, 0])
        machine.connectionLost()
        #expect(!machine.isConnected && machine.connectOrder == [2, 0, 1])
        machine.connectionLost()
        #expect(machine.connectOrder == [2, 0, 1], "a second teardown of the same connection changes nothing")
        let second = machine.connecting()
        #expect(second == 2, "every connection attempt is a new generation")
    }

    @Test("subscriptions take the lowest free channel from 3; a loss frees them all and a reconnect resubscribes in order")
    func subscriptionsAcrossReconnects() {
        var machine = Self.connectedWithTwoConsumers()
        #expect(machine.subscriptions[1]?.channel == 3 && machine.subscriptions[2]?.channel == 4)
        #expect(machine.consumersDown == 0)
        guard case .finish(_, let closed) = machine.remove(1) else {
            Issue.record("removing a consumer finishes it")
            return
        }
        #expect(closed == 3, "its channel is closed on the live connection, returning its deliveries")
        guard case .subscribe = machine.add(5, Self.subscription("q5")) else {
            Issue.record("a consumer added while connected subscribes at once")
            return
        }
        #expect(machine.freeChannel == 3)
        machine.subscribed(5, channel: 3)

        machine.connectionLost()
        #expect(!machine.isConnected && machine.consumersDown == 2 && machine.unsubscribed == [2, 5])
        guard case .none = machine.add(7, Self.subscription("q7")) else {
            Issue.record("a consumer added between connections waits for the next")
            return
        }
        guard case .finish(_, let channel) = machine.remove(2) else {
            Issue.record("a consumer removed between connections is finished")
            return
        }
        #expect(channel == nil, "there is no channel to close between connections")
        #expect(machine.unsubscribed == [5, 7])
    }

    @Test("a delivery goes to the subscription holding its channel; one on a removed subscription's channel is dropped")
    func deliveriesRouteByChannel() {
        var machine = Self.connectedWithTwoConsumers()
        let second = machine.subscriptions[2]?.sink
        guard case .yield(let sink) = machine.delivery(onChannel: 4) else {
            Issue.record("a delivery on a live subscription's channel is yielded")
            return
        }
        #expect(sink === second)
        _ = machine.remove(2)
        guard case .drop = machine.delivery(onChannel: 4) else {
            Issue.record("closing the channel gave the message back: the delivery is dropped, never nacked")
            return
        }
    }

    @Test("closing the publish channel or a subscription's tears the connection down; another channel's does not")
    func brokerClosesAndCancels() {
        let machine = Self.connectedWithTwoConsumers()
        #expect(machine.channelClosed(1, publishChannel: 1) == .tearDown)
        #expect(machine.channelClosed(4, publishChannel: 1) == .tearDown)
        #expect(machine.channelClosed(2, publishChannel: 1) == .ignore, "the RPC channel is reopened on next use")
        #expect(machine.subscriptionCancelled(onChannel: 3) == .tearDown)
        #expect(machine.subscriptionCancelled(onChannel: 9) == .ignore)
    }

    @Test("a failed subscription is tried again once a second while connected, never between connections")
    func resubscribeOncePerSecond() {
        let start = ContinuousClock.now
        var machine = ConnectionStateMachine(endpointCount: 1, now: start)
        _ = machine.add(1, Self.subscription("missing"))
        _ = machine.connecting()
        machine.connected(endpoint: 0)  // its basic.consume failed: no channel
        #expect(machine.consumersDown == 1)
        let due = [500, 1000, 1500, 2000].map { machine.resubscribeDue(now: start + .milliseconds($0)) }
        #expect(due == [[], [1], [], [1]], "once a second")
        machine.subscribed(1, channel: machine.freeChannel)
        let noneLeft = machine.resubscribeDue(now: start + .seconds(5))
        #expect(noneLeft.isEmpty, "nothing left to resubscribe")
        machine.connectFailed()
        let disconnected = machine.resubscribeDue(now: start + .seconds(9))
        #expect(disconnected.isEmpty, "not without a connection")
    }

    @Test("closing ends every subscription's buffer and leaves none")
    func closeFinishesAll() {
        var machine = Self.connectedWithTwoConsumers()
        let added = [1, 2].compactMap { machine.subscriptions[$0]?.sink }
        let sinks = machine.close()
        #expect(sinks.count == 2 && zip(sinks, added).allSatisfy { $0 === $1 }, "the buffers of both subscriptions")
        #expect(machine.subscriptions.isEmpty && machine.state == .closed)
    }
}
