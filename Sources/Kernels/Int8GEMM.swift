#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif
#if arch(x86_64) && canImport(KernelsAVXVNNI)
import KernelsAVXVNNI
#endif
#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif
#if arch(arm64) && canImport(CKernelsDotProduct)
// The C declaration of KernelsDotProduct's `edgedetr_int8_gemm_4x16c4_neondot` (see that module).
import CKernelsDotProduct
#endif

/// An int8 tensor added to a kernel's output before requantization (ResNet's shortcut, the
/// transformer's residual), with its own quantization: the term is Float(r - zeroPoint) * scale,
/// where `scale` = s_residual / s_out. Row `row` starts at `values + row * stride`.
public struct Int8Residual {
    public var values: UnsafePointer<Int8>
    public var stride: Int
    public var zeroPoint: Int32
    public var scale: Float

    public init(values: UnsafePointer<Int8>, stride: Int, zeroPoint: Int32, scale: Float) {
        self.values = values
        self.stride = stride
        self.zeroPoint = zeroPoint
        self.scale = scale
    }
}

/// Where an int8 GEMM's results go, [rows, outputs] contiguous: requantized int8 (the rule of
/// Requantize.swift) or float Float(acc) * scale[n] (dequantized, for the last layers).
public enum Int8GEMMOutput {
    case int8(UnsafeMutablePointer<Int8>, Int8OutputRange)
    case float(UnsafeMutablePointer<Float>)
}

/// The int8 GEMM microkernels, one per packed layout (plus the scalar one, which reads any).
/// `choose(for:)` is the one place that decides which runs; tools report it by `name`.
public enum Int8GEMMKernel: Sendable {
    /// Reads any layout through `PackedInt8Weights.weight`; the forced-scalar and fallback path.
    case scalar
    /// 6x16, vpmaddwd on int16 (KernelsAVX2).
    case avx2
    /// 6x16, VPDPBUSD on four k at a time, activations shifted to unsigned (KernelsAVXVNNI).
    case avxVNNI
    /// 8x16, the same on ZMM registers, one group of 16 columns per instruction (KernelsAVX512VNNI); the
    /// driver runs panels two at a time on its 8x32 form, `int8GEMM8x32c4AVX512VNNI`.
    case avx512VNNI
    /// 2x8, SMULL/SMLAL + SADALP on 8 consecutive k (Int8GEMM2x8c8NEON.swift).
    case neon
    /// 4x16, SDOT (KernelsDotProduct, through its C declaration CKernelsDotProduct).
    case neonDot

    /// The fastest kernel that reads `layout` on this CPU at the current `KernelDispatch` level.
    /// Read once per kernel call, on the calling thread (`KernelDispatch.withLevel` applies).
    public static func choose(for layout: Int8WeightLayout) -> Int8GEMMKernel {
        let level = KernelDispatch.current
        if level == .scalar { return .scalar }
        switch layout {
        case .avx2:
            #if arch(x86_64) && canImport(KernelsAVX2)
            if level >= .avx2 { return .avx2 }
            #endif
            return .scalar
        case .neon:
            #if arch(arm64)
            return .neon
            #else
            return .scalar
            #endif
        case .dotProduct:
            #if arch(arm64) && canImport(CKernelsDotProduct)
            if CPUFeatures.host.asimdDotProduct { return .neonDot }
            #endif
            #if arch(x86_64) && canImport(KernelsAVX512VNNI)
            if level == .avx512VNNI { return .avx512VNNI }
            #endif
            #if arch(x86_64) && canImport(KernelsAVXVNNI)
            if level == .avxVNNI { return .avxVNNI }
            #endif
            return .scalar
        }
    }

    /// The microkernel in XNNPACK's naming: signed int8 activations with per-channel int8 weights
    /// (`qs8-qc8w`), GEMM, register tile MRxNR, depth group `c` (k values one multiply reduces), ISA.
    /// The scalar kernel reads any layout, NR being its panel width.
    public var name: String {
        switch self {
        case .scalar: return "qs8-qc8w-gemm-4xNR-scalar"
        case .avx2: return "qs8-qc8w-gemm-6x16c2-avx2"
        case .avxVNNI: return "qs8-qc8w-gemm-6x16c4-avxvnni"
        case .avx512VNNI: return "qs8-qc8w-gemm-8x16c4-avx512vnni"
        case .neon: return "qs8-qc8w-gemm-2x8c8-neon"
        case .neonDot: return "qs8-qc8w-gemm-4x16c4-neondot"
        }
    }

