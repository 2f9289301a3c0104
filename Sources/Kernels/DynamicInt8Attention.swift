import CLibc
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// Multi-head attention whose scores run on the int8 GEMM tiles, each query and key quantized at run
/// time at its own symmetric scale (as `dynamicInt8Linear` quantizes its rows), batch 1, no mask:
///
///     s_q[i, h] = max_d |Q_h[i, d]| / 127,  s_k[j, h] = max_d |K_h[j, d]| / 127    (`Int8Quantization.symmetric`)
///     acc[i, j] = sum_d q8[i, d] * k8[j, d]                                         exact int32
///     x[i, j]   = (Float(acc) * (s_k[j, h] * scale)) * s_q[i, h]
///     E[i, j]   = exp(x[i, j] - max_j x[i, j]),  out_h[i] = (sum_j E[i, j] V_h[j]) / sum_j E[i, j]   float
///
/// Why: DAB-DETR and Conditional DETR spend a seventh of an int8 run in float attention, and their
/// query-key products (64-wide heads: content and position concatenated) are two thirds of its
/// multiply-accumulates. A scale per query and per key follows every token with no calibration (the
/// encoder's tokens and the decoder's queries differ in magnitude by orders), so the scores keep the
/// precision a per-tensor range would spend on the largest token. The probabilities and P V stay float:
/// a probability row spans far more than the 7 bits a symmetric int8 code holds (a key at 1/300 of the
/// largest weight rounds to zero, and hundreds of them are most of the mass).
///
/// How: each head's keys are quantized and packed once as GEMM panels (N = keys, K = head depth), the
/// panel scales s_k * scale, into `scratch`; every query row is quantized once. Then each task takes
/// one head and 16 queries: their scores on the int8 tile (float epilogue), exp(s_q x - max) eight lanes
/// at a time (`exponentiateRows`), E V on the float 6x16 tile into the head's output columns, then each
/// row divided by its sum of exponentials (on the head's values, not on every key). The integer part is
/// exact and every float step is one fixed sequence of IEEE operations, so any thread count and any int8
/// tile give the same bits; against `dynamicInt8AttentionReference` (libm `expf`, sequential sums) the
/// differences are those of the vector exponential, the blocked sums and the tile's summation order.
public func dynamicInt8Attention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                 v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                 queryHeadDim: Int, valueHeadDim: Int, scale: Float, output: UnsafeMutablePointer<Float>,
                                 scratch: UnsafeMutableRawPointer, taskScratch: KernelScratch?, pool: ThreadPool?) {
    if attentionIsTrivial(queries: queries, keys: keys, heads: heads, valueHeadDim: valueHeadDim, output: output) { return }
    let outputStride = heads * valueHeadDim
    let level = KernelDispatch.current
    let depth = max(queryHeadDim, 0)
    if level == .scalar {
        withTaskScratch(taskScratch, thread: 0, bytes: 4 * keys) { memory in
            dynamicInt8AttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                          queries: queries, keys: keys, heads: heads, queryHeadDim: depth,
                                          valueHeadDim: valueHeadDim, scale: scale, output: output,
                                          scores: memory.bindMemory(to: Float.self, capacity: keys))
        }
        return
    }
    let layout = Int8WeightLayout.native
    let plan = DynamicAttentionScratch(queries: queries, keys: keys, heads: heads, depth: depth, layout: layout)
    // The panels are read as 64-byte aligned; the caller's scratch need not be (hence the 64 spare bytes).
    let aligned = scratch + (64 - Int(bitPattern: scratch) % 64) % 64
    let shared = DynamicAttentionShared(plan: plan, base: aligned)
    let rowsPerTask = rowsPerNormalizationTask(columns: depth)
    let queryTasks = (queries * heads + rowsPerTask - 1) / rowsPerTask
    runTasks(heads + queryTasks, pool: pool,
             DynamicAttentionPackingJob(q: q, qStride: qStride, k: k, kStride: kStride, queries: queries, keys: keys,
                                        heads: heads, depth: depth, scale: scale, layout: layout, plan: plan,
                                        shared: shared, rowsPerTask: rowsPerTask, level: level, taskScratch: taskScratch))
    let blocks = (queries + attentionQueryBlock - 1) / attentionQueryBlock
    runTasks(heads * blocks, pool: pool,
             DynamicAttentionJob(v: v, vStride: vStride, queries: queries, keys: keys, heads: heads, depth: depth,
                                 valueHeadDim: valueHeadDim, blocks: blocks, output: output, outputStride: outputStride,
                                 layout: layout, plan: plan, shared: shared, kernel: Int8GEMMKernel.choose(for: layout), level: level,
                                 scoreBytes: roundedUp(4 * attentionQueryBlock * keys, to: 64),
                                 gemmBytes: int8GEMMTaskScratchBytes(layout: layout, inputs: depth), taskScratch: taskScratch))
}

