/// Scratch memory lent to the kernels, so that a run allocates nothing: one 64-byte aligned slice
/// per pool thread, sized once by the caller (the executor, at load) from the kernels'
/// `...ScratchBytes` functions. A task uses the slice of the thread that runs it, so tasks on
/// different threads never share bytes; tasks on the same thread run one after another.
///
/// Kernels take it as an optional parameter: nil makes them allocate per task as before.
public final class KernelScratch {
    /// Slices: one per thread of the pool the kernels run on (1 without a pool).
    public let threadCount: Int
    /// Bytes of each slice, rounded up to 64.
    public let bytesPerThread: Int
    private let base: UnsafeMutableRawPointer

    public init(bytesPerThread: Int, threads: Int) {
        threadCount = max(threads, 1)
        self.bytesPerThread = roundedUp(max(bytesPerThread, 0), to: 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: max(threadCount * self.bytesPerThread, 64), alignment: 64)
    }

    deinit {
        base.deallocate()
    }

    /// Total bytes held.
    public var byteCount: Int { threadCount * bytesPerThread }

    /// The slice of thread `thread` (0..<threadCount), 64-byte aligned.
    @inline(__always)
    public func slice(_ thread: Int) -> UnsafeMutableRawPointer {
        base + thread * bytesPerThread
    }
}

/// Calls `body` with `bytes` of 64-byte aligned memory for a task on thread `thread`: that thread's
/// slice of `scratch`, or, when `scratch` is nil, memory allocated for the call and freed after it.
@inline(__always)
func withTaskScratch<Result>(_ scratch: KernelScratch?, thread: Int, bytes: Int,
                             _ body: (UnsafeMutableRawPointer) -> Result) -> Result {
    if let scratch {
        precondition(bytes <= scratch.bytesPerThread && thread < scratch.threadCount, "kernel scratch too small")
        return body(scratch.slice(thread))
    }
    let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
    defer { memory.deallocate() }
    return body(memory)
}

/// Runs `job` for every task, on the pool when there is one (all on thread 0 without). Allocates
/// nothing either way.
@inline(__always)
func runTasks<Job: ParallelJob>(_ count: Int, pool: ThreadPool?, _ job: Job) {
    if let pool {
        pool.parallelFor(count, job)
    } else {
        for task in 0..<count { job.run(task: task, thread: 0) }
    }
}
