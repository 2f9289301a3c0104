import Kernels

// The float/int8 boundaries: quantize and dequantize with the int8 value's scale and zero point
// (docs/QUANTIZATION.md; rounding as Requantize.swift).

/// quantize: float32 -> int8 with the output's quantization.
struct QuantizeOp {
    let x: UnsafePointer<Float>
    let count: Int
    let quantization: Int8Quantization
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        x = UnsafePointer(preparation.float(node.x))
        count = preparation.elementCount(node.output)
        quantization = try preparation.requireQuantization(node.output, of: node)
        output = preparation.int8(node.output)
    }

    func run(_ context: RunContext) {
        for i in 0..<count { output[i] = quantization.quantize(x[i]) }
    }
}

/// dequantize: int8 -> float32 with the input's quantization.
struct DequantizeOp {
    let x: UnsafePointer<Int8>
    let count: Int
    let quantization: Int8Quantization
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        x = UnsafePointer(preparation.int8(node.x))
        count = preparation.elementCount(node.output)
        quantization = try preparation.requireQuantization(node.x, of: node)
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        for i in 0..<count { output[i] = quantization.dequantize(x[i]) }
    }
}