/// Bytes of shared scratch `dynamicInt8Attention` needs: the query codes and scales and every head's
/// packed keys, sized for whichever panel layout the machine packs, and 64 to align them.
public func dynamicInt8AttentionScratchBytes(queries: Int, keys: Int, heads: Int, queryHeadDim: Int) -> Int {
    64 + (Int8WeightLayout.allCases.map {
        DynamicAttentionScratch(queries: max(queries, 0), keys: max(keys, 0), heads: max(heads, 0),
                                depth: max(queryHeadDim, 0), layout: $0).byteCount
    }.max() ?? 0)
}

/// Bytes of `KernelScratch` each thread needs for `dynamicInt8Attention`: one block's scores (16 rows of
/// `keys` floats) and the int8 tile's staging, or one key row's codes while packing.
public func dynamicInt8AttentionTaskScratchBytes(keys: Int, queryHeadDim: Int) -> Int {
    let staging = Int8WeightLayout.allCases.map { int8GEMMTaskScratchBytes(layout: $0, inputs: max(queryHeadDim, 0)) }.max() ?? 0
    return roundedUp(4 * attentionQueryBlock * max(keys, 1), to: 64) + max(staging, roundedUp(max(queryHeadDim, 1), to: 64))
}

/// Where the parts of the shared scratch lie, each 64-byte aligned.
private struct DynamicAttentionScratch {
    /// The query codes come first, at offset 0.
    let scalesOffset: Int, panelsOffset: Int, headPanelBytes: Int, biasOffset: Int, headBiasCount: Int
    let byteCount: Int

    init(queries: Int, keys: Int, heads: Int, depth: Int, layout: Int8WeightLayout) {
        scalesOffset = roundedUp(queries * heads * depth, to: 64)
        panelsOffset = scalesOffset + roundedUp(4 * queries * heads, to: 64)
        headPanelBytes = (keys + layout.panelColumns - 1) / layout.panelColumns * layout.panelByteCount(inputs: depth)
        biasOffset = panelsOffset + heads * headPanelBytes
        headBiasCount = roundedUp(keys, to: layout.panelColumns)
        byteCount = biasOffset + roundedUp(4 * heads * headBiasCount, to: 64)
    }
}

/// The shared scratch's parts as pointers.
private struct DynamicAttentionShared {
    let queryCodes: UnsafeMutablePointer<Int8>, queryScales: UnsafeMutablePointer<Float>
    let panels: UnsafeMutableRawPointer, unsignedBias: UnsafeMutablePointer<Int32>

    init(plan: DynamicAttentionScratch, base: UnsafeMutableRawPointer) {
        queryCodes = base.bindMemory(to: Int8.self, capacity: plan.scalesOffset)
        queryScales = (base + plan.scalesOffset).assumingMemoryBound(to: Float.self)
        panels = base + plan.panelsOffset
        unsignedBias = (base + plan.biasOffset).assumingMemoryBound(to: Int32.self)
    }
}

