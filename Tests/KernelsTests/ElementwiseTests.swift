import Testing
import Kernels

@Suite struct ElementwiseTests {
    @Test func softmaxNormalizesEachGroup() {
        var data: [Float] = [0, 0, 1000, 1000, 1, 2, 3, -5]
        var reference = data
        softmaxReference(&reference, groups: 2, groupSize: 4)
        #expect(reference[0] == 0 && reference[1] == 0 && reference[2] == 0.5 && reference[3] == 0.5)
        softmax(&data, groups: 2, groupSize: 4)
        // The SIMD `exponential` clamps its input at -87.3: e^-1000 becomes ~1e-38, not 0.
        #expect(data[0] < 1e-37 && data[1] < 1e-37 && data[2] == 0.5 && data[3] == 0.5)
        let sum = data[4] + data[5] + data[6] + data[7]
        #expect(abs(sum - 1) <= 1e-6)
        #expect(abs(data[6] / data[5] - Float(M_E_VALUE)) <= 1e-5)
    }

    @Test func sigmoidReluPrelu() {
        var values: [Float] = [0, 100, -100, 2]
        var reference = values
        sigmoidReference(&reference, count: 4)
        #expect(reference[0] == 0.5 && reference[1] == 1 && reference[2] < 1e-40)
        sigmoid(&values, count: 4)
        // The SIMD `exponential` saturates at e^88.3: sigmoid(-100) is ~4.6e-39, not ~3.7e-44.
        #expect(values[0] == 0.5 && values[1] == 1 && values[2] < 1e-38)
        #expect(abs(values[3] - 1 / (1 + 0.135_335_28)) <= 1e-6)
        var mixed: [Float] = [-1, 2, -3, 0]
        relu(&mixed, count: 4)
        #expect(mixed == [0, 2, 0, 0])
        var perChannel: [Float] = [-1, -1, 4, -2]
        prelu(&perChannel, count: 4, alpha: [0.5, 0.25], channels: 2)
        #expect(perChannel == [-0.5, -0.25, 4, -0.5])
        var shared: [Float] = [-4, 3]
        prelu(&shared, count: 2, alpha: [0.25], channels: 1)
        #expect(shared == [-1, 3])
    }

    @Test func maxPoolPadsWithMinusInfinity() {
        // 2x2 map, 2 channels, all negative: padding must never win.
        let input: [Float] = [-1, -10, -2, -20, -3, -30, -4, -40]
        var output = [Float](repeating: 0, count: 2 * 2 * 2)
        maxPool2d(input: input, height: 2, width: 2, channels: 2, kernel: 3, stride: 2, padding: 1, output: &output)
        // (2 + 2 - 3) / 2 + 1 = 1 output per axis.
        #expect(output[0] == -1 && output[1] == -10)
        var strided = [Float](repeating: 0, count: 4)
        maxPool2d(input: [1, 5, 3, 2, 0, 9, 4, 6, 7], height: 3, width: 3, channels: 1, kernel: 2, stride: 1, padding: 0,
                  output: &strided)
        #expect(strided == [5, 9, 6, 9])
    }

    @Test func layerNormWithResidualInPlace() {
        var data: [Float] = [1, 2, 3, 4, 10, 10, 10, 10]
        let residual: [Float] = [1, 0, -1, 0, 0, 0, 0, 0]
        let gamma: [Float] = [1, 1, 2, 1]
        let beta: [Float] = [0, 0, 0, 1]
        data.withUnsafeMutableBufferPointer { buffer in
            layerNorm(input: buffer.baseAddress!, residual: residual, rows: 2, columns: 4, gamma: gamma, beta: beta,
                      epsilon: 1e-5, output: buffer.baseAddress!)
        }
        // Row 0 becomes [2, 2, 2, 4]: mean 2.5, variance 0.75.
        let deviation = (0.75 + 1e-5 as Float).squareRoot()
        #expect(abs(data[0] - -0.5 / deviation) <= 1e-5)
        #expect(abs(data[2] - -1.0 / deviation) <= 1e-5)
        #expect(abs(data[3] - (1.5 / deviation + 1)) <= 1e-5)
        // A constant row normalizes to beta.
        #expect(data[4] == 0 && data[7] == 1)
    }

