import Kernels

// The float/int8 boundaries: quantize and dequantize with the int8 value's scale and zero point
// (docs/QUANTIZATION.md; rounding as Requantize.swift).

/// quantize (float32 -> int8 with the output's quantization) and dequantize (int8 -> float32 with
/// the input's).
struct QuantizationOp {
    enum Direction {
        case quantize(UnsafePointer<Float>, UnsafeMutablePointer<Int8>)
        case dequantize(UnsafePointer<Int8>, UnsafeMutablePointer<Float>)
    }

    let direction: Direction
    let count: Int
    let quantization: Int8Quantization

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        count = preparation.elementCount(node.output)
        switch node.operation {
        case .quantize:
            quantization = try preparation.requireQuantization(node.output, of: node)
            direction = .quantize(UnsafePointer(preparation.float(node.x)), preparation.int8(node.output))
        case .dequantize:
            quantization = try preparation.requireQuantization(node.x, of: node)
            direction = .dequantize(UnsafePointer(preparation.int8(node.x)), preparation.float(node.output))
        default:
            throw .malformedNode(node: node.name, detail: "not a quantize or dequantize")
        }
    }

    func run(_ context: RunContext) {
        switch direction {
        case .quantize(let x, let output): quantizeTensor(x, count: count, quantization: quantization, output: output, pool: context.pool)
        case .dequantize(let x, let output): dequantizeTensor(x, count: count, quantization: quantization, output: output)
        }
    }
}
