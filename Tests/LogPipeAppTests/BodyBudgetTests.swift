import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// The API's bound on request bodies in work: shares are granted in arrival order and given back.
@Suite("Body budget (bounded memory under overload)")
struct BodyBudgetTests {
    @Test("requests within the budget go at once; past it they wait until shares come back")
    func waitsPastTheBudget() async throws {
        let budget = BodyBudget(capacity: 1000)
        let first = try await budget.acquire(600)
        let second = try await budget.acquire(300)
        #expect(first == 600 && second == 300 && budget.available == 100)

        async let third = budget.acquire(400)
        #expect(try await eventually { budget.waitingCount == 1 })
        #expect(budget.available == 100)  // not granted: it waits
        budget.release(first)
        #expect(try await third == 400)
        #expect(budget.available == 300)
        budget.release(second)
        budget.release(400)
        #expect(budget.available == 1000)
    }

    @Test("shares are granted in arrival order: a small request does not overtake a large one")
    func firstComeFirstServed() async throws {
        let budget = BodyBudget(capacity: 1000)
        let held = try await budget.acquire(900)
        async let large = budget.acquire(800)
        #expect(try await eventually { budget.waitingCount == 1 })
        async let small = budget.acquire(50)
        #expect(try await eventually { budget.waitingCount == 2 })
        #expect(budget.available == 100)  // 50 would fit, but the large one is first in line
        budget.release(held)
        #expect(try await large == 800)
        #expect(try await small == 50)
        #expect(budget.available == 150)
    }

    @Test("a request larger than the whole budget takes all of it and runs alone")
    func largerThanTheBudget() async throws {
        let budget = BodyBudget(capacity: 1000)
        let share = try await budget.acquire(5000)
        #expect(share == 1000)
        #expect(budget.available == 0)
        budget.release(share)
        #expect(budget.available == 1000)
    }

    @Test("bodies being read are charged ahead of new ones and may overdraw: two large uploads never deadlock")
    func chargesNeverDeadlock() async throws {
        let budget = BodyBudget(capacity: 1000)
        let first = BodyCharge(budget: budget)
        let second = BodyCharge(budget: budget)
        try await first.take(400)
        try await second.take(400)
        // Both need more than is left; in-progress charges overdraw instead of waiting for each other.
        try await first.take(500)
        try await second.take(500)
        #expect(budget.available == -800)
        // A new body waits until the budget is back in credit.
        async let third = budget.acquire(100)
        #expect(try await eventually { budget.waitingCount == 1 })
        first.releaseAll()
        second.releaseAll()
        #expect(try await third == 100)
        #expect(budget.available == 900)
    }

    @Test("past the overdraft a charge waits too, and a cancelled wait leaves the line and takes nothing")
    func cancelledWaitLeavesTheLine() async throws {
        let budget = BodyBudget(capacity: 1000)
        let held = try await budget.acquire(1000)
        _ = try await budget.charge(1000)
        #expect(budget.available == -1000)
        let waiting = Task { try await budget.charge(10) }
        #expect(try await eventually { budget.waitingCount == 1 })
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(budget.waitingCount == 0)
        budget.release(held)
        budget.release(1000)
        #expect(budget.available == 1000)
    }

    @Test("a request that has read nothing holds nothing")
    func nothingReadNothingHeld() async throws {
        let budget = BodyBudget(capacity: 1000)
        let idle = BodyCharge(budget: budget)
        #expect(idle.bytes == 0 && budget.available == 1000)
        idle.releaseAll()
        #expect(budget.available == 1000)
    }

    @Test("one body larger than the whole budget is charged the capacity and never waits on itself")
    func largeBodyAlone() async throws {
        let budget = BodyBudget(capacity: 1000)
        let charge = BodyCharge(budget: budget)
        for _ in 0..<10 { try await charge.take(400) }  // 4,000 bytes read
        #expect(charge.bytes == 1000 && budget.available == 0)
        charge.releaseAll()
        #expect(budget.available == 1000)
    }

    @Test("a waiter that gives up lets the one behind it in, if it fits")
    func cancelledWaiterWakesTheNext() async throws {
        let budget = BodyBudget(capacity: 1000)
        let held = try await budget.acquire(900)
        let large = Task { try await budget.acquire(500) }
        #expect(try await eventually { budget.waitingCount == 1 })
        let small = Task { try await budget.acquire(50) }
        #expect(try await eventually { budget.waitingCount == 2 })
        large.cancel()
        #expect(try await small.value == 50)
        await #expect(throws: CancellationError.self) { try await large.value }
        budget.release(held)
        budget.release(50)
        #expect(budget.available == 1000)
    }
}