    /// The quantizer hands a post-norm block's residual to the LayerNorm instead of an add node before
    /// it (GraphQuantizer's `residualJoinsNorm`): the same bits as the LayerNorm of the sum, at every
    /// level and pool size.
    @Test(arguments: [(1, 1), (33, 7), (40, 256), (3, 1000)])
    func layerNormOfAResidualEqualsLayerNormOfTheSum(rows: Int, columns: Int) {
        var generator = SeededGenerator(seed: UInt64(rows * 100 + columns))
        let x = randomFloats(rows * columns, in: -8...8, using: &generator)
        let residual = randomFloats(rows * columns, in: -8...8, using: &generator)
        let gamma = randomFloats(columns, using: &generator), beta = randomFloats(columns, using: &generator)
        for level in [KernelLevel.scalar, .simd, .avx2] {
            eachPool([nil, 3]) { pool in
                var sum = [Float](repeating: 0, count: rows * columns)
                var fromSum = sum, joined = sum
                KernelDispatch.withLevel(level) {
                    elementwiseBinary(.add, a: x, b: residual, rows: rows, columns: columns, broadcast: .same, output: &sum, pool: pool)
                    layerNorm(input: sum, residual: nil, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: 1e-5,
                              output: &fromSum, pool: pool)
                    layerNorm(input: x, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: 1e-5,
                              output: &joined, pool: pool)
                }
                #expect(joined.map(\.bitPattern) == fromSum.map(\.bitPattern), "\(level.name)")
            }
        }
    }

    @Test func groupNormUsesEveryPixelOfTheGroup() {
        // 2 pixels, 4 channels, 2 groups of 2 channels.
        let input: [Float] = [1, 3, 5, 5, 3, 1, 7, 7]
        var output = [Float](repeating: 0, count: 8)
        groupNorm(input: input, pixels: 2, channels: 4, groups: 2, gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0.5],
                  epsilon: 0, output: &output)
        // Group 0: {1, 3, 3, 1}, mean 2, variance 1. Group 1: {5, 5, 7, 7}, mean 6, variance 1.
        #expect(output == [-1, 1, -1, -0.5, 1, -1, 1, 1.5])
    }
}

/// Softmax, sigmoid and PReLU: the SIMD8 paths against the scalar references within the bounds
/// stated in Elementwise.swift (PReLU exactly), the same bits on every pool size and level, and the
/// forced-scalar level running the references.
@Suite struct ElementwiseSIMDTests {
    struct SoftmaxCase: CustomTestStringConvertible, Sendable {
        let groups: Int, groupSize: Int, magnitude: Float
        var testDescription: String { "\(groups)x\(groupSize) |x|<=\(magnitude)" }
    }

    static let softmaxCases: [SoftmaxCase] = [
        .init(groups: 0, groupSize: 16, magnitude: 1), .init(groups: 1, groupSize: 1, magnitude: 5), .init(groups: 3, groupSize: 7, magnitude: 5),
        .init(groups: 1000, groupSize: 16, magnitude: 8), .init(groups: 5, groupSize: 17, magnitude: 30), .init(groups: 8, groupSize: 100, magnitude: 30),
        .init(groups: 2, groupSize: 1000, magnitude: 30), .init(groups: 40, groupSize: 16, magnitude: 200), .init(groups: 9, groupSize: 33, magnitude: 1e4),
        .init(groups: 6, groupSize: 16, magnitude: 1e30), .init(groups: 4, groupSize: 300, magnitude: 0),
    ]

    static func softmaxBound(groupSize: Int, reference: Float) -> Float {
        (1.25 * Float(groupSize) + 16) * (Float.ulpOfOne / 2) * reference + 0x1p-125
    }