    /// The instruction behind the microkernel and its tile, in words (device runner reports).
    public var summary: String {
        switch self {
        case .scalar: return "scalar"
        case .avx2: return "avx2 (vpmaddwd 6x16)"
        case .avxVNNI: return "avxvnni (VPDPBUSD 6x16)"
        case .avx512VNNI: return "avx512vnni (VPDPBUSD ZMM 8x16)"
        case .neon: return "neon (SMLAL 2x8)"
        case .neonDot: return "neonDot (SDOT 4x16)"
        }
    }

    /// MR: rows of the register tile.
    var tileRows: Int {
        switch self {
        case .scalar: return 4
        case .avx2, .avxVNNI: return 6
        case .avx512VNNI: return 8
        case .neon: return 2
        case .neonDot: return 4
        }
    }

    /// How the A tile is staged for this kernel.
    var staging: Int8TileStaging {
        switch self {
        case .avx2: return .int16
        case .avxVNNI, .avx512VNNI: return .shiftedBytes
        case .scalar, .neon, .neonDot: return .bytes
        }
    }
}

/// What a microkernel reads for its A tile: rows of the depth, padded with zeros to two depth groups.
enum Int8TileStaging {
    /// The int8 values as they are.
    case bytes
    /// Sign-extended to int16 (VPMADDWD multiplies int16 pairs).
    case int16
    /// x + 128 as unsigned bytes, x XOR 0x80 (VPDPBUSD's unsigned operand).
    case shiftedBytes

    var bytesPerValue: Int { self == .int16 ? 2 : 1 }
}

/// One tile's epilogue parameters, shared by every microkernel.
struct Int8TileOutput {
    /// Element (0, 0) of the tile in the output (Int8 or Float elements).
    var base: UnsafeMutableRawPointer
    var stride: Int
    var isFloat: Bool
    var range: Int8OutputRange
    /// Element (0, 0) of the tile in the residual, or nil.
    var residual: UnsafePointer<Int8>?
    var residualStride: Int
    var residualZeroPoint: Int32
    var residualScale: Float
}

/// output = requantize(input * W^T + bias [+ residual]), int8 x int8 -> exact int32 -> int8 or float.
/// `input` is [rows, inputs] int8 with row stride `inputStride`, quantized with the zero point
/// the weights were packed for; `output` is [rows, outputs] contiguous.
///
/// Runs the microkernel of the weights' layout when the CPU has it (see `Int8GEMMKernel`), the
/// scalar packed kernel otherwise; every path computes the same integers and applies the same
/// requantization, so results equal `int8LinearReference` bit for bit, for any thread count.
/// `taskScratch` holds `int8GEMMTaskScratchBytes(weights)` per thread; when nil each task
/// allocates its own.
public func int8Linear(input: UnsafePointer<Int8>, rows: Int, inputStride: Int, weights: PackedInt8Weights,
                       residual: Int8Residual?, output: Int8GEMMOutput, pool: ThreadPool?,
                       taskScratch: KernelScratch? = nil) {
    int8GEMM(rows: rows, weights: weights.panels, residual: residual, output: output, pool: pool,
             taskScratch: taskScratch, .matrix(input, stride: inputStride))
}

/// The scalar reference of `int8Linear`, straight from the definition on unpacked weights:
/// acc = bias[n] + sum_k (x[r, k] - zp_in) * W[n, k], then `requantize` (or Float(acc) * scale[n]).
public func int8LinearReference(input: UnsafePointer<Int8>, rows: Int, inputStride: Int, inputZeroPoint: Int32,
                                weights: UnsafePointer<Int8>, outputs: Int, inputs: Int, bias: UnsafePointer<Int32>?,
                                scales: UnsafePointer<Float>, residual: Int8Residual?, output: Int8GEMMOutput) {
    if rows <= 0 || outputs <= 0 { return }
    for row in 0..<rows {
        for channel in 0..<outputs {
            var accumulator = bias?[channel] ?? 0
            for k in 0..<max(inputs, 0) {
                // The packers clamp -128 weights to -127 (the symmetric range); so does the reference.
                let weight = Int32(max(weights[channel * inputs + k], -127))
                accumulator &+= (Int32(input[row * inputStride + k]) - inputZeroPoint) * weight
            }
            storeReference(accumulator, row: row, channel: channel, outputs: outputs, scale: scales[channel],
                           residual: residual, output: output)
        }
    }
}

