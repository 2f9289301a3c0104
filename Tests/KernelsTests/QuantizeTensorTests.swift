import Kernels
import Testing

/// The graph's quantize/dequantize kernels: every level equal to the element-wise rule, on odd
/// lengths (the SIMD tail), ties, NaN, infinities and values far outside the range.
@Suite struct QuantizeTensorTests {
    static let quantizations = [
        Int8Quantization(scale: 0.05, zeroPoint: -7), Int8Quantization(scale: 1.0 / 255, zeroPoint: -128),
        Int8Quantization(scale: 3.1, zeroPoint: 127), Int8Quantization(scale: 1, zeroPoint: 0),
    ]

    @Test(arguments: [0, 1, 7, 8, 9, 31, 1001, 32768 + 33, 3 * 32768])
    func quantizeEqualsTheRuleAtEveryLevel(count: Int) {
        var generator = SeededGenerator(seed: UInt64(count + 3))
        var input = Array(randomFloats(count, in: -20...20, using: &generator).prefix(count))
        let specials: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 0.5, 1.5, -2.5, 0, -0.0, -.nan, .signalingNaN,
                                 .greatestFiniteMagnitude, -.leastNonzeroMagnitude]
        for (index, special) in specials.enumerated() where index < count { input[index * 3 % count] = special }
        for quantization in Self.quantizations {
            // Exact ties at this scale: k + 0.5 steps.
            for index in stride(from: 1, to: count, by: 5) { input[index] = (Float(index % 40) - 20.5) * quantization.scale }
            var expected = [Int8](repeating: 0x55, count: count)
            quantizeTensorReference(input, count: count, quantization: quantization, output: &expected)
            #expect(zip(input, expected).allSatisfy { quantization.quantize($0) == $1 })
            for level in int8Levels {
                var actual = [Int8](repeating: 0x55, count: count)
                KernelDispatch.withLevel(level) { quantizeTensor(input, count: count, quantization: quantization, output: &actual) }
                #expect(actual == expected, "\(quantization) \(level.name)")
                // Over a pool, in blocks (the last one partial): the same codes.
                eachPool([1, 3]) { pool in
                    var pooled = [Int8](repeating: 0x55, count: count)
                    KernelDispatch.withLevel(level) {
                        quantizeTensor(input, count: count, quantization: quantization, output: &pooled, pool: pool)
                    }
                    #expect(pooled == expected, "\(quantization) \(level.name), \(pool?.threadCount ?? 0) threads")
                }
            }
        }
    }

    @Test(arguments: [0, 5, 8, 263])
    func dequantizeEqualsTheRuleAtEveryLevel(count: Int) {
        var generator = SeededGenerator(seed: UInt64(count + 11))
        let input = Array(randomInt8(count, using: &generator).prefix(count))
        for quantization in Self.quantizations {
            let expected = input.map { quantization.dequantize($0) }
            for level in int8Levels {
                var actual = [Float](repeating: .nan, count: count)
                KernelDispatch.withLevel(level) { dequantizeTensor(input, count: count, quantization: quantization, output: &actual) }
                #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "\(quantization) \(level.name)")
            }
        }
    }
}
