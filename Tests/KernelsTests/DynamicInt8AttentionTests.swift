import Testing
@testable import Kernels
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// `dynamicInt8Attention`: every int8 tile and pool size gives the same bits (the float tile's levels
/// with and without fused multiply-adds each with themselves); those agree
/// with the scalar reference (same int8 codes and scores; vector exp, blocked sums and the float tile's
/// order differ) within 1e-5 on outputs that are convex combinations of values in [-1, 1]; and the
/// result stays close to float attention, which it approximates. Shapes cover one key, keys past a
/// 16-column panel, odd head depths, value dims past the 16-wide float tile, strides wider than the heads.
@Suite struct DynamicInt8AttentionTests {
    typealias Case = AttentionTests.Case

    /// The float attention's shapes, and keys past a 16-column panel with an odd head depth.
    static let cases = AttentionTests.cases + [Case(queries: 40, keys: 300, heads: 2, queryHeadDim: 33, valueHeadDim: 8)]

    struct Inputs {
        var q, k, v: [Float]
        var qStride, kStride, vStride: Int
    }

    static func inputs(_ shape: Case) -> Inputs {
        var generator = SeededGenerator(seed: UInt64(shape.queries * 7919 + shape.keys * 31 + shape.heads))
        // Strides wider than heads*dim, as when q, k and v are column slices of one projection.
        let qStride = shape.heads * shape.queryHeadDim + 3
        let kStride = shape.heads * shape.queryHeadDim + 1
        let vStride = shape.heads * shape.valueHeadDim + 5
        return Inputs(q: randomFloats(shape.queries * qStride, in: -2...2, using: &generator),
                      k: randomFloats(shape.keys * kStride, in: -2...2, using: &generator),
                      v: randomFloats(shape.keys * vStride, using: &generator), qStride: qStride, kStride: kStride, vStride: vStride)
    }

    /// The kernel with scratch of exactly the advertised sizes, the shared part misaligned by 4 bytes and
    /// full of 0xFF (the packing must zero its own padding).
    static func run(_ shape: Case, _ inputs: Inputs, pool: ThreadPool?) -> [Float] {
        let sharedBytes = dynamicInt8AttentionScratchBytes(queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                                           queryHeadDim: shape.queryHeadDim)
        let shared = UnsafeMutableRawPointer.allocate(byteCount: sharedBytes + 4, alignment: 64)
        defer { shared.deallocate() }
        shared.initializeMemory(as: UInt8.self, repeating: 0xFF, count: sharedBytes + 4)
        let taskScratch = KernelScratch(bytesPerThread: dynamicInt8AttentionTaskScratchBytes(keys: shape.keys, queryHeadDim: shape.queryHeadDim),
                                        threads: pool?.threadCount ?? 1)
        var output = [Float](repeating: .nan, count: shape.queries * shape.heads * shape.valueHeadDim)
        dynamicInt8Attention(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                             vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                             queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                             scale: 1 / Float(max(shape.queryHeadDim, 1)).squareRoot(), output: &output, scratch: shared + 4,
                             taskScratch: taskScratch, pool: pool)
        return output
    }

