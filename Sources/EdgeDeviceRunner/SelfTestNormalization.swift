import CLibc
import Kernels

// Normalizations and elementwise ops, two ways. At the machine's best level (SIMD8: NEON on the
// boards) against double-precision formulas written here, which catches a miscompiled or
// mis-linked libm on the board; and (checkNormalizationPaths) the SIMD8 paths against the scalar
// references within the bounds Normalization.swift and Elementwise.swift state, with the same bits
// on every pool size, the forced scalar level equal to the references. Pooling and PReLU are
// compared exactly with plain loops.

func checkNormalization(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "normalization")
    var layer = KernelCheck("layerNorm", path: simd8Path, criterion: "1e-4 relative to double")
    for (rows, columns) in [(0, 8), (1, 1), (3, 7), (5, 256), (2, 301), (13, 33)] {
        let input = generator.floats(rows * columns, in: -3...3)
        let residual = generator.floats(rows * columns)
        let gamma = generator.floats(columns, in: 0.5...1.5)
        let beta = generator.floats(columns)
        for withResidual in [false, true] {
            let count = max(rows * columns, 1)
            var expected = [Float](repeating: .nan, count: count)
            for row in 0..<rows {
                var mean: Double = 0
                for column in 0..<columns {
                    mean += Double(input[row * columns + column]) + (withResidual ? Double(residual[row * columns + column]) : 0)
                }
                mean /= Double(columns)
                var variance: Double = 0
                for column in 0..<columns {
                    let centered = Double(input[row * columns + column]) + (withResidual ? Double(residual[row * columns + column]) : 0) - mean
                    variance += centered * centered
                }
                let inverse = 1 / (variance / Double(columns) + 1e-5).squareRoot()
                for column in 0..<columns {
                    let x = Double(input[row * columns + column]) + (withResidual ? Double(residual[row * columns + column]) : 0)
                    expected[row * columns + column] = Float((x - mean) * inverse * Double(gamma[column]) + Double(beta[column]))
                }
            }
            // In place, as the executor runs it.
            var actual = input
            actual.withUnsafeMutableBufferPointer { buffer in
                layerNorm(input: buffer.baseAddress!, residual: withResidual ? residual : nil, rows: rows, columns: columns,
                          gamma: gamma, beta: beta, epsilon: 1e-5, output: buffer.baseAddress!)
            }
            if rows * columns == 0 { actual = expected }
            layer.compare(expected, actual, shape: "rows \(rows) columns \(columns) residual \(withResidual)") {
                1e-4 * (1 + expected[$0].magnitude)
            }
        }
    }
    suite.report(layer)

    var group = KernelCheck("groupNorm", path: simd8Path, criterion: "1e-4 relative to double")
    for (pixels, channels, groups) in [(1, 8, 1), (7, 16, 4), (25, 256, 32), (3, 6, 3)] {
        let input = generator.floats(pixels * channels, in: -3...3)
        let gamma = generator.floats(channels, in: 0.5...1.5)
        let beta = generator.floats(channels)
        let perGroup = channels / groups
        var expected = [Float](repeating: .nan, count: pixels * channels)
        for g in 0..<groups {
            var mean: Double = 0
            for pixel in 0..<pixels { for c in 0..<perGroup { mean += Double(input[pixel * channels + g * perGroup + c]) } }
            mean /= Double(pixels * perGroup)
            var variance: Double = 0
            for pixel in 0..<pixels {
                for c in 0..<perGroup {
                    let centered = Double(input[pixel * channels + g * perGroup + c]) - mean
                    variance += centered * centered
                }
            }
            let inverse = 1 / (variance / Double(pixels * perGroup) + 1e-5).squareRoot()
            for pixel in 0..<pixels {
                for c in 0..<perGroup {
                    let channel = g * perGroup + c
                    expected[pixel * channels + channel] = Float((Double(input[pixel * channels + channel]) - mean) * inverse
                        * Double(gamma[channel]) + Double(beta[channel]))
                }
            }
        }
        var actual = [Float](repeating: .nan, count: pixels * channels)
        groupNorm(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                  epsilon: 1e-5, output: &actual)
        group.compare(expected, actual, shape: "pixels \(pixels) channels \(channels) groups \(groups)") {
            1e-4 * (1 + expected[$0].magnitude)
        }
    }
    suite.report(group)
}

