/// A float32 arithmetic operator of `elementwiseBinary`.
public enum FloatBinaryOperator: Sendable {
    case add, subtract, multiply, divide

    @inline(__always)
    func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: a + b
        case .subtract: a - b
        case .multiply: a * b
        case .divide: a / b
        }
    }

    @inline(__always)
    func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        switch self {
        case .add: a + b
        case .subtract: a - b
        case .multiply: a * b
        case .divide: a / b
        }
    }
}

/// How the second operand of `elementwiseBinary` lines up with the first, a `[rows, columns]` matrix.
public enum BinaryBroadcast: Sendable {
    /// b has a's shape.
    case same
    /// b is one row `[columns]`, the same for every row (a bias, a scale per channel).
    case row
    /// b is one column `[rows, 1]`, one value per row.
    case column
    /// b is one value.
    case scalar
}

/// output = a (op) b element by element, b broadcast as `broadcast` says; `output` may be `a`.
///
/// Each element is one IEEE operation in both paths, so the SIMD8 path (blocks of rows split over
/// `pool`) equals `elementwiseBinaryReference` bit for bit. These are the transformer's position
/// additions (`hidden + pos` before every attention) and the box arithmetic: memory-bound passes
/// that were a tenth of Deformable DETR's int8 run as a one-thread scalar loop.
public func elementwiseBinary(_ op: FloatBinaryOperator, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int, columns: Int,
                              broadcast: BinaryBroadcast, output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    if rows <= 0 || columns <= 0 { return }
    if KernelDispatch.current == .scalar {
        elementwiseBinaryReference(op, a: a, b: b, rows: rows, columns: columns, broadcast: broadcast, output: output)
        return
    }
    // About 16K elements a task: enough to outweigh the pool's lock, small enough to balance two cores.
    let rowsPerTask = max(1, 16384 / columns)
    runTasks((rows + rowsPerTask - 1) / rowsPerTask, pool: pool,
             ElementwiseBinaryJob(op: op, a: a, b: b, rows: rows, columns: columns, broadcast: broadcast, rowsPerTask: rowsPerTask,
                                  output: output))
}

/// The tasks of one `elementwiseBinary` call: `rowsPerTask` rows each, eight columns at a time.
private struct ElementwiseBinaryJob: ParallelJob {
    let op: FloatBinaryOperator, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int, columns: Int
    let broadcast: BinaryBroadcast, rowsPerTask: Int, output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: ElementwiseBinaryJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let firstRow = task * rowsPerTask, lastRow = min(rows, firstRow + rowsPerTask)
        switch broadcast {
        case .same:
            // Contiguous rows: one run over the block, so narrow rows still fill the vectors.
            let first = firstRow * columns
            applyBinaryRun(op, a + first, b + first, count: (lastRow - firstRow) * columns, output + first)
        case .row:
            for row in firstRow..<lastRow {
                applyBinaryRun(op, a + row * columns, b, count: columns, output + row * columns)
            }
        case .column, .scalar:
            for row in firstRow..<lastRow {
                let shared = SIMD8<Float>(repeating: b[broadcast == .column ? row : 0])
                let values = a + row * columns, results = output + row * columns
                var first = 0
                while first < columns {
                    storeFloats(op.apply(loadFloats(values + first, count: columns - first), shared), results + first,
                                count: columns - first)
                    first += 8
                }
            }
        }
    }
}

/// output[i] = op(a[i], b[i]) for `count` elements, eight at a time (one IEEE operation each): a run of the
/// `binary` op, and the row sum of a `dynamicInt8Linear` with an addend.
@inline(__always)
func applyBinaryRun(_ op: FloatBinaryOperator, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
                    _ output: UnsafeMutablePointer<Float>) {
    var first = 0
    while first < count {
        storeFloats(op.apply(loadFloats(a + first, count: count - first), loadFloats(b + first, count: count - first)),
                    output + first, count: count - first)
        first += 8
    }
}

/// The scalar reference of `elementwiseBinary`: one element at a time, in order.
public func elementwiseBinaryReference(_ op: FloatBinaryOperator, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int,
                                       columns: Int, broadcast: BinaryBroadcast, output: UnsafeMutablePointer<Float>) {
    if columns <= 0 { return }
    for row in 0..<max(rows, 0) {
        for column in 0..<columns {
            let other: Float
            switch broadcast {
            case .same: other = b[row * columns + column]
            case .row: other = b[column]
            case .column: other = b[row]
            case .scalar: other = b[0]
            }
            output[row * columns + column] = op.apply(a[row * columns + column], other)
        }
    }
}
