import Testing
@testable import Kernels

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 5])
    func everyIndexRunsExactlyOnce(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        #expect(pool.threadCount == threads)
        for count in [0, 1, 2, 7, 100] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            defer { hits.deallocate() }
            hits.initialize(repeating: 0, count: max(count, 1))
            pool.parallelFor(count) { index in hits[index] += 1 }
            for index in 0..<count { #expect(hits[index] == 1) }
        }
    }

    @Test func threadIndexStaysInRangeAndPoolIsReusable() {
        let pool = ThreadPool(threadCount: 3)
        for _ in 0..<50 {
            let seen = UnsafeMutablePointer<Int>.allocate(capacity: 64)
            defer { seen.deallocate() }
            seen.initialize(repeating: -1, count: 64)
            pool.parallelFor(64, withThreadIndex: { index, thread in seen[index] = thread })
            for index in 0..<64 { #expect(seen[index] >= 0 && seen[index] < 3) }
        }
    }

    /// The kernels' path: a `ParallelJob` passed by address, every task once, on a thread in range.
    @Test(arguments: [1, 2, 3, 5])
    func jobRunsEveryTaskOnceOnAThreadInRange(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        for count in [0, 1, 2, 7, 100] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            let threadOf = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            defer { hits.deallocate(); threadOf.deallocate() }
            hits.initialize(repeating: 0, count: max(count, 1))
            threadOf.initialize(repeating: -1, count: max(count, 1))
            pool.parallelFor(count, RecordingJob(hits: hits, threadOf: threadOf))
            for index in 0..<count {
                #expect(hits[index] == 1)
                #expect(threadOf[index] >= 0 && threadOf[index] < threads)
            }
        }
    }

    /// The primitive: a C function and a context pointer.
    @Test func functionAndContextRunEveryTask() {
        let pool = ThreadPool(threadCount: 3)
        var hits = [Int](repeating: 0, count: 40)
        hits.withUnsafeMutableBufferPointer { buffer in
            pool.parallelFor(40, context: UnsafeRawPointer(buffer.baseAddress!)) { context, task, _ in
                UnsafeMutablePointer(mutating: context.assumingMemoryBound(to: Int.self))[task] += 1
            }
        }
        #expect(hits == [Int](repeating: 1, count: 40))
    }

    @Test func nonPositiveThreadCountMeansInline() {
        let pool = ThreadPool(threadCount: 0)
        #expect(pool.threadCount == 1)
        var sum = 0
        pool.parallelFor(10) { sum += $0 }
        #expect(sum == 45)
    }
}

/// Marks each task it runs and the thread that ran it.
private struct RecordingJob: ParallelJob {
    let hits: UnsafeMutablePointer<Int>
    let threadOf: UnsafeMutablePointer<Int>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: RecordingJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        hits[task] += 1
        threadOf[task] = thread
    }
}
