/// The geometry of one 2-D convolution: HWC input, square-or-not kernel, one stride and one
/// zero padding for both axes (all the convolutions in ResNet-50 and the DETR input projections).
public struct Conv2DShape: Sendable, Equatable {
    public var inputHeight, inputWidth, inputChannels, outputChannels, kernelHeight, kernelWidth, stride, padding: Int

    public init(inputHeight: Int, inputWidth: Int, inputChannels: Int, outputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
    }

    /// (H + 2p - kH) / stride + 1, PyTorch's floor rule; 0 when the kernel does not fit.
    public var outputHeight: Int {
        stride <= 0 ? 0 : pooledLength(inputHeight, kernel: kernelHeight, stride: stride, padding: padding)
    }

    /// (W + 2p - kW) / stride + 1, PyTorch's floor rule; 0 when the kernel does not fit.
    public var outputWidth: Int {
        stride <= 0 ? 0 : pooledLength(inputWidth, kernel: kernelWidth, stride: stride, padding: padding)
    }

    /// Elements in one output pixel's receptive field: the GEMM depth of the convolution.
    var patchLength: Int { kernelHeight * kernelWidth * inputChannels }

    /// Float elements of scratch the fast conv2d needs; 0: it reads patches straight from the
    /// input (implicit GEMM) and copies only the few padded ones into a small per-task buffer.
    public var scratchElementCount: Int { 0 }
}

/// Conv weights [outCh, inCh, kH, kW] (PyTorch layout), repacked once as GEMM panels whose depth
/// runs over (kernel row, kernel column, input channel): the order of an HWC patch, so one kernel
/// row of a patch is kW*inCh consecutive input floats.
public final class PackedConv2DWeights {
    public let shape: Conv2DShape
    let panels: FloatPackedPanels
    #if OpenBLAS
    /// 1x1, stride-1, unpadded convolutions are plain GEMMs: their weights [outCh, inCh] as given, for
    /// `cblas_sgemm`; nil for the other shapes, which stay on the implicit GEMM.
    let pointwise: UnsafeMutablePointer<Float>?
    #endif

    public init(weights: UnsafePointer<Float>, shape: Conv2DShape) {
        self.shape = shape
        let channels = max(shape.inputChannels, 0)
        let kernelHeight = max(shape.kernelHeight, 0)
        let kernelWidth = max(shape.kernelWidth, 0)
        panels = FloatPackedPanels(depth: kernelHeight * kernelWidth * channels, columns: shape.outputChannels) { k, outputChannel in
            let inputChannel = k % channels
            let kernelX = (k / channels) % kernelWidth
            let kernelY = k / (channels * kernelWidth)
            return weights[((outputChannel * channels + inputChannel) * kernelHeight + kernelY) * kernelWidth + kernelX]
        }
        #if OpenBLAS
        if shape.kernelHeight == 1 && shape.kernelWidth == 1 && shape.stride == 1 && shape.padding == 0 {
            let count = max(shape.outputChannels, 0) * channels
            pointwise = .allocate(capacity: max(count, 1))
            pointwise!.update(from: weights, count: count)
        } else {
            pointwise = nil
        }
        #endif
    }

    deinit {
        panels.deallocate()
        #if OpenBLAS
        pointwise?.deallocate()
        #endif
    }
}

/// Bytes of `KernelScratch` each thread needs for `conv2d` on `shape`: one padded copy of a kernel
/// row per tile row, plus one run of zeros.
public func conv2dTaskScratchBytes(_ shape: Conv2DShape) -> Int {
    (floatTileRows + 1) * max(shape.kernelWidth * shape.inputChannels, 0) * MemoryLayout<Float>.stride
}

