import Kernels

/// The project's SplitMix64, so every randomized test is reproducible.
typealias SeededGenerator = SplitMix64

/// `count` floats uniform in `range` (at least one element, so pointers are never dangling).
func randomFloats(_ count: Int, in range: ClosedRange<Float> = -1...1, using generator: inout SeededGenerator) -> [Float] {
    (0..<max(count, 1)).map { _ in Float.random(in: range, using: &generator) }
}

/// Runs `body` with a ThreadPool of each of the given sizes (nil for "no pool").
func eachPool(_ sizes: [Int?], _ body: (ThreadPool?) -> Void) {
    for size in sizes {
        body(size.map { ThreadPool(threadCount: $0) })
    }
}
