import Testing
import Kernels

@Suite struct Int8AttentionTests {
    @Test(arguments: [(5, 7, 1, 8, 8), (19, 23, 2, 32, 32), (17, 9, 3, 64, 32), (1, 1, 1, 3, 5), (4, 0, 2, 8, 8), (6, 40, 1, 13, 11)])
    func everyLevelEqualsTheReference(queries: Int, keys: Int, heads: Int, queryHeadDim: Int, valueHeadDim: Int) {
        var generator = SeededGenerator(seed: UInt64(queries * 7919 + keys * 31 + queryHeadDim))
        let q = randomInt8(queries * heads * queryHeadDim, using: &generator)
        let k = randomInt8(keys * heads * queryHeadDim, using: &generator)
        let v = randomInt8(keys * heads * valueHeadDim, using: &generator)
        let range = Int8OutputRange(zeroPoint: -5)
        let scoreScale = 0.02 / Float(queryHeadDim).squareRoot()
        func run(_ body: (Int8AttentionOperands, UnsafeMutablePointer<Int8>) -> Void) -> [Int8] {
            var result = [Int8](repeating: 0x55, count: max(queries * heads * valueHeadDim, 1))
            q.withUnsafeBufferPointer { q in
                k.withUnsafeBufferPointer { k in
                    v.withUnsafeBufferPointer { v in
                        let operands = Int8AttentionOperands(q: q.baseAddress!, qStride: heads * queryHeadDim, qZeroPoint: 3,
                                                             k: k.baseAddress!, kStride: heads * queryHeadDim, kZeroPoint: -11,
                                                             v: v.baseAddress!, vStride: heads * valueHeadDim, vZeroPoint: 20)
                        result.withUnsafeMutableBufferPointer { body(operands, $0.baseAddress!) }
                    }
                }
            }
            return result
        }
        let expected = run { operands, output in
            int8MultiHeadAttentionReference(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                            valueHeadDim: valueHeadDim, scoreScale: scoreScale, outputScale: 0.8 / 16_384,
                                            outputRange: range, output: output)
        }
        for level in int8Levels {
            eachPool([nil, 3]) { pool in
                let actual = run { operands, output in
                    KernelDispatch.withLevel(level) {
                        int8MultiHeadAttention(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                               valueHeadDim: valueHeadDim, scoreScale: scoreScale, outputScale: 0.8 / 16_384,
                                               outputRange: range, output: output, pool: pool)
                    }
                }
                #expect(actual == expected, "\(level)")
            }
        }
    }

    /// Against the float attention on dequantized operands: within 2 output steps.
    @Test func tracksTheFloatAttention() {
        var generator = SeededGenerator(seed: 8)
        let (queries, keys, heads, dim) = (12, 50, 2, 32)
        let quantization = Int8Quantization.covering(minimum: -1, maximum: 1)
        let q = randomInt8(queries * heads * dim, using: &generator)
        let k = randomInt8(keys * heads * dim, using: &generator)
        let v = randomInt8(keys * heads * dim, using: &generator)
        let scale = 1 / Float(dim).squareRoot()
        var expected = [Float](repeating: 0, count: queries * heads * dim)
        multiHeadAttentionReference(q: q.map(quantization.dequantize), qStride: heads * dim, k: k.map(quantization.dequantize),
                                    kStride: heads * dim, v: v.map(quantization.dequantize), vStride: heads * dim,
                                    queries: queries, keys: keys, heads: heads, queryHeadDim: dim, valueHeadDim: dim,
                                    scale: scale, output: &expected)
        var actual = [Int8](repeating: 0, count: expected.count)
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    let operands = Int8AttentionOperands(
                        q: q.baseAddress!, qStride: heads * dim, qZeroPoint: quantization.zeroPoint, k: k.baseAddress!,
                        kStride: heads * dim, kZeroPoint: quantization.zeroPoint, v: v.baseAddress!, vStride: heads * dim,
                        vZeroPoint: quantization.zeroPoint)
                    int8MultiHeadAttention(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: dim,
                                           valueHeadDim: dim, scoreScale: quantization.scale * quantization.scale * scale,
                                           outputScale: quantization.scale / (quantization.scale * 16_384),
                                           outputRange: Int8OutputRange(zeroPoint: quantization.zeroPoint), output: &actual,
                                           pool: nil)
                }
            }
        }
        let worst = zip(actual, expected).map { abs(quantization.dequantize($0) - $1) }.max()!
        #expect(worst <= 2 * quantization.scale)
    }
}
