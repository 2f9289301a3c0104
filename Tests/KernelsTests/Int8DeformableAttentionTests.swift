import Testing
import Kernels

@Suite struct Int8DeformableAttentionTests {
    static let levelShapes = [3, 4, 2, 2, 5, 1]
    static let levelStarts = [0, 12, 16]

    @Test(arguments: [(1, 8), (2, 32), (3, 13), (2, 64), (1, 40)])
    func everyLevelEqualsTheReference(heads: Int, headDim: Int) {
        var generator = SeededGenerator(seed: UInt64(heads * 1000 + headDim))
        let (levels, points, queries) = (3, 4, 29)
        let value = randomInt8(21 * heads * headDim, using: &generator)
        // Locations past every edge (taps off the map), plus NaN and a huge one.
        var locations = randomFloats(queries * heads * levels * points * 2, in: -0.3...1.3, using: &generator)
        locations[3] = .nan
        locations[8] = 3e20
        var weights = randomFloats(queries * heads * levels * points, in: 0...1, using: &generator)
        weights[0] = 1  // a full-weight corner tap: Q14 value 16384
        let range = Int8OutputRange(zeroPoint: 3)
        var expected = [Int8](repeating: 0x55, count: queries * heads * headDim)
        int8DeformableAttentionReference(value: value, valueZeroPoint: -9, levelShapes: Self.levelShapes,
                                         levelStarts: Self.levelStarts, levels: levels, heads: heads, headDim: headDim,
                                         levelPoints: Array(repeating: points, count: levels), queries: queries, locations: locations, weights: weights,
                                         outputScale: 0.9 / 16_384, outputRange: range, output: &expected)
        for level in int8Levels {
            eachPool([nil, 3]) { pool in
                var actual = [Int8](repeating: 0x55, count: expected.count)
                KernelDispatch.withLevel(level) {
                    int8DeformableAttention(value: value, valueZeroPoint: -9, levelShapes: Self.levelShapes,
                                            levelStarts: Self.levelStarts, levels: levels, heads: heads, headDim: headDim,
                                            levelPoints: Array(repeating: points, count: levels), queries: queries, locations: locations, weights: weights,
                                            outputScale: 0.9 / 16_384, outputRange: range, output: &actual, pool: pool)
                }
                #expect(actual == expected, "\(level)")
            }
        }
    }

    /// Per-level point counts (D-FINE): every dispatch level equals the reference exactly.
    @Test func perLevelPointsEqualTheReference() {
        var generator = SeededGenerator(seed: 4242)
        let (heads, headDim, queries, levelPoints) = (3, 19, 21, [2, 5, 1])
        let samples = queries * heads * levelPoints.reduce(0, +)
        let value = randomInt8(21 * heads * headDim, using: &generator)
        let locations = randomFloats(samples * 2, in: -0.3...1.3, using: &generator)
        let weights = randomFloats(samples, in: 0...1, using: &generator)
        let range = Int8OutputRange(zeroPoint: -4)
        var expected = [Int8](repeating: 0x55, count: queries * heads * headDim)
        int8DeformableAttentionReference(value: value, valueZeroPoint: 5, levelShapes: Self.levelShapes,
                                         levelStarts: Self.levelStarts, levels: 3, heads: heads, headDim: headDim,
                                         levelPoints: levelPoints, queries: queries, locations: locations, weights: weights,
                                         outputScale: 0.7 / 16_384, outputRange: range, output: &expected)
        for level in int8Levels {
            eachPool([nil, 2]) { pool in
                var actual = [Int8](repeating: 0x55, count: expected.count)
                KernelDispatch.withLevel(level) {
                    int8DeformableAttention(value: value, valueZeroPoint: 5, levelShapes: Self.levelShapes,
                                            levelStarts: Self.levelStarts, levels: 3, heads: heads, headDim: headDim,
                                            levelPoints: levelPoints, queries: queries, locations: locations, weights: weights,
                                            outputScale: 0.7 / 16_384, outputRange: range, output: &actual, pool: pool)
                }
                #expect(actual == expected, "\(level)")
            }
        }
    }