func checkElementwise(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "elementwise")
    var softmaxCheck = KernelCheck("softmax", path: simd8Path, criterion: "1e-6 absolute vs double")
    var sigmoidCheck = KernelCheck("sigmoid", path: simd8Path, criterion: "1e-6 absolute vs double")
    for (groups, size) in [(1, 1), (3, 7), (8, 100), (2, 1000)] {
        let input = generator.floats(groups * size, in: -30...30)
        var expected = [Float](repeating: 0, count: groups * size)
        for g in 0..<groups {
            var maximum = -Double.infinity
            for i in 0..<size { maximum = max(maximum, Double(input[g * size + i])) }
            var sum: Double = 0
            for i in 0..<size { sum += exp(Double(input[g * size + i]) - maximum) }
            for i in 0..<size { expected[g * size + i] = Float(exp(Double(input[g * size + i]) - maximum) / sum) }
        }
        var actual = input
        softmax(&actual, groups: groups, groupSize: size)
        softmaxCheck.compare(expected, actual, shape: "groups \(groups) size \(size)") { _ in 1e-6 }
        var logistic = input
        sigmoid(&logistic, count: logistic.count)
        var logisticExpected = input
        for i in 0..<input.count { logisticExpected[i] = Float(1 / (1 + exp(-Double(input[i])))) }
        sigmoidCheck.compare(logisticExpected, logistic, shape: "count \(input.count)") { _ in 1e-6 }
    }
    suite.report(softmaxCheck)
    suite.report(sigmoidCheck)

    var preluCheck = KernelCheck("prelu", path: simd8Path, criterion: "exact")
    for (count, channels) in [(1, 1), (17, 1), (48, 16), (35, 7)] {
        let input = generator.floats(count, in: -2...2)
        let alpha = generator.floats(channels, in: 0...0.5)
        var expected = input
        for i in 0..<count where input[i] < 0 { expected[i] = alpha[i % channels] * input[i] }
        var actual = input
        prelu(&actual, count: count, alpha: alpha, channels: channels)
        preluCheck.compare(expected, actual, shape: "count \(count) channels \(channels)") { _ in 0 }
    }
    suite.report(preluCheck)

    var poolCheck = KernelCheck("maxPool2d", path: "scalar", criterion: "exact")
    for (height, width, channels, kernel, stride, padding) in [(1, 1, 3, 1, 1, 0), (8, 7, 5, 3, 2, 1), (9, 9, 16, 3, 2, 1), (4, 6, 2, 2, 2, 0)] {
        let input = generator.floats(height * width * channels)
        let outputHeight = (height + 2 * padding - kernel) / stride + 1
        let outputWidth = (width + 2 * padding - kernel) / stride + 1
        var expected = [Float](repeating: -.infinity, count: outputHeight * outputWidth * channels)
        for y in 0..<outputHeight {
            for x in 0..<outputWidth {
                for c in 0..<channels {
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let inputY = y * stride - padding + i, inputX = x * stride - padding + j
                            guard inputY >= 0, inputY < height, inputX >= 0, inputX < width else { continue }
                            let index = (y * outputWidth + x) * channels + c
                            expected[index] = max(expected[index], input[(inputY * width + inputX) * channels + c])
                        }
                    }
                }
            }
        }
        var actual = [Float](repeating: .nan, count: expected.count)
        maxPool2d(input: input, height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                  padding: padding, output: &actual)
        poolCheck.compare(expected, actual, shape: "\(height)x\(width)x\(channels) kernel \(kernel) stride \(stride)") { _ in 0 }
    }
    suite.report(poolCheck)
}

