/// Linear weights [outputs, inputs] (PyTorch layout), repacked once into the GEMM kernel's tile
/// layout (panels of 16 outputs, k-major) so that the hot loop never rearranges them.
public final class PackedLinearWeights {
    public let outputs: Int
    public let inputs: Int
    /// B = W^T [inputs, outputs] as 16-column panels.
    let panels: FloatPackedPanels
    #if OpenBLAS
    /// W [outputs, inputs] as given, for `cblas_sgemm`.
    let rowMajor: UnsafeMutablePointer<Float>
    #endif

    public init(weights: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        self.outputs = max(outputs, 0)
        self.inputs = max(inputs, 0)
        let inputCount = self.inputs
        panels = FloatPackedPanels(depth: self.inputs, columns: self.outputs) { k, output in
            weights[output * inputCount + k]
        }
        #if OpenBLAS
        rowMajor = .allocate(capacity: max(self.outputs * self.inputs, 1))
        rowMajor.update(from: weights, count: self.outputs * self.inputs)
        #endif
    }

    deinit {
        panels.deallocate()
        #if OpenBLAS
        rowMajor.deallocate()
        #endif
    }
}

/// output[r, o] = act(sum_i input[r*inputStride + i] * W[o, i] + bias[o] (+ residual[r*outputs + o])).
/// `inputStride` >= `inputs`, so a column slice of a wider matrix can be fed; `output` is
/// [rows, outputs] contiguous and must not overlap `input` (it may equal `residual`).
///
/// The 6x16 SIMD tile of FloatGEMM.swift over the packed panels, tasks spread over `pool`.
public func linear(input: UnsafePointer<Float>, rows: Int, inputStride: Int, weights: PackedLinearWeights,
                   bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                   output: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    let outputs = weights.outputs
    let depth = weights.inputs
    if rows <= 0 || outputs <= 0 { return }
    let level = KernelDispatch.current
    if level == .scalar {
        linearScalar(input: input, rows: rows, inputStride: inputStride, weights: weights, bias: bias,
                     residual: residual, activation: activation, output: output)
        return
    }
    #if OpenBLAS
    openBLASLinear(a: input, rows: rows, aStride: inputStride, weights: weights.rowMajor, columns: outputs, depth: depth,
                   bias: bias, residual: residual, activation: activation, output: output, threads: pool?.threadCount ?? 1)
    return
    #endif
    let panels = weights.panels
    let tasks = FloatGEMMTasks(rows: rows, panels: panels.panelCount, depth: depth, threads: pool?.threadCount ?? 1)
    runTasks(tasks.count, pool: pool,
             LinearJob(input: input, inputStride: inputStride, rows: rows, panels: panels, outputs: outputs, depth: depth,
                       bias: bias, residual: residual, activation: activation, output: output, level: level, tasks: tasks))
}

/// The tasks of one `linear` call: a block of rows times a block of panels each.
private struct LinearJob: ParallelJob {
    let input: UnsafePointer<Float>, inputStride: Int, rows: Int
    let panels: FloatPackedPanels, outputs: Int, depth: Int
    let bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation
    let output: UnsafeMutablePointer<Float>
    let level: KernelLevel, tasks: FloatGEMMTasks

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: LinearJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let firstRow = (task / tasks.panelBlocks) * tasks.rowsPerTask
        let lastRow = min(rows, firstRow + tasks.rowsPerTask)
        let firstPanel = (task % tasks.panelBlocks) * tasks.panelsPerTask
        let lastPanel = min(panels.panelCount, firstPanel + tasks.panelsPerTask)
        for panel in firstPanel..<lastPanel {
            let firstColumn = panel * floatTileColumns
            let columnCount = min(floatTileColumns, outputs - firstColumn)
            var row = firstRow
            while row < lastRow {
                let rowCount = min(floatTileRows, lastRow - row)
                var tile = FloatTile6x16()
                tile.accumulate(FloatTileRowPointers(first: input + row * inputStride, stride: inputStride, count: rowCount),
                                aStep: 1, b: panels.panel(panel), bStep: floatTileColumns, depth: depth, level: level)
                tile.store(rowCount: rowCount, columnCount: columnCount, output: output + row * outputs + firstColumn,
                           outputStride: outputs, bias: bias.map { $0 + firstColumn },
                           residual: residual.map { $0 + row * outputs + firstColumn }, residualStride: outputs,
                           activation: activation)
                row += floatTileRows
            }
        }
    }
}

/// The scalar dispatch level: `linearReference` reading W[o, i] from the packed panels in place,
/// so that it allocates nothing.
private func linearScalar(input: UnsafePointer<Float>, rows: Int, inputStride: Int, weights: PackedLinearWeights,
                          bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                          output: UnsafeMutablePointer<Float>) {
    let panels = weights.panels
    linearReference(input: input, rows: rows, inputStride: inputStride, outputs: weights.outputs, inputs: weights.inputs,
                    bias: bias, residual: residual, activation: activation, output: output) { outputIndex, inputIndex in
        panels.element(inputIndex, outputIndex)
    }
}

/// The scalar reference of `linear`: one dot product per output, summed in input order.
public func linearReference(input: UnsafePointer<Float>, rows: Int, inputStride: Int, weights: UnsafePointer<Float>,
                            outputs: Int, inputs: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                            activation: FloatActivation, output: UnsafeMutablePointer<Float>) {
    linearReference(input: input, rows: rows, inputStride: inputStride, outputs: outputs, inputs: inputs, bias: bias,
                    residual: residual, activation: activation, output: output) { outputIndex, inputIndex in
        weights[outputIndex * inputs + inputIndex]
    }
}

/// The reference's loops with W[output, input] read through `weight` (a row-major matrix, or the
/// packed panels at the scalar dispatch level).
@inline(__always)
func linearReference(input: UnsafePointer<Float>, rows: Int, inputStride: Int, outputs: Int, inputs: Int,
                     bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                     output: UnsafeMutablePointer<Float>, weight: (_ output: Int, _ input: Int) -> Float) {
    if rows <= 0 || outputs <= 0 { return }
    for row in 0..<rows {
        let inputRow = input + row * inputStride
        for outputIndex in 0..<outputs {
            var sum: Float = 0
            for inputIndex in 0..<max(inputs, 0) {
                sum += inputRow[inputIndex] * weight(outputIndex, inputIndex)
            }
            if let bias { sum += bias[outputIndex] }
            if let residual { sum += residual[row * outputs + outputIndex] }
            output[row * outputs + outputIndex] = activation.apply(sum)
        }
    }
}
