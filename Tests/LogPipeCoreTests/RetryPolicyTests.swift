import LogPipeCore
import Testing

@Suite("Retry decisions")
struct RetryPolicyTests {
    let policy = RetryPolicy()

    @Test("stored is acked; permanent failures park at once with their reason")
    func ackAndPark() {
        #expect(policy.decide(.stored, attempt: 1) == .ack)
        #expect(policy.decide(.stored, attempt: 5) == .ack)
        #expect(policy.decide(.permanent(reason: "undecodable"), attempt: 1) == .park(reason: "undecodable"))
    }

    @Test(
        "transient failures climb the tiers and park with their reason when attempts run out",
        arguments: [
            (1, RetryPolicy.Decision.retry(tier: 0, delay: .seconds(1), nextAttempt: 2)),
            (2, .retry(tier: 1, delay: .seconds(10), nextAttempt: 3)),
            (3, .retry(tier: 2, delay: .seconds(60), nextAttempt: 4)),
            (4, .retry(tier: 3, delay: .seconds(600), nextAttempt: 5)),
            (5, .park(reason: "store_unreachable")),
            (9, .park(reason: "store_unreachable")),
            (0, .retry(tier: 0, delay: .seconds(1), nextAttempt: 2)),
        ])
    func tiers(_ attempt: Int, _ expected: RetryPolicy.Decision) {
        #expect(policy.decide(.transient(reason: "store_unreachable"), attempt: attempt) == expected)
    }

    @Test("more attempts than tiers stay on the last tier")
    func lastTier() {
        let short = RetryPolicy(delays: [.milliseconds(100), .milliseconds(200)], maxAttempts: 4)
        #expect(short.decide(.transient(reason: "x"), attempt: 3) == .retry(tier: 1, delay: .milliseconds(200), nextAttempt: 4))
        #expect(short.decide(.transient(reason: "x"), attempt: 4) == .park(reason: "x"))
    }

    @Test(
        "delay lists parse with ms, s, m and h",
        arguments: [
            ("1s,10s,60s,10m", [Duration.seconds(1), .seconds(10), .seconds(60), .seconds(600)] as [Duration]?),
            ("250ms, 2h", [.milliseconds(250), .seconds(7200)]),
            ("", nil), ("1x", nil), ("0s", nil), ("-1s", nil), ("s", nil), ("1s,,2s", [.seconds(1), .seconds(2)]),
        ])
    func parsing(_ text: String, _ expected: [Duration]?) {
        #expect(RetryPolicy.parseDelays(text) == expected)
    }

    @Test("durations: units up to weeks, and nothing so large that milliseconds overflow (found in review)")
    func durationBounds() {
        #expect(DurationText.parse("30d") == .seconds(30 * 86_400))
        #expect(DurationText.parse("2w") == .seconds(1_209_600))
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        for text in ["20000000000w", "9223372036854775807ms", "0s", "-1s", "1y", "s"] {
            #expect(DurationText.parse(text) == nil, "\(text)")
        }
        #expect(DurationText.parse("1000w").map(DurationText.milliseconds) == 604_800_000_000)
    }
}
