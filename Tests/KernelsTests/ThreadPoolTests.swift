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

    @Test func nonPositiveThreadCountMeansInline() {
        let pool = ThreadPool(threadCount: 0)
        #expect(pool.threadCount == 1)
        var sum = 0
        pool.parallelFor(10) { sum += $0 }
        #expect(sum == 45)
    }
}
