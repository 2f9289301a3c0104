import Testing
@testable import Kernels
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// Fast attention against the scalar reference. The fast one uses a polynomial exp (~2 ulp) and
/// fused products, and both outputs are convex combinations of values in [-1, 1], so they must
/// agree within 1e-5 absolute (scores are O(1) here; the bound holds with a wide margin).
@Suite struct AttentionTests {
    struct Case: Sendable, CustomStringConvertible {
        var queries, keys, heads, queryHeadDim, valueHeadDim: Int
        var description: String { "q=\(queries) k=\(keys) h=\(heads) dq=\(queryHeadDim) dv=\(valueHeadDim)" }
    }

    static let cases: [Case] = [
        Case(queries: 1, keys: 1, heads: 1, queryHeadDim: 1, valueHeadDim: 1),
        Case(queries: 17, keys: 23, heads: 2, queryHeadDim: 64, valueHeadDim: 32),
        Case(queries: 5, keys: 40, heads: 3, queryHeadDim: 7, valueHeadDim: 19),
        Case(queries: 33, keys: 6, heads: 8, queryHeadDim: 32, valueHeadDim: 32),
        Case(queries: 16, keys: 13, heads: 1, queryHeadDim: 16, valueHeadDim: 48),
    ]

    @Test(arguments: cases)
    func fastMatchesReference(_ shape: Case) {
        var generator = SeededGenerator(seed: UInt64(shape.queries * 7919 + shape.keys * 31 + shape.heads))
        // Strides wider than heads*dim, as when q, k and v are column slices of one projection.
        let qStride = shape.heads * shape.queryHeadDim + 3
        let kStride = shape.heads * shape.queryHeadDim + 1
        let vStride = shape.heads * shape.valueHeadDim + 5
        let q = randomFloats(shape.queries * qStride, in: -2...2, using: &generator)
        let k = randomFloats(shape.keys * kStride, in: -2...2, using: &generator)
        let v = randomFloats(shape.keys * vStride, using: &generator)
        let scale = 1 / Float(shape.queryHeadDim).squareRoot()
        let outputCount = shape.queries * shape.heads * shape.valueHeadDim
        var expected = [Float](repeating: .nan, count: outputCount)
        multiHeadAttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                    queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                    queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                                    scale: scale, output: &expected)
        var results: [[Float]] = []
        eachPool([nil, 1, 3]) { pool in
            var scratch = [Float](repeating: .nan, count: attentionScratchCount(queries: shape.queries, keys: shape.keys,
                                                                               heads: shape.heads, queryHeadDim: shape.queryHeadDim,
                                                                               threads: pool?.threadCount ?? 1))
            var actual = [Float](repeating: .nan, count: outputCount)
            multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                               queries: shape.queries, keys: shape.keys, heads: shape.heads,
                               queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                               scale: scale, output: &actual, scratch: &scratch, pool: pool)
            results.append(actual)
        }
        #expect(results[0] == results[1] && results[0] == results[2], "result depends on the thread count")
        for index in 0..<outputCount {
            #expect(abs(results[0][index] - expected[index]) <= 1e-5, "\(shape) element \(index)")
        }
    }

    @Test func uniformScoresAverageTheValues() {
        // Zero queries: every key gets probability 1/3, so the output is the mean value row.
        let q: [Float] = [0, 0]
        let k: [Float] = [1, 2, 3, 4, 5, 6]
        let v: [Float] = [3, 6, 9]
        var output: [Float] = [0]
        var scratch = [Float](repeating: 0, count: attentionScratchCount(queries: 1, keys: 3, heads: 1, queryHeadDim: 2, threads: 1))
        multiHeadAttention(q: q, qStride: 2, k: k, kStride: 2, v: v, vStride: 1, queries: 1, keys: 3, heads: 1,
                           queryHeadDim: 2, valueHeadDim: 1, scale: 1, output: &output, scratch: &scratch, pool: nil)
        #expect(abs(output[0] - 6) <= 1e-5)
    }

    @Test func noKeysGivesZeros() {
        var output: [Float] = [.nan, .nan]
        var scratch = [Float](repeating: 0, count: attentionScratchCount(queries: 2, keys: 0, heads: 1, queryHeadDim: 1, threads: 1))
        let empty: [Float] = [0]
        multiHeadAttention(q: empty, qStride: 1, k: empty, kStride: 1, v: empty, vStride: 1, queries: 2, keys: 0, heads: 1,
                           queryHeadDim: 1, valueHeadDim: 1, scale: 1, output: &output, scratch: &scratch, pool: nil)
        #expect(output == [0, 0])
    }

    #if arch(x86_64) && canImport(KernelsAVX2)
    /// The AVX2 column softmax is the baseline one compiled from the same file: bit for bit the same, at
    /// key counts below, at and past the vector width, with large negative and positive scores.
    @Test func avx2ColumnSoftmaxGivesTheBaselineBits() {
        guard KernelDispatch.best >= .avx2 else { return }
        var state: UInt64 = 77
        for keys in [1, 2, 7, 8, 9, 31, 300] {
            for scale: Float in [0.125, 1, 3.5] {
                let scores = (0..<(keys * 16)).map { _ -> Float in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return (Float(state >> 40) / Float(1 << 24) - 0.5) * 60
                }
                var baseline = scores, avx2 = scores
                baseline.withUnsafeMutableBufferPointer { softmaxColumns($0.baseAddress!, keys: keys, scale: scale) }
                avx2.withUnsafeMutableBufferPointer { softmaxColumnsAVX2($0.baseAddress!, keys: keys, scale: scale) }
                #expect(baseline.map(\.bitPattern) == avx2.map(\.bitPattern), "keys \(keys), scale \(scale)")
            }
        }
    }
    #endif
}
