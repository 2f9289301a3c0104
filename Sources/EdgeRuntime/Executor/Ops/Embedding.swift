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
        // Each row's values are libm's sinf/cosf of that row alone: any split over the pool gives the same bits.
        let job = SineEmbeddingJob(op: self, rowsPerTask: max(1, 4096 / max(features * order.count, 1)))
        let tasks = (rows + job.rowsPerTask - 1) / job.rowsPerTask
        if let pool = context.pool {
            pool.parallelFor(tasks, job)
        } else {
            for task in 0..<tasks { job.run(task: task, thread: 0) }
        }
    }
}

/// The tasks of one sine embedding: `rowsPerTask` rows each.
private struct SineEmbeddingJob: ParallelJob {
    let op: SineEmbeddingOp, rowsPerTask: Int

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: SineEmbeddingJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let first = task * rowsPerTask, count = min(rowsPerTask, op.rows - first)
        let width = op.features * op.order.count
        applySineEmbedding(op.x + first * op.columns, rows: count, columns: op.columns, features: op.features,
                           frequencies: op.frequencies, scale: op.scale, order: op.order, output: op.output + first * width)
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
