#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif

/// The float/int8 boundary ops of the graph: `quantize` (float32 -> int8) and `dequantize` (int8 ->
/// float32) of whole tensors with one `Int8Quantization`. The references apply
/// `Int8Quantization.quantize` / `.dequantize` element by element; the fast paths do the same IEEE
/// operations eight at a time (a true division by the scale, NaN to real 0, clamp, magic-number
/// rounding; sixteen at a time on ZMM at the avx512vnni level), so they equal the references bit for bit.
/// Large tensors are split into blocks over `pool` (each element depends on itself alone).
public func quantizeTensor(_ input: UnsafePointer<Float>, count: Int, quantization: Int8Quantization,
                           output: UnsafeMutablePointer<Int8>, pool: ThreadPool? = nil) {
    guard let level = boundaryFastPathLevel(count) else {
        return quantizeTensorReference(input, count: count, quantization: quantization, output: output)
    }
    let blocks = (count + boundaryBlock - 1) / boundaryBlock
    if pool == nil || blocks == 1 {
        return quantizeTensor(input, count: count, quantization: quantization, output: output, level: level)
    }
    runTasks(blocks, pool: pool, QuantizeTensorJob(input: input, count: count, quantization: quantization, output: output, level: level))
}

/// Elements per task of the boundary ops over a pool: 128 KiB of floats, a multiple of every vector width.
private let boundaryBlock = 32768

/// The tasks of one pooled `quantizeTensor` call: `boundaryBlock` elements each.
private struct QuantizeTensorJob: ParallelJob {
    let input: UnsafePointer<Float>, count: Int, quantization: Int8Quantization, output: UnsafeMutablePointer<Int8>
    let level: KernelLevel

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: QuantizeTensorJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let first = task * boundaryBlock
        quantizeTensor(input + first, count: min(boundaryBlock, count - first), quantization: quantization, output: output + first,
                       level: level)
    }
}

/// `quantizeTensor`'s vector path at `level` (read once by the caller, on its thread, as every kernel does).
func quantizeTensor(_ input: UnsafePointer<Float>, count: Int, quantization: Int8Quantization, output: UnsafeMutablePointer<Int8>,
                    level: KernelLevel) {
    #if arch(x86_64) && canImport(KernelsAVX512VNNI)
    if level == .avx512VNNI {
        return quantizeTensorAVX512(input, count: count, scale: quantization.scale, zeroPoint: quantization.zeroPoint, output: output)
    }
    #endif
    let scale = SIMD8<Float>(repeating: quantization.scale)
    let range = Int8OutputRange(zeroPoint: quantization.zeroPoint)
    let lower = SIMD8<Float>(repeating: range.lowerBound), upper = SIMD8<Float>(repeating: range.upperBound)
    let zeroPoint = SIMD8<Int32>(repeating: quantization.zeroPoint)
    var index = 0
    while index < count {
        let lanes = min(8, count - index)
        var scaled = loadFloats(input + index, count: lanes) / scale
        scaled = scaled.replacing(with: 0, where: scaled .!= scaled)
        storeInt8s(requantize(scaled, lower: lower, upper: upper, zeroPoint: zeroPoint), output + index, count: lanes)
        index += 8
    }
}

/// The scalar reference of `quantizeTensor`.
public func quantizeTensorReference(_ input: UnsafePointer<Float>, count: Int, quantization: Int8Quantization,
                                    output: UnsafeMutablePointer<Int8>) {
    for index in 0..<max(count, 0) { output[index] = quantization.quantize(input[index]) }
}

/// Float(q - zeroPoint) * scale for every element; eight at a time off the scalar level.
public func dequantizeTensor(_ input: UnsafePointer<Int8>, count: Int, quantization: Int8Quantization,
                             output: UnsafeMutablePointer<Float>) {
    guard boundaryFastPathLevel(count) != nil else {
        return dequantizeTensorReference(input, count: count, quantization: quantization, output: output)
    }
    let operand = Int8Operand(values: input, quantization: quantization)
    var index = 0
    while index + 8 <= count {
        UnsafeMutableRawPointer(output + index).storeBytes(of: dequantizedBlock(operand, index, count: 8), as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        output[index] = quantization.dequantize(input[index])
        index += 1
    }
}

/// The scalar reference of `dequantizeTensor`.
public func dequantizeTensorReference(_ input: UnsafePointer<Int8>, count: Int, quantization: Int8Quantization,
                                      output: UnsafeMutablePointer<Float>) {
    for index in 0..<max(count, 0) { output[index] = quantization.dequantize(input[index]) }
}

/// The dispatch level when a boundary op runs a vector path, nil for the reference: nothing to convert,
/// or the level forced to scalar (the references take empty tensors too).
@inline(__always)
private func boundaryFastPathLevel(_ count: Int) -> KernelLevel? {
    let level = KernelDispatch.current
    return count > 0 && level != .scalar ? level : nil
}
