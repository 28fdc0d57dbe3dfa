import Dispatch
import LogPipeApp

/// Runs the command on the Swift pool while the main thread waits for it, instead of handing the main thread to
/// `dispatch_main()` (what a top-level `await` does): valgrind 3.19 crashes on a process whose main thread exits
/// into `dispatch_main()`, and the benchmark counts logpipe's instructions under valgrind's callgrind. Nothing in
/// logpipe uses the main queue or the main actor.
nonisolated func runWaitingOnMainThread() {
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        await LogPipeCommand.runAsRoot()
        done.signal()
    }
    done.wait()
}

runWaitingOnMainThread()