    /// Weights given as logits and locations as reference points and offsets: at every level, pool size and
    /// point layout, the bits of the `softmax` and `deformableLocations` kernels of that level followed by the
    /// sampling (what the graph ran before the quantizer folded them), with task scratch of exactly the
    /// advertised size. Groups of 8 and of 12 samples (a partial vector block), 2-d and 4-d reference points,
    /// logits of both signs and a large spread.
    @Test(arguments: [([2, 5, 1], 2), ([4, 4, 4], 4), ([4, 4, 4], 2)])
    func foldedInputsEqualTheirOpsThenTheSampling(levelPoints: [Int], referenceColumns: Int) {
        var generator = SeededGenerator(seed: UInt64(levelPoints.reduce(0, +) * 77 + referenceColumns))
        let (heads, headDim, queries) = (3, 24, 37)
        let samples = levelPoints.reduce(0, +), columns = 2 * heads * samples
        let value = randomInt8(21 * heads * headDim, using: &generator)
        let reference = randomFloats(queries * referenceColumns, in: 0...1, using: &generator)
        let offsets = randomFloats(queries * columns, in: -3...3, using: &generator)
        var divisors: [Float] = []
        for _ in 0..<heads {
            for (level, points) in levelPoints.enumerated() {
                for _ in 0..<points {
                    divisors += referenceColumns == 2
                        ? [Float(Self.levelShapes[2 * level + 1]), Float(Self.levelShapes[2 * level])] : [Float(points), Float(points)]
                }
            }
        }
        let logits = randomFloats(queries * heads * samples, in: -12...12, using: &generator)
        let range = Int8OutputRange(zeroPoint: 2)
        for level in int8Levels {
            eachPool([nil, 2]) { pool in
                var probabilities = logits
                var locations = [Float](repeating: 0, count: queries * columns)
                var expected = [Int8](repeating: 0x55, count: queries * heads * headDim)
                var actual = expected
                let scratch = KernelScratch(bytesPerThread: int8DeformableAttentionTaskScratchBytes(samplesPerHead: samples, headDim: headDim,
                                                                                                     heads: heads, weightsAreLogits: true,
                                                                                                     computesLocations: true),
                                            threads: pool?.threadCount ?? 1)
                KernelDispatch.withLevel(level) {
                    softmax(&probabilities, groups: queries * heads, groupSize: samples, pool: pool)
                    deformableLocations(reference: reference, referenceColumns: referenceColumns, offsets: offsets, divisors: divisors,
                                        queries: queries, columns: columns, output: &locations, pool: pool)
                    int8DeformableAttention(value: value, valueZeroPoint: 7, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                            levels: 3, heads: heads, headDim: headDim, levelPoints: levelPoints, queries: queries,
                                            locations: locations, weights: probabilities, outputScale: 0.8 / 16_384, outputRange: range,
                                            output: &expected, pool: pool)
                    reference.withUnsafeBufferPointer { reference in
                        divisors.withUnsafeBufferPointer { divisors in
                            let source = DeformableLocationSource(reference: reference.baseAddress!, referenceColumns: referenceColumns,
                                                                  divisors: divisors.baseAddress!)
                            int8DeformableAttention(value: value, valueZeroPoint: 7, levelShapes: Self.levelShapes,
                                                    levelStarts: Self.levelStarts, levels: 3, heads: heads, headDim: headDim,
                                                    levelPoints: levelPoints, queries: queries, locations: offsets, locationSource: source,
                                                    weights: logits, weightsAreLogits: true, outputScale: 0.8 / 16_384,
                                                    outputRange: range, output: &actual, pool: pool, taskScratch: scratch)
                        }
                    }
                }
                #expect(actual == expected, "\(level), \(pool?.threadCount ?? 0) threads")
                #expect(Set(actual).count > 8)
            }
        }
    }

    @Test(arguments: [(1, 8), (2, 32), (3, 13), (2, 64), (1, 40)])
    func discreteEqualsTheReferenceAndTheFloatCore(heads: Int, headDim: Int) {
        var generator = SeededGenerator(seed: UInt64(heads * 1000 + headDim + 5))
        let (levels, points, queries) = (3, 4, 29)
        let value = randomInt8(21 * heads * headDim, using: &generator)
        var locations = randomFloats(queries * heads * levels * points * 2, in: -0.3...1.3, using: &generator)
        locations[3] = .nan
        locations[8] = 3e20
        let weights = randomFloats(queries * heads * levels * points, in: 0...1, using: &generator)
        let range = Int8OutputRange(zeroPoint: 3)
        var expected = [Int8](repeating: 0x55, count: queries * heads * headDim)
        int8DeformableAttentionReference(value: value, valueZeroPoint: -9, levelShapes: Self.levelShapes,
                                         levelStarts: Self.levelStarts, levels: levels, heads: heads, headDim: headDim,
                                         levelPoints: Array(repeating: points, count: levels), queries: queries, locations: locations, weights: weights,
                                         outputScale: 0.9 / 16_384, outputRange: range, discrete: true, output: &expected)
        for level in int8Levels {
            eachPool([nil, 3]) { pool in
                var actual = [Int8](repeating: 0x55, count: expected.count)
                KernelDispatch.withLevel(level) {
                    int8DeformableAttention(value: value, valueZeroPoint: -9, levelShapes: Self.levelShapes,
                                            levelStarts: Self.levelStarts, levels: levels, heads: heads, headDim: headDim,
                                            levelPoints: Array(repeating: points, count: levels), queries: queries, locations: locations, weights: weights,
                                            outputScale: 0.9 / 16_384, outputRange: range, discrete: true, output: &actual,
                                            pool: pool)
                }
                #expect(actual == expected, "\(level)")
            }
        }
        // The float core on the dequantized map, requantized, is within one step of the int8 result
        // (the attention weights are rounded to Q14).
        let floatValue = value.map { Float(Int32($0) + 9) }
        var floatOutput = [Float](repeating: .nan, count: expected.count)
        deformableAttentionReference(value: floatValue, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                     levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                     locations: locations, weights: weights, discrete: true, output: &floatOutput)
        for (index, float) in floatOutput.enumerated() {
            let requantized = max(-128, min(127, (float * 0.9).rounded() + 3))
            #expect(abs(requantized - Float(expected[index])) <= 1, "element \(index)")
        }
    }

