import Testing
import Kernels

@Suite struct DeformableAttentionTests {
    /// Two levels (3x4 and 2x2), a value row per pixel.
    static let levelShapes = [3, 4, 2, 2]
    static let levelStarts = [0, 12]

    @Test(arguments: [(1, 8), (2, 32), (3, 13)])
    func fastEqualsReferenceExactly(heads: Int, headDim: Int) {
        var generator = SeededGenerator(seed: UInt64(heads * 100 + headDim))
        let (levels, points, queries) = (2, 3, 37)
        let value = randomFloats(16 * heads * headDim, using: &generator)
        // Locations reach past the map on every side, so taps fall off all four edges.
        let locations = randomFloats(queries * heads * levels * points * 2, in: -0.3...1.3, using: &generator)
        let weights = randomFloats(queries * heads * levels * points, in: 0...1, using: &generator)
        var expected = [Float](repeating: .nan, count: queries * heads * headDim)
        deformableAttentionReference(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                     levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                     locations: locations, weights: weights, output: &expected)
        eachPool([nil, 1, 3]) { pool in
            var actual = [Float](repeating: .nan, count: queries * heads * headDim)
            deformableAttention(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                locations: locations, weights: weights, output: &actual, pool: pool)
            #expect(actual == expected)
        }
    }

    /// Per-level point counts (D-FINE's [3, 6, 3]): sampling [1, 3] points equals sampling [3, 3] with the
    /// first level's extra points weighted zero, bit for bit, on the reference and the SIMD path.
    @Test func perLevelPointsEqualZeroWeightedPadding() {
        var generator = SeededGenerator(seed: 77)
        let (heads, headDim, queries) = (2, 11, 9)
        let value = randomFloats(16 * heads * headDim, using: &generator)
        let locations = randomFloats(queries * heads * 4 * 2, in: -0.3...1.3, using: &generator)
        let weights = randomFloats(queries * heads * 4, in: 0...1, using: &generator)
        var paddedLocations: [Float] = [], paddedWeights: [Float] = []
        for sample in stride(from: 0, to: queries * heads * 4, by: 4) {
            // Level 0's one point, two padding points far outside the map, level 1's three points.
            paddedLocations += locations[2 * sample..<2 * sample + 2] + [0.5, 0.5, 0.25, 0.75]
                + locations[2 * sample + 2..<2 * sample + 8]
            paddedWeights += [weights[sample], 0, 0] + weights[sample + 1..<sample + 4]
        }
        var expected = [Float](repeating: .nan, count: queries * heads * headDim)
        deformableAttentionReference(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts, levels: 2,
                                     heads: heads, headDim: headDim, levelPoints: [3, 3], queries: queries,
                                     locations: paddedLocations, weights: paddedWeights, output: &expected)
        var reference = [Float](repeating: .nan, count: queries * heads * headDim)
        deformableAttentionReference(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts, levels: 2,
                                     heads: heads, headDim: headDim, levelPoints: [1, 3], queries: queries,
                                     locations: locations, weights: weights, output: &reference)
        #expect(reference == expected)
        eachPool([nil, 2]) { pool in
            var actual = [Float](repeating: .nan, count: queries * heads * headDim)
            deformableAttention(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts, levels: 2,
                                heads: heads, headDim: headDim, levelPoints: [1, 3], queries: queries,
                                locations: locations, weights: weights, output: &actual, pool: pool)
            #expect(actual == expected)
        }
    }

