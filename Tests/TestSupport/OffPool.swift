import Foundation

/// Runs a blocking call (a C driver's network I/O, a blocking `connect`) on a thread of its own and waits for it
/// without holding a thread of the Swift pool.
///
/// The pool has two threads on two cores, and every suite of the test process shares them with the servers under
/// test: two blocking calls at once stopped every other test for 40 s (a `connect` to a full listen backlog and a
/// MongoDB insert behind a fail point), and a hostile-HTTP test timed out waiting for an answer.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: Result { try body() }) }.start()
    }
    return try result.get()
}