    @Test(arguments: cases)
    func everyLevelAndPoolGivesOneResultCloseToTheReference(_ shape: Case) {
        let inputs = Self.inputs(shape)
        let scale = 1 / Float(max(shape.queryHeadDim, 1)).squareRoot()
        let outputCount = shape.queries * shape.heads * shape.valueHeadDim
        var expected = [Float](repeating: .nan, count: outputCount)
        var scores = [Float](repeating: 0, count: shape.keys)
        dynamicInt8AttentionReference(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                                      vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                      queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                      output: &expected, scores: &scores)
        // The scalar level runs the reference itself.
        let scalar = KernelDispatch.withLevel(.scalar) { Self.run(shape, inputs, pool: nil) }
        #expect(scalar.map(\.bitPattern) == expected.map(\.bitPattern), "\(shape) at the scalar level")
        // The float tile fuses multiply-adds from AVX2 up, so its levels agree bit for bit among themselves
        // (whichever int8 tile computes the scores), and the baseline SIMD level with itself.
        var fast: [Float] = []
        for levels in [[KernelLevel.simd], [.avx2, .avxVNNI, .avx512VNNI]] {
            var first: [Float]?
            for level in levels {
                eachPool([nil, 1, 3]) { pool in
                    let actual = KernelDispatch.withLevel(level) { Self.run(shape, inputs, pool: pool) }
                    if let first {
                        let differing = zip(actual, first).filter { $0.bitPattern != $1.bitPattern }.count
                        #expect(differing == 0, "\(shape) at \(level.name), \(pool?.threadCount ?? 0) threads: \(differing) elements differ")
                    } else {
                        first = actual
                    }
                }
            }
            fast = first!
            let worst = zip(fast, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5, "\(shape) at \(levels[0].name): \(worst) from the reference")
        }
        // Against float attention: codes of 1/127 of each row's largest value move scores of O(1) by a few
        // hundredths at these depths, and the outputs (averages of values in [-1, 1]) by less.
        var float = [Float](repeating: .nan, count: outputCount)
        multiHeadAttentionReference(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                                    vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                    queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                    output: &float)
        let worst = zip(fast, float).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 0.02, "\(shape): \(worst) from float attention")
    }

    @Test func noKeysGivesZerosAndNoDepthAveragesTheValues() {
        var output = [Float](repeating: .nan, count: 2)
        let empty: [Float] = [0]
        let shared = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { shared.deallocate() }
        dynamicInt8Attention(q: empty, qStride: 1, k: empty, kStride: 1, v: empty, vStride: 1, queries: 2, keys: 0, heads: 1,
                             queryHeadDim: 1, valueHeadDim: 1, scale: 1, output: &output, scratch: shared, taskScratch: nil, pool: nil)
        #expect(output == [0, 0])
        // Depth 0: every score is 0, every key weighs 1/3: the mean value row.
        let values: [Float] = [3, 6, 9]
        for level in [KernelLevel.scalar, .avx2, .avx512VNNI] {
            var mean: [Float] = [.nan]
            KernelDispatch.withLevel(level) {
                dynamicInt8Attention(q: empty, qStride: 0, k: empty, kStride: 0, v: values, vStride: 1, queries: 1, keys: 3, heads: 1,
                                     queryHeadDim: 0, valueHeadDim: 1, scale: 1, output: &mean, scratch: shared, taskScratch: nil, pool: nil)
            }
            #expect(abs(mean[0] - 6) <= 1e-5, "\(level.name)")
        }
    }

    #if arch(x86_64) && canImport(KernelsAVX2)
    /// The AVX2 row exponentials are the baseline ones compiled from the same file: the same bits, at
    /// lengths below, at and past the vector width, with large scores of both signs.
    @Test func avx2RowExponentialsGiveTheBaselineBits() {
        guard KernelDispatch.best >= .avx2 else { return }
        var state: UInt64 = 91
        for columns in [1, 2, 7, 8, 9, 31, 300] {
            let rows = 3
            let scores = (0..<(rows * columns)).map { _ -> Float in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 400
            }
            let multipliers: [Float] = [0.001, 1, 0.3, 7, 2.5, 0.75]
            var baseline = scores, avx2 = scores
            var baselineSums = [Float](repeating: 0, count: rows), avx2Sums = baselineSums
            exponentiateRows(&baseline, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: 2,
                             inverseSums: &baselineSums)
            exponentiateRowsAVX2(&avx2, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: 2,
                                 inverseSums: &avx2Sums)
            #expect(baseline.map(\.bitPattern) == avx2.map(\.bitPattern), "\(columns) columns")
            #expect(baselineSums.map(\.bitPattern) == avx2Sums.map(\.bitPattern), "\(columns) columns")
            // Each row: the largest exponential is exactly 1 and the inverse sum is 1 / the sum.
            for row in 0..<rows {
                let line = baseline[(row * columns)..<((row + 1) * columns)]
                #expect(line.max() == 1)
                #expect(abs(baselineSums[row] * line.reduce(0, +) - 1) <= 1e-5)
            }
        }
    }
    #endif
}
