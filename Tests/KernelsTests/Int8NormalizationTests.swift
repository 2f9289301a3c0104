import Testing
import Kernels

/// Int8 LayerNorm and GroupNorm: every level and pool size equals the scalar reference bit for bit
/// (the blocked summation order is shared), in place too, with zero points at the extremes and
/// saturating inputs and outputs; and the int8 result tracks the float kernel on dequantized values.
@Suite struct Int8NormalizationTests {
    static let quantizations: [(input: Int8Quantization, residual: Int8Quantization, output: Int8Quantization)] = [
        (Int8Quantization(scale: 0.05, zeroPoint: 3), Int8Quantization(scale: 0.02, zeroPoint: -7), Int8Quantization(scale: 0.03, zeroPoint: -1)),
        (Int8Quantization(scale: 0.01, zeroPoint: -128), Int8Quantization(scale: 0.5, zeroPoint: 127), Int8Quantization(scale: 0.02, zeroPoint: 127)),
        (Int8Quantization(scale: 2, zeroPoint: 127), Int8Quantization(scale: 1e-3, zeroPoint: -128), Int8Quantization(scale: 0.004, zeroPoint: -128)),
    ]

    /// Outputs of `int8LayerNorm` at `level` (nil: the reference), in place over a copy of the input.
    static func layerNorm(_ input: [Int8], _ residual: [Int8]?, rows: Int, columns: Int, gamma: [Float], beta: [Float],
                          quantization: Int, level: KernelLevel?, pool: ThreadPool?) -> [Int8] {
        let (inputQuantization, residualQuantization, outputQuantization) = quantizations[quantization]
        var data = input
        let other = residual ?? [0]
        data.withUnsafeMutableBufferPointer { data in
            other.withUnsafeBufferPointer { other in
                let operand = Int8Operand(values: data.baseAddress!, quantization: inputQuantization)
                let added = residual == nil ? nil : Int8Operand(values: other.baseAddress!, quantization: residualQuantization)
                if let level {
                    KernelDispatch.withLevel(level) {
                        int8LayerNorm(input: operand, residual: added, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                      epsilon: 1e-5, outputQuantization: outputQuantization, output: data.baseAddress!, pool: pool)
                    }
                } else {
                    int8LayerNormReference(input: operand, residual: added, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                           epsilon: 1e-5, outputQuantization: outputQuantization, output: data.baseAddress!)
                }
            }
        }
        return data
    }

