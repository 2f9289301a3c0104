import Foundation
import Kernels
import Testing

/// Int8 sigmoid (lookup table), softmax (table of exp, fp32 out) and PReLU: every level equals the
/// scalar reference bit for bit, on every code (-128 and 127 included), zero points at the
/// extremes, in place; and each tracks its float kernel on dequantized values.
@Suite struct Int8ElementwiseTests {
    static let quantizations: [Int8Quantization] = [
        Int8Quantization(scale: 0.05, zeroPoint: 0), Int8Quantization(scale: 0.1, zeroPoint: -128),
        Int8Quantization(scale: 0.02, zeroPoint: 127), Int8Quantization(scale: 1, zeroPoint: 40), Int8Quantization(scale: 1e-3, zeroPoint: -5),
    ]
    /// The usual sigmoid output (TFLite's 1/256, -128) and two others.
    static let sigmoidOutputs: [Int8Quantization] = [
        Int8Quantization(scale: 1.0 / 256, zeroPoint: -128), Int8Quantization(scale: 1.0 / 255, zeroPoint: 127),
        Int8Quantization(scale: 0.01, zeroPoint: 0),
    ]

    /// Every code, then a random tail of odd length, so the whole table is exercised.
    static func everyCode(extra: Int, seed: UInt64) -> [Int8] {
        var generator = SeededGenerator(seed: seed)
        return (-128...127).map { Int8($0) } + randomInt8(extra, using: &generator)
    }

    /// SiLU, GELU, ReLU and one-slope PReLU through the same table: equal to the reference at every level,
    /// within half an output step of the exact value (clamped to the output range).
    @Test(arguments: [Int8UnaryFunction.silu, .gelu, .relu, .identity, .prelu(slope: 0.25), .prelu(slope: -1.5)])
    func unaryTableEqualsTheReference(_ function: Int8UnaryFunction) {
        let input = Self.everyCode(extra: 51, seed: 2)
        let outputs = [Int8Quantization(scale: 0.02, zeroPoint: -100), Int8Quantization(scale: 0.05, zeroPoint: 0)]
        for inputQuantization in Self.quantizations {
            for outputQuantization in outputs {
                let table = Int8UnaryTable(function, input: inputQuantization, output: outputQuantization)
                var expected = [Int8](repeating: 0x55, count: input.count)
                int8UnaryReference(function, input: input, count: input.count, inputQuantization: inputQuantization,
                                   outputQuantization: outputQuantization, output: &expected)
                for level in int8Levels {
                    var actual = [Int8](repeating: 0x55, count: input.count)
                    KernelDispatch.withLevel(level) {
                        int8Unary(input: input, count: input.count, table: table, output: &actual)
                    }
                    #expect(actual == expected, "\(function) \(inputQuantization) -> \(outputQuantization) \(level.name)")
                    // The block form (a concatenation's columns): rows of 7 read 7 apart, written 10 apart.
                    let rows = input.count / 7
                    var block = [Int8](repeating: 0x55, count: rows * 10)
                    KernelDispatch.withLevel(level) {
                        int8Unary(input: input, rows: rows, columns: 7, inputStride: 7, table: table, output: &block, outputStride: 10)
                    }
                    for row in 0..<rows {
                        #expect(Array(block[row * 10..<row * 10 + 7]) == Array(expected[row * 7..<row * 7 + 7]), "\(level.name) row \(row)")
                        #expect(block[row * 10 + 7..<row * 10 + 10].allSatisfy { $0 == 0x55 })
                    }
                }
                if case .prelu(let slope) = function {
                    // The table is the int8 PReLU kernel's rule with one channel.
                    var prelu = [Int8](repeating: 0x55, count: input.count)
                    int8PReLUReference(input: input, count: input.count, inputQuantization: inputQuantization, alpha: [slope],
                                       channels: 1, outputQuantization: outputQuantization, output: &prelu)
                    #expect(prelu == expected)
                }
                for code in -128...127 {
                    let x = Double(inputQuantization.dequantize(Int8(code)))
                    let exact: Double = switch function {
                    case .silu: x / (1 + exp(-x))
                    case .gelu: 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
                    case .relu: max(x, 0)
                    case .sigmoid: 1 / (1 + exp(-x))
                    case .identity: x
                    case .prelu(let slope): x < 0 ? Double(slope) * x : x
                    }
                    let clamped = min(max(Float(exact), outputQuantization.dequantize(-128)), outputQuantization.dequantize(127))
                    #expect(abs(outputQuantization.dequantize(expected[code + 128]) - clamped) <= 0.5001 * outputQuantization.scale)
                }
            }
        }
    }