/// The budget shared between clients: one slow or greedy client cannot hold it all, so the others keep being served.
@Suite("Body budget shared fairly between clients")
struct BodyBudgetFairnessTests {
    let mallory = BodyBudget.Client(high: 8, low: 66)
    let alice = BodyBudget.Client(high: 8, low: 1)

    @Test("one request is charged at most a quarter of the budget, however much of its body arrives")
    func requestShare() async throws {
        let budget = BodyBudget(capacity: 1000)
        let slow = BodyCharge(budget: budget, client: mallory)
        for _ in 0..<20 { try await slow.take(100, received: true) }  // 2,000 bytes read, then it stalls
        #expect(slow.bytes == 250 && slow.received == 2000)
        #expect(budget.available == 750)
        // Another client is served at once.
        let other = BodyCharge(budget: budget, client: alice)
        try await other.take(600)
        #expect(other.bytes == 250)
        slow.releaseAll()
        other.releaseAll()
        #expect(budget.available == 1000 && budget.clientCount == 0)
    }

    @Test("a client's newer requests wait once it holds its share; other clients' do not wait behind them")
    func clientShare() async throws {
        let budget = BodyBudget(capacity: 1000)
        let first = BodyCharge(budget: budget, client: mallory)
        try await first.take(250)  // its oldest: a full request share
        let second = BodyCharge(budget: budget, client: mallory)
        let waiting = Task { try await second.take(10) }
        #expect(try await eventually { budget.waitingCount == 1 })
        // Alice is admitted although a request is in line before her: it waits for its own client's share.
        let alices = BodyCharge(budget: budget, client: alice)
        try await alices.take(200)
        #expect(budget.held(by: alice) == 200)
        #expect(budget.waitingCount == 1)
        first.releaseAll()
        try await waiting.value
        #expect(budget.held(by: mallory) == 10)
        second.releaseAll()
        alices.releaseAll()
        #expect(budget.available == 1000 && budget.clientCount == 0)
    }

    @Test("a client's oldest request never waits for its own client's newer ones: parallel uploads finish")
    func oldestGoesOn() async throws {
        let budget = BodyBudget(capacity: 1000)
        let oldest = BodyCharge(budget: budget, client: alice)
        let newer = BodyCharge(budget: budget, client: alice)
        try await oldest.take(10)
        try await newer.take(240)  // the client is at its share
        try await oldest.take(240)  // the oldest goes on, within its own request share
        #expect(oldest.bytes == 250 && budget.held(by: alice) == 490)
        oldest.releaseAll()
        newer.releaseAll()
        #expect(budget.available == 1000 && budget.clientCount == 0)
    }

    @Test("a decoded form is charged beyond the request's share, up to the whole budget")
    func decodedCharge() async throws {
        let budget = BodyBudget(capacity: 1000)
        let charge = BodyCharge(budget: budget, client: alice)
        try await charge.take(100)
        try await charge.takeDecoded(5000)
        #expect(charge.bytes == 1000)
        charge.releaseAll()
        #expect(budget.available == 1000 && budget.clientCount == 0)
    }

    @Test("a large /ingest body's parsed form is charged to the budget while it is published, as the shippers' decoded forms are; all given back after")
    func ingestParsedFormCharged() async throws {
        var configuration = LogPipeConfiguration()
        configuration.limits.maxInFlightBytes = 1 << 20
        let budget = Mutex<BodyBudget?>(nil)
        let seen = Mutex<Int?>(nil)
        let publisher = RecordingPublisher(onBatch: { seen.withLock { $0 = budget.withLock { $0 }?.available } })
        let api = IngestAPI(publisher: publisher, configuration: configuration)
        budget.withLock { $0 = api.budget }
        // About 100 KB: under the request's share (a quarter of the budget), over the size whose parse is charged.
        let body = (0..<1000).map { #"{"tenant_id":"acme","text":"line \#($0) \#(String(repeating: "x", count: 80))"}"# }.joined(separator: "\n")
        try await Application(router: api.router()).test(.router) { client in
            let status = try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "application/x-ndjson"], body: ByteBuffer(string: body)
            ) { $0.status.code }
            #expect(status == 202)
        }
        let available = try #require(seen.withLock { $0 })
        #expect(available <= (1 << 20) - 3 * body.utf8.count, "the body and twice it for its parsed logs: \((1 << 20) - available) bytes held")
        #expect(api.budget.available == 1 << 20)
    }
}
