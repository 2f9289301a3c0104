/// Linear weights [outputs, inputs] (PyTorch layout), repacked once into the GEMM kernel's tile
/// layout so that the hot loop never rearranges them.
public final class PackedLinearWeights {
    public let outputs: Int
    public let inputs: Int
    /// The weights in PyTorch layout; the reference path and the fast path read them.
    let rowMajor: UnsafeMutablePointer<Float>

    public init(weights: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        self.outputs = max(outputs, 0)
        self.inputs = max(inputs, 0)
        let count = self.outputs * self.inputs
        rowMajor = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        rowMajor.initialize(from: weights, count: count)
    }

    deinit {
        rowMajor.deallocate()
    }
}

/// output[r, o] = act(sum_i input[r*inputStride + i] * W[o, i] + bias[o] (+ residual[r*outputs + o])).
/// `inputStride` >= `inputs`, so a column slice of a wider matrix can be fed; `output` is
/// [rows, outputs] contiguous and must not overlap `input` (it may equal `residual`).
public func linear(input: UnsafePointer<Float>, rows: Int, inputStride: Int, weights: PackedLinearWeights,
                   bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                   output: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    linearReference(input: input, rows: rows, inputStride: inputStride, weights: weights.rowMajor,
                    outputs: weights.outputs, inputs: weights.inputs, bias: bias, residual: residual,
                    activation: activation, output: output)
}

/// The scalar reference of `linear`: one dot product per output, summed in input order.
public func linearReference(input: UnsafePointer<Float>, rows: Int, inputStride: Int, weights: UnsafePointer<Float>,
                            outputs: Int, inputs: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                            activation: FloatActivation, output: UnsafeMutablePointer<Float>) {
    if rows <= 0 || outputs <= 0 { return }
    for row in 0..<rows {
        let inputRow = input + row * inputStride
        for outputIndex in 0..<outputs {
            let weightRow = weights + outputIndex * inputs
            var sum: Float = 0
            for inputIndex in 0..<max(inputs, 0) {
                sum += inputRow[inputIndex] * weightRow[inputIndex]
            }
            if let bias { sum += bias[outputIndex] }
            if let residual { sum += residual[row * outputs + outputIndex] }
            output[row * outputs + outputIndex] = activation.apply(sum)
        }
    }
}
