import Testing

@testable import AMQPBridge

/// The connection thread's reconnect decisions, without a broker.
@Suite("Reconnect schedule")
struct ReconnectScheduleTests {
    static func schedule() -> ReconnectSchedule {
        ReconnectSchedule(initialDelay: .milliseconds(100), maxDelay: .milliseconds(800), topologyRetryDelay: .seconds(30))
    }

    @Test("the first connect goes at once; failed connects back off doubling up to the maximum")
    func failedConnectsBackOff() {
        var schedule = Self.schedule()
        let start = ContinuousClock.now
        #expect(schedule.beforeConnect(now: start) == nil)
        let waits = (0..<6).map { _ in schedule.failed(topologyMismatch: false) }
        #expect(waits == [100, 200, 400, 800, 800, 800].map { .milliseconds($0) })
    }

    @Test("a connection lost within seconds backs off like a failed connect; one that lasted starts afresh")
    func shortConnectionsBackOff() {
        var schedule = Self.schedule()
        let start = ContinuousClock.now
        _ = schedule.failed(topologyMismatch: false)
        _ = schedule.failed(topologyMismatch: false)
        schedule.connected(at: start)
        // Lost after a second: wait, and the backoff goes on from where the failures left it.
        #expect(schedule.beforeConnect(now: start + .seconds(1)) == .milliseconds(400))
        // That reconnect failed: its wait was the failure's, and the next connect does not wait again.
        #expect(schedule.failed(topologyMismatch: false) == .milliseconds(800))
        #expect(schedule.beforeConnect(now: start + .seconds(1)) == nil, "after a failed connect the wait was the failure's")
        schedule.connected(at: start + .seconds(2))
        #expect(schedule.beforeConnect(now: start + .seconds(3)) == .milliseconds(800))
        // Lost after a minute: reconnect at once, and the next failure waits the first delay again.
        schedule.connected(at: start + .seconds(4))
        #expect(schedule.beforeConnect(now: start + .seconds(64)) == nil)
        #expect(schedule.failed(topologyMismatch: false) == .milliseconds(100))
    }

    @Test("a topology the broker refuses is tried again seldom, and the backoff still grows beneath it")
    func topologyMismatchWaitsLonger() {
        var schedule = Self.schedule()
        #expect(schedule.failed(topologyMismatch: true) == .seconds(30))
        #expect(schedule.failed(topologyMismatch: true) == .seconds(30))
        #expect(schedule.failed(topologyMismatch: false) == .milliseconds(400))
    }
}
