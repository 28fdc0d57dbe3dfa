/// Polls `condition` until it holds (true) or `timeout` passes (false): how the tests wait for another task, a
/// process, the broker or a store to reach a state, instead of sleeping a fixed time. It polls every 2 ms at first
/// and backs off to every `every` (50 ms unless a costly condition asks for longer), so a state reached at once is
/// seen at once and a slow one (a query over HTTP, a broker's queue depth, a child process) is not polled hard. The default is long because it costs nothing when the condition comes
/// true: with every suite starting at once on a loaded 2-core CI machine, a child task once waited over 10 s for a
/// thread of the Swift pool, and a worker once took over 10 s to store 3 logs it stores alone in under a second.
public func eventually(
    timeout: Duration = .seconds(60), every slowest: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    var interval = Duration.milliseconds(2)
    while try await !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: interval)
        interval = min(interval * 2, slowest)
    }
    return true
}