    @Test func saturatingValuesAreExact() {
        for fill: Int8 in [-128, 127] {
            let value = [Int8](repeating: fill, count: 21 * 32)
            let locations = [Float](repeating: 0.5, count: 7 * 3 * 4 * 2)
            let weights = [Float](repeating: 1, count: 7 * 3 * 4)  // sums to 12: far past [-1, 1] in total
            var expected = [Int8](repeating: 0, count: 7 * 32)
            int8DeformableAttentionReference(value: value, valueZeroPoint: fill == 127 ? -128 : 127, levelShapes: Self.levelShapes,
                                             levelStarts: Self.levelStarts, levels: 3, heads: 1, headDim: 32, levelPoints: [4, 4, 4],
                                             queries: 7, locations: locations, weights: weights, outputScale: 1.0 / 16_384 / 8,
                                             outputRange: Int8OutputRange(zeroPoint: 0), output: &expected)
            for level in int8Levels {
                var actual = [Int8](repeating: 0, count: expected.count)
                KernelDispatch.withLevel(level) {
                    int8DeformableAttention(value: value, valueZeroPoint: fill == 127 ? -128 : 127, levelShapes: Self.levelShapes,
                                            levelStarts: Self.levelStarts, levels: 3, heads: 1, headDim: 32, levelPoints: [4, 4, 4],
                                            queries: 7, locations: locations, weights: weights, outputScale: 1.0 / 16_384 / 8,
                                            outputRange: Int8OutputRange(zeroPoint: 0), output: &actual, pool: nil)
                }
                #expect(actual == expected)
                #expect(actual.allSatisfy { $0 == (fill == 127 ? 127 : -128) })
            }
        }
    }

    /// Against the float core on dequantized values: the Q14 weights add at most
    /// taps * 2^-15 * 255 steps of input, so the error stays within 1 output step (+ rounding).
    @Test func tracksTheFloatCore() {
        var generator = SeededGenerator(seed: 11)
        let (levels, points, queries, heads, headDim) = (3, 4, 20, 2, 32)
        let floatValue = randomFloats(21 * heads * headDim, in: -2...3, using: &generator)
        let valueQuantization = Int8Quantization.covering(minimum: -2, maximum: 3)
        let value = floatValue.map { valueQuantization.quantize($0) }
        let dequantized = value.map { valueQuantization.dequantize($0) }
        let locations = randomFloats(queries * heads * levels * points * 2, in: -0.1...1.1, using: &generator)
        var weights = randomFloats(queries * heads * levels * points, in: 0...1, using: &generator)
        for group in 0..<(queries * heads) {  // softmax-like: each query-head's 12 weights sum to 1
            let sum = weights[(group * 12)..<(group * 12 + 12)].reduce(0, +)
            for index in (group * 12)..<(group * 12 + 12) { weights[index] /= sum }
        }
        var expected = [Float](repeating: 0, count: queries * heads * headDim)
        deformableAttentionReference(value: dequantized, levelShapes: Self.levelShapes, levelStarts: Self.levelStarts,
                                     levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels), queries: queries,
                                     locations: locations, weights: weights, output: &expected)
        let outputQuantization = Int8Quantization.covering(minimum: -2, maximum: 3)
        var actual = [Int8](repeating: 0, count: expected.count)
        int8DeformableAttention(value: value, valueZeroPoint: valueQuantization.zeroPoint, levelShapes: Self.levelShapes,
                                levelStarts: Self.levelStarts, levels: levels, heads: heads, headDim: headDim, levelPoints: Array(repeating: points, count: levels),
                                queries: queries, locations: locations, weights: weights,
                                outputScale: valueQuantization.scale / (outputQuantization.scale * 16_384),
                                outputRange: Int8OutputRange(zeroPoint: outputQuantization.zeroPoint), output: &actual, pool: nil)
        let worst = zip(actual, expected).map { abs(outputQuantization.dequantize($0) - $1) }.max()!
        #expect(worst <= 1.01 * outputQuantization.scale)
    }
}
