import LogPipeCore
import Testing

@Suite("Token bucket")
struct TokenBucketTests {
    @Test("a full bucket allows the burst at once, then the rate")
    func burstThenRate() {
        var bucket = TokenBucket(rate: 10, capacity: 5, now: 0)
        for _ in 0..<5 {
            let value1 = bucket.wait(for: 1, now: 0)
            #expect(value1 == 0)
            bucket.take(1, now: 0)
        }
        let value2 = bucket.wait(for: 1, now: 0)
        #expect(abs(value2 - 0.1) < 1e-9)
        let value3 = bucket.wait(for: 1, now: 0.1)
        #expect(value3 == 0)
        let value4 = bucket.wait(for: 3, now: 0.1)
        #expect(abs(value4 - 0.2) < 1e-9)
    }

    @Test("refill stops at the capacity")
    func capped() {
        var bucket = TokenBucket(rate: 100, capacity: 10, now: 0)
        bucket.take(10, now: 0)
        let value5 = bucket.isFull(now: 1000)
        #expect(value5)
        #expect(bucket.tokens == 10)
    }

    @Test("a cost above the capacity passes on a full bucket and leaves a debt paid at the rate")
    func largeCost() {
        var bucket = TokenBucket(rate: 100, capacity: 50, now: 0)
        let value6 = bucket.wait(for: 200, now: 0)
        #expect(value6 == 0)
        bucket.take(200, now: 0)
        #expect(bucket.tokens == -150)
        let value7 = bucket.wait(for: 1, now: 0)
        #expect(abs(value7 - 1.51) < 1e-9)
        let value8 = bucket.wait(for: 200, now: 2)
        #expect(value8 == 0)
    }

    @Test("time going backwards changes nothing")
    func monotonic() {
        var bucket = TokenBucket(rate: 1, capacity: 1, now: 10)
        bucket.take(1, now: 10)
        let value9 = bucket.wait(for: 1, now: 5)
        #expect(value9 == 1)
    }
}