/// The first pass: tasks 0..<heads quantize and pack one head's keys each, the rest quantize
/// `rowsPerTask` query rows (one query of one head a row) each.
private struct DynamicAttentionPackingJob: ParallelJob {
    let q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int
    let queries: Int, keys: Int, heads: Int, depth: Int, scale: Float, layout: Int8WeightLayout
    let plan: DynamicAttentionScratch, shared: DynamicAttentionShared, rowsPerTask: Int, level: KernelLevel
    let taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DynamicAttentionPackingJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        if task < heads {
            withTaskScratch(taskScratch, thread: thread, bytes: max(depth, 1)) { memory in
                packKeys(head: task, codes: memory.assumingMemoryBound(to: Int8.self))
            }
            return
        }
        let first = (task - heads) * rowsPerTask
        for row in first..<min(queries * heads, first + rowsPerTask) {
            let (query, head) = row.quotientAndRemainder(dividingBy: heads)
            shared.queryScales[row] = quantizeRowSymmetric(q + query * qStride + head * depth, count: depth,
                                                           codes: shared.queryCodes + row * depth, level: level)
        }
    }

    /// Head `head`'s keys as the panels of a [keys, depth] weight matrix with no bias, each key's
    /// scale s_k * scale in the header, and the VNNI tiles' bias row when one will read them.
    func packKeys(head: Int, codes: UnsafeMutablePointer<Int8>) {
        let columns = layout.panelColumns, group = layout.depthGroup
        let header = layout.panelHeaderByteCount, panelStride = layout.panelByteCount(inputs: depth)
        let panels = shared.panels + head * plan.headPanelBytes
        panels.initializeMemory(as: UInt8.self, repeating: 0, count: plan.headPanelBytes)
        let unsignedBias = shared.unsignedBias + head * plan.headBiasCount
        unsignedBias.initialize(repeating: 0, count: plan.headBiasCount)
        for key in 0..<keys {
            let keyScale = quantizeRowSymmetric(k + key * kStride + head * depth, count: depth, codes: codes, level: level)
            let panel = panels + (key / columns) * panelStride
            let column = key % columns
            panel.storeBytes(of: keyScale * scale, toByteOffset: 4 * (columns + column), as: Float.self)
            let weights = panel + header + column * group
            // Symmetric codes are -127...127 (never -128), as the packers' invariant requires. One group of
            // KR consecutive depths lands at a time; the last group's missing depths stay zero.
            var sum: Int32 = 0
            for d in 0..<depth { sum &+= Int32(codes[d]) }
            let groupStride = columns * group
            var first = 0, target = weights
            while first + group <= depth {
                switch group {
                case 2: target.storeBytes(of: UnsafeRawPointer(codes + first).loadUnaligned(as: UInt16.self), as: UInt16.self)
                case 4: target.storeBytes(of: UnsafeRawPointer(codes + first).loadUnaligned(as: UInt32.self), as: UInt32.self)
                case 8: target.storeBytes(of: UnsafeRawPointer(codes + first).loadUnaligned(as: UInt64.self), as: UInt64.self)
                default: target.copyMemory(from: codes + first, byteCount: group)
                }
                first += group
                target += groupStride
            }
            for lane in 0..<(depth - first) { target.storeBytes(of: codes[first + lane], toByteOffset: lane, as: Int8.self) }
            unsignedBias[key] = -128 &* sum
        }
    }
}