    /// grid_sample(align_corners=False) semantics on one 3x4 single-channel level.
    @Test func samplesLikeGridSample() {
        let value: [Float] = (0..<12).map { Float($0) }  // value at (y, x) = 4y + x
        func sample(_ x: Float, _ y: Float) -> Float {
            var output: [Float] = [.nan]
            deformableAttention(value: value, levelShapes: [3, 4], levelStarts: [0], levels: 1, heads: 1, headDim: 1,
                                levelPoints: [1], queries: 1, locations: [x, y], weights: [1], output: &output, pool: nil)
            return output[0]
        }
        // Pixel centres (x + 0.5)/W, (y + 0.5)/H return the pixel itself.
        #expect(sample(1.5 / 4, 2.5 / 3) == 9)
        // Halfway between (0,0) and (1,0) horizontally (0.5/3 is inexact, hence the tolerance).
        #expect(abs(sample(1.0 / 4, 0.5 / 3) - 0.5) <= 1e-6)
        // On the left border of the image: half of the edge pixel, half of zero padding.
        #expect(abs(sample(0, 0.5 / 3) - 0) <= 1e-6)
        #expect(abs(sample(0, 1.5 / 3) - 2) <= 1e-6)
        // Fully outside, and NaN, contribute nothing.
        #expect(sample(-1, 0.5) == 0)
        #expect(sample(.nan, 0.5) == 0)
        #expect(sample(2e30, 0.5) == 0)
    }

    @Test(arguments: [(1, 8), (2, 32), (3, 13)])
    func discreteFastEqualsReferenceExactly(heads: Int, headDim: Int) {
        var generator = SeededGenerator(seed: UInt64(heads * 100 + headDim + 7))
        let (levels, points, queries) = (2, 3, 37)
        let value = randomFloats(16 * heads * headDim, using: &generator)
        var locations = randomFloats(queries * heads * levels * points * 2, in: -0.3...1.3, using: &generator)
        locations[1] = .nan
        locations[4] = -3e20
        locations[6] = 3e20
        let weights = randomFloats(queries * heads * levels * points, in: 0...1, using: &generator)
        var expected = [Float](repeating: .nan, count: queries * heads * headDim)
        deformableAttentionReference(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                     levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                     locations: locations, weights: weights, discrete: true, output: &expected)
        #expect(expected.allSatisfy { $0.isFinite })
        eachPool([nil, 1, 3]) { pool in
            var actual = [Float](repeating: .nan, count: queries * heads * headDim)
            deformableAttention(value: value, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                locations: locations, weights: weights, discrete: true, output: &actual, pool: pool)
            #expect(actual == expected)
        }
    }

    /// RT-DETRv2's discrete sampling: pixel (trunc(x W + 0.5), trunc(y H + 0.5)) clamped into the map,
    /// as transformers computes it (`.to(torch.int64)` then `clamp(0, size - 1)`).
    @Test func discreteSamplingReadsOnePixel() {
        let value: [Float] = (0..<12).map { Float($0) }  // 3x4, value at (y, x) = 4y + x
        func sample(_ x: Float, _ y: Float) -> Float {
            var output: [Float] = [.nan]
            deformableAttention(value: value, levelShapes: [3, 4], levelStarts: [0], levels: 1, heads: 1, headDim: 1,
                                levelPoints: [1], queries: 1, locations: [x, y], weights: [1], discrete: true, output: &output, pool: nil)
            return output[0]
        }
        #expect(sample(1.5 / 4, 2.5 / 3) == 4 * 2 + 2)  // trunc(2.0) = 2, trunc(3.0) clamped to 2
        #expect(sample(0.3, 0.1) == 1)  // x: trunc(1.7) = 1; y: trunc(0.8) = 0
        #expect(sample(0.6, 0.5) == 4 * 2 + 2)  // trunc(2.9) = 2, trunc(2.0) = 2
        #expect(sample(-0.2, -5) == 0)  // trunc(-0.3) = 0; far negative clamps to 0
        #expect(sample(9, 0.2) == 4 + 3)  // far right clamps to the last column
        #expect(sample(.nan, .infinity) == 4 * 2)  // NaN -> column 0 (PyTorch: INT64_MIN, clamped); inf -> last row
    }

    @Test func attentionWeightsScaleAndSumTheSamples() {
        let value: [Float] = [1, 10, 100, 1000]  // one 2x2 level, one channel
        var output: [Float] = [.nan]
        deformableAttention(value: value, levelShapes: [2, 2], levelStarts: [0], levels: 1, heads: 1, headDim: 1,
                            levelPoints: [2], queries: 1, locations: [0.25, 0.25, 0.75, 0.75], weights: [0.5, 0.25],
                            output: &output, pool: ThreadPool(threadCount: 2))
        #expect(output[0] == 0.5 * 1 + 0.25 * 1000)
    }
}