/// Writes one accumulator through the reference requantization.
@inline(__always)
func storeReference(_ accumulator: Int32, row: Int, channel: Int, outputs: Int, scale: Float,
                    residual: Int8Residual?, output: Int8GEMMOutput) {
    switch output {
    case .float(let destination):
        var value = Float(accumulator) * scale
        if let residual {
            value = value + Float(Int32(residual.values[row * residual.stride + channel]) - residual.zeroPoint) * residual.scale
        }
        destination[row * outputs + channel] = value
    case .int8(let destination, let range):
        if let residual {
            destination[row * outputs + channel] = requantize(
                accumulator: accumulator, scale: scale, residual: residual.values[row * residual.stride + channel],
                residualZeroPoint: residual.zeroPoint, residualScale: residual.scale, range)
        } else {
            destination[row * outputs + channel] = requantize(accumulator: accumulator, scale: scale, range)
        }
    }
}

/// How an int8 GEMM is cut into pool tasks: blocks of row tiles times blocks of panels, every panel in
/// one task unless the pool needs more tasks than the row blocks give (the cache blocking of panels is
/// `Int8GEMMBlock.run`'s, inside a task, so that each row is staged once).
struct Int8GEMMTasks {
    let rowsPerTask: Int
    let panelsPerTask: Int
    let rowBlocks: Int
    let panelBlocks: Int
    var count: Int { rowBlocks * panelBlocks }

    init(rows: Int, tileRows: Int, panels: Int, threads: Int) {
        // Every panel, unless the pool needs more tasks than the row tiles give: `Int8GEMMBlock.run` blocks
        // the panels for the cache itself, after staging each row once.
        var panelsPerTask = max(1, panels)
        let rowTiles = (rows + tileRows - 1) / tileRows
        var tilesPerTask = max(1, 48 / tileRows)
        if threads > 1 {
            let wanted = 4 * threads
            func taskCount() -> Int {
                ((rowTiles + tilesPerTask - 1) / tilesPerTask) * ((panels + panelsPerTask - 1) / panelsPerTask)
            }
            while tilesPerTask > 1 && taskCount() < wanted { tilesPerTask = (tilesPerTask + 1) / 2 }
            while panelsPerTask > 1 && taskCount() < wanted { panelsPerTask = (panelsPerTask + 1) / 2 }
        }
        rowsPerTask = tilesPerTask * tileRows
        self.panelsPerTask = panelsPerTask
        rowBlocks = (rows + rowsPerTask - 1) / rowsPerTask
        panelBlocks = (panels + panelsPerTask - 1) / panelsPerTask
    }
}

/// Bytes of `KernelScratch` each thread needs for `int8Linear` or `int8Conv2d` on `weights` (a
/// conv's `packed`), whichever kernel runs: the staged chunk of rows at its largest (AVX2's int16 rows,
/// or the byte rows of the other tiles) plus one gathered row of K bytes.
public func int8GEMMTaskScratchBytes(_ weights: PackedInt8Weights) -> Int {
    int8GEMMTaskScratchBytes(layout: weights.layout, inputs: weights.inputs)
}

/// `int8GEMMTaskScratchBytes` for panels of depth `inputs` in `layout`. Allocates nothing (kernels size
/// their task scratch with it while they run).
func int8GEMMTaskScratchBytes(layout: Int8WeightLayout, inputs: Int) -> Int {
    @inline(__always) func staged(_ tileRows: Int, _ staging: Int8TileStaging) -> Int {
        int8GEMMStagedBytes(layout: layout, inputs: inputs, tileRows: tileRows, staging: staging)
    }
    // Every kernel's tile rows and staging: AVX2 6 int16, AVX-512 8, NEON dot and scalar 4, NEON 2, AVX-VNNI 6 bytes.
    let bytes = max(max(staged(6, .int16), staged(8, .bytes)), max(max(staged(4, .bytes), staged(2, .bytes)), staged(6, .bytes)))
    return bytes + max(inputs, 1) + 64
}

