import Kernels

// Normalization: LayerNorm over rows (with an optional residual added first) and GroupNorm over
// channel groups of an HWC map.

/// layerNorm and groupNorm: normalize, then scale by gamma and shift by beta per channel.
struct NormalizationOp {
    enum Layout {
        /// LayerNorm of (x + residual) over each row.
        case rows(rows: Int, columns: Int, residual: UnsafePointer<Float>?)
        /// GroupNorm of an `[H, W, C]` map in `groups` channel groups.
        case groups(pixels: Int, channels: Int, groups: Int)
    }

    let x: UnsafePointer<Float>
    let layout: Layout
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let epsilon: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let shape = preparation.shape(node.x)
        switch node.operation {
        case .layerNorm(let epsilon):
            self.epsilon = epsilon
            layout = .rows(rows: shape[0], columns: shape[1], residual: node[.residual].map { UnsafePointer(preparation.float($0)) })
        case .groupNorm(let groups, let epsilon):
            self.epsilon = epsilon
            layout = .groups(pixels: shape[0] * shape[1], channels: shape[2], groups: groups)
        default:
            throw .malformedNode(node: node.name, detail: "not a LayerNorm or GroupNorm")
        }
        x = UnsafePointer(preparation.float(node.x))
        gamma = UnsafePointer(preparation.float(try preparation.operand(.gamma, of: node)))
        beta = UnsafePointer(preparation.float(try preparation.operand(.beta, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        switch layout {
        case .rows(let rows, let columns, let residual):
            layerNorm(input: x, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: epsilon,
                      output: output, pool: context.pool)
        case .groups(let pixels, let channels, let groups):
            groupNorm(input: x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta, epsilon: epsilon,
                      output: output, pool: context.pool)
        }
    }
}

/// rmsNorm: rows of x (+ residual) scaled to unit root mean square, times gamma.
struct RMSNormOp {
    let x: UnsafePointer<Float>, residual: UnsafePointer<Float>?, gamma: UnsafePointer<Float>
    let rows: Int, columns: Int, epsilon: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .rmsNorm(let epsilon) = node.operation else { throw .malformedNode(node: node.name, detail: "not an RMSNorm") }
        self.epsilon = epsilon
        let shape = preparation.shape(node.x)
        (rows, columns) = (shape[0], shape[1])
        x = UnsafePointer(preparation.float(node.x))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        gamma = UnsafePointer(preparation.float(try preparation.operand(.gamma, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        rmsNorm(input: x, residual: residual, rows: rows, columns: columns, gamma: gamma, epsilon: epsilon, output: output)
    }
}

/// columnMeans: the mean of each column (global average pooling of a flattened map).
struct ColumnMeansOp {
    let x: UnsafePointer<Float>
    let rows: Int, columns: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let shape = preparation.shape(node.x)
        (rows, columns) = (shape[0], shape[1])
        x = UnsafePointer(preparation.float(node.x))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        columnMeans(x, rows: rows, columns: columns, output: output)
    }
}
