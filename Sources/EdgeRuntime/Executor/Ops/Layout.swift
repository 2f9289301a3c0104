import Kernels

// Data movement: concatenations, column slices, head interleaving, a reshape of a constant, and the
// top-k row selection of two-stage proposals. No arithmetic.

/// concatenateColumns: matrices with the same rows, side by side; float32, or int8 with each input
/// whose quantization differs from the output's requantized through a 256-entry table.
struct ConcatenateColumnsOp {
    struct Input {
        let values: UnsafeRawPointer
        let columns: Int
        /// int8 only: the requantization to the output's quantization (nil: the same, bytes copied).
        let table: Int8UnaryTable?
    }
    let inputs: [Input]
    let rows: Int, columns: Int
    let elementSize: Int
    let output: UnsafeMutableRawPointer

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let shape = preparation.shape(node.output)
        (rows, columns) = (shape[0], shape[1])
        if let outputQuantization = preparation.quantization(node.output) {
            var inputs: [Input] = []
            for value in node.inputs {
                let quantization = try preparation.requireQuantization(value, of: node)
                let table = quantization == outputQuantization ? nil
                    : Int8UnaryTable(.identity, input: quantization, output: outputQuantization)
                inputs.append(Input(values: UnsafeRawPointer(preparation.int8(value)), columns: preparation.shape(value)[1], table: table))
            }
            self.inputs = inputs
            elementSize = 1
            output = UnsafeMutableRawPointer(preparation.int8(node.output))
        } else {
            inputs = node.inputs.map { Input(values: UnsafeRawPointer(preparation.float($0)), columns: preparation.shape($0)[1], table: nil) }
            elementSize = MemoryLayout<Float>.stride
            output = UnsafeMutableRawPointer(preparation.float(node.output))
        }
    }

    func run(_ context: RunContext) {
        var column = 0
        for input in inputs {
            if let table = input.table {
                int8Unary(input: input.values.assumingMemoryBound(to: Int8.self), rows: rows, columns: input.columns,
                          inputStride: input.columns, table: table,
                          output: (output + column).assumingMemoryBound(to: Int8.self), outputStride: columns)
            } else {
                let bytes = input.columns * elementSize
                for row in 0..<rows {
                    (output + (row * columns + column) * elementSize).copyMemory(from: input.values + row * bytes, byteCount: bytes)
                }
            }
            column += input.columns
        }
    }
}

/// concatenateRows: matrices with the same columns, one after the other; float32, or int8 requantized
/// like `concatenateColumns`.
struct ConcatenateRowsOp {
    let inputs: [(values: UnsafeRawPointer, count: Int, table: Int8UnaryTable?)]
    let elementSize: Int
    let output: UnsafeMutableRawPointer

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        if let outputQuantization = preparation.quantization(node.output) {
            var inputs: [(values: UnsafeRawPointer, count: Int, table: Int8UnaryTable?)] = []
            for value in node.inputs {
                let quantization = try preparation.requireQuantization(value, of: node)
                let table = quantization == outputQuantization ? nil
                    : Int8UnaryTable(.identity, input: quantization, output: outputQuantization)
                inputs.append((UnsafeRawPointer(preparation.int8(value)), preparation.elementCount(value), table))
            }
            self.inputs = inputs
            elementSize = 1
            output = UnsafeMutableRawPointer(preparation.int8(node.output))
        } else {
            inputs = node.inputs.map { (UnsafeRawPointer(preparation.float($0)), preparation.elementCount($0), nil) }
            elementSize = MemoryLayout<Float>.stride
            output = UnsafeMutableRawPointer(preparation.float(node.output))
        }
    }

    func run(_ context: RunContext) {
        var offset = 0
        for input in inputs {
            let destination = output + offset * elementSize
            if let table = input.table {
                int8Unary(input: input.values.assumingMemoryBound(to: Int8.self), count: input.count, table: table,
                          output: destination.assumingMemoryBound(to: Int8.self))
            } else {
                destination.copyMemory(from: input.values, byteCount: input.count * elementSize)
            }
            offset += input.count
        }
    }
}

/// sliceColumns: columns `start ..< start + count` of each row.
struct SliceColumnsOp {
    let x: UnsafePointer<Float>, inputColumns: Int
    let rows: Int, start: Int, count: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .sliceColumns(let start, let count) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a column slice")
        }
        (x, inputColumns) = (UnsafePointer(preparation.float(node.x)), preparation.shape(node.x)[1])
        rows = preparation.shape(node.output)[0]
        (self.start, self.count) = (start, count)
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        for row in 0..<rows {
            (output + row * count).update(from: x + row * inputColumns + start, count: count)
        }
    }
}

