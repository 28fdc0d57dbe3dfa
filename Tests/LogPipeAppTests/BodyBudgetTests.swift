@testable import LogPipeApp
import TestSupport
import Testing

/// The API's bound on request bodies in work: shares are granted in arrival order and given back.
@Suite("Body budget (bounded memory under overload)")
struct BodyBudgetTests {
    @Test("requests within the budget go at once; past it they wait until shares come back")
    func waitsPastTheBudget() async throws {
        let budget = BodyBudget(capacity: 1000)
        let first = await budget.acquire(600)
        let second = await budget.acquire(300)
        #expect(first == 600 && second == 300 && budget.available == 100)

        async let third = budget.acquire(400)
        #expect(try await eventually { budget.waitingCount == 1 })
        #expect(budget.available == 100)  // not granted: it waits
        budget.release(first)
        #expect(await third == 400)
        #expect(budget.available == 300)
        budget.release(second)
        budget.release(400)
        #expect(budget.available == 1000)
    }

    @Test("shares are granted in arrival order: a small request does not overtake a large one")
    func firstComeFirstServed() async throws {
        let budget = BodyBudget(capacity: 1000)
        let held = await budget.acquire(900)
        async let large = budget.acquire(800)
        #expect(try await eventually { budget.waitingCount == 1 })
        async let small = budget.acquire(50)
        #expect(try await eventually { budget.waitingCount == 2 })
        #expect(budget.available == 100)  // 50 would fit, but the large one is first in line
        budget.release(held)
        #expect(await large == 800)
        #expect(await small == 50)
        #expect(budget.available == 150)
    }

    @Test("a request larger than the whole budget takes all of it and runs alone")
    func largerThanTheBudget() async {
        let budget = BodyBudget(capacity: 1000)
        let share = await budget.acquire(5000)
        #expect(share == 1000)
        #expect(budget.available == 0)
        budget.release(share)
        #expect(budget.available == 1000)
    }
}
