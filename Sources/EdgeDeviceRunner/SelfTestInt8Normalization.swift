import Kernels

// The int8 normalizations and elementwise ops (Int8Normalization.swift, Int8Elementwise.swift):
// at every dispatch level and pool size, equal to the scalar reference bit for bit, on random and
// edge shapes (one row, tails of 1..7, empty), zero points at the extremes and saturating values.

func checkInt8Normalization(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "int8Normalization")
    let levels: [KernelLevel] = [.scalar, .simd, .avx2]
    let quantizations = [Int8Quantization(scale: 0.05, zeroPoint: 3), Int8Quantization(scale: 0.01, zeroPoint: -128),
                         Int8Quantization(scale: 0.5, zeroPoint: 127), Int8Quantization(scale: 1.0 / 256, zeroPoint: -128)]

    var layer = KernelCheck("int8LayerNorm", path: simd8Path, criterion: "exact, every level and pool")
    var rowShapes = [(1, 1), (1, 7), (3, 9), (13, 33), (5, 256), (2, 301), (70, 256), (0, 8)]
    for _ in 0..<4 { rowShapes.append((generator.int(in: 1...40), generator.int(in: 1...300))) }
    for (number, (rows, columns)) in rowShapes.enumerated() {
        let input = saturatedInt8Values(rows * columns, &generator)
        let residualValues = saturatedInt8Values(rows * columns, &generator)
        let gamma = generator.floats(max(columns, 1), in: -4...4)
        let beta = generator.floats(max(columns, 1))
        let inputQuantization = quantizations[number % 4], residualQuantization = quantizations[(number + 1) % 4]
        let outputQuantization = quantizations[(number + 2) % 4]
        let withResidual = number % 2 == 0
        let name = "rows \(rows) columns \(columns) residual \(withResidual) zero points \(inputQuantization.zeroPoint)/\(outputQuantization.zeroPoint)"
        input.withUnsafeBufferPointer { inputBuffer in
            residualValues.withUnsafeBufferPointer { residualBuffer in
                let operand = Int8Operand(values: inputBuffer.baseAddress!, quantization: inputQuantization)
                let residual = withResidual ? Int8Operand(values: residualBuffer.baseAddress!, quantization: residualQuantization) : nil
                var expected = [Int8](repeating: 0x55, count: max(rows * columns, 1))
                int8LayerNormReference(input: operand, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                       epsilon: 1e-5, outputQuantization: outputQuantization, output: &expected)
                layer.compareExactlyAtEveryLevel(expected, levels: levels, shape: name) { actual, pool in
                    int8LayerNorm(input: operand, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                  epsilon: 1e-5, outputQuantization: outputQuantization, output: &actual, pool: pool)
                }
            }
        }
    }
    suite.report(layer)

    var group = KernelCheck("int8GroupNorm", path: simd8Path, criterion: "exact, every level and pool")
    for (number, (pixels, channels, groups)) in [(1, 8, 1), (7, 16, 4), (25, 256, 32), (3, 6, 3), (5, 24, 2), (40, 64, 32), (9, 36, 4),
                                                 (150, 256, 32)].enumerated() {
        let input = saturatedInt8Values(pixels * channels, &generator)
        let gamma = generator.floats(channels, in: -4...4)
        let beta = generator.floats(channels)
        let inputQuantization = quantizations[number % 4], outputQuantization = quantizations[(number + 1) % 4]
        let name = "pixels \(pixels) channels \(channels) groups \(groups)"
        input.withUnsafeBufferPointer { inputBuffer in
            let operand = Int8Operand(values: inputBuffer.baseAddress!, quantization: inputQuantization)
            var expected = [Int8](repeating: 0x55, count: pixels * channels)
            int8GroupNormReference(input: operand, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                   epsilon: 1e-5, outputQuantization: outputQuantization, output: &expected)
            group.compareExactlyAtEveryLevel(expected, levels: levels, shape: name) { actual, pool in
                int8GroupNorm(input: operand, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                              epsilon: 1e-5, outputQuantization: outputQuantization, output: &actual, pool: pool)
            }
        }
    }
    suite.report(group)

    var softmaxCheck = KernelCheck("int8Softmax (fp32 out)", path: "exp table, \(simd8Path)", criterion: "exact, every level and pool")
    for (number, (groups, size)) in [(1, 1), (3, 7), (700, 16), (5, 17), (8, 100), (2, 256), (0, 16)].enumerated() {
        let input = saturatedInt8Values(groups * size, &generator)
        let scale = [Float(0.05), 0.01, 0.5, 1][number % 4]
        let table = Int8SoftmaxTable(inputScale: scale)
        var expected = [Float](repeating: .nan, count: max(groups * size, 1))
        int8SoftmaxReference(input: input, groups: groups, groupSize: size, inputScale: scale, output: &expected)
        for level in levels {
            for pool in selfTestPools {
                var actual = [Float](repeating: .nan, count: expected.count)
                KernelDispatch.withLevel(level) {
                    int8Softmax(input: input, groups: groups, groupSize: size, table: table, output: &actual, pool: pool)
                }
                softmaxCheck.compare(expected, actual, shape: "groups \(groups) size \(size) scale \(scale), \(level.name), "
                    + "\(pool?.threadCount ?? 1) threads") { _ in 0 }
            }
        }
    }
    suite.report(softmaxCheck)

    var sigmoidCheck = KernelCheck("int8Unary (sigmoid, silu, gelu, relu, identity)", path: "256-entry table",
                                   criterion: "exact, every level")
    var quantizeCheck = KernelCheck("quantizeTensor", path: simd8Path, criterion: "exact, every level")
    var preluCheck = KernelCheck("int8PReLU", path: simd8Path, criterion: "exact, every level")
    var everyCode: [Int8] = []
    for code in -128...127 { everyCode.append(Int8(code)) }
    for inputQuantization in quantizations {
        for outputQuantization in quantizations {
            let name = "zero points \(inputQuantization.zeroPoint) -> \(outputQuantization.zeroPoint)"
            for function in [Int8UnaryFunction.sigmoid, .silu, .gelu, .relu, .identity] {
                let table = Int8UnaryTable(function, input: inputQuantization, output: outputQuantization)
                var expected = [Int8](repeating: 0x55, count: everyCode.count)
                int8UnaryReference(function, input: everyCode, count: everyCode.count, inputQuantization: inputQuantization,
                                   outputQuantization: outputQuantization, output: &expected)
                for level in levels {
                    var actual = [Int8](repeating: 0x55, count: everyCode.count)
                    KernelDispatch.withLevel(level) {
                        int8Unary(input: everyCode, count: everyCode.count, table: table, output: &actual)
                    }
                    sigmoidCheck.compareExactly(expected, actual, shape: "\(function) \(name), \(level.name)")
                }
            }
            let floats = generator.floats(1001, in: -300...300) + [Float.nan, .infinity, -.infinity, 0.5, -2.5]
            var expectedCodes = [Int8](repeating: 0x55, count: floats.count)
            quantizeTensorReference(floats, count: floats.count, quantization: inputQuantization, output: &expectedCodes)
            for level in levels {
                var actual = [Int8](repeating: 0x55, count: floats.count)
                KernelDispatch.withLevel(level) {
                    quantizeTensor(floats, count: floats.count, quantization: inputQuantization, output: &actual)
                }
                quantizeCheck.compareExactly(expectedCodes, actual, shape: "zero point \(inputQuantization.zeroPoint), \(level.name)")
            }
            for (count, channels) in [(256, 1), (256, 16), (255, 5), (7, 7)] {
                let alpha = generator.floats(channels, in: -0.5...1.5)
                var expectedPReLU = [Int8](repeating: 0x55, count: count)
                int8PReLUReference(input: everyCode, count: count, inputQuantization: inputQuantization, alpha: alpha, channels: channels,
                                   outputQuantization: outputQuantization, output: &expectedPReLU)
                for level in levels {
                    var actual = [Int8](repeating: 0x55, count: count)
                    KernelDispatch.withLevel(level) {
                        int8PReLU(input: everyCode, count: count, inputQuantization: inputQuantization, alpha: alpha, channels: channels,
                                  outputQuantization: outputQuantization, output: &actual)
                    }
                    preluCheck.compareExactly(expectedPReLU, actual, shape: "\(name), count \(count) channels \(channels), \(level.name)")
                }
            }
        }
    }
    suite.report(sigmoidCheck)
    suite.report(quantizeCheck)
    suite.report(preluCheck)
}

/// `count` int8 values over the whole range, with runs of -128 and 127 (at least one element).
func saturatedInt8Values(_ count: Int, _ generator: inout SelfTestGenerator) -> [Int8] {
    var values: [Int8] = []
    for index in 0..<max(count, 1) {
        switch index % 37 {
        case 5, 6: values.append(-128)
        case 11, 12: values.append(127)
        default: values.append(Int8(truncatingIfNeeded: generator.next()))
        }
    }
    return values
}
