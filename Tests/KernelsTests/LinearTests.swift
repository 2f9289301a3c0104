import Testing
import Kernels

/// Fast linear against the scalar reference. Both sum K products in the same order; they differ
/// only in rounding (the fast one may fuse multiply-adds), so each output must agree within
/// 2·K·ε·Σ|x_i·w_i| + 2ε·|ref| (the classic bound on two recursive summations of the same terms).
@Suite struct LinearTests {
    struct Case: Sendable, CustomStringConvertible {
        var rows, inputs, outputs, extraStride: Int
        var description: String { "M=\(rows) K=\(inputs) N=\(outputs) stride+\(extraStride)" }
    }

    static let cases: [Case] = [
        Case(rows: 1, inputs: 1, outputs: 1, extraStride: 0),
        Case(rows: 1, inputs: 256, outputs: 256, extraStride: 0),
        Case(rows: 7, inputs: 33, outputs: 17, extraStride: 3),
        Case(rows: 13, inputs: 64, outputs: 48, extraStride: 0),
        Case(rows: 50, inputs: 31, outputs: 91, extraStride: 5),
        Case(rows: 6, inputs: 16, outputs: 16, extraStride: 0),
        Case(rows: 101, inputs: 255, outputs: 130, extraStride: 1),
    ]

    @Test(arguments: cases)
    func fastMatchesReference(_ shape: Case) {
        var generator = SeededGenerator(seed: UInt64(shape.rows * 1000 + shape.inputs * 10 + shape.outputs))
        let stride = shape.inputs + shape.extraStride
        let input = randomFloats(shape.rows * stride, using: &generator)
        let weights = randomFloats(shape.outputs * shape.inputs, using: &generator)
        let bias = randomFloats(shape.outputs, using: &generator)
        let residual = randomFloats(shape.rows * shape.outputs, using: &generator)
        let packed = PackedLinearWeights(weights: weights, outputs: shape.outputs, inputs: shape.inputs)
        #expect(packed.outputs == shape.outputs && packed.inputs == shape.inputs)
        for (useBias, useResidual, activation) in [(false, false, FloatActivation.none), (true, true, .relu), (true, false, .relu)] {
            var expected = [Float](repeating: 0, count: shape.rows * shape.outputs)
            var actual = [Float](repeating: .nan, count: shape.rows * shape.outputs)
            bias.withUnsafeBufferPointer { biasBuffer in
                residual.withUnsafeBufferPointer { residualBuffer in
                    let biasPointer = useBias ? biasBuffer.baseAddress : nil
                    let residualPointer = useResidual ? residualBuffer.baseAddress : nil
                    linearReference(input: input, rows: shape.rows, inputStride: stride, weights: weights,
                                    outputs: shape.outputs, inputs: shape.inputs, bias: biasPointer,
                                    residual: residualPointer, activation: activation, output: &expected)
                    linear(input: input, rows: shape.rows, inputStride: stride, weights: packed, bias: biasPointer,
                           residual: residualPointer, activation: activation, output: &actual, pool: ThreadPool(threadCount: 2))
                }
            }
            for row in 0..<shape.rows {
                for output in 0..<shape.outputs {
                    var magnitude: Float = 0
                    for i in 0..<shape.inputs { magnitude += abs(input[row * stride + i] * weights[output * shape.inputs + i]) }
                    let reference = expected[row * shape.outputs + output]
                    let bound = 2 * Float(shape.inputs + 2) * Float.ulpOfOne * (magnitude + 2) + 2 * Float.ulpOfOne * abs(reference)
                    #expect(abs(actual[row * shape.outputs + output] - reference) <= bound,
                            "\(shape) row \(row) output \(output): \(actual[row * shape.outputs + output]) vs \(reference)")
                }
            }
        }
    }

    @Test func resultIsIndependentOfThreadCount() {
        var generator = SeededGenerator(seed: 7)
        let (rows, inputs, outputs) = (97, 75, 70)
        let input = randomFloats(rows * inputs, using: &generator)
        let weights = randomFloats(outputs * inputs, using: &generator)
        let packed = PackedLinearWeights(weights: weights, outputs: outputs, inputs: inputs)
        var results: [[Float]] = []
        eachPool([nil, 1, 3]) { pool in
            var output = [Float](repeating: 0, count: rows * outputs)
            linear(input: input, rows: rows, inputStride: inputs, weights: packed, bias: nil, residual: nil,
                   activation: .none, output: &output, pool: pool)
            results.append(output)
        }
        #expect(results[0] == results[1])
        #expect(results[0] == results[2])
    }

    @Test func emptyShapesAreNoOps() {
        let weights: [Float] = [1, 2, 3, 4]
        var output: [Float] = [42]
        let packedEmpty = PackedLinearWeights(weights: weights, outputs: 0, inputs: 4)
        linear(input: weights, rows: 1, inputStride: 4, weights: packedEmpty, bias: nil, residual: nil,
               activation: .relu, output: &output, pool: ThreadPool(threadCount: 2))
        let packed = PackedLinearWeights(weights: weights, outputs: 1, inputs: 4)
        linear(input: weights, rows: 0, inputStride: 4, weights: packed, bias: nil, residual: nil,
               activation: .relu, output: &output, pool: nil)
        #expect(output == [42])
    }

    @Test func zeroDepthGivesBiasAndResidual() {
        let bias: [Float] = [1, -2]
        let residual: [Float] = [0.5, 0.5]
        var output: [Float] = [0, 0]
        let packed = PackedLinearWeights(weights: bias, outputs: 2, inputs: 0)
        linear(input: bias, rows: 1, inputStride: 0, weights: packed, bias: bias, residual: residual,
               activation: .relu, output: &output, pool: nil)
        #expect(output == [1.5, 0])
    }

    @Test func knownValues() {
        // [[1, 2], [3, 4]] x W^T with W = [[1, 0], [1, 1], [0, -1]], bias [0, 1, 0].
        let input: [Float] = [1, 2, 3, 4]
        let weights: [Float] = [1, 0, 1, 1, 0, -1]
        let bias: [Float] = [0, 1, 0]
        var output = [Float](repeating: 0, count: 6)
        linear(input: input, rows: 2, inputStride: 2, weights: PackedLinearWeights(weights: weights, outputs: 3, inputs: 2),
               bias: bias, residual: nil, activation: .none, output: &output, pool: nil)
        #expect(output == [1, 4, -2, 3, 8, -4])
    }
}