/// HWC in, HWC out, zero padding: output = act(conv + bias (+ residual)), where `residual` is an
/// HWC map of the output's shape (ResNet's bottleneck shortcut). `scratch` may be nil (see
/// `Conv2DShape.scratchElementCount`). `taskScratch` holds `conv2dTaskScratchBytes(shape)` per
/// thread; when nil each task allocates its own.
///
/// Implicit GEMM on the 6x16 tile: rows are output pixels, columns output channels, and the depth
/// is walked one kernel row at a time, each a contiguous run of kW*inCh input floats.
public func conv2d(input: UnsafePointer<Float>, weights: PackedConv2DWeights, bias: UnsafePointer<Float>?,
                   residual: UnsafePointer<Float>?, activation: FloatActivation,
                   output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?, pool: ThreadPool?,
                   taskScratch: KernelScratch? = nil) {
    let shape = weights.shape
    let outputWidth = shape.outputWidth
    let pixels = shape.outputHeight * outputWidth
    let outputChannels = shape.outputChannels
    let channels = shape.inputChannels
    let segmentLength = shape.kernelWidth * channels
    if pixels <= 0 || outputChannels <= 0 || channels <= 0 || shape.kernelHeight <= 0 || shape.kernelWidth <= 0 { return }
    let level = KernelDispatch.current
    if level == .scalar {
        conv2dScalar(input: input, weights: weights, bias: bias, residual: residual, activation: activation, output: output)
        return
    }
    #if OpenBLAS
    if let pointwise = weights.pointwise {
        openBLASLinear(a: input, rows: pixels, aStride: channels, weights: pointwise, columns: outputChannels,
                       depth: channels, bias: bias, residual: residual, activation: activation, output: output,
                       threads: pool?.threadCount ?? 1)
        return
    }
    #endif
    let panels = weights.panels
    let tasks = FloatGEMMTasks(rows: pixels, panels: panels.panelCount, depth: panels.depth, threads: pool?.threadCount ?? 1)
    runTasks(tasks.count, pool: pool,
             Conv2DJob(input: input, shape: shape, outputWidth: outputWidth, pixels: pixels, segmentLength: segmentLength,
                       panels: panels, outputChannels: outputChannels, tasks: tasks, bias: bias, residual: residual,
                       activation: activation, output: output, level: level, taskScratch: taskScratch))
}

/// The tasks of one `conv2d` call: a block of output pixels times a block of panels each.
private struct Conv2DJob: ParallelJob {
    let input: UnsafePointer<Float>, shape: Conv2DShape, outputWidth: Int, pixels: Int, segmentLength: Int
    let panels: FloatPackedPanels, outputChannels: Int, tasks: FloatGEMMTasks
    let bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation
    let output: UnsafeMutablePointer<Float>, level: KernelLevel, taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Conv2DJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        withTaskScratch(taskScratch, thread: thread, bytes: conv2dTaskScratchBytes(shape)) { memory in
            let firstPixel = (task / tasks.panelBlocks) * tasks.rowsPerTask
            let lastPixel = min(pixels, firstPixel + tasks.rowsPerTask)
            let firstPanel = (task % tasks.panelBlocks) * tasks.panelsPerTask
            let lastPanel = min(panels.panelCount, firstPanel + tasks.panelsPerTask)
            // One padded copy per tile row plus one run of zeros for kernel rows above or below the map.
            let padded = memory.bindMemory(to: Float.self, capacity: (floatTileRows + 1) * segmentLength)
            let zeros = padded + floatTileRows * segmentLength
            zeros.initialize(repeating: 0, count: segmentLength)
            for panel in firstPanel..<lastPanel {
                let firstColumn = panel * floatTileColumns
                let columnCount = min(floatTileColumns, outputChannels - firstColumn)
                var pixel = firstPixel
                while pixel < lastPixel {
                    let rowCount = min(floatTileRows, lastPixel - pixel)
                    var tile = FloatTile6x16()
                    for kernelY in 0..<shape.kernelHeight {
                        @inline(__always) func segment(_ row: Int) -> UnsafePointer<Float> {
                            convolutionSegment(input: input, shape: shape, pixel: pixel + min(row, rowCount - 1),
                                               outputWidth: outputWidth, kernelY: kernelY,
                                               padded: padded + row * segmentLength, zeros: zeros)
                        }
                        let rows = FloatTileRowPointers(segment(0), segment(1), segment(2), segment(3), segment(4), segment(5))
                        tile.accumulate(rows, aStep: 1, b: panels.panel(panel) + kernelY * segmentLength * floatTileColumns,
                                        bStep: floatTileColumns, depth: segmentLength, level: level)
                    }
                    tile.store(rowCount: rowCount, columnCount: columnCount,
                               output: output + pixel * outputChannels + firstColumn, outputStride: outputChannels,
                               bias: bias.map { $0 + firstColumn },
                               residual: residual.map { $0 + pixel * outputChannels + firstColumn },
                               residualStride: outputChannels, activation: activation)
                    pixel += floatTileRows
                }
            }
        }
    }
}