/// interleaveHeads: each head's columns of `x` followed by its columns of `other`.
struct InterleaveHeadsOp {
    let a: UnsafePointer<Float>, aColumns: Int
    let b: UnsafePointer<Float>
    let rows: Int, columns: Int, heads: Int
    let aWidth: Int, bWidth: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .interleaveHeads(let heads) = node.operation, heads >= 1 else {
            throw .malformedNode(node: node.name, detail: "not a head interleave with one or more heads")
        }
        let other = try preparation.operand(.other, of: node)
        let outputShape = preparation.shape(node.output)
        (a, aColumns) = (UnsafePointer(preparation.float(node.x)), preparation.shape(node.x)[1])
        b = UnsafePointer(preparation.float(other))
        (rows, columns, self.heads) = (outputShape[0], outputShape[1], heads)
        (aWidth, bWidth) = (aColumns / heads, preparation.shape(other)[1] / heads)
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        for row in 0..<rows {
            var target = output + row * columns
            for head in 0..<heads {
                target.update(from: a + row * aColumns + head * aWidth, count: aWidth)
                target += aWidth
                target.update(from: b + row * heads * bWidth + head * bWidth, count: bWidth)
                target += bWidth
            }
        }
    }
}

/// A reshape whose source is a constant: the constant is not in the arena, so its bytes are copied
/// to the reshape's place (a reshape of an activation is an alias and runs nothing).
struct CopyOp {
    let source: UnsafeRawPointer
    let byteCount: Int
    let output: UnsafeMutableRawPointer

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        source = UnsafeRawPointer(preparation.pointers[node.x.index])
        byteCount = preparation.graph.values[node.x.index].byteCount
        output = preparation.pointers[node.output.index]
    }

    func run(_ context: RunContext) {
        output.copyMemory(from: source, byteCount: byteCount)
    }
}

/// topRows: the rows of `rows` with the largest scores (one column, or the row maximum), best first.
struct TopRowsOp {
    let scores: UnsafePointer<Float>, scoreRows: Int, scoreColumns: Int
    let score: RowScore
    let values: UnsafePointer<Float>, valueColumns: Int
    let count: Int
    let order: UnsafeMutablePointer<Int>
    let kept: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .topRows(let count, let score) = node.operation else { throw .malformedNode(node: node.name, detail: "not a top-rows") }
        let shape = preparation.shape(node.x)
        (scores, scoreRows, scoreColumns) = (UnsafePointer(preparation.float(node.x)), shape[0], shape[1])
        self.score = score
        values = UnsafePointer(preparation.float(try preparation.operand(.rows, of: node)))
        valueColumns = preparation.shape(node.output)[1]
        self.count = count
        order = preparation.table(of: Int.self, count: max(count, 1))
        kept = preparation.table(of: Float.self, count: max(count, 1))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        applyTopRows(scores: scores, rows: scoreRows, scoreColumns: scoreColumns, score: score, values: values,
                     valueColumns: valueColumns, count: count, order: order, kept: kept, output: output)
    }
}

/// Rows of `values` with the `count` largest row scores (`scores[row, column]`, or the row's maximum),
/// in descending score order; ties keep the lower row first; NaN scores rank last (a NaN in a row
/// does not count towards its maximum). `order` and `kept` are caller-provided space for `count` row
/// indices and their scores: an insertion-sorted top list, so nothing is allocated and each row's
/// score is computed once.
func applyTopRows(scores: UnsafePointer<Float>, rows: Int, scoreColumns: Int, score rowScore: RowScore,
                  values: UnsafePointer<Float>, valueColumns: Int, count: Int,
                  order: UnsafeMutablePointer<Int>, kept keptScores: UnsafeMutablePointer<Float>,
                  output: UnsafeMutablePointer<Float>) {
    @inline(__always) func key(_ row: Int) -> Float {
        let first = scores + row * scoreColumns
        switch rowScore {
        case .column(let column):
            let score = first[column]
            return score.isNaN ? -Float.infinity : score
        case .maximum:
            var best = -Float.infinity
            for column in 0..<scoreColumns where first[column] > best { best = first[column] }
            return best
        }
    }
    var kept = 0
    for row in 0..<rows {
        let score = key(row)
        // Rows arrive in increasing order, so an equal score never displaces an earlier row.
        if kept == count && !(score > keptScores[count - 1]) { continue }
        var position = kept < count ? kept : count - 1
        while position > 0 && score > keptScores[position - 1] {
            order[position] = order[position - 1]
            keptScores[position] = keptScores[position - 1]
            position -= 1
        }
        order[position] = row
        keptScores[position] = score
        if kept < count { kept += 1 }
    }
    for rank in 0..<kept {
        (output + rank * valueColumns).update(from: values + order[rank] * valueColumns, count: valueColumns)
    }
}
