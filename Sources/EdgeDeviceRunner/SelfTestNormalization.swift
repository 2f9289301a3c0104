import CLibc
import Kernels

// The kernels with a single (scalar) implementation: checked against double-precision formulas
// written here, which catches a miscompiled or mis-linked libm on the board rather than an
// optimization bug. Pooling and PReLU are compared exactly with plain loops.

func checkNormalization(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "normalization")
    var layer = KernelCheck("layerNorm", path: "scalar", criterion: "1e-4 relative to double")
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

    var group = KernelCheck("groupNorm", path: "scalar", criterion: "1e-4 relative to double")
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
    var softmaxCheck = KernelCheck("softmax", path: "scalar", criterion: "1e-6 absolute vs double")
    var sigmoidCheck = KernelCheck("sigmoid", path: "scalar", criterion: "1e-6 absolute vs double")
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

    var preluCheck = KernelCheck("prelu", path: "scalar", criterion: "exact")
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
