import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

@Suite("Body deadlines: one sweeping task for every body being read")
struct BodyDeadlinesTests {
    @Test("a deadline that passes calls its closure once, and remove then says it had passed")
    func expires() async throws {
        let deadlines = BodyDeadlines(timeout: .milliseconds(40))
        let calls = Mutex(0)
        let id = deadlines.add(.now + .milliseconds(40)) { calls.withLock { $0 += 1 } }
        #expect(try await eventually { calls.withLock { $0 } == 1 })
        #expect(deadlines.remove(id) == .timeout)
        #expect(deadlines.count == 0)
        #expect(calls.withLock { $0 } == 1)
    }

    @Test("a deadline taken back in time never fires; the others still do")
    func removedInTime() async throws {
        let deadlines = BodyDeadlines(timeout: .milliseconds(40))
        let fired = Mutex<[Int]>([])
        let kept = deadlines.add(.now + .seconds(600)) { fired.withLock { $0.append(0) } }
        let early = deadlines.add(.now + .milliseconds(40)) { fired.withLock { $0.append(1) } }
        #expect(deadlines.remove(kept) == nil)
        #expect(try await eventually { fired.withLock { $0 } == [1] })
        #expect(deadlines.remove(early) == .timeout)
        #expect(fired.withLock { $0 } == [1])
    }

    @Test("the sweeping task ends when nothing is left and starts again for the next deadline")
    func restarts() async throws {
        let deadlines = BodyDeadlines(timeout: .milliseconds(40))
        for round in 1...3 {
            let calls = Mutex(0)
            _ = deadlines.add(.now + .milliseconds(20)) { calls.withLock { $0 += 1 } }
            #expect(try await eventually { calls.withLock { $0 } == 1 }, "round \(round)")
            #expect(deadlines.count == 0)
            #expect(try await eventually { !deadlines.isSweeping }, "round \(round): the sweeping task still runs with nothing to do")
        }
    }

    @Test("a body that stops arriving at the minimum rate is expired within a window, long before its timeout; one that keeps up is not")
    func minimumRate() async throws {
        let deadlines = BodyDeadlines(timeout: .milliseconds(40), minimumRate: 1000, rateWindow: .milliseconds(500))
        let budget = BodyBudget(capacity: 1 << 20)
        let slow = BodyCharge(budget: budget)
        let steady = BodyCharge(budget: budget)
        let fired = Mutex<[String]>([])
        let slowID = deadlines.add(.now + .seconds(600), progress: slow) { fired.withLock { $0.append("slow") } }
        let steadyID = deadlines.add(.now + .seconds(600), progress: steady) { fired.withLock { $0.append("steady") } }
        try await slow.take(400, received: true)  // under the 500 bytes a window needs, then nothing
        let feeding = Task {
            while !Task.isCancelled {
                try await steady.take(1000, received: true)  // far more than 1,000 bytes/s, even on a loaded machine
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(try await eventually { fired.withLock { $0 } == ["slow"] })
        #expect(deadlines.remove(slowID) == .tooSlow)
        feeding.cancel()
        #expect(deadlines.remove(steadyID) == nil, "a body arriving fast enough was expired")
        #expect(fired.withLock { $0 } == ["slow"])
    }

    @Test("ticks: a quarter of the timeout, from 10 to 250 ms")
    func ticks() {
        #expect(BodyDeadlines(timeout: .milliseconds(500)).tick == .milliseconds(125))
        #expect(BodyDeadlines(timeout: .seconds(10)).tick == .milliseconds(250))
        #expect(BodyDeadlines(timeout: .milliseconds(1)).tick == .milliseconds(10))
    }
}
