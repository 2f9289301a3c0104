import Testing
@testable import Kernels

/// The blocked summation order (VectorMath.swift) that makes the int8 normalizations' SIMD paths
/// equal their references: the SIMD8 `blockedSum` and the eight-scalar-lane `blockedSumReference`
/// must give the same float bits on any segment count and length (partial blocks included). Float
/// outputs compared exactly, so a one-ulp difference fails, which the int8 outputs would rarely show.
@Suite struct VectorMathTests {
    @Test(arguments: [(1, 0), (1, 1), (1, 7), (1, 8), (1, 9), (3, 5), (1, 256), (2, 301), (40, 8), (13, 12), (7, 3), (1, 1023)])
    func blockedSumSIMDEqualsTheReference(segments: Int, length: Int) {
        var generator = SeededGenerator(seed: UInt64(segments * 1000 + length))
        // Mixed magnitudes and signs, so that almost every addition rounds.
        let values = randomFloats(segments * length, in: -1...1, using: &generator).enumerated().map { index, value in
            value * Float(1 << (index % 13)) + 0.1
        }
        let reference = blockedSumReference(segments: segments, length: length) { segment, index in values[segment * length + index] }
        let fast = values.withUnsafeBufferPointer { buffer in
            blockedSum(segments: segments, length: length) { segment, first in
                loadFloats(buffer.baseAddress! + segment * length + first, count: length - first)
            }
        }
        #expect(fast.bitPattern == reference.bitPattern, "\(fast) vs \(reference)")
        // Squares of centred values, as the variance pass computes them (partial lanes masked).
        let mean = reference / Float(max(segments * length, 1))
        let squares = blockedSumReference(segments: segments, length: length) { segment, index in
            let centered = values[segment * length + index] - mean
            return centered * centered
        }
        let fastSquares = values.withUnsafeBufferPointer { buffer in
            blockedSum(segments: segments, length: length) { segment, first in
                let centered = loadFloats(buffer.baseAddress! + segment * length + first, count: length - first) - mean
                return centered * centered
            }
        }
        #expect(fastSquares.bitPattern == squares.bitPattern)
        // And the order really is not the sequential one (else this test would prove little).
        if length >= 64 {
            let sequential = values.reduce(Float(0), +)
            #expect(sequential != reference || segments * length < 64)
        }
    }
}