/// The second pass: one head and 16 queries a task.
private struct DynamicAttentionJob: ParallelJob {
    let v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int, depth: Int, valueHeadDim: Int
    let blocks: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, layout: Int8WeightLayout
    let plan: DynamicAttentionScratch, shared: DynamicAttentionShared, kernel: Int8GEMMKernel, level: KernelLevel
    /// Each task's scratch: a block's scores, then the GEMM's staging.
    let scoreBytes: Int, gemmBytes: Int
    let taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DynamicAttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let head = task / blocks
        let firstQuery = (task % blocks) * attentionQueryBlock
        let queryCount = min(attentionQueryBlock, queries - firstQuery)
        // Every head's keys come with their VNNI bias row, so whichever tile `kernel` is can read them.
        let panels = Int8Panels(layout: layout, outputs: keys, inputs: depth,
                                bytes: UnsafeRawPointer(shared.panels + head * plan.headPanelBytes),
                                unsignedInputBias: UnsafePointer(shared.unsignedBias + head * plan.headBiasCount))
        let source = Int8GEMMRows.matrix(shared.queryCodes + (firstQuery * heads + head) * depth, stride: heads * depth)
        withTaskScratch(taskScratch, thread: thread, bytes: scoreBytes + gemmBytes) { memory in
            let scores = memory.bindMemory(to: Float.self, capacity: attentionQueryBlock * keys)
            Int8GEMMBlock(weights: panels, source: source, residual: nil, output: .float(scores), outputStride: keys,
                          kernel: kernel)
                .run(rows: 0..<queryCount, panels: 0..<panels.panelCount, buffer: memory + scoreBytes)
            let multipliers = shared.queryScales + firstQuery * heads + head
            withUnsafeTemporaryAllocation(of: Float.self, capacity: attentionQueryBlock) { inverseSums in
                let inverse = inverseSums.baseAddress!
                #if arch(x86_64) && canImport(KernelsAVX2)
                if level >= .avx2 {
                    exponentiateRowsAVX2(scores, rows: queryCount, columns: keys, multipliers: multipliers,
                                         multiplierStride: heads, inverseSums: inverse)
                } else {
                    exponentiateRows(scores, rows: queryCount, columns: keys, multipliers: multipliers,
                                     multiplierStride: heads, inverseSums: inverse)
                }
                #else
                exponentiateRows(scores, rows: queryCount, columns: keys, multipliers: multipliers, multiplierStride: heads,
                                 inverseSums: inverse)
                #endif
                weighValues(scores, queryCount: queryCount, head: head, inverseSums: inverse,
                            destination: output + firstQuery * outputStride + head * valueHeadDim)
            }
        }
    }

    /// out[row, :] = (sum_j E[row, j] V_h[j, :]) * inverseSums[row] on the float 6x16 tile, E's rows read in place.
    func weighValues(_ exponentials: UnsafePointer<Float>, queryCount: Int, head: Int, inverseSums: UnsafePointer<Float>,
                     destination: UnsafeMutablePointer<Float>) {
        weighValueRows(exponentials, queryStep: keys, keyStep: 1, queryCount: queryCount, keys: keys, values: v + head * valueHeadDim,
                       vStride: vStride, valueHeadDim: valueHeadDim, output: destination, outputStride: outputStride, level: level)
        for row in 0..<queryCount {
            let line = destination + row * outputStride
            let inverse = inverseSums[row]
            for dimension in 0..<valueHeadDim { line[dimension] *= inverse }
        }
    }
}

/// The scalar reference of `dynamicInt8Attention`, from its definition: each query and key row
/// quantized where it is read, libm `expf`, sequential sums. `scores` holds `keys` floats.
public func dynamicInt8AttentionReference(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                          v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                          queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                                          output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    let depth = max(queryHeadDim, 0)
    let outputStride = heads * valueHeadDim
    for query in 0..<queries {
        for head in 0..<heads {
            let destination = output + query * outputStride + head * valueHeadDim
            for dimension in 0..<valueHeadDim { destination[dimension] = 0 }
            if keys <= 0 { continue }
            let queryRow = q + query * qStride + head * depth
            let queryQuantization = Int8Quantization.symmetric(absoluteMaximum: largestMagnitudeReference(queryRow, count: depth))
            for key in 0..<keys {
                let keyRow = k + key * kStride + head * depth
                let keyQuantization = Int8Quantization.symmetric(absoluteMaximum: largestMagnitudeReference(keyRow, count: depth))
                var accumulator: Int32 = 0
                for d in 0..<depth {
                    accumulator &+= Int32(queryQuantization.quantize(queryRow[d])) * Int32(max(keyQuantization.quantize(keyRow[d]), -127))
                }
                scores[key] = (Float(accumulator) * (keyQuantization.scale * scale)) * queryQuantization.scale
            }
            var maximum = scores[0]
            for key in 1..<keys where scores[key] > maximum { maximum = scores[key] }
            var sum: Float = 0
            for key in 0..<keys {
                scores[key] = expf(scores[key] - maximum)
                sum += scores[key]
            }
            for key in 0..<keys {
                let valueRow = v + key * vStride + head * valueHeadDim
                for dimension in 0..<valueHeadDim { destination[dimension] += scores[key] * valueRow[dimension] }
            }
            let inverse = 1 / sum
            for dimension in 0..<valueHeadDim { destination[dimension] *= inverse }
        }
    }
}

/// max |x| over `count` values one by one, NaN skipped (0 for none).
private func largestMagnitudeReference(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var largest: Float = 0
    for index in 0..<max(count, 0) where values[index].magnitude > largest { largest = values[index].magnitude }
    return largest
}
