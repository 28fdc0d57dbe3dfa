/// Polls a synchronous `condition` every 2 ms until it holds (true) or `timeout` passes (false): how the unit
/// tests wait for another task to reach a state, instead of sleeping a fixed time. The default is long because it
/// costs nothing when the condition comes true: with every suite starting at once on a loaded 2-core CI machine,
/// a child task once waited over 10 s for a thread of the Swift pool.
public func eventually(timeout: Duration = .seconds(60), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(2))
    }
    return true
}