    @Test(arguments: [(0, 8), (1, 1), (1, 7), (1, 8), (3, 9), (13, 33), (5, 256), (70, 256), (2, 301), (4, 1023)])
    func layerNormEveryLevelEqualsTheReference(rows: Int, columns: Int) {
        var generator = SeededGenerator(seed: UInt64(rows * 1000 + columns))
        var input = randomInt8(rows * columns, using: &generator)
        let residual = randomInt8(rows * columns, using: &generator)
        if rows * columns > 8 {
            input[0] = -128
            input[1] = 127
        }
        // gamma up to 4: outputs saturate at both ends in some rows.
        let gamma = randomFloats(columns, in: -4...4, using: &generator)
        let beta = randomFloats(columns, in: -1...1, using: &generator)
        for quantization in Self.quantizations.indices {
            for added in [nil, residual] {
                let expected = Self.layerNorm(input, added, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                              quantization: quantization, level: nil, pool: nil)
                if rows * columns == 0 { #expect(expected == input) }
                for level in int8Levels {
                    eachPool([nil, 1, 3]) { pool in
                        let actual = Self.layerNorm(input, added, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                                    quantization: quantization, level: level, pool: pool)
                        #expect(actual == expected, "\(rows)x\(columns) quantization \(quantization) residual \(added != nil) \(level.name)")
                    }
                }
            }
        }
    }

    @Test func layerNormSaturatesAndHandlesConstantRows() {
        let columns = 24
        // Row 0 all -128, row 1 all 127 (constant: normalize to beta), row 2 alternating extremes.
        let input: [Int8] = Array(repeating: -128, count: columns) + Array(repeating: 127, count: columns)
            + (0..<columns).map { $0 % 2 == 0 ? -128 : 127 }
        let gamma = [Float](repeating: 100, count: columns)
        let beta = (0..<columns).map { Float($0 - 12) / 4 }
        for quantization in Self.quantizations.indices {
            let expected = Self.layerNorm(input, nil, rows: 3, columns: columns, gamma: gamma, beta: beta,
                                          quantization: quantization, level: nil, pool: nil)
            let output = Self.quantizations[quantization].output
            for row in 0..<2 {
                for column in 0..<columns {
                    // The mean of equal values can be off by an ulp (v + v + v rounds): within one step.
                    #expect(abs(Int(expected[row * columns + column]) - Int(output.quantize(beta[column]))) <= 1)
                }
            }
            // |x̂| = 1 times gamma 100: far past the output range on both sides.
            #expect((0..<columns).allSatisfy { expected[2 * columns + $0] == ($0 % 2 == 0 ? -128 : 127) })
            for level in int8Levels {
                let actual = Self.layerNorm(input, nil, rows: 3, columns: columns, gamma: gamma, beta: beta,
                                            quantization: quantization, level: level, pool: ThreadPool(threadCount: 2))
                #expect(actual == expected, "\(level.name)")
            }
        }
    }

    /// Against the float layerNorm on dequantized values: within one output step (the rounding's
    /// half step plus the float paths' tiny differences).
    @Test func layerNormTracksTheFloatKernel() {
        var generator = SeededGenerator(seed: 77)
        let (rows, columns) = (20, 256)
        let input = randomInt8(rows * columns, using: &generator)
        let residual = randomInt8(rows * columns, using: &generator)
        let gamma = randomFloats(columns, in: 0.5...1.5, using: &generator)
        let beta = randomFloats(columns, in: -0.5...0.5, using: &generator)
        let (inputQuantization, residualQuantization, outputQuantization) = Self.quantizations[0]
        let values = zip(input, residual).map { inputQuantization.dequantize($0) + residualQuantization.dequantize($1) }
        var expected = [Float](repeating: 0, count: rows * columns)
        layerNormReference(input: values, residual: nil, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: 1e-5,
                           output: &expected)
        let actual = Self.layerNorm(input, residual, rows: rows, columns: columns, gamma: gamma, beta: beta, quantization: 0,
                                    level: .simd, pool: nil)
        for index in expected.indices {
            let clamped = min(max(expected[index], outputQuantization.dequantize(-128)), outputQuantization.dequantize(127))
            #expect(abs(outputQuantization.dequantize(actual[index]) - clamped) <= outputQuantization.scale)
        }
    }

    static func groupNorm(_ input: [Int8], pixels: Int, channels: Int, groups: Int, gamma: [Float], beta: [Float],
                          quantization: Int, level: KernelLevel?, pool: ThreadPool?) -> [Int8] {
        let (inputQuantization, _, outputQuantization) = quantizations[quantization]
        var data = input
        data.withUnsafeMutableBufferPointer { data in
            let operand = Int8Operand(values: data.baseAddress!, quantization: inputQuantization)
            if let level {
                KernelDispatch.withLevel(level) {
                    int8GroupNorm(input: operand, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                  epsilon: 1e-5, outputQuantization: outputQuantization, output: data.baseAddress!, pool: pool)
                }
            } else {
                int8GroupNormReference(input: operand, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                       epsilon: 1e-5, outputQuantization: outputQuantization, output: data.baseAddress!)
            }
        }
        return data
    }

    @Test(arguments: [(1, 8, 1), (7, 16, 4), (25, 256, 32), (3, 6, 3), (5, 24, 2), (40, 64, 32), (9, 36, 4), (300, 256, 32), (0, 8, 2)])
    func groupNormEveryLevelEqualsTheReference(pixels: Int, channels: Int, groups: Int) {
        var generator = SeededGenerator(seed: UInt64(pixels * 100 + channels + groups))
        var input = randomInt8(pixels * channels, using: &generator)
        if pixels * channels > 8 {
            input[0] = -128
            input[1] = 127
        }
        let gamma = randomFloats(channels, in: -4...4, using: &generator)
        let beta = randomFloats(channels, using: &generator)
        for quantization in Self.quantizations.indices {
            let expected = Self.groupNorm(input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                          quantization: quantization, level: nil, pool: nil)
            if pixels == 0 { #expect(expected == input) }
            for level in int8Levels {
                eachPool([nil, 1, 3]) { pool in
                    let actual = Self.groupNorm(input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                                quantization: quantization, level: level, pool: pool)
                    #expect(actual == expected, "\(pixels) pixels \(channels)/\(groups) quantization \(quantization) \(level.name)")
                }
            }
        }
    }

    @Test func groupNormTracksTheFloatKernel() {
        var generator = SeededGenerator(seed: 78)
        let (pixels, channels, groups) = (60, 256, 32)
        let input = randomInt8(pixels * channels, using: &generator)
        let gamma = randomFloats(channels, in: 0.5...1.5, using: &generator)
        let beta = randomFloats(channels, in: -0.5...0.5, using: &generator)
        let (inputQuantization, _, outputQuantization) = Self.quantizations[0]
        var expected = [Float](repeating: 0, count: pixels * channels)
        groupNormReference(input: input.map(inputQuantization.dequantize), pixels: pixels, channels: channels, groups: groups,
                           gamma: gamma, beta: beta, epsilon: 1e-5, output: &expected)
        let actual = Self.groupNorm(input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                    quantization: 0, level: .simd, pool: nil)
        for index in expected.indices {
            let clamped = min(max(expected[index], outputQuantization.dequantize(-128)), outputQuantization.dequantize(127))
            #expect(abs(outputQuantization.dequantize(actual[index]) - clamped) <= outputQuantization.scale)
        }
    }
}