/// The float SIMD8 paths against their scalar references (the bounds of Normalization.swift and
/// Elementwise.swift), every pool size giving the same bits, the forced scalar level the reference.
func checkNormalizationPaths(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "normalizationPaths")
    var layer = KernelCheck("layerNorm vs reference", path: simd8Path, criterion: "Normalization.swift bound")
    var rowShapes = [(1, 1), (3, 7), (1, 8), (3, 9), (5, 256), (2, 301), (13, 33), (70, 256), (0, 16)]
    for _ in 0..<4 { rowShapes.append((generator.int(in: 1...40), generator.int(in: 1...400))) }
    for (number, (rows, columns)) in rowShapes.enumerated() {
        let count = max(rows * columns, 1)
        var input = generator.floats(count, in: -3...3)
        for index in input.indices { input[index] += 1.5 }
        let residual = number % 2 == 0 ? generator.floats(count) : nil
        let gamma = generator.floats(max(columns, 1), in: -2...2)
        let beta = generator.floats(max(columns, 1))
        var expected = [Float](repeating: .nan, count: count)
        layerNormReference(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                           epsilon: 1e-5, output: &expected)
        var values = input
        if let residual { for index in values.indices { values[index] += residual[index] } }
        let bounds = normalizationBounds(values: values, segments: rows, length: columns, gamma: { gamma[$0] }, reference: expected)
        let name = "rows \(rows) columns \(columns) residual \(residual != nil)"
        comparePaths(&layer, name: name, expected: expected, bounds: bounds) { actual, pool in
            layerNorm(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: 1e-5,
                      output: &actual, pool: pool)
        }
    }
    suite.report(layer)

    var group = KernelCheck("groupNorm vs reference", path: simd8Path, criterion: "Normalization.swift bound")
    for (pixels, channels, groups) in [(1, 8, 1), (7, 16, 4), (25, 256, 32), (3, 6, 3), (5, 24, 2), (40, 64, 32), (9, 36, 4), (120, 256, 32)] {
        let count = pixels * channels
        var input = generator.floats(count, in: -3...3)
        for index in input.indices { input[index] += 1 }
        let gamma = generator.floats(channels, in: -2...2)
        let beta = generator.floats(channels)
        var expected = [Float](repeating: .nan, count: count)
        groupNormReference(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                           epsilon: 1e-5, output: &expected)
        // Each group's bound as one segment of its pixels' channels, gathered and scattered back.
        var bounds = [Float](repeating: 0, count: count)
        let perGroup = channels / groups
        for g in 0..<groups {
            var indices: [Int] = []
            for pixel in 0..<pixels { for c in 0..<perGroup { indices.append(pixel * channels + g * perGroup + c) } }
            let groupBounds = normalizationBounds(values: indices.map { input[$0] }, segments: 1, length: indices.count,
                                                  gamma: { gamma[indices[$0] % channels] }, reference: indices.map { expected[$0] })
            for (position, index) in indices.enumerated() { bounds[index] = groupBounds[position] }
        }
        comparePaths(&group, name: "pixels \(pixels) channels \(channels) groups \(groups)", expected: expected, bounds: bounds) { actual, pool in
            groupNorm(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta, epsilon: 1e-5,
                      output: &actual, pool: pool)
        }
    }
    suite.report(group)

    var softmaxCheck = KernelCheck("softmax vs reference", path: simd8Path, criterion: "(1.25n+16)u rel + 2^-125")
    var sigmoidCheck = KernelCheck("sigmoid vs reference", path: simd8Path, criterion: "12u rel + 2^-125")
    for (groups, size, magnitude) in [(1, 1, Float(5)), (3, 7, 5), (700, 16, 8), (5, 17, 30), (8, 100, 30), (2, 1000, 30),
                                      (9, 33, 1e4), (6, 16, 1e30), (4, 300, 0)] {
        let input = generator.floats(groups * size, in: -magnitude...magnitude)
        var expected = input
        softmaxReference(&expected, groups: groups, groupSize: size)
        let bounds = expected.map { (1.25 * Float(size) + 16) * (Float.ulpOfOne / 2) * $0 + 0x1p-125 }
        comparePaths(&softmaxCheck, name: "groups \(groups) size \(size) |x| <= \(magnitude)", expected: expected, bounds: bounds, start: input) { actual, pool in
            softmax(&actual, groups: groups, groupSize: size, pool: pool)
        }
        var logistic = input
        sigmoidReference(&logistic, count: logistic.count)
        let sigmoidBounds = logistic.map { 12 * (Float.ulpOfOne / 2) * $0 + 0x1p-125 }
        comparePaths(&sigmoidCheck, name: "count \(input.count) |x| <= \(magnitude)", expected: logistic, bounds: sigmoidBounds, start: input) { actual, _ in
            sigmoid(&actual, count: actual.count)
        }
    }
    suite.report(softmaxCheck)
    suite.report(sigmoidCheck)
}

/// The bound of Normalization.swift for each element: 2(n + 8)u|gamma|(|x̂| + mean|x|/σ + 1) + 4 ulp(|y|),
/// with the statistics of each of `segments` segments of `length` values computed in Double.
private func normalizationBounds(values: [Float], segments: Int, length: Int, gamma: (Int) -> Float, reference: [Float]) -> [Float] {
    var bounds = [Float](repeating: 0, count: max(values.count, 1))
    let u = Double(Float.ulpOfOne) / 2
    for segment in 0..<segments {
        var mean: Double = 0, magnitude: Double = 0
        for index in 0..<length {
            mean += Double(values[segment * length + index])
            magnitude += Double(values[segment * length + index]).magnitude
        }
        mean /= Double(length)
        magnitude /= Double(length)
        var variance: Double = 0
        for index in 0..<length {
            let centered = Double(values[segment * length + index]) - mean
            variance += centered * centered
        }
        let deviation = (variance / Double(length) + 1e-5).squareRoot()
        for index in 0..<length {
            let element = segment * length + index
            let normalized = (Double(values[element]) - mean).magnitude / deviation
            bounds[element] = Float(2 * Double(length + 8) * u * Double(gamma(index).magnitude) * (normalized + magnitude / deviation + 1))
                + 4 * reference[element].magnitude.ulp
        }
    }
    return bounds
}

/// One shape of a float kernel with a SIMD8 path: at the best level on every pool (within `bounds`
/// of the reference, the same bits on each), then at the forced scalar level (the reference's bits).
private func comparePaths(_ check: inout KernelCheck, name: String, expected: [Float], bounds: [Float], start: [Float]? = nil,
                          _ run: (inout [Float], ThreadPool?) -> Void) {
    let initial = start ?? [Float](repeating: .nan, count: expected.count)
    var first: [Float]?
    for pool in selfTestPools {
        var actual = initial
        KernelDispatch.withLevel(KernelDispatch.best) { run(&actual, pool) }
        check.compare(expected, actual, shape: name) { bounds[$0] }
        if let first, !sameBits(first, actual) {
            check.fail("\(name): result depends on the thread count")
        }
        first = actual
    }
    var scalar = initial
    KernelDispatch.withLevel(.scalar) { run(&scalar, nil) }
    check.compare(expected, scalar, shape: name + ", forced scalar") { _ in 0 }
}

/// Equal bit patterns element by element (NaN meets the same NaN).
private func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    if a.count != b.count { return false }
    for index in 0..<a.count where a[index].bitPattern != b[index].bitPattern { return false }
    return true
}
