import CLibc

/// What a pool worker calls: task `task` of the job whose arguments are at `context`, on pool
/// thread `thread` (0..<threadCount). A C function pointer captures nothing, so handing one to
/// the workers allocates nothing; the job's arguments live in the caller's frame, which
/// `parallelFor` keeps alive until every task has run.
public typealias ParallelTaskFunction = @convention(c) (_ context: UnsafeRawPointer, _ task: Int, _ thread: Int) -> Void

/// One parallel loop of a kernel: a struct holding the call's arguments, whose `run(task:thread:)`
/// does one task. Tasks run concurrently on several threads and see the same `self`, so `run`
/// only reads it (and writes disjoint parts of the output or the thread's own scratch).
///
/// `taskFunction` is the same line in every job, with the job's own name:
///
///     static var taskFunction: ParallelTaskFunction {
///         { $0.assumingMemoryBound(to: SomeJob.self).pointee.run(task: $1, thread: $2) }
///     }
///
/// A C function pointer cannot be formed in generic code, so the protocol cannot supply it.
public protocol ParallelJob {
    func run(task: Int, thread: Int)
    static var taskFunction: ParallelTaskFunction { get }
}

/// A fixed pool of pthreads (libc only, so it also runs under Embedded Swift).
///
/// `parallelFor` hands out task indices one at a time from a shared counter, so the threads
/// balance themselves; kernels make each task coarse (a block of rows, a tile of columns) so the
/// counter's lock is rare. Which thread runs a task never changes what the task computes, which
/// is why kernel results do not depend on the thread count.
///
/// A job reaches the workers as a C function pointer and a pointer to its arguments (pthreadpool's
/// and XNNPACK's design), so a kernel call allocates nothing: the kernels describe each parallel
/// loop as a `ParallelJob`. The closure-taking `parallelFor`s remain for code outside inference
/// (the synthetic dataset, tests); each of their calls allocates one closure box.
///
/// With `threadCount` 1 no thread is started and every call runs inline on the caller.
public final class ThreadPool {
    /// The caller plus the started workers.
    public let threadCount: Int

    private let workers: UnsafeMutablePointer<pthread_t>
    private let workerCount: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Signalled when a new job is posted (or on shutdown).
    private let jobPosted: UnsafeMutablePointer<pthread_cond_t>
    /// Signalled when the last busy worker finishes the current job.
    private let jobFinished: UnsafeMutablePointer<pthread_cond_t>

    // Shared job state, guarded by `mutex`.
    private var jobFunction: ParallelTaskFunction?
    private var jobContext: UnsafeRawPointer?
    private var jobCount = 0
    private var nextTask = 0
    private var generation = 0
    private var busyWorkers = 0
    private var shuttingDown = false

    public init(threadCount: Int) {
        self.threadCount = threadCount < 1 ? 1 : threadCount
        workerCount = self.threadCount - 1
        workers = UnsafeMutablePointer<pthread_t>.allocate(capacity: workerCount < 1 ? 1 : workerCount)
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        jobPosted = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        jobFinished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(jobPosted, nil)
        pthread_cond_init(jobFinished, nil)
        for workerIndex in 0..<workerCount {
            // The worker takes over this +1 reference and releases it once it has read the fields.
            let context = Unmanaged.passRetained(WorkerContext(pool: self, threadIndex: workerIndex + 1)).toOpaque()
            pthread_create(workers + workerIndex, nil, { raw in
                let worker = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                worker.pool.workerLoop(threadIndex: worker.threadIndex)
                return nil
            }, context)
        }
    }

    deinit {
        pthread_mutex_lock(mutex)
        shuttingDown = true
        pthread_cond_broadcast(jobPosted)
        pthread_mutex_unlock(mutex)
        for workerIndex in 0..<workerCount {
            pthread_join(workers[workerIndex], nil)
        }
        pthread_cond_destroy(jobFinished)
        pthread_cond_destroy(jobPosted)
        pthread_mutex_destroy(mutex)
        jobFinished.deallocate()
        jobPosted.deallocate()
        mutex.deallocate()
        workers.deallocate()
    }