/// The staged chunk of A: whole tiles of `tileRows` rows, up to 48 rows and at most 128 KiB (it shares a
/// core's L2 with a panel block), each row the depth padded to two groups.
@inline(__always)
func int8GEMMStagedBytes(layout: Int8WeightLayout, inputs: Int, tileRows: Int, staging: Int8TileStaging) -> Int {
    let group = layout.depthGroup
    // Depth rounded up to two groups: the NEON kernels consume two groups per step.
    let rowBytes = max(roundedUp(inputs, to: 2 * group), 2 * group) * staging.bytesPerValue
    let fitting = min(48, (128 * 1024) / rowBytes)
    return max(tileRows, fitting / tileRows * tileRows) * rowBytes
}

/// The A operand of an int8 GEMM: `int8Linear`'s matrix or `int8Conv2d`'s patches.
enum Int8GEMMRows {
    /// Rows of a matrix with row stride `stride`, read in place.
    case matrix(UnsafePointer<Int8>, stride: Int)
    /// The patches of an HWC int8 map, one per output pixel (`int8ConvolutionPatch`).
    case patches(UnsafePointer<Int8>, Conv2DShape, zeroPoint: Int8)

    /// The K values of row `row` plus 128 as unsigned bytes (x XOR 0x80), written to `destination`.
    @inline(__always)
    func stageShifted(_ row: Int, depth: Int, into destination: UnsafeMutablePointer<UInt8>, wide: Bool) {
        switch self {
        case .matrix(let input, let stride):
            shiftToUnsigned(input + row * stride, count: depth, into: destination, wide: wide)
        case .patches(let input, let shape, let zeroPoint):
            int8ConvolutionPatchShifted(input, shape: shape, zeroPoint: zeroPoint, pixel: row, into: destination, wide: wide)
        }
    }

    /// The K int8 values of row `row`, in place or gathered into `scratch` (K bytes).
    @inline(__always)
    func row(_ row: Int, scratch: UnsafeMutablePointer<Int8>) -> UnsafePointer<Int8> {
        switch self {
        case .matrix(let input, let stride):
            return input + row * stride
        case .patches(let input, let shape, let zeroPoint):
            return int8ConvolutionPatch(input, shape: shape, zeroPoint: zeroPoint, pixel: row, scratch: scratch)
        }
    }
}

/// The shared driver of `int8Linear` and `int8Conv2d`: the product split into pool tasks
/// (`Int8GEMMTasks`), each a block of rows times a block of panels run by `Int8GEMMBlock.run`.
func int8GEMM(rows: Int, weights: Int8Panels, residual: Int8Residual?, output: Int8GEMMOutput, pool: ThreadPool?,
              taskScratch: KernelScratch?, _ source: Int8GEMMRows) {
    if rows <= 0 || weights.outputs <= 0 { return }
    let block = Int8GEMMBlock(weights: weights, source: source, residual: residual, output: output, outputStride: weights.outputs)
    let tasks = Int8GEMMTasks(rows: rows, tileRows: block.tileRows, panels: weights.panelCount,
                              threads: pool?.threadCount ?? 1)
    runTasks(tasks.count, pool: pool, Int8GEMMJob(block: block, rows: rows, tasks: tasks, taskScratch: taskScratch))
}

/// The tasks of one `int8GEMM` call: a block of row tiles times a block of panels each.
private struct Int8GEMMJob: ParallelJob {
    let block: Int8GEMMBlock, rows: Int, tasks: Int8GEMMTasks, taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8GEMMJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        withTaskScratch(taskScratch, thread: thread, bytes: block.scratchBytes) { buffer in
            let firstRow = (task / tasks.panelBlocks) * tasks.rowsPerTask
            let firstPanel = (task % tasks.panelBlocks) * tasks.panelsPerTask
            block.run(rows: firstRow..<min(rows, firstRow + tasks.rowsPerTask),
                      panels: firstPanel..<min(block.weights.panelCount, firstPanel + tasks.panelsPerTask), buffer: buffer)
        }
    }
}