    @Test(arguments: softmaxCases)
    func softmaxSIMDWithinTheBound(_ shape: SoftmaxCase) {
        var generator = SeededGenerator(seed: UInt64(shape.groups * 131 + shape.groupSize))
        let count = shape.groups * shape.groupSize
        var input = randomFloats(count, in: -shape.magnitude...shape.magnitude, using: &generator)
        if count > 20 {
            input[3] = input[4]  // a tie
            input[count - 1] = shape.magnitude  // the maximum in a tail lane
        }
        var expected = input
        softmaxReference(&expected, groups: shape.groups, groupSize: shape.groupSize)
        var results: [[Float]] = []
        for level in [KernelLevel.simd, .avx2] {
            eachPool([nil, 1, 3]) { pool in
                var actual = input
                KernelDispatch.withLevel(level) { softmax(&actual, groups: shape.groups, groupSize: shape.groupSize, pool: pool) }
                results.append(actual)
            }
        }
        #expect(results.allSatisfy { $0 == results[0] }, "\(shape): depends on level or threads")
        for index in 0..<count {
            let bound = Self.softmaxBound(groupSize: shape.groupSize, reference: expected[index])
            #expect(abs(results[0][index] - expected[index]) <= bound, "\(shape) element \(index): \(results[0][index]) vs \(expected[index])")
        }
        for group in 0..<shape.groups {
            let sum = (0..<shape.groupSize).reduce(Float(0)) { $0 + results[0][group * shape.groupSize + $1] }
            #expect(abs(sum - 1) <= Float(shape.groupSize + 8) * Float.ulpOfOne, "\(shape) group \(group) sums to \(sum)")
        }
    }

    @Test(arguments: [0, 1, 7, 8, 9, 100, 1001])
    func sigmoidSIMDWithinTheBound(count: Int) {
        var generator = SeededGenerator(seed: UInt64(count))
        var input = randomFloats(count, in: -20...20, using: &generator)
        if count >= 100 {
            // Large magnitudes: saturation on both sides, and around `exponential`'s clamps.
            for (index, value) in [Float(-1e30), 1e30, -100, 100, -88.5, -88, -87.5, 87.5, 89, -0.0, 0].enumerated() {
                input[index] = value
            }
        }
        var expected = input
        sigmoidReference(&expected, count: count)
        for level in [KernelLevel.simd, .avx2] {
            var actual = input
            KernelDispatch.withLevel(level) { sigmoid(&actual, count: count) }
            for index in 0..<count {
                let bound = 12 * (Float.ulpOfOne / 2) * expected[index] + 0x1p-125
                #expect(abs(actual[index] - expected[index]) <= bound, "x = \(input[index]): \(actual[index]) vs \(expected[index])")
            }
            if count == 0 { #expect(actual == input) }
        }
    }

    @Test(arguments: [(0, 1), (1, 1), (17, 1), (48, 16), (35, 7), (600, 300), (24, 5)])
    func preluSIMDEqualsTheReference(count: Int, channels: Int) {
        var generator = SeededGenerator(seed: UInt64(count * 10 + channels))
        let input = randomFloats(count, in: -3...3, using: &generator)
        let alpha = randomFloats(channels, in: -0.5...0.5, using: &generator)
        var expected = input
        preluReference(&expected, count: count, alpha: alpha, channels: channels)
        for level in [KernelLevel.scalar, .simd, .avx2] {
            var actual = input
            KernelDispatch.withLevel(level) { prelu(&actual, count: count, alpha: alpha, channels: channels) }
            #expect(actual == expected, "\(level.name)")
        }
    }

    @Test func forcedScalarRunsTheReferences() {
        var generator = SeededGenerator(seed: 12)
        let input = randomFloats(16 * 23, in: -9...9, using: &generator)
        var expected = input, actual = input
        softmaxReference(&expected, groups: 23, groupSize: 16)
        KernelDispatch.withLevel(.scalar) { softmax(&actual, groups: 23, groupSize: 16, pool: ThreadPool(threadCount: 2)) }
        #expect(actual == expected)
        expected = input
        actual = input
        sigmoidReference(&expected, count: input.count)
        KernelDispatch.withLevel(.scalar) { sigmoid(&actual, count: input.count) }
        #expect(actual == expected)
    }
}

private let M_E_VALUE = 2.718_281_828_459_045
