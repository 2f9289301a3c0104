/// A linear layer on the int8 tiles with its input quantized at run time, one symmetric scale per row:
///
///     s_r      = max_k |x[r, k]| / 127                    (`Int8Quantization.symmetric`; 1 for a zero row)
///     q[r, k]  = quantize(x[r, k]) at (s_r, zero point 0)  (`Int8Quantization.quantize`)
///     y[r, n]  = act((Float(sum_k q[r, k] * W[n, k]) * s_w[n]) * s_r + bias[n] [+ residual[r, n]])
///
/// Why: the layers a DETR keeps float under static int8 (box and class heads, the deformable sampling
/// offsets and weights, DAB-DETR's anchor MLPs) read queries whose magnitudes differ row by row, so one
/// calibrated range per tensor spends most of its codes on the largest query. A scale per row (per
/// token, as LLM.int8 and SmoothQuant quantize activations) follows each query and needs no
/// calibration, while the multiply-accumulates run on the same int8 GEMM tiles as every other layer.
/// The row quantization and the epilogue are O(rows x (K + N)) against the GEMM's rows x K x N.
///
/// `weights` are packed with input zero point 0, no bias, and the weight scales s_w as their scales
/// (the float epilogue of `int8Linear` gives Float(acc) * s_w[n]); `bias` is float32. `codes` holds
/// rows x K int8 values and `rowScales` rows floats of scratch. The integer part is exact and the
/// float steps are the same IEEE operations in the same order on every path, so the result equals
/// `dynamicInt8LinearReference` bit for bit. With an `addend` (x's shape and stride) the layer reads x + addend,
/// each row summed into task scratch (`dynamicInt8LinearRowBytes`) just before it is quantized.
public func dynamicInt8Linear(input: UnsafePointer<Float>, addend: UnsafePointer<Float>? = nil, rows: Int, inputStride: Int,
                              weights: PackedInt8Weights, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                              activation: FloatActivation, output: UnsafeMutablePointer<Float>, codes: UnsafeMutablePointer<Int8>,
                              rowScales: UnsafeMutablePointer<Float>, pool: ThreadPool?, taskScratch: KernelScratch? = nil) {
    let (outputs, depth) = (weights.outputs, weights.inputs)
    if rows <= 0 || outputs <= 0 { return }
    quantizeRowsSymmetric(input, addend: addend, rows: rows, columns: depth, inputStride: inputStride, codes: codes, scales: rowScales,
                          pool: pool, taskScratch: taskScratch)
    int8Linear(input: codes, rows: rows, inputStride: depth, weights: weights, residual: nil, output: .float(output),
               pool: pool, taskScratch: taskScratch)
    let rowsPerTask = rowsPerNormalizationTask(columns: outputs)
    runTasks((rows + rowsPerTask - 1) / rowsPerTask, pool: pool,
             FinishRowsJob(output: output, rows: rows, outputs: outputs, rowsPerTask: rowsPerTask, rowScales: rowScales,
                           bias: bias, residual: residual, activation: activation))
}

/// The epilogue of one `dynamicInt8Linear` call over the pool: `rowsPerTask` rows of `finishRow` each.
private struct FinishRowsJob: ParallelJob {
    let output: UnsafeMutablePointer<Float>, rows: Int, outputs: Int, rowsPerTask: Int, rowScales: UnsafePointer<Float>
    let bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, activation: FloatActivation

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: FinishRowsJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        for row in task * rowsPerTask..<min(rows, (task + 1) * rowsPerTask) {
            finishRow(output + row * outputs, count: outputs, scale: rowScales[row], bias: bias,
                      residual: residual.map { $0 + row * outputs }, activation: activation)
        }
    }
}

/// One output row: line[n] = act(line[n] * scale + bias[n] [+ residual[n]]), eight lanes at a time with
/// the scalar operations' order and rounding (the ReLU keeps x > 0, as `FloatActivation.apply`).
@inline(__always)
private func finishRow(_ line: UnsafeMutablePointer<Float>, count: Int, scale: Float, bias: UnsafePointer<Float>,
                       residual: UnsafePointer<Float>?, activation: FloatActivation) {
    let scales = SIMD8<Float>(repeating: scale)
    var n = 0
    while n + 8 <= count {
        var value = loadFloats(line + n, count: 8) * scales + loadFloats(bias + n, count: 8)
        if let residual { value = value + loadFloats(residual + n, count: 8) }
        if activation == .relu { value = value.replacing(with: 0, where: .!(value .> 0)) }
        UnsafeMutableRawPointer(line + n).storeBytes(of: value, as: SIMD8<Float>.self)
        n += 8
    }
    while n < count {
        var value = line[n] * scale + bias[n]
        if let residual { value = value + residual[n] }
        line[n] = activation.apply(value)
        n += 1
    }
}

