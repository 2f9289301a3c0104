import CLibc
import Kernels

// Element-wise ops: binary (with row, column and scalar broadcast), unary activations, inverse
// sigmoid, grouped softmax. Float32 only. The small ones are not worth a SIMD kernel (each runs on
// at most a few hundred thousand elements per image) and follow PyTorch's float32 order of
// operations, so that the float engine reproduces transformers to within rounding.

/// binary: a op b, `b` broadcast as `applyBinary` describes.
struct BinaryOp {
    let op: BinaryOperator
    let a: UnsafePointer<Float>, aShape: [Int]
    let b: UnsafePointer<Float>, bShape: [Int]
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .binary(let op) = node.operation else { throw .malformedNode(node: node.name, detail: "not a binary op") }
        let other = try preparation.operand(.other, of: node)
        self.op = op
        (a, aShape) = (UnsafePointer(preparation.float(node.x)), preparation.shape(node.x))
        (b, bShape) = (UnsafePointer(preparation.float(other)), preparation.shape(other))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        applyBinary(op, a: a, aShape: aShape, b: b, bShape: bShape, output: output)
    }
}

/// unary: ReLU, sigmoid, PReLU (per channel or shared slope), exact GELU, SiLU.
struct UnaryOp {
    let op: UnaryOperator
    let x: UnsafePointer<Float>
    let count: Int
    /// PReLU's slopes and their count.
    let alpha: (values: UnsafePointer<Float>, channels: Int)?
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .unary(let op) = node.operation else { throw .malformedNode(node: node.name, detail: "not a unary op") }
        self.op = op
        x = UnsafePointer(preparation.float(node.x))
        count = preparation.elementCount(node.output)
        if op == .prelu {
            let slopes = try preparation.operand(.alpha, of: node)
            alpha = (UnsafePointer(preparation.float(slopes)), preparation.elementCount(slopes))
        } else {
            alpha = nil
        }
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        output.update(from: x, count: count)
        switch op {
        case .relu: relu(output, count: count)
        case .sigmoid: sigmoid(output, count: count)
        case .prelu:
            if let alpha { prelu(output, count: count, alpha: alpha.values, channels: alpha.channels) }
        case .gelu:
            for i in 0..<count { output[i] = 0.5 * output[i] * (1 + erff(output[i] * 0.70710678118654752)) }
        case .silu:
            for i in 0..<count { output[i] = output[i] / (1 + expf(-output[i])) }
        }
    }
}

/// inverseSigmoid: `log(x1 / x2)` with clamping (transformers' `inverse_sigmoid`).
struct InverseSigmoidOp {
    let x: UnsafePointer<Float>
    let count: Int
    let epsilon: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .inverseSigmoid(let epsilon) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not an inverse sigmoid")
        }
        x = UnsafePointer(preparation.float(node.x))
        count = preparation.elementCount(node.output)
        self.epsilon = epsilon
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        applyInverseSigmoid(x, count: count, epsilon: epsilon, output: output)
    }
}

/// softmax: over consecutive groups of `groupSize` elements.
struct SoftmaxOp {
    let x: UnsafePointer<Float>
    let count: Int
    let groupSize: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .softmax(let groupSize) = node.operation, groupSize >= 1 else {
            throw .malformedNode(node: node.name, detail: "not a softmax over groups of one or more")
        }
        x = UnsafePointer(preparation.float(node.x))
        count = preparation.elementCount(node.output)
        self.groupSize = groupSize
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        output.update(from: x, count: count)
        softmax(output, groups: count / groupSize, groupSize: groupSize, pool: context.pool)
    }
}

/// a (op) b with b broadcast as the shape rule allows: same shape, a row `[C]`, a column `[R, 1]`, or `[1]`.
func applyBinary(_ op: BinaryOperator, a: UnsafePointer<Float>, aShape: [Int],
                 b: UnsafePointer<Float>, bShape: [Int], output: UnsafeMutablePointer<Float>) {
    let count = aShape.reduce(1, *)
    let columns = aShape.last ?? 1
    let bCount = bShape.reduce(1, *)
    // Index of b for element i of a.
    let columnBroadcast = aShape.count == 2 && bShape == [aShape[0], 1] && aShape[1] != 1
    @inline(__always) func bIndex(_ i: Int) -> Int {
        if bCount == count { return i }
        if bCount == 1 { return 0 }
        if columnBroadcast { return i / columns }
        return i % columns
    }
    switch op {
    case .add: for i in 0..<count { output[i] = a[i] + b[bIndex(i)] }
    case .subtract: for i in 0..<count { output[i] = a[i] - b[bIndex(i)] }
    case .multiply: for i in 0..<count { output[i] = a[i] * b[bIndex(i)] }
    case .divide: for i in 0..<count { output[i] = a[i] / b[bIndex(i)] }
    }
}

/// transformers' `inverse_sigmoid`: clamp to [0, 1], then log(max(x, eps) / max(1 - x, eps)).
func applyInverseSigmoid(_ x: UnsafePointer<Float>, count: Int, epsilon: Float, output: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let clamped = min(max(x[i], 0), 1)
        let x1 = max(clamped, epsilon)
        let x2 = max(1 - clamped, epsilon)
        output[i] = logf(x1 / x2)
    }
}
