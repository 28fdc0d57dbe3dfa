import LogPipeCore

/// The store write of a batch, with failures isolated: what one tenant's or one log's failure holds back is only
/// itself. Testable with any ``LogStore``.
struct IsolatingWriter: Sendable {
    let store: any LogStore

    /// Writes `indices` of `logs`; when the store refuses, isolates the failure so that it holds back nothing
    /// else: a batch of several tenants is written again tenant by tenant, and a tenant's logs that the store
    /// refuses permanently are split in halves down to the log it refuses. A transient failure of one tenant's
    /// logs (the store is down) is not split further: all of them are retried. Returns what was stored and
    /// the failure of each log that was not.
    func write(_ logs: [StoredLog], _ indices: [Int]) async -> (StoreWriteResult, [Int: StoreError]) {
        do {
            return (try await store.write(indices.count == logs.count ? logs : indices.map { logs[$0] }), [:])
        } catch {
            let groups: [[Int]]
            let tenants = Dictionary(grouping: indices, by: { logs[$0].tenantID })
            if tenants.count > 1 {
                groups = tenants.values.sorted { $0[0] < $1[0] }
            } else if !error.transient, indices.count > 1 {
                groups = [Array(indices[..<(indices.count / 2)]), Array(indices[(indices.count / 2)...])]
            } else {
                return (StoreWriteResult(), Dictionary(uniqueKeysWithValues: indices.map { ($0, error) }))
            }
            var total = StoreWriteResult()
            var failures: [Int: StoreError] = [:]
            // A store outage fails every group: after two groups in a row fail transiently, the rest are not
            // tried (their logs are retried with the same error), so an outage costs three writes per batch,
            // not one per tenant, while one tenant's failure still lets the others through.
            var transientInARow = 0
            var lastTransient: StoreError?
            for group in groups {
                if transientInARow >= 2, let outage = lastTransient {
                    for index in group { failures[index] = outage }  // retried, never parked untried
                    continue
                }
                let (result, failed) = await write(logs, group)
                total.stored += result.stored
                total.duplicates += result.duplicates
                failures.merge(failed) { first, _ in first }
                if !failed.isEmpty, failed.values.allSatisfy(\.transient) {
                    transientInARow += 1
                    lastTransient = failed.values.first
                } else {
                    transientInARow = 0
                }
            }
            return (total, failures)
        }
    }

    /// What becomes of each delivery once the failures of its logs are known (`logDeliveries[log]` is the log's
    /// delivery): a delivery with a log the store refused for good is parked, one with a log that failed for now is
    /// retried, as a whole (its logs that were stored are kept once when it comes back: first write wins). Also
    /// says whether any failure was transient (the worker then backs off).
    static func outcomes(
        _ outcomes: [RetryPolicy.Outcome], failures: [Int: StoreError], logDeliveries: [Int]
    ) -> (outcomes: [RetryPolicy.Outcome], transient: Bool) {
        var outcomes = outcomes
        var transient = false
        for (logIndex, error) in failures.sorted(by: { $0.key < $1.key }) {
            transient = transient || error.transient
            let delivery = logDeliveries[logIndex]
            switch (outcomes[delivery], error.transient) {
            case (.permanent, _): break
            case (_, false): outcomes[delivery] = .permanent(reason: error.reason)
            case (.stored, true): outcomes[delivery] = .transient(reason: error.reason)
            case (.transient, true): break
            }
        }
        return (outcomes, transient)
    }
}
