import CLibc
import Kernels

// Sine position embedding of coordinates (DAB anchors, Conditional DETR reference points, two-stage
// proposals), frequencies computed once at prepare.

/// sineEmbedding: `[R, k]` coordinates to `[R, k * features]` sin/cos values.
struct SineEmbeddingOp {
    let x: UnsafePointer<Float>
    let rows: Int, columns: Int
    let features: Int
    let frequencies: UnsafePointer<Float>
    let scale: Float
    let order: [Int]
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .sineEmbedding(let features, let temperature, let scale, let order) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a sine embedding")
        }
        let shape = preparation.shape(node.x)
        x = UnsafePointer(preparation.float(node.x))
        (rows, columns) = (shape[0], shape[1])
        self.features = features
        let table = preparation.table(of: Float.self, count: features)
        fillSineFrequencies(table, features: features, temperature: temperature)
        frequencies = UnsafePointer(table)
        (self.scale, self.order) = (scale, order)
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        applySineEmbedding(x, rows: rows, columns: columns, features: features, frequencies: frequencies, scale: scale,
                           order: order, output: output)
    }
}

/// The frequencies T^(2 floor(i / 2) / features) of a sine embedding, as transformers computes them.
func fillSineFrequencies(_ frequencies: UnsafeMutablePointer<Float>, features: Int, temperature: Float) {
    for i in 0..<features {
        frequencies[i] = powf(temperature, Float(2 * (i / 2)) / Float(features))
    }
}

/// Sine embedding of coordinates, as transformers computes it for DAB anchors, Conditional DETR's
/// reference points and two-stage proposals: for coordinate c (in `order`), value i of its block is
/// sin (i even) or cos (i odd) of (c * scale) / frequencies[i].
func applySineEmbedding(_ x: UnsafePointer<Float>, rows: Int, columns: Int, features: Int,
                        frequencies: UnsafePointer<Float>, scale: Float, order: [Int],
                        output: UnsafeMutablePointer<Float>) {
    let width = features * order.count
    for row in 0..<rows {
        for (block, coordinate) in order.enumerated() {
            let scaled = x[row * columns + coordinate] * scale
            let target = output + row * width + block * features
            var i = 0
            while i < features {
                target[i] = sinf(scaled / frequencies[i])
                if i + 1 < features { target[i + 1] = cosf(scaled / frequencies[i + 1]) }
                i += 2
            }
        }
    }
}
