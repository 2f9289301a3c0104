import Kernels

// Normalization: LayerNorm over rows (with an optional residual added first) and GroupNorm over
// channel groups of an HWC map.

/// layerNorm: LayerNorm of (x + residual) over each row.
struct LayerNormOp {
    let x: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let rows: Int, columns: Int
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let epsilon: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .layerNorm(let epsilon) = node.operation else { throw .malformedNode(node: node.name, detail: "not a LayerNorm") }
        let shape = preparation.shape(node.x)
        x = UnsafePointer(preparation.float(node.x))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        (rows, columns) = (shape[0], shape[1])
        gamma = UnsafePointer(preparation.float(try preparation.operand(.gamma, of: node)))
        beta = UnsafePointer(preparation.float(try preparation.operand(.beta, of: node)))
        self.epsilon = epsilon
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        layerNorm(input: x, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: epsilon,
                  output: output, pool: context.pool)
    }
}

/// groupNorm: GroupNorm of an `[H, W, C]` map in `groups` channel groups.
struct GroupNormOp {
    let x: UnsafePointer<Float>
    let pixels: Int, channels: Int, groups: Int
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let epsilon: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .groupNorm(let groups, let epsilon) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a GroupNorm")
        }
        let shape = preparation.shape(node.x)
        x = UnsafePointer(preparation.float(node.x))
        (pixels, channels, self.groups) = (shape[0] * shape[1], shape[2], groups)
        gamma = UnsafePointer(preparation.float(try preparation.operand(.gamma, of: node)))
        beta = UnsafePointer(preparation.float(try preparation.operand(.beta, of: node)))
        self.epsilon = epsilon
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        groupNorm(input: x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta, epsilon: epsilon,
                  output: output, pool: context.pool)
    }
}
