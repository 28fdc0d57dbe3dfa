/// Polls a synchronous `condition` every 2 ms until it holds (true) or `timeout` passes (false): how the unit
/// tests wait for another task to reach a state, instead of sleeping a fixed time.
public func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(2))
    }
    return true
}
