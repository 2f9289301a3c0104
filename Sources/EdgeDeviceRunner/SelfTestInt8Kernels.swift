#if EDGEDETR_INT8_KERNELS
import Kernels

// The int8 kernels: every packed layout at every dispatch level and pool size must equal the
// scalar reference bit for bit (integer accumulation is exact; the requantization is one rule).
// Targets/build.sh defines EDGEDETR_INT8_KERNELS once Sources/Kernels/Int8GEMM.swift exists.

func checkInt8Linear(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "int8Linear")
    var check = KernelCheck("int8Linear", path: int8GEMMPath(), criterion: "exact, every layout and level")
    var shapes: [(rows: Int, outputs: Int, inputs: Int)] = [
        (1, 1, 1), (1, 16, 32), (7, 17, 33), (13, 40, 9), (6, 16, 64), (25, 8, 3), (2, 31, 100), (0, 5, 5), (5, 0, 5),
        (4, 5, 0), (37, 48, 130), (1, 7, 515),
    ]
    for _ in 0..<6 {
        shapes.append((generator.int(in: 1...40), generator.int(in: 1...70), generator.int(in: 1...300)))
    }
    let levels: [KernelLevel] = [.scalar, .simd, .avx2]
    let ranges = [Int8OutputRange(zeroPoint: 5), Int8OutputRange(zeroPoint: -20, relu: true)]
    for (number, shape) in shapes.enumerated() {
        let count = max(shape.rows * shape.outputs, 1)
        let input = int8Values(shape.rows * shape.inputs, &generator)
        let weights = int8Values(shape.outputs * shape.inputs, &generator)
        let residualValues = int8Values(shape.rows * shape.outputs, &generator)
        let inputZeroPoint = Int32(generator.int(in: -128...127))
        var bias: [Int32] = []
        var scales: [Float] = []
        let typical = 1 / (Float(max(shape.inputs, 1)).squareRoot() * 60)
        for _ in 0..<max(shape.outputs, 1) {
            bias.append(Int32(generator.int(in: -50_000...50_000)))
            scales.append(Float.random(in: 0.2...3, using: &generator) * typical)
        }
        let range = ranges[number % 2]
        let withResidual = number % 3 != 0
        let name = "rows \(shape.rows) outputs \(shape.outputs) inputs \(shape.inputs) residual \(withResidual)"
        residualValues.withUnsafeBufferPointer { residualBuffer in
            let residual = withResidual
                ? Int8Residual(values: residualBuffer.baseAddress!, stride: shape.outputs, zeroPoint: -3, scale: 0.7) : nil
            var expected = [Int8](repeating: 0x55, count: count)
            var expectedFloat = [Float](repeating: .nan, count: count)
            expected.withUnsafeMutableBufferPointer { destination in
                int8LinearReference(input: input, rows: shape.rows, inputStride: shape.inputs, inputZeroPoint: inputZeroPoint,
                                    weights: weights, outputs: shape.outputs, inputs: shape.inputs, bias: bias,
                                    scales: scales, residual: residual, output: .int8(destination.baseAddress!, range))
            }
            expectedFloat.withUnsafeMutableBufferPointer { destination in
                int8LinearReference(input: input, rows: shape.rows, inputStride: shape.inputs, inputZeroPoint: inputZeroPoint,
                                    weights: weights, outputs: shape.outputs, inputs: shape.inputs, bias: bias,
                                    scales: scales, residual: residual, output: .float(destination.baseAddress!))
            }
            for layout in Int8WeightLayout.allCases {
                let packed = PackedInt8Weights(weights: weights, outputs: shape.outputs, inputs: shape.inputs, bias: bias,
                                               scales: scales, inputZeroPoint: inputZeroPoint, layout: layout)
                for level in levels {
                    for pool in selfTestPools {
                        var actual = [Int8](repeating: 0x55, count: count)
                        var actualFloat = [Float](repeating: .nan, count: count)
                        KernelDispatch.withLevel(level) {
                            actual.withUnsafeMutableBufferPointer { destination in
                                int8Linear(input: input, rows: shape.rows, inputStride: shape.inputs, weights: packed,
                                           residual: residual, output: .int8(destination.baseAddress!, range), pool: pool)
                            }
                            actualFloat.withUnsafeMutableBufferPointer { destination in
                                int8Linear(input: input, rows: shape.rows, inputStride: shape.inputs, weights: packed,
                                           residual: residual, output: .float(destination.baseAddress!), pool: pool)
                            }
                        }
                        let label = "\(name), layout \(int8LayoutName(layout)), level \(floatGEMMPath(level)), \(pool?.threadCount ?? 1) threads"
                        check.compareExactly(expected, actual, shape: label)
                        check.compare(expectedFloat, actualFloat, shape: label + ", float output") { _ in 0 }
                    }
                }
            }
        }
    }
    suite.report(check)
}

/// `count` int8 values over the whole range, -128 included (at least one element).
private func int8Values(_ count: Int, _ generator: inout SelfTestGenerator) -> [Int8] {
    var values: [Int8] = []
    for _ in 0..<max(count, 1) { values.append(Int8(truncatingIfNeeded: generator.next())) }
    return values
}
#endif