/// One int8 GEMM as blocks the caller's thread runs: the kernel chosen, the output laid out, and
/// `run` for a range of rows times a range of panels. `int8GEMM` splits a product over the pool
/// with it; a kernel whose own tasks each multiply a small block (attention: one head's queries by
/// its keys) runs it inside them.
struct Int8GEMMBlock {
    let source: Int8GEMMRows, depth: Int, paddedDepth: Int, tileRows: Int
    let weights: Int8Panels, columns: Int, outputs: Int, kernel: Int8GEMMKernel
    let residual: Int8Residual?, base: UnsafeMutableRawPointer, outputStride: Int, isFloat: Bool, elementSize: Int
    let range: Int8OutputRange, stagedBytes: Int

    /// Results go to `output` with `outputStride` elements from one row to the next (at least N).
    /// Reads the dispatch level: build it on the calling thread.
    init(weights: Int8Panels, source: Int8GEMMRows, residual: Int8Residual?, output: Int8GEMMOutput, outputStride: Int) {
        self.init(weights: weights, source: source, residual: residual, output: output, outputStride: outputStride,
                  kernel: Int8GEMMKernel.choose(for: weights.layout))
    }

    /// The same on `kernel` (chosen by the caller for `weights.layout`, on its own thread): for tasks that
    /// build their blocks on pool threads, where the dispatch level is not the caller's.
    init(weights: Int8Panels, source: Int8GEMMRows, residual: Int8Residual?, output: Int8GEMMOutput, outputStride: Int,
         kernel: Int8GEMMKernel) {
        self.weights = weights
        self.source = source
        self.residual = residual
        self.outputStride = outputStride
        outputs = weights.outputs
        self.kernel = kernel
        tileRows = kernel.tileRows
        let layout = weights.layout
        depth = weights.inputs
        // Depth rounded up to two groups: the NEON kernels consume two groups per step.
        paddedDepth = max(roundedUp(depth, to: 2 * layout.depthGroup), 2 * layout.depthGroup)
        columns = layout.panelColumns
        var range = Int8OutputRange(zeroPoint: 0)
        switch output {
        case .int8(let pointer, let outputRange):
            isFloat = false
            base = UnsafeMutableRawPointer(pointer)
            range = outputRange
        case .float(let pointer):
            isFloat = true
            base = UnsafeMutableRawPointer(pointer)
        }
        self.range = range
        elementSize = isFloat ? 4 : 1
        stagedBytes = int8GEMMStagedBytes(layout: layout, inputs: depth, tileRows: tileRows, staging: kernel.staging)
    }

    /// Bytes of scratch `run` takes: the staged chunk of rows, a gathered row and slack.
    var scratchBytes: Int { stagedBytes + max(depth, 1) + 64 }

    /// Rows `rows` times panels `panels`. Rows are staged once, a chunk at a time (copied or gathered,
    /// padded with zeros to the depth groups, widened or shifted for the kernel); then, panel block by panel
    /// block (256 KiB, so that a block stays in L2 while the chunk's tiles pass it), every MR-row tile of the
    /// chunk is multiplied by the block's panels. A row is staged once however many panel blocks there are:
    /// staging per block measured as long as the multiplies on 3x3 convolutions of 512 channels.
    func run(rows: Range<Int>, panels: Range<Int>, buffer: UnsafeMutableRawPointer) {
        let rowBytes = paddedDepth * kernel.staging.bytesPerValue
        let chunkRows = stagedBytes / rowBytes
        let gather = (buffer + stagedBytes).assumingMemoryBound(to: Int8.self)
        let panelBlock = max(2, (256 * 1024 / max(weights.panelStride, 1)) & ~1)
        var chunk = rows.lowerBound
        while chunk < rows.upperBound {
            let chunkEnd = min(rows.upperBound, chunk + chunkRows)
            for row in chunk..<chunkEnd {
                stage(row, into: buffer + (row - chunk) * rowBytes, rowBytes: rowBytes, gather: gather)
            }
            var blockStart = panels.lowerBound
            while blockStart < panels.upperBound {
                let blockEnd = min(panels.upperBound, blockStart + panelBlock)
                var row = chunk
                while row < chunkEnd {
                    multiply(row: row, rowCount: min(tileRows, chunkEnd - row), staged: buffer + (row - chunk) * rowBytes,
                             panels: blockStart..<blockEnd)
                    row += tileRows
                }
                blockStart = blockEnd
            }
            chunk = chunkEnd
        }
    }

