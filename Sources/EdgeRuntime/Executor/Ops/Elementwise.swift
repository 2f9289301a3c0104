import CLibc
import Kernels

// Element-wise ops: binary (with row, column and scalar broadcast; a SIMD kernel over the pool, as
// these include the encoder's full-map position additions), unary activations, inverse sigmoid,
// grouped softmax. Float32 only. The small ones are not worth a SIMD kernel (each runs on at most a
// few hundred thousand elements per image) and follow PyTorch's float32 order of operations, so
// that the float engine reproduces transformers to within rounding.

/// binary: a op b, `b` broadcast as the shape rule allows: the same shape, a row `[C]`, a column
/// `[R, 1]` or one value `[1]` (`elementwiseBinary`).
struct BinaryOp {
    let op: FloatBinaryOperator
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    let rows: Int, columns: Int
    let broadcast: BinaryBroadcast
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .binary(let op) = node.operation else { throw .malformedNode(node: node.name, detail: "not a binary op") }
        let other = try preparation.operand(.other, of: node)
        switch op {
        case .add: self.op = .add
        case .subtract: self.op = .subtract
        case .multiply: self.op = .multiply
        case .divide: self.op = .divide
        }
        let (aShape, bShape) = (preparation.shape(node.x), preparation.shape(other))
        let count = preparation.elementCount(node.x)
        columns = aShape.last ?? 1
        rows = columns > 0 ? count / columns : 0
        // In the shape rule's order: equal counts are the same shape (or a row of a one-row matrix).
        if preparation.elementCount(other) == count {
            broadcast = .same
        } else if bShape == [1] {
            broadcast = .scalar
        } else if aShape.count == 2, bShape == [aShape[0], 1] {
            broadcast = .column
        } else {
            broadcast = .row
        }
        (a, b) = (UnsafePointer(preparation.float(node.x)), UnsafePointer(preparation.float(other)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        elementwiseBinary(op, a: a, b: b, rows: rows, columns: columns, broadcast: broadcast, output: output, pool: context.pool)
    }
}

/// unary, inverseSigmoid and softmax: one function over `count` elements of x.
struct ElementwiseOp {
    enum Function {
        /// ReLU, sigmoid, exact GELU, SiLU, and PReLU with its slopes (one or per channel).
        case unary(UnaryOperator, alpha: UnsafePointer<Float>?, channels: Int)
        /// `log(x1 / x2)` with clamping (transformers' `inverse_sigmoid`).
        case inverseSigmoid(epsilon: Float)
        /// Softmax over consecutive groups of `groupSize` elements.
        case softmax(groupSize: Int)
    }

    let function: Function
    let x: UnsafePointer<Float>
    let count: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        switch node.operation {
        case .unary(.prelu):
            let slopes = try preparation.operand(.alpha, of: node)
            function = .unary(.prelu, alpha: UnsafePointer(preparation.float(slopes)), channels: preparation.elementCount(slopes))
        case .unary(let op): function = .unary(op, alpha: nil, channels: 0)
        case .inverseSigmoid(let epsilon): function = .inverseSigmoid(epsilon: epsilon)
        case .softmax(let groupSize) where groupSize >= 1: function = .softmax(groupSize: groupSize)
        default: throw .malformedNode(node: node.name, detail: "not an element-wise function (a softmax needs groups of one or more)")
        }
        x = UnsafePointer(preparation.float(node.x))
        count = preparation.elementCount(node.output)
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        switch function {
        case .inverseSigmoid(let epsilon):
            applyInverseSigmoid(x, count: count, epsilon: epsilon, output: output)
        case .softmax(let groupSize):
            output.update(from: x, count: count)
            softmax(output, groups: count / groupSize, groupSize: groupSize, pool: context.pool)
        case .unary(let op, let alpha, let channels):
            output.update(from: x, count: count)
            switch op {
            case .relu: relu(output, count: count)
            case .sigmoid: sigmoid(output, count: count)
            case .prelu:
                if let alpha { prelu(output, count: count, alpha: alpha, channels: channels) }
            case .gelu:
                for i in 0..<count { output[i] = 0.5 * output[i] * (1 + erff(output[i] * 0.70710678118654752)) }
            case .silu:
                for i in 0..<count { output[i] = output[i] / (1 + expf(-output[i])) }
            }
        }
    }
}

/// quantizedUnary: an int8 code-wise function through its 256-entry table, built here at load from
/// the input's and the output's quantizations.
struct QuantizedUnaryOp {
    let x: UnsafePointer<Int8>
    let count: Int
    let table: Int8UnaryTable
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .quantizedUnary(let op) = node.operation else { throw .malformedNode(node: node.name, detail: "not an int8 unary") }
        let function: Int8UnaryFunction
        switch op {
        case .sigmoid: function = .sigmoid
        case .silu: function = .silu
        case .gelu: function = .gelu
        case .relu: function = .relu
        case .prelu:
            let slope = try preparation.constant(.alpha, of: node)
            guard slope.count == 1, slope.elementType == .float32 else {
                throw .malformedNode(node: node.name, detail: "the int8 PReLU table takes one float32 slope")
            }
            function = .prelu(slope: slope.pointer[0])
        }
        table = Int8UnaryTable(function, input: try preparation.requireQuantization(node.x, of: node),
                               output: try preparation.requireQuantization(node.output, of: node))
        x = UnsafePointer(preparation.int8(node.x))
        count = preparation.elementCount(node.output)
        output = preparation.int8(node.output)
    }

    func run(_ context: RunContext) {
        int8Unary(input: x, count: count, table: table, output: output)
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

/// clamp on float32 values, or on int8 codes with the bounds quantized by the input's quantization.
struct ClampOp {
    enum Data {
        case float(UnsafePointer<Float>, UnsafeMutablePointer<Float>, minimum: Float, maximum: Float)
        case int8(UnsafePointer<Int8>, UnsafeMutablePointer<Int8>, minimum: Int8, maximum: Int8)
    }

    let data: Data
    let count: Int

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .clamp(let minimum, let maximum) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a clamp")
        }
        count = preparation.elementCount(node.output)
        if preparation.graph.values[node.x.index].elementType == .int8 {
            let quantization = try preparation.requireQuantization(node.x, of: node)
            data = .int8(UnsafePointer(preparation.int8(node.x)), preparation.int8(node.output),
                         minimum: quantization.quantize(minimum), maximum: quantization.quantize(maximum))
        } else {
            data = .float(UnsafePointer(preparation.float(node.x)), preparation.float(node.output), minimum: minimum, maximum: maximum)
        }
    }

    func run(_ context: RunContext) {
        switch data {
        case .float(let x, let output, let minimum, let maximum):
            clamp(x, count: count, minimum: minimum, maximum: maximum, output: output)
        case .int8(let x, let output, let minimum, let maximum):
            clamp(x, count: count, minimum: minimum, maximum: maximum, output: output)
        }
    }
}