/// The scalar reference of `dynamicInt8Linear`, from the definition on unpacked weights `[N, K]`
/// (-128 read as -127, as the packers clamp it).
public func dynamicInt8LinearReference(input: UnsafePointer<Float>, addend: UnsafePointer<Float>? = nil, rows: Int, inputStride: Int,
                                       weights: UnsafePointer<Int8>, outputs: Int, inputs: Int,
                                       weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                       residual: UnsafePointer<Float>?, activation: FloatActivation,
                                       output: UnsafeMutablePointer<Float>) {
    if rows <= 0 || outputs <= 0 { return }
    @inline(__always) func x(_ row: Int, _ k: Int) -> Float {
        addend.map { input[row * inputStride + k] + $0[row * inputStride + k] } ?? input[row * inputStride + k]
    }
    for row in 0..<rows {
        var largest: Float = 0
        for k in 0..<max(inputs, 0) where x(row, k).magnitude > largest { largest = x(row, k).magnitude }
        let quantization = Int8Quantization.symmetric(absoluteMaximum: largest)
        for n in 0..<outputs {
            var accumulator: Int32 = 0
            for k in 0..<max(inputs, 0) {
                let q = Int32(quantization.quantize(x(row, k)))
                accumulator &+= q * Int32(max(weights[n * inputs + k], -127))
            }
            var value = (Float(accumulator) * weightScales[n]) * quantization.scale + bias[n]
            if let residual { value = value + residual[row * outputs + n] }
            output[row * outputs + n] = activation.apply(value)
        }
    }
}

/// Each row of `input` ([rows, columns], row stride `inputStride`) as int8 at its own symmetric scale:
/// `scales[r]` = the row's `Int8Quantization.symmetric` scale, `codes` [rows, columns] contiguous.
/// NaN counts as 0 (as `quantize` maps it); an infinite value gives the row scale 1. Blocks of rows
/// run over `pool`; each row's result depends on that row alone. With an `addend` (same shape and stride)
/// the rows are of input + addend, each summed into `taskScratch` (`dynamicInt8LinearRowBytes` a thread).
public func quantizeRowsSymmetric(_ input: UnsafePointer<Float>, addend: UnsafePointer<Float>? = nil, rows: Int, columns: Int,
                                  inputStride: Int, codes: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                  pool: ThreadPool? = nil, taskScratch: KernelScratch? = nil) {
    if rows <= 0 { return }
    let rowsPerTask = rowsPerNormalizationTask(columns: columns)
    runTasks((rows + rowsPerTask - 1) / rowsPerTask, pool: pool,
             QuantizeRowsJob(input: input, addend: addend, rows: rows, columns: columns, inputStride: inputStride,
                             rowsPerTask: rowsPerTask, codes: codes, scales: scales, level: KernelDispatch.current,
                             taskScratch: taskScratch))
}

/// Bytes of `KernelScratch` a thread needs to sum one row of `columns` values (`dynamicInt8Linear` with an addend).
public func dynamicInt8LinearRowBytes(columns: Int) -> Int {
    roundedUp(4 * max(columns, 1), to: 64)
}

/// The tasks of one `quantizeRowsSymmetric` call: `rowsPerTask` rows each.
private struct QuantizeRowsJob: ParallelJob {
    let input: UnsafePointer<Float>, addend: UnsafePointer<Float>?, rows: Int, columns: Int, inputStride: Int, rowsPerTask: Int
    let codes: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, level: KernelLevel
    let taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: QuantizeRowsJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let taskRows = task * rowsPerTask..<min(rows, (task + 1) * rowsPerTask)
        guard let addend else {
            for row in taskRows {
                scales[row] = quantizeRowSymmetric(input + row * inputStride, count: columns, codes: codes + row * columns, level: level)
            }
            return
        }
        withTaskScratch(taskScratch, thread: thread, bytes: dynamicInt8LinearRowBytes(columns: columns)) { memory in
            let sum = memory.bindMemory(to: Float.self, capacity: max(columns, 1))
            for row in taskRows {
                applyBinaryRun(.add, input + row * inputStride, addend + row * inputStride, count: columns, sum)
                scales[row] = quantizeRowSymmetric(sum, count: columns, codes: codes + row * columns, level: level)
            }
        }
    }
}


/// One row of `count` floats as int8 codes at its own symmetric scale (`Int8Quantization.symmetric` of its
/// largest magnitude), which it returns: the row step of `quantizeRowsSymmetric` and of `dynamicInt8Attention`.
@inline(__always)
func quantizeRowSymmetric(_ line: UnsafePointer<Float>, count: Int, codes: UnsafeMutablePointer<Int8>, level: KernelLevel) -> Float {
    let quantization = Int8Quantization.symmetric(absoluteMaximum: largestMagnitude(line, count: count))
    if level == .scalar || count <= 0 {
        quantizeTensorReference(line, count: count, quantization: quantization, output: codes)
    } else {
        quantizeTensor(line, count: count, quantization: quantization, output: codes, level: level)
    }
    return quantization.scale
}

/// max |x| over `count` values, NaN skipped (0 for none): eight lanes, each keeping its largest, then
/// the largest lane. A maximum is exact in any order, so this equals the one-by-one scan.
@inline(__always)
func largestMagnitude(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var index = 0
    while index + 8 <= count {
        let value = loadFloats(values + index, count: 8)
        let magnitude = value.replacing(with: -value, where: value .< 0)
        lanes = lanes.replacing(with: magnitude, where: magnitude .> lanes)
        index += 8
    }
    var largest = lanes.max()
    while index < count {
        let magnitude = values[index].magnitude
        if magnitude > largest { largest = magnitude }
        index += 1
    }
    return largest
}
