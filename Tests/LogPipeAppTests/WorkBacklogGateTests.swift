import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

/// Pacing the API to the workers: the gate closes above its bound, opens at three quarters of it, and a
/// publish that waits longer than `maxWait` is refused with `broker_backlog`.
@Suite("Work backlog gate (pacing the API to the workers)")
struct WorkBacklogGateTests {
    @Test("closes above the bound, stays closed until the queue is back under three quarters of it")
    func hysteresis() {
        let gate = WorkBacklogGate(limit: 100, maxWait: .seconds(5))
        #expect(!gate.isClosed)
        #expect(!gate.update(readyMessages: 100))
        #expect(gate.update(readyMessages: 101) && gate.isClosed)
        #expect(!gate.update(readyMessages: 80) && gate.isClosed)
        #expect(gate.update(readyMessages: 75) && !gate.isClosed)
    }

    @Test("a publish waits while the gate is closed and goes on when it opens")
    func waitsThenGoes() async throws {
        let gate = WorkBacklogGate(limit: 10, maxWait: .seconds(30))
        gate.update(readyMessages: 50)
        let waiting = Task { () -> String? in
            do throws(PublishFailure) { try await gate.admit(); return nil } catch { return "\(error)" }
        }
        #expect(try await eventually { gate.waitingCount == 1 })
        gate.update(readyMessages: 20)  // still closed: the waiter stays
        #expect(gate.waitingCount == 1)
        gate.update(readyMessages: 5)
        #expect(await waiting.value == nil)
    }

    @Test("a publish that waits past maxWait is refused with broker_backlog and Retry-After")
    func timesOut() async throws {
        let gate = WorkBacklogGate(limit: 10, maxWait: .milliseconds(10))
        gate.update(readyMessages: 50)
        let waiting = Task { () -> PublishFailure? in
            do throws(PublishFailure) { try await gate.admit(); return nil } catch { return error }
        }
        // The monitor's next reading, after the deadline, refuses what waited too long.
        #expect(try await eventually { gate.waitingCount == 1 })
        gate.update(readyMessages: 50, now: .now + .seconds(1))
        let failure = try #require(await waiting.value)
        #expect(failure == .workBacklog)
        let answer = IngestError(failure)
        #expect(answer.code == .brokerBacklog && answer.retryAfterHeader == 1 && answer.httpStatus == .serviceUnavailable)
    }
}