    /// Row `row` of the source as the kernel reads it, `rowBytes` at `destination`: the depth's values, then zeros.
    @inline(__always)
    private func stage(_ row: Int, into destination: UnsafeMutableRawPointer, rowBytes: Int, gather: UnsafeMutablePointer<Int8>) {
        switch kernel.staging {
        case .shiftedBytes:
            // The VNNI tiles' unsigned rows straight from the source: a patch is gathered and shifted in one
            // pass instead of gathered, then copied shifted.
            source.stageShifted(row, depth: depth, into: destination.assumingMemoryBound(to: UInt8.self),
                                wide: kernel == .avx512VNNI)
        case .bytes:
            destination.copyMemory(from: source.row(row, scratch: gather), byteCount: depth)
        case .int16:
            widenToInt16(source.row(row, scratch: gather), count: depth, into: destination.assumingMemoryBound(to: Int16.self))
        }
        let filled = depth * kernel.staging.bytesPerValue
        (destination + filled).initializeMemory(as: UInt8.self, repeating: 0, count: rowBytes - filled)
    }

    /// One tile of `rowCount` staged rows (those past it in a partial tile are read, their results dropped)
    /// times `panels`; the AVX-512 tile takes them two at a time.
    @inline(__always)
    private func multiply(row: Int, rowCount: Int, staged: UnsafeMutableRawPointer, panels: Range<Int>) {
        var panel = panels.lowerBound
        while panel < panels.upperBound {
            let firstColumn = panel * columns
            let tile = Int8TileOutput(
                base: base + (row * outputStride + firstColumn) * elementSize, stride: outputStride, isFloat: isFloat,
                range: range, residual: residual.map { $0.values + row * $0.stride + firstColumn },
                residualStride: residual?.stride ?? 0, residualZeroPoint: residual?.zeroPoint ?? 0,
                residualScale: residual?.scale ?? 0)
            // The first of a pair is never the last panel, so it is whole; an odd one out runs alone.
            if kernel == .avx512VNNI && panel + 1 < panels.upperBound {
                runInt8TilePair(staged: UnsafeRawPointer(staged), stagedStride: paddedDepth, rows: rowCount, weights: weights,
                                panel: panel, columns: min(columns, outputs - firstColumn - columns),
                                paddedDepth: paddedDepth, output: tile)
                panel += 2
                continue
            }
            runInt8Tile(kernel, staged: UnsafeRawPointer(staged), stagedStride: paddedDepth, rows: rowCount,
                        weights: weights, panel: panel, columns: min(columns, outputs - firstColumn),
                        paddedDepth: paddedDepth, output: tile)
            panel += 1
        }
    }
}

/// Sign-extends `count` int8 to int16 (SSE2/NEON vectors of 16).
@inline(__always)
private func widenToInt16(_ source: UnsafePointer<Int8>, count: Int, into destination: UnsafeMutablePointer<Int16>) {
    var index = 0
    while index + 16 <= count {
        let bytes = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD16<Int8>.self)
        UnsafeMutableRawPointer(destination + index).storeBytes(of: SIMD16<Int16>(truncatingIfNeeded: bytes),
                                                                as: SIMD16<Int16>.self)
        index += 16
    }
    while index < count {
        destination[index] = Int16(source[index])
        index += 1
    }
}

/// x + 128 for `count` int8, as unsigned bytes (x XOR 0x80; vectors of 16, or of 64 with `wide`, the
/// avx512vnni level's).
@inline(__always)
func shiftToUnsigned(_ source: UnsafePointer<Int8>, count: Int, into destination: UnsafeMutablePointer<UInt8>,
                     wide: Bool = false) {
    #if arch(x86_64) && canImport(KernelsAVX512VNNI)
    if wide {
        shiftToUnsignedAVX512(source, count: count, into: destination)
        return
    }
    #endif
    var index = 0
    while index + 16 <= count {
        let bytes = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD16<UInt8>.self)
        UnsafeMutableRawPointer(destination + index).storeBytes(of: bytes ^ 0x80, as: SIMD16<UInt8>.self)
        index += 16
    }
    while index < count {
        destination[index] = UInt8(bitPattern: source[index]) ^ 0x80
        index += 1
    }
}

