import AMQPBridge
import Foundation
import LogPipeCore
import Logging
import Testing

@testable import LogPipeApp

/// The worker's pieces one by one, without a broker or a store: the batching policy, the preparation of a batch
/// and what becomes of each delivery when some logs fail.
@Suite("Worker steps, each alone")
struct WorkStepsTests {
    static func chunk(_ tag: UInt64, logs: Int) -> AMQPDelivery {
        var delivery = WorkerUnitTests.delivery(tag)
        delivery.properties.headers["logpipe-count"] = .int(Int64(logs))
        return delivery
    }

    @Test("store writes: consecutive deliveries up to the batch size in logs; a chunk larger than it is a write of its own")
    func writes() {
        let deliveries = [1, 1, 3, 10, 2, 2].enumerated().map { Self.chunk(UInt64($0.offset + 1), logs: $0.element) }
        #expect(WorkBatching.writes(deliveries, batchSize: 5) == [0..<3, 3..<4, 4..<6])
        #expect(WorkBatching.writes(deliveries, batchSize: 1000) == [0..<6])
        #expect(WorkBatching.writes([], batchSize: 5).isEmpty)
        // A header from the broker is bounded: a huge or negative count neither overflows nor stalls.
        #expect(WorkBatching.logCount(Self.chunk(1, logs: Int(Int64.max))) == 1_000_000)
        #expect(WorkBatching.logCount(Self.chunk(1, logs: -5)) == 1)
    }

    @Test("a batch lingers until the running write ends when the store is busy, else for the flush interval; two batches fit the prefetch")
    func lingerPolicy() {
        #expect(WorkBatching.linger(storeWriting: true, flushInterval: .milliseconds(50)) == .untilWoken)
        #expect(WorkBatching.linger(storeWriting: false, flushInterval: .milliseconds(50)) == .upTo(.milliseconds(50)))
        #expect(WorkBatching.linger(storeWriting: false, flushInterval: .zero) == .none)
        #expect(WorkBatching.messagesPerBatch(prefetch: 250, batchSize: 2000) == 125)
        #expect(WorkBatching.messagesPerBatch(prefetch: 1, batchSize: 2000) == 1)
        #expect(WorkBatching.messagesPerBatch(prefetch: 250, batchSize: 10) == 10)
    }

    @Test("preparing a batch: good logs redacted, in order; undecodable, misrouted and invalid messages marked for the DLQ with their reasons")
    func prepare() {
        let preparation = WorkPreparation(
            topology: WorkerUnitTests.topology, validation: WorkValidation(), redaction: RedactionPolicy(),
            logger: Logger(label: "work-steps-tests"))
        var undecodable = WorkerUnitTests.delivery(2)
        undecodable.body = Array("not json".utf8)
        var misrouted = WorkerUnitTests.delivery(3)
        misrouted.routingKey = "tenant.other"
        var invalid = WorkerUnitTests.delivery(4)
        invalid.body = Array(
            #"{"v":1,"tenant_id":"acme","log_id":"acme-4","text":"x","received_at":"2026-12-01T10:00:00.000Z","request_id":"r-4","level":""}"#
                .utf8)
        let prepared = preparation.prepare([WorkerUnitTests.delivery(1), undecodable, misrouted, invalid, WorkerUnitTests.delivery(5)])
        #expect(prepared.logs.map(\.logID) == ["acme-1", "acme-5"])
        #expect(prepared.logs.map(\.text) == ["mail [REDACTED:EMAIL]", "mail [REDACTED:EMAIL]"])
        #expect(prepared.logDeliveries == [0, 4])
        #expect(
            prepared.outcomes == [
                .stored, .permanent(reason: "undecodable"), .permanent(reason: "tenant_mismatch"), .permanent(reason: "invalid_message"),
                .stored,
            ])
    }

    @Test("after a write: a delivery with a log refused for good is parked, one with a log failed for now is retried, as a whole")
    func outcomesAfterWrite() {
        let refused = StoreError(transient: false, "refused")
        let down = StoreError(transient: true, "down")
        // Logs 0,1 came in delivery 0; 2,3 in delivery 1; 4 in delivery 2; delivery 3 was already marked undecodable.
        let (outcomes, transient) = IsolatingWriter.outcomes(
            [.stored, .stored, .stored, .permanent(reason: "undecodable")], failures: [1: down, 2: refused, 3: down, 4: down],
            logDeliveries: [0, 0, 1, 1, 2])
        #expect(transient)
        #expect(
            outcomes == [
                .transient(reason: "store_unavailable"), .permanent(reason: "store_rejected"), .transient(reason: "store_unavailable"),
                .permanent(reason: "undecodable"),
            ])
        #expect(IsolatingWriter.outcomes([.stored], failures: [:], logDeliveries: [0]) == ([.stored], false))
    }
}
