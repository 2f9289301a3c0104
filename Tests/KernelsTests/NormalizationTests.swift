import Testing
import Kernels

/// The float LayerNorm and GroupNorm: the SIMD8 paths (blocked sums) against the scalar references
/// (sequential sums) within the bound stated in Normalization.swift, the same bits on every pool
/// size, and the forced-scalar level running the references exactly.
@Suite struct NormalizationTests {
    struct LayerNormCase: CustomTestStringConvertible, Sendable {
        let rows: Int, columns: Int, magnitude: Float
        var testDescription: String { "\(rows)x\(columns) |x|<=\(magnitude)" }
    }

    static let layerNormCases: [LayerNormCase] = [
        .init(rows: 0, columns: 8, magnitude: 1), .init(rows: 3, columns: 0, magnitude: 1), .init(rows: 1, columns: 1, magnitude: 1),
        .init(rows: 1, columns: 7, magnitude: 3), .init(rows: 1, columns: 8, magnitude: 3), .init(rows: 3, columns: 9, magnitude: 3),
        .init(rows: 13, columns: 33, magnitude: 3), .init(rows: 5, columns: 256, magnitude: 3), .init(rows: 2, columns: 301, magnitude: 3),
        .init(rows: 70, columns: 256, magnitude: 3), .init(rows: 4, columns: 1023, magnitude: 500), .init(rows: 6, columns: 100, magnitude: 1e-3),
    ]