/// One tile of rows x columns (at most MR x NR) on `kernel`. Every microkernel keeps one contract:
/// its accumulators start from the panel's biases (the VNNI tiles': `unsignedInputBias`) and end in
/// its ISA's one epilogue, in registers on x86-64 (behind `Int8GEMMTileX86`: `Int8TileEpilogueAVX2` on
/// YMM, `Int8TileEpilogueAVX512` on ZMM),
/// through memory on ARM (`storeInt8Tile`: the SDOT tile is reached through C).
@inline(__always)
private func runInt8Tile(_ kernel: Int8GEMMKernel, staged: UnsafeRawPointer, stagedStride: Int, rows: Int,
                         weights: Int8Panels, panel: Int, columns: Int, paddedDepth: Int, output: Int8TileOutput) {
    let panelBytes = weights.panel(panel)
    let panelBias = panelBytes.assumingMemoryBound(to: Int32.self)
    let depthGroups = paddedDepth / weights.layout.depthGroup
    switch kernel {
    case .scalar:
        int8TileScalar(staged.assumingMemoryBound(to: Int8.self), stagedStride: stagedStride, rows: rows,
                       weights: weights, panel: panel, columns: columns, output: output)
    case .avx2, .avxVNNI, .avx512VNNI:
        #if arch(x86_64) && canImport(KernelsAVX2) && canImport(KernelsAVXVNNI) && canImport(KernelsAVX512VNNI)
        let tile: Int8GEMMTileX86
        var bias = panelBias
        switch kernel {
        case .avxVNNI, .avx512VNNI:
            // choose(for:) picks these kernels only for `.dotProduct` weights, which have the bias where they run.
            guard let unsignedInputBias = weights.unsignedInputBias else { preconditionFailure("dotProduct weights without unsignedInputBias") }
            bias = UnsafePointer(unsignedInputBias + panel * 16)
            if kernel == .avxVNNI { tile = int8GEMM6x16c4AVXVNNI } else { tile = int8GEMM8x16c4AVX512VNNI }
        default:
            tile = int8GEMM6x16c2AVX2
        }
        var destination = output.destination
        tile(staged, stagedStride * kernel.staging.bytesPerValue, depthGroups, panelBytes, bias, rows, columns, &destination)
        #endif
    case .neon, .neonDot:
        #if arch(arm64)
        let nr = weights.layout.panelColumns
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: kernel.tileRows * nr) { accumulators in
            let a = staged.assumingMemoryBound(to: Int8.self)
            if kernel == .neon {
                int8GEMM2x8c8NEON(a: a, aStride: stagedStride, depthGroups: depthGroups, panel: panelBytes,
                                  bias: panelBias, accumulators: accumulators.baseAddress!)
            } else {
                #if canImport(CKernelsDotProduct)
                edgedetr_int8_gemm_4x16c4_neondot(a, stagedStride, depthGroups, panelBytes, panelBias,
                                                  accumulators.baseAddress!)
                #endif
            }
            storeInt8Tile(accumulators.baseAddress!, accumulatorStride: nr, rows: rows, columns: columns,
                          scales: (panelBytes + 4 * nr).assumingMemoryBound(to: Float.self), output: output)
        }
        #endif
    }
}

/// Panels `panel` and `panel + 1` on the AVX-512 VNNI 8x32 tile; `columns` are the second panel's.
@inline(__always)
private func runInt8TilePair(staged: UnsafeRawPointer, stagedStride: Int, rows: Int, weights: Int8Panels, panel: Int,
                             columns: Int, paddedDepth: Int, output: Int8TileOutput) {
    #if arch(x86_64) && canImport(KernelsAVX2) && canImport(KernelsAVX512VNNI)
    guard let unsignedInputBias = weights.unsignedInputBias else { preconditionFailure("dotProduct weights without unsignedInputBias") }
    var destination = output.destination
    int8GEMM8x32c4AVX512VNNI(a: staged, aStride: stagedStride, depthGroups: paddedDepth / weights.layout.depthGroup,
                             panel: weights.panel(panel), panelStride: weights.panelStride, bias: unsignedInputBias + panel * 16,
                             rows: rows, columns: columns, destination: &destination)
    #endif
}

