import Testing
import Kernels

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
}