    /// The stated bound: 2(n + 8)u|gamma|(|x̂| + mean|x|/σ + 1) + 4 ulp(|y|), computed in Double.
    static func layerNormBounds(values: [Float], rows: Int, columns: Int, gamma: [Float], epsilon: Float,
                                reference: [Float]) -> [Float] {
        var bounds = [Float](repeating: 0, count: reference.count)
        let u = Double(Float.ulpOfOne) / 2
        for row in 0..<rows {
            let slice = (0..<columns).map { Double(values[row * columns + $0]) }
            let mean = slice.reduce(0, +) / Double(columns)
            let meanMagnitude = slice.map(abs).reduce(0, +) / Double(columns)
            let deviation = (slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns) + Double(epsilon)).squareRoot()
            for column in 0..<columns {
                let normalized = abs(slice[column] - mean) / deviation
                let y = reference[row * columns + column]
                bounds[row * columns + column] = Float(2 * Double(columns + 8) * u * Double(abs(gamma[column]))
                    * (normalized + meanMagnitude / deviation + 1)) + 4 * y.magnitude.ulp
            }
        }
        return bounds
    }

    @Test(arguments: layerNormCases)
    func layerNormSIMDWithinTheBound(_ shape: LayerNormCase) {
        var generator = SeededGenerator(seed: UInt64(shape.rows * 1000 + shape.columns))
        let count = shape.rows * shape.columns
        let range = -shape.magnitude...shape.magnitude
        // An offset mean, as activations have, makes the mean's rounding matter.
        let input = randomFloats(count, in: range, using: &generator).map { $0 + shape.magnitude / 2 }
        let residual = randomFloats(count, in: range, using: &generator)
        let gamma = randomFloats(shape.columns, in: -2...2, using: &generator)
        let beta = randomFloats(shape.columns, using: &generator)
        for withResidual in [false, true] {
            let added = withResidual ? residual : nil
            var expected = [Float](repeating: .nan, count: max(count, 1))
            layerNormReference(input: input, residual: added, rows: shape.rows, columns: shape.columns, gamma: gamma, beta: beta,
                               epsilon: 1e-5, output: &expected)
            let values = withResidual ? zip(input, residual).map { $0 + $1 } : input
            let bounds = Self.layerNormBounds(values: values, rows: shape.rows, columns: shape.columns, gamma: gamma,
                                              epsilon: 1e-5, reference: expected)
            var results: [[Float]] = []
            for level in [KernelLevel.simd, .avx2] {
                eachPool([nil, 1, 3]) { pool in
                    // In place over the input, as the executor may run it.
                    var actual = input
                    actual.withUnsafeMutableBufferPointer { buffer in
                        KernelDispatch.withLevel(level) {
                            layerNorm(input: buffer.baseAddress!, residual: added, rows: shape.rows, columns: shape.columns,
                                      gamma: gamma, beta: beta, epsilon: 1e-5, output: buffer.baseAddress!, pool: pool)
                        }
                    }
                    results.append(actual)
                }
            }
            #expect(results.allSatisfy { $0 == results[0] }, "\(shape) residual \(withResidual): depends on level or threads")
            if count == 0 {
                #expect(results[0] == input, "\(shape): an empty shape writes nothing")
                continue
            }
            for index in 0..<count {
                #expect(abs(results[0][index] - expected[index]) <= bounds[index],
                        "\(shape) residual \(withResidual) element \(index): \(results[0][index]) vs \(expected[index])")
            }
        }
    }

    @Test func layerNormForcedScalarIsTheReference() {
        var generator = SeededGenerator(seed: 5)
        let (rows, columns) = (9, 37)
        let input = randomFloats(rows * columns, in: -4...4, using: &generator)
        let residual = randomFloats(rows * columns, using: &generator)
        let gamma = randomFloats(columns, using: &generator), beta = randomFloats(columns, using: &generator)
        var expected = [Float](repeating: .nan, count: rows * columns)
        layerNormReference(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                           epsilon: 1e-6, output: &expected)
        var actual = [Float](repeating: .nan, count: rows * columns)
        KernelDispatch.withLevel(.scalar) {
            layerNorm(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: 1e-6,
                      output: &actual, pool: ThreadPool(threadCount: 2))
        }
        #expect(actual == expected)
    }

    struct GroupNormCase: CustomTestStringConvertible, Sendable {
        let pixels: Int, channels: Int, groups: Int
        var testDescription: String { "\(pixels) pixels \(channels) channels \(groups) groups" }
    }

    static let groupNormCases: [GroupNormCase] = [
        .init(pixels: 1, channels: 8, groups: 1), .init(pixels: 7, channels: 16, groups: 4), .init(pixels: 25, channels: 256, groups: 32),
        .init(pixels: 3, channels: 6, groups: 3), .init(pixels: 5, channels: 24, groups: 2), .init(pixels: 40, channels: 64, groups: 32),
        .init(pixels: 9, channels: 36, groups: 4), .init(pixels: 300, channels: 256, groups: 32), .init(pixels: 0, channels: 8, groups: 2),
    ]

    @Test(arguments: groupNormCases)
    func groupNormSIMDWithinTheBound(_ shape: GroupNormCase) {
        var generator = SeededGenerator(seed: UInt64(shape.pixels * 100 + shape.channels + shape.groups))
        let count = shape.pixels * shape.channels
        let input = randomFloats(count, in: -3...3, using: &generator).map { $0 + 1 }
        let gamma = randomFloats(shape.channels, in: -2...2, using: &generator)
        let beta = randomFloats(shape.channels, using: &generator)
        var expected = [Float](repeating: .nan, count: max(count, 1))
        groupNormReference(input: input, pixels: shape.pixels, channels: shape.channels, groups: shape.groups, gamma: gamma,
                           beta: beta, epsilon: 1e-5, output: &expected)
        var results: [[Float]] = []
        for level in [KernelLevel.simd, .avx2] {
            eachPool([nil, 1, 3]) { pool in
                var actual = input
                actual.withUnsafeMutableBufferPointer { buffer in
                    KernelDispatch.withLevel(level) {
                        groupNorm(input: buffer.baseAddress!, pixels: shape.pixels, channels: shape.channels, groups: shape.groups,
                                  gamma: gamma, beta: beta, epsilon: 1e-5, output: buffer.baseAddress!, pool: pool)
                    }
                }
                results.append(actual)
            }
        }
        #expect(results.allSatisfy { $0 == results[0] }, "\(shape): depends on level or threads")
        if count == 0 { return }
        // The layerNorm bound with the group's pixels x channels as one row, channel by channel.
        let perGroup = shape.channels / shape.groups
        for group in 0..<shape.groups {
            var values: [Float] = [], reference: [Float] = [], groupGamma: [Float] = [], indices: [Int] = []
            for pixel in 0..<shape.pixels {
                for channel in group * perGroup..<(group + 1) * perGroup {
                    values.append(input[pixel * shape.channels + channel])
                    reference.append(expected[pixel * shape.channels + channel])
                    groupGamma.append(gamma[channel])
                    indices.append(pixel * shape.channels + channel)
                }
            }
            let bounds = NormalizationTests.layerNormBounds(values: values, rows: 1, columns: values.count, gamma: groupGamma,
                                                            epsilon: 1e-5, reference: reference)
            for (position, index) in indices.enumerated() {
                #expect(abs(results[0][index] - expected[index]) <= bounds[position],
                        "\(shape) element \(index): \(results[0][index]) vs \(expected[index])")
            }
        }
    }

    @Test func groupNormForcedScalarIsTheReference() {
        var generator = SeededGenerator(seed: 6)
        let (pixels, channels, groups) = (30, 64, 8)
        let input = randomFloats(pixels * channels, in: -4...4, using: &generator)
        let gamma = randomFloats(channels, using: &generator), beta = randomFloats(channels, using: &generator)
        var expected = [Float](repeating: .nan, count: pixels * channels)
        groupNormReference(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                           epsilon: 1e-5, output: &expected)
        var actual = [Float](repeating: .nan, count: pixels * channels)
        KernelDispatch.withLevel(.scalar) {
            groupNorm(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta, epsilon: 1e-5,
                      output: &actual, pool: ThreadPool(threadCount: 3))
        }
        #expect(actual == expected)
    }
}
