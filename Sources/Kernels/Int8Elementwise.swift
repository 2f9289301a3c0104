import CLibc

// The int8 forms of the code-wise unary functions (sigmoid, SiLU, GELU, ReLU), softmax and PReLU (docs/QUANTIZATION.md). Each has a scalar reference
// that computes the rule element by element and a fast path equal to it bit for bit:
//
//   int8Unary     int8 -> int8   out = requantize(f(x) * (1 / s_out)), x = Float(q - zq) * sq, f one of
//                                sigmoid, SiLU, GELU, ReLU. A function of the code alone, so the fast
//                                path is a 256-entry table built once per (f, input, output) quantization
//                                with that same rule.
//   int8Softmax   int8 -> fp32   e_i = expf(Float(q_i - max q) * sq), out_i = e_i * (1 / blockedSum(e)).
//                                q_i - max q takes 256 values: the fast path reads e_i from a table of
//                                expf over them (built once per input scale; the zero point cancels),
//                                sums in the blocked order (VectorMath.swift) like the reference.
//                                The 16-wide deformable attention weights: the core takes floats.
//   int8PReLU     int8 -> int8   out = requantize((x < 0 ? alpha[c] * x : x) * (1 / s_out)); SIMD8.

/// The code-wise functions the int8 unary table computes: each output code depends on the input code
/// alone, so 256 evaluations at load give every answer.
public enum Int8UnaryFunction: Sendable {
    case sigmoid
    /// x * sigmoid(x) (transformers' "silu"; RT-DETR's convolutions).
    case silu
    /// PyTorch's exact GELU, x * (1 + erf(x / sqrt 2)) / 2.
    case gelu
    case relu
    /// x itself: the table requantizes codes from one quantization to another (an int8 concatenation
    /// of inputs calibrated to different ranges).
    case identity
    /// x < 0 ? slope * x : x with one learned slope (DAB-DETR's `nn.PReLU()`), the rule of `int8PReLU`.
    case prelu(slope: Float)

    /// The float rule, as the float executor computes it.
    @inline(__always)
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .sigmoid: 1 / (1 + expf(-x))
        case .silu: x / (1 + expf(-x))
        case .gelu: 0.5 * x * (1 + erff(x * 0.70710678118654752))
        case .relu: max(x, 0)
        case .identity: x
        case .prelu(let slope): x < 0 ? slope * x : x
        }
    }
}

/// An int8 unary function as a 256-entry table: `entries[Int(UInt8(bitPattern: q))]` is the output
/// code for input code q. Built once per (function, input, output quantization), at load.
public struct Int8UnaryTable: Sendable {
    public let function: Int8UnaryFunction
    public let input: Int8Quantization
    public let output: Int8Quantization
    public private(set) var entries: InlineArray<256, Int8>

    public init(_ function: Int8UnaryFunction, input: Int8Quantization, output: Int8Quantization) {
        self.function = function
        self.input = input
        self.output = output
        entries = InlineArray(repeating: 0)
        let range = Int8OutputRange(zeroPoint: output.zeroPoint)
        let outputMultiplier = 1 / output.scale
        for code in -128...127 {
            entries[Int(UInt8(bitPattern: Int8(code)))] = int8UnaryValue(function, Int8(code), input: input,
                                                                         outputMultiplier: outputMultiplier, range: range)
        }
    }
}

/// The int8 unary rule for one code: what the reference computes and the table holds.
@inline(__always)
func int8UnaryValue(_ function: Int8UnaryFunction, _ code: Int8, input: Int8Quantization, outputMultiplier: Float,
                    range: Int8OutputRange) -> Int8 {
    requantize(function(input.dequantize(code)) * outputMultiplier, range)
}