    /// Calls `function(context, task, thread)` for every task in 0..<count, spread over the threads;
    /// returns when all are done. Allocates nothing.
    public func parallelFor(_ count: Int, context: UnsafeRawPointer, _ function: ParallelTaskFunction) {
        if count <= 0 { return }
        if workerCount == 0 || count == 1 {
            for task in 0..<count { function(context, task, 0) }
            return
        }
        pthread_mutex_lock(mutex)
        jobFunction = function
        jobContext = context
        jobCount = count
        nextTask = 0
        busyWorkers = workerCount
        generation &+= 1
        pthread_cond_broadcast(jobPosted)
        pthread_mutex_unlock(mutex)

        runTasks(function, context, threadIndex: 0)

        pthread_mutex_lock(mutex)
        while busyWorkers > 0 {
            pthread_cond_wait(jobFinished, mutex)
        }
        jobFunction = nil
        jobContext = nil
        pthread_mutex_unlock(mutex)
    }

    /// Runs `job.run(task:thread:)` for every task in 0..<count, spread over the threads; returns
    /// when all are done. Allocates nothing: the job stays in this frame and the workers reach it
    /// through its address.
    public func parallelFor<Job: ParallelJob>(_ count: Int, _ job: Job) {
        withUnsafePointer(to: job) { parallelFor(count, context: UnsafeRawPointer($0), Job.taskFunction) }
    }

    /// Calls body(i) for i in 0..<count, spread over the threads; returns when all are done.
    /// Allocates one closure box per call (see `parallelFor(_:withThreadIndex:)`).
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        parallelFor(count, withThreadIndex: { index, _ in body(index) })
    }

    /// Like `parallelFor(_:_:)`, but also passes the index (0..<threadCount) of the thread that
    /// runs the task, so a task can use that thread's slice of scratch memory.
    ///
    /// For code outside inference: with workers, each call allocates one heap box (32 bytes), the
    /// price of `withoutActuallyEscaping` handing a non-escaping closure to other threads. The
    /// kernels use `parallelFor(_:_:)` with a `ParallelJob` instead.
    public func parallelFor(_ count: Int, withThreadIndex body: (_ index: Int, _ threadIndex: Int) -> Void) {
        if count <= 0 { return }
        if workerCount == 0 || count == 1 {
            for index in 0..<count { body(index, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapingBody in
            parallelFor(count, ClosureJob(body: escapingBody))
        }
    }

    /// Takes task indices from the shared counter until none are left.
    private func runTasks(_ function: ParallelTaskFunction, _ context: UnsafeRawPointer, threadIndex: Int) {
        while true {
            pthread_mutex_lock(mutex)
            let task = nextTask
            if task < jobCount { nextTask = task + 1 }
            pthread_mutex_unlock(mutex)
            if task >= jobCount { return }
            function(context, task, threadIndex)
        }
    }

    fileprivate func workerLoop(threadIndex: Int) {
        var seenGeneration = 0
        while true {
            pthread_mutex_lock(mutex)
            while generation == seenGeneration && !shuttingDown {
                pthread_cond_wait(jobPosted, mutex)
            }
            if shuttingDown {
                pthread_mutex_unlock(mutex)
                return
            }
            seenGeneration = generation
            let function = jobFunction, context = jobContext
            pthread_mutex_unlock(mutex)
            if let function, let context { runTasks(function, context, threadIndex: threadIndex) }

            pthread_mutex_lock(mutex)
            busyWorkers -= 1
            if busyWorkers == 0 { pthread_cond_signal(jobFinished) }
            pthread_mutex_unlock(mutex)
        }
    }
}

/// What a worker thread receives through pthread_create's single raw pointer.
private final class WorkerContext {
    /// Not a strong reference, which would keep the pool alive forever. `unowned(unsafe)` rather
    /// than `unowned` because the workers still touch the pool's locks while its deinit joins
    /// them, when a checked unowned reference would trap; the memory stays valid until then.
    unowned(unsafe) let pool: ThreadPool
    let threadIndex: Int
    init(pool: ThreadPool, threadIndex: Int) {
        self.pool = pool
        self.threadIndex = threadIndex
    }
}

/// The closure-taking `parallelFor`'s job: an escaping closure (made by `withoutActuallyEscaping`,
/// hence the box) run for each task.
private struct ClosureJob: ParallelJob {
    let body: (Int, Int) -> Void

    func run(task: Int, thread: Int) { body(task, thread) }

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: ClosureJob.self).pointee.run(task: $1, thread: $2) }
    }
}