    @Test func sigmoidTableEqualsTheReference() {
        let input = Self.everyCode(extra: 77, seed: 1)
        for inputQuantization in Self.quantizations {
            for outputQuantization in Self.sigmoidOutputs {
                let table = Int8UnaryTable(.sigmoid, input: inputQuantization, output: outputQuantization)
                var expected = [Int8](repeating: 0x55, count: input.count)
                int8UnaryReference(.sigmoid, input: input, count: input.count, inputQuantization: inputQuantization,
                                   outputQuantization: outputQuantization, output: &expected)
                for level in int8Levels {
                    var actual = input  // in place
                    KernelDispatch.withLevel(level) {
                        actual.withUnsafeMutableBufferPointer { buffer in
                            int8Unary(input: buffer.baseAddress!, count: buffer.count, table: table, output: buffer.baseAddress!)
                        }
                    }
                    #expect(actual == expected, "\(inputQuantization) -> \(outputQuantization) \(level.name)")
                }
                // Monotonic, and within half a step (plus the float sigmoid's last bits) of the real value.
                for code in -128...126 {
                    #expect(expected[code + 128] <= expected[code + 129])
                    let real = Float(1 / (1 + exp(-Double(inputQuantization.dequantize(Int8(code))))))
                    let clamped = min(max(real, outputQuantization.dequantize(-128)), outputQuantization.dequantize(127))
                    #expect(abs(outputQuantization.dequantize(expected[code + 128]) - clamped) <= 0.5001 * outputQuantization.scale)
                }
            }
        }
    }

    @Test(arguments: [(0, 16), (1, 1), (3, 7), (5440, 16), (40, 16), (5, 17), (8, 100), (3, 256), (2, 1000)])
    func softmaxEveryLevelEqualsTheReference(groups: Int, groupSize: Int) {
        var generator = SeededGenerator(seed: UInt64(groups * 31 + groupSize))
        var input = randomInt8(groups * groupSize, using: &generator)
        if groups * groupSize > 40 {
            // A full-range group: differences of 255 reach the table's last entry.
            input[16] = -128
            input[17] = 127
            input[groupSize - 1] = 127  // a tie at the maximum, in the first group's last lane
        }
        for quantization in Self.quantizations + [Int8Quantization(scale: 0.5, zeroPoint: 0)] {
            let table = Int8SoftmaxTable(inputScale: quantization.scale)
            var expected = [Float](repeating: .nan, count: max(groups * groupSize, 1))
            int8SoftmaxReference(input: input, groups: groups, groupSize: groupSize, inputScale: quantization.scale, output: &expected)
            for level in int8Levels {
                eachPool([nil, 1, 3]) { pool in
                    var actual = [Float](repeating: .nan, count: expected.count)
                    KernelDispatch.withLevel(level) {
                        int8Softmax(input: input, groups: groups, groupSize: groupSize, table: table, output: &actual, pool: pool)
                    }
                    #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "\(groups)x\(groupSize) \(quantization) \(level.name)")
                }
            }
            // Against the float softmax on dequantized values (the zero point cancels). The float
            // reference sums sequentially, and its x - max carries the roundings of both dequantized
            // values (u·|x| each, where the int8 path's Float(q - max) is exact), which exp turns
            // into relative errors: within (n + 16 + 8·max|x|)·u relative.
            let dequantized = input.map(quantization.dequantize)
            var float = dequantized
            softmaxReference(&float, groups: groups, groupSize: groupSize)
            for index in 0..<groups * groupSize {
                let group = index / groupSize
                let largest = dequantized[group * groupSize..<(group + 1) * groupSize].map(abs).max()!
                let bound = (Float(groupSize + 16) + 8 * largest) * Float.ulpOfOne / 2 * float[index] + 0x1p-125
                #expect(abs(expected[index] - float[index]) <= bound, "\(groups)x\(groupSize) \(quantization) element \(index)")
            }
        }
    }

    @Test(arguments: [(0, 1), (1, 1), (255, 1), (48, 16), (35, 7), (600, 300), (24, 5), (10, 4)])
    func preluEveryLevelEqualsTheReference(count: Int, channels: Int) {
        var generator = SeededGenerator(seed: UInt64(count * 10 + channels))
        var input = randomInt8(count, using: &generator)
        if count > 2 {
            input[0] = -128
            input[1] = 127
        }
        let alpha = randomFloats(channels, in: -0.5...1.5, using: &generator)
        for inputQuantization in Self.quantizations {
            for outputQuantization in Self.quantizations {
                var expected = [Int8](repeating: 0x55, count: max(count, 1))
                int8PReLUReference(input: input, count: count, inputQuantization: inputQuantization, alpha: alpha, channels: channels,
                                   outputQuantization: outputQuantization, output: &expected)
                for level in int8Levels {
                    var actual = input  // in place
                    KernelDispatch.withLevel(level) {
                        actual.withUnsafeMutableBufferPointer { buffer in
                            int8PReLU(input: buffer.baseAddress!, count: count, inputQuantization: inputQuantization, alpha: alpha,
                                      channels: channels, outputQuantization: outputQuantization, output: buffer.baseAddress!)
                        }
                    }
                    #expect(actual == (count == 0 ? input : expected), "\(inputQuantization) -> \(outputQuantization) \(level.name)")
                }
                // The float PReLU on dequantized values, quantized: within half a step (ties aside).
                var float = input.map(inputQuantization.dequantize)
                preluReference(&float, count: count, alpha: alpha, channels: channels)
                for index in 0..<count {
                    let clamped = min(max(float[index], outputQuantization.dequantize(-128)), outputQuantization.dequantize(127))
                    #expect(abs(outputQuantization.dequantize(expected[index]) - clamped) <= 0.5001 * outputQuantization.scale)
                }
            }
        }
    }
}