/// Int8 unary function through `table` (made for the input's and the output's quantizations);
/// `output` may equal `input`. The scalar level runs `int8UnaryReference` with the table's settings.
public func int8Unary(input: UnsafePointer<Int8>, count: Int, table: Int8UnaryTable, output: UnsafeMutablePointer<Int8>) {
    if count <= 0 { return }
    if KernelDispatch.current == .scalar {
        int8UnaryReference(table.function, input: input, count: count, inputQuantization: table.input,
                           outputQuantization: table.output, output: output)
        return
    }
    let entries = table.entries.span
    for index in 0..<count {
        output[index] = entries[Int(UInt8(bitPattern: input[index]))]
    }
}

/// `int8Unary` on a block of `rows` rows of `columns` codes, the rows `inputStride` and `outputStride` codes
/// apart (one input of a column concatenation, requantized into its columns of the output): one call for
/// the block, so the table is read once and the rows cost no call each.
public func int8Unary(input: UnsafePointer<Int8>, rows: Int, columns: Int, inputStride: Int, table: Int8UnaryTable,
                      output: UnsafeMutablePointer<Int8>, outputStride: Int) {
    if rows <= 0 || columns <= 0 { return }
    if KernelDispatch.current == .scalar {
        for row in 0..<rows {
            int8UnaryReference(table.function, input: input + row * inputStride, count: columns, inputQuantization: table.input,
                               outputQuantization: table.output, output: output + row * outputStride)
        }
        return
    }
    table.entries.span.withUnsafeBufferPointer { entries in
        for row in 0..<rows {
            let source = input + row * inputStride, destination = output + row * outputStride
            for column in 0..<columns { destination[column] = entries[Int(UInt8(bitPattern: source[column]))] }
        }
    }
}

/// The scalar reference of `int8Unary`: the rule on every element.
public func int8UnaryReference(_ function: Int8UnaryFunction, input: UnsafePointer<Int8>, count: Int,
                               inputQuantization: Int8Quantization, outputQuantization: Int8Quantization,
                               output: UnsafeMutablePointer<Int8>) {
    let range = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)
    let outputMultiplier = 1 / outputQuantization.scale
    for index in 0..<max(count, 0) {
        output[index] = int8UnaryValue(function, input[index], input: inputQuantization, outputMultiplier: outputMultiplier,
                                       range: range)
    }
}

/// exp over the 256 differences an int8 code can have from its group's maximum:
/// `exponentials[d] = expf(Float(-d) * inputScale)`, d in 0...255. Built once per input scale.
public struct Int8SoftmaxTable: Sendable {
    public let inputScale: Float
    public private(set) var exponentials: InlineArray<256, Float>

    public init(inputScale: Float) {
        self.inputScale = inputScale
        exponentials = InlineArray(repeating: 0)
        for difference in 0..<256 {
            exponentials[difference] = expf(Float(-difference) * inputScale)
        }
    }
}

/// Softmax over consecutive groups of `groupSize` int8 values (any zero point; scale
/// `table.inputScale`), fp32 out: [groups, groupSize]. Groups are split over `pool` in blocks.
/// The scalar level runs `int8SoftmaxReference`.
public func int8Softmax(input: UnsafePointer<Int8>, groups: Int, groupSize: Int, table: Int8SoftmaxTable,
                        output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    if groups <= 0 || groupSize <= 0 { return }
    if KernelDispatch.current == .scalar {
        int8SoftmaxReference(input: input, groups: groups, groupSize: groupSize, inputScale: table.inputScale, output: output)
        return
    }
    let groupsPerTask = rowsPerNormalizationTask(columns: groupSize)
    runTasks((groups + groupsPerTask - 1) / groupsPerTask, pool: pool,
             Int8SoftmaxJob(input: input, groups: groups, groupSize: groupSize, groupsPerTask: groupsPerTask, table: table,
                            output: output))
}

