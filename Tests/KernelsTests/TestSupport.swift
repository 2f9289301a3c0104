import Kernels

/// A small deterministic generator (SplitMix64) so every randomized test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