/// The kW*inCh input floats that kernel row `kernelY` of output pixel `pixel` multiplies: a
/// pointer into the input when the run lies inside the map, `zeros` when the whole kernel row
/// falls in the padding, otherwise a copy with zeros in `padded`.
@inline(__always)
private func convolutionSegment(input: UnsafePointer<Float>, shape: Conv2DShape, pixel: Int, outputWidth: Int,
                                kernelY: Int, padded: UnsafeMutablePointer<Float>,
                                zeros: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    let outputY = pixel / outputWidth
    let outputX = pixel - outputY * outputWidth
    let inputY = outputY * shape.stride - shape.padding + kernelY
    if inputY < 0 || inputY >= shape.inputHeight { return UnsafePointer(zeros) }
    let firstX = outputX * shape.stride - shape.padding
    let channels = shape.inputChannels
    let inputRow = input + inputY * shape.inputWidth * channels
    if firstX >= 0 && firstX + shape.kernelWidth <= shape.inputWidth {
        return inputRow + firstX * channels
    }
    for kernelX in 0..<shape.kernelWidth {
        let inputX = firstX + kernelX
        let destination = padded + kernelX * channels
        if inputX < 0 || inputX >= shape.inputWidth {
            destination.update(repeating: 0, count: channels)
        } else {
            destination.update(from: inputRow + inputX * channels, count: channels)
        }
    }
    return UnsafePointer(padded)
}

/// The scalar dispatch level: `conv2dReference` reading W[o, c, i, j] from the packed panels in
/// place, so that it allocates nothing.
private func conv2dScalar(input: UnsafePointer<Float>, weights: PackedConv2DWeights, bias: UnsafePointer<Float>?,
                          residual: UnsafePointer<Float>?, activation: FloatActivation, output: UnsafeMutablePointer<Float>) {
    let shape = weights.shape
    let panels = weights.panels
    conv2dReference(input: input, shape: shape, bias: bias, residual: residual, activation: activation,
                    output: output) { outputChannel, inputChannel, kernelY, kernelX in
        panels.element((kernelY * shape.kernelWidth + kernelX) * shape.inputChannels + inputChannel, outputChannel)
    }
}

/// The scalar reference of `conv2d`, read straight off the definition:
/// out[y, x, o] = act(bias[o] + sum_{c, i, j} in[y*s - p + i, x*s - p + j, c] * W[o, c, i, j] (+ residual)).
public func conv2dReference(input: UnsafePointer<Float>, shape: Conv2DShape, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                            output: UnsafeMutablePointer<Float>) {
    let channels = shape.inputChannels
    conv2dReference(input: input, shape: shape, bias: bias, residual: residual, activation: activation,
                    output: output) { outputChannel, inputChannel, kernelY, kernelX in
        weights[((outputChannel * channels + inputChannel) * shape.kernelHeight + kernelY) * shape.kernelWidth + kernelX]
    }
}

/// The reference's loops with W[o, c, i, j] read through `weight` (PyTorch's [outCh, inCh, kH, kW]
/// array, or the packed panels at the scalar dispatch level).
@inline(__always)
func conv2dReference(input: UnsafePointer<Float>, shape: Conv2DShape, bias: UnsafePointer<Float>?,
                     residual: UnsafePointer<Float>?, activation: FloatActivation, output: UnsafeMutablePointer<Float>,
                     weight: (_ outputChannel: Int, _ inputChannel: Int, _ kernelY: Int, _ kernelX: Int) -> Float) {
    let outputHeight = shape.outputHeight
    let outputWidth = shape.outputWidth
    let channels = shape.inputChannels
    if outputHeight == 0 || outputWidth == 0 || shape.outputChannels <= 0 { return }
    for outputY in 0..<outputHeight {
        for outputX in 0..<outputWidth {
            let pixel = outputY * outputWidth + outputX
            for outputChannel in 0..<shape.outputChannels {
                var sum: Float = 0
                for inputChannel in 0..<max(channels, 0) {
                    for kernelY in 0..<shape.kernelHeight {
                        let inputY = outputY * shape.stride - shape.padding + kernelY
                        if inputY < 0 || inputY >= shape.inputHeight { continue }
                        for kernelX in 0..<shape.kernelWidth {
                            let inputX = outputX * shape.stride - shape.padding + kernelX
                            if inputX < 0 || inputX >= shape.inputWidth { continue }
                            sum += input[(inputY * shape.inputWidth + inputX) * channels + inputChannel]
                                * weight(outputChannel, inputChannel, kernelY, kernelX)
                        }
                    }
                }
                if let bias { sum += bias[outputChannel] }
                let outputIndex = pixel * shape.outputChannels + outputChannel
                if let residual { sum += residual[outputIndex] }
                output[outputIndex] = activation.apply(sum)
            }
        }
    }
}