/// The tasks of one `int8Softmax` call: `groupsPerTask` groups each.
private struct Int8SoftmaxJob: ParallelJob {
    let input: UnsafePointer<Int8>, groups: Int, groupSize: Int, groupsPerTask: Int
    let table: Int8SoftmaxTable, output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8SoftmaxJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let exponentials = table.exponentials.span
        for group in task * groupsPerTask..<min(groups, (task + 1) * groupsPerTask) {
            let codes = input + group * groupSize
            let destination = output + group * groupSize
            var maximum = codes[0]
            for index in 1..<groupSize where codes[index] > maximum { maximum = codes[index] }
            let top = Int(maximum)
            for index in 0..<groupSize { destination[index] = exponentials[top - Int(codes[index])] }
            let sum = blockedSum(segments: 1, length: groupSize) { _, first in
                loadFloats(destination + first, count: groupSize - first)
            }
            let inverseSum = SIMD8<Float>(repeating: 1 / sum)
            var first = 0
            while first < groupSize {
                let count = groupSize - first
                storeFloats(loadFloats(destination + first, count: count) * inverseSum, destination + first, count: count)
                first += 8
            }
        }
    }
}

/// The scalar reference of `int8Softmax`: expf of each scaled difference from the group's maximum,
/// the sum in eight scalar lanes, one multiply by its inverse.
public func int8SoftmaxReference(input: UnsafePointer<Int8>, groups: Int, groupSize: Int, inputScale: Float,
                                 output: UnsafeMutablePointer<Float>) {
    if groups <= 0 || groupSize <= 0 { return }
    for group in 0..<groups {
        let codes = input + group * groupSize
        let destination = output + group * groupSize
        var maximum = Int32(codes[0])
        for index in 1..<groupSize { maximum = max(maximum, Int32(codes[index])) }
        for index in 0..<groupSize {
            destination[index] = expf(Float(Int32(codes[index]) - maximum) * inputScale)
        }
        let inverseSum = 1 / blockedSumReference(segments: 1, length: groupSize) { _, index in destination[index] }
        for index in 0..<groupSize {
            destination[index] *= inverseSum
        }
    }
}

/// Int8 PReLU: x < 0 ? alpha[i % channels] * x : x on the real values, requantized to
/// `outputQuantization`; `channels` 1 shares one alpha. `output` may equal `input`. The scalar
/// level (and a count that is not a whole number of rows of `channels`) runs `int8PReLUReference`.
public func int8PReLU(input: UnsafePointer<Int8>, count: Int, inputQuantization: Int8Quantization, alpha: UnsafePointer<Float>,
                      channels: Int, outputQuantization: Int8Quantization, output: UnsafeMutablePointer<Int8>) {
    let channelCount = max(channels, 1)
    if count <= 0 { return }
    if KernelDispatch.current == .scalar || count % channelCount != 0 {
        int8PReLUReference(input: input, count: count, inputQuantization: inputQuantization, alpha: alpha, channels: channels,
                           outputQuantization: outputQuantization, output: output)
        return
    }
    let operand = Int8Operand(values: input, quantization: inputQuantization)
    let requantization = Int8NormOutput(outputQuantization)
    // One alpha: the whole tensor is one row.
    let rowLength = channelCount == 1 ? count : channelCount
    let shared = SIMD8<Float>(repeating: alpha[0])
    for row in 0..<count / rowLength {
        var first = 0
        while first < rowLength {
            let lanes = rowLength - first
            let values = dequantizedBlock(operand, row * rowLength + first, count: lanes)
            let slopes = channelCount == 1 ? shared : loadFloats(alpha + first, count: lanes)
            let activated = values.replacing(with: slopes * values, where: values .< 0)
            storeInt8s(requantization.quantize(activated), output + row * rowLength + first, count: lanes)
            first += 8
        }
    }
}

/// The scalar reference of `int8PReLU`: the rule on every element.
public func int8PReLUReference(input: UnsafePointer<Int8>, count: Int, inputQuantization: Int8Quantization,
                               alpha: UnsafePointer<Float>, channels: Int, outputQuantization: Int8Quantization,
                               output: UnsafeMutablePointer<Int8>) {
    let channelCount = max(channels, 1)
    let range = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)
    let outputMultiplier = 1 / outputQuantization.scale
    for index in 0..<max(count, 0) {
        let x = inputQuantization.dequantize(input[index])
        let activated = x < 0 ? alpha[index % channelCount] * x : x
        output[index] = requantize(activated * outputMultiplier, range)
    }
}
