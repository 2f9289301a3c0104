import Testing
import Kernels

@Suite struct DynamicInt8LinearTests {
    /// Tile edges: odd K, N off the 16-column panel, one row, rows off every tile height, empty shapes,
    /// K past the eight-lane blocks of the row scan and of the epilogue.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 16, 32), (7, 17, 33), (13, 40, 9), (9, 4, 256), (25, 8, 3), (2, 31, 100), (0, 5, 5), (5, 0, 5),
        (4, 5, 0), (37, 48, 130),
    ]

    @Test(arguments: shapes)
    func everyLayoutLevelAndPoolEqualsTheReference(rows: Int, outputs: Int, inputs: Int) {
        var generator = SeededGenerator(seed: UInt64(rows * 7_919 + outputs * 31 + inputs))
        // Rows of very different magnitudes (what a per-row scale is for), one all zero, NaN and -0.
        let stride = inputs + 3
        var input = (0..<max(rows * stride, 1)).map { index in
            Float.random(in: -1...1, using: &generator) * Float(1 << (index / max(stride, 1) % 12))
        }
        if rows > 2 {
            for k in 0..<inputs { input[stride + k] = 0 }
            if inputs > 1 { input[2 * stride] = .nan; input[2 * stride + 1] = -0.0 }
        }
        let weights = randomInt8(outputs * inputs, using: &generator)
        let weightScales = (0..<max(outputs, 1)).map { _ in Float.random(in: 0.001...0.02, using: &generator) }
        let bias = (0..<max(outputs, 1)).map { _ in Float.random(in: -2...2, using: &generator) }
        let residual = (0..<max(rows * outputs, 1)).map { _ in Float.random(in: -3...3, using: &generator) }
        let count = max(rows * outputs, 1)
        for activation in [FloatActivation.none, .relu] {
            for withResidual in [false, true] {
                var expected = [Float](repeating: .nan, count: count)
                dynamicInt8LinearReference(input: input, rows: rows, inputStride: stride, weights: weights, outputs: outputs,
                                           inputs: inputs, weightScales: weightScales, bias: bias,
                                           residual: withResidual ? residual : nil, activation: activation, output: &expected)
                for layout in Int8WeightLayout.allCases {
                    let packed = PackedInt8Weights(weights: weights, outputs: outputs, inputs: inputs, bias: nil,
                                                   scales: weightScales, inputZeroPoint: 0, layout: layout)
                    for level in int8Levels {
                        eachPool([nil, 3]) { pool in
                            var actual = [Float](repeating: .nan, count: count)
                            var codes = [Int8](repeating: 0, count: max(rows * inputs, 1))
                            var rowScales = [Float](repeating: 0, count: max(rows, 1))
                            KernelDispatch.withLevel(level) {
                                dynamicInt8Linear(input: input, rows: rows, inputStride: stride, weights: packed, bias: bias,
                                                  residual: withResidual ? residual : nil, activation: activation,
                                                  output: &actual, codes: &codes, rowScales: &rowScales, pool: pool)
                            }
                            #expect(actual.elementsEqual(expected) { $0.bitPattern == $1.bitPattern },
                                    "\(layout) \(level) pool \(pool?.threadCount ?? 0) \(activation) residual \(withResidual)")
                        }
                    }
                }
            }
        }
    }

    /// With an addend the layer reads x + addend: the bits of the sum computed first (the `add` op's one IEEE
    /// addition per element) and fed to the layer, at every level, layout and pool size, with task scratch of
    /// exactly the size the op plans, and the reference agrees.
    @Test(arguments: [(7, 17, 33), (37, 48, 130), (1, 16, 8), (3, 5, 0)])
    func anAddendGivesTheBitsOfTheSum(rows: Int, outputs: Int, inputs: Int) {
        var generator = SeededGenerator(seed: UInt64(rows * 31 + outputs * 7 + inputs))
        let stride = inputs + 2
        let x = (0..<max(rows * stride, 1)).map { _ in Float.random(in: -4...4, using: &generator) }
        let addend = (0..<max(rows * stride, 1)).map { _ in Float.random(in: -1...1, using: &generator) }
        let sum = zip(x, addend).map { $0 + $1 }
        let weights = randomInt8(outputs * inputs, using: &generator)
        let weightScales = (0..<max(outputs, 1)).map { _ in Float.random(in: 0.001...0.02, using: &generator) }
        let bias = (0..<max(outputs, 1)).map { _ in Float.random(in: -2...2, using: &generator) }
        let count = max(rows * outputs, 1)
        var expected = [Float](repeating: .nan, count: count), reference = expected
        dynamicInt8LinearReference(input: sum, rows: rows, inputStride: stride, weights: weights, outputs: outputs, inputs: inputs,
                                   weightScales: weightScales, bias: bias, residual: nil, activation: .relu, output: &expected)
        dynamicInt8LinearReference(input: x, addend: addend, rows: rows, inputStride: stride, weights: weights, outputs: outputs,
                                   inputs: inputs, weightScales: weightScales, bias: bias, residual: nil, activation: .relu,
                                   output: &reference)
        #expect(reference.map(\.bitPattern) == expected.map(\.bitPattern))
        for layout in Int8WeightLayout.allCases {
            let packed = PackedInt8Weights(weights: weights, outputs: outputs, inputs: inputs, bias: nil, scales: weightScales,
                                           inputZeroPoint: 0, layout: layout)
            for level in int8Levels {
                eachPool([nil, 3]) { pool in
                    var actual = [Float](repeating: .nan, count: count)
                    var codes = [Int8](repeating: 0, count: max(rows * inputs, 1))
                    var rowScales = [Float](repeating: 0, count: max(rows, 1))
                    let scratch = KernelScratch(bytesPerThread: max(int8GEMMTaskScratchBytes(packed), dynamicInt8LinearRowBytes(columns: inputs)),
                                                threads: pool?.threadCount ?? 1)
                    KernelDispatch.withLevel(level) {
                        dynamicInt8Linear(input: x, addend: addend, rows: rows, inputStride: stride, weights: packed, bias: bias,
                                          residual: nil, activation: .relu, output: &actual, codes: &codes, rowScales: &rowScales,
                                          pool: pool, taskScratch: scratch)
                    }
                    #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "\(layout) \(level) pool \(pool?.threadCount ?? 0)")
                }
            }
        }
    }

    /// The per-row scale keeps each row's relative error at int8's, however the rows' magnitudes differ:
    /// the product is within half a code of each row's largest input per term of the exact float one.
    @Test func rowsOfAnyMagnitudeKeepTheirPrecision() {
        let (rows, inputs, outputs) = (4, 64, 3)
        var generator = SeededGenerator(seed: 11)
        let magnitudes: [Float] = [1e-4, 1, 300, 7e4]
        let input = (0..<rows * inputs).map { Float.random(in: -1...1, using: &generator) * magnitudes[$0 / inputs] }
        let weights = randomInt8(outputs * inputs, using: &generator)
        let weightScales: [Float] = [0.01, 0.02, 0.005], bias: [Float] = [0, 0, 0]
        var output = [Float](repeating: 0, count: rows * outputs)
        dynamicInt8LinearReference(input: input, rows: rows, inputStride: inputs, weights: weights, outputs: outputs, inputs: inputs,
                                   weightScales: weightScales, bias: bias, residual: nil, activation: .none, output: &output)
        for row in 0..<rows {
            let largest = input[row * inputs..<(row + 1) * inputs].map(\.magnitude).max()!
            for n in 0..<outputs {
                var exact: Float = 0
                var bound: Float = 0
                for k in 0..<inputs {
                    let w = Float(max(weights[n * inputs + k], -127)) * weightScales[n]
                    exact += input[row * inputs + k] * w
                    bound += w.magnitude * largest / 254
                }
                #expect(abs(output[row * outputs + n] - exact) <= bound * 1.01 + 1e-6 * largest, "row \(row) output \(n)")
            }
        }
    }

    @Test func rowScalesFollowTheLargestMagnitudeAndSkipNaN() {
        let input: [Float] = [0.5, -2.54, 1, .nan, /* row 2 */ 0, 0, -0.0, 0, /* row 3 */ .infinity, 1, 2, 3]
        var codes = [Int8](repeating: 9, count: 12), scales = [Float](repeating: 0, count: 3)
        quantizeRowsSymmetric(input, rows: 3, columns: 4, inputStride: 4, codes: &codes, scales: &scales)
        #expect(scales == [Float(2.54) / 127, 1, 1])
        #expect(codes[0..<4] == [25, -127, 50, 0])
        #expect(codes[4..<8] == [0, 0, 0, 0])
        #expect(codes[8..<12] == [127, 1, 2, 3])
    }
}