#if arch(x86_64) && canImport(KernelsAVX2)
extension Int8TileOutput {
    /// These parameters as the x86-64 tiles take them (by pointer, so none holds a register in their loops).
    var destination: Int8TileDestination {
        Int8TileDestination(output: base, outputStride: stride, floatOutput: isFloat, residual: residual,
                            residualStride: residualStride, residualZeroPoint: residualZeroPoint,
                            residualScale: residualScale, lower: range.lowerBound, upper: range.upperBound,
                            outputZeroPoint: range.zeroPoint)
    }
}
#endif

/// The scalar packed kernel: one dot product per element, reading W through the layout formula.
private func int8TileScalar(_ staged: UnsafePointer<Int8>, stagedStride: Int, rows: Int, weights: Int8Panels,
                            panel: Int, columns: Int, output: Int8TileOutput) {
    let nr = weights.layout.panelColumns
    let depth = weights.inputs
    for row in 0..<rows {
        let a = staged + row * stagedStride
        for column in 0..<columns {
            let channel = panel * nr + column
            var accumulator = weights.foldedBias(output: channel)
            for k in 0..<depth {
                accumulator &+= Int32(a[k]) * Int32(weights.weight(output: channel, input: k))
            }
            storeInt8Element(accumulator, row: row, column: column, scale: weights.scale(output: channel), output: output)
        }
    }
}

/// Writes one accumulator of a tile with the reference requantization.
@inline(__always)
func storeInt8Element(_ accumulator: Int32, row: Int, column: Int, scale: Float, output: Int8TileOutput) {
    var value = Float(accumulator) * scale
    if let residual = output.residual {
        value = value + Float(Int32(residual[row * output.residualStride + column]) - output.residualZeroPoint) * output.residualScale
    }
    let offset = row * output.stride + column
    if output.isFloat {
        output.base.storeBytes(of: value, toByteOffset: 4 * offset, as: Float.self)
    } else {
        output.base.storeBytes(of: requantize(value, output.range), toByteOffset: offset, as: Int8.self)
    }
}

/// The SIMD epilogue of a tile whose int32 accumulators (folded bias included) lie in memory,
/// `accumulatorStride` per row: eight columns at a time with the scalar rule's operations.
@inline(__always)
func storeInt8Tile(_ accumulators: UnsafePointer<Int32>, accumulatorStride: Int, rows: Int, columns: Int,
                   scales: UnsafePointer<Float>, output: Int8TileOutput) {
    let lower = SIMD8<Float>(repeating: output.range.lowerBound)
    let upper = SIMD8<Float>(repeating: output.range.upperBound)
    let zeroPoint = SIMD8<Int32>(repeating: output.range.zeroPoint)
    for row in 0..<rows {
        var column = 0
        while column + 8 <= columns {
            let accumulator = UnsafeRawPointer(accumulators + row * accumulatorStride + column).loadUnaligned(as: SIMD8<Int32>.self)
            var value = SIMD8<Float>(accumulator) * UnsafeRawPointer(scales + column).loadUnaligned(as: SIMD8<Float>.self)
            if let residual = output.residual {
                let bytes = UnsafeRawPointer(residual + row * output.residualStride + column).loadUnaligned(as: SIMD8<Int8>.self)
                let centred = SIMD8<Int32>(truncatingIfNeeded: bytes) &- SIMD8<Int32>(repeating: output.residualZeroPoint)
                value = value + SIMD8<Float>(centred) * SIMD8<Float>(repeating: output.residualScale)
            }
            let offset = row * output.stride + column
            if output.isFloat {
                output.base.storeBytes(of: value, toByteOffset: 4 * offset, as: SIMD8<Float>.self)
            } else {
                let quantized = requantize(value, lower: lower, upper: upper, zeroPoint: zeroPoint)
                output.base.storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: quantized), toByteOffset: offset, as: SIMD8<Int8>.self)
            }
            column += 8
        }
        while column < columns {
            storeInt8Element(accumulators[row * accumulatorStride + column], row: row, column: column,
                             scale: scales[column], output: output)
            column += 1
        }
    }
}
