import CLibc
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif
#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif

/// Multi-head attention whose two products run on the int8 GEMM tiles, batch 1, no mask. Queries and keys
/// are quantized at run time at a scale per row (as `dynamicInt8Linear` quantizes its rows), values at a
/// scale and zero point per channel of each head, the probabilities as two-level codes
/// (`exponentiateRowsAsCodes`):
///
///     s_q[i] = max_d |Q_h[i, d]| / 127,  s_k[j] = max_d |K_h[j, d]| / 127
///     s_v[c], zp_v[c] = the channel's [min_j V_h[j, c], max_j V_h[j, c]] widened to 0, in 254 steps  (`valueQuantization`)
///     x[i, j] = (Float(sum_d q8[i, d] k8[j, d]) * (s_k[j] * scale)) * s_q[i]          Q K^T exact in int32
///     E[i, j] = exp(x[i, j] - max_j x[i, j]),  hi = round(127 E),  lo = round(127 (127 E - hi))
///     A_hi[i, c] = sum_j hi[i, j] v8[j, c],  A_lo likewise,  T[i] = sum_j (127 hi[i, j] + lo[i, j])    exact in int32
///     out_h[i, c] = (127 (Float(A_hi) * s_v[c]) + Float(A_lo) * s_v[c]) * (1 / Float(T[i])) - s_v[c] * zp_v[c]
///
/// that is, sum_j E'[i, j] V'[j, c] / sum_j E'[i, j] with E' = (127 hi + lo) / 127^2, E to within 3.1e-5,
/// and V' = s_v (v8 - zp_v): the weights sum to one, so the zero point comes off each channel whole.
///
/// Why: attention was a sixth of DAB-DETR's and Conditional DETR's int8 runs in float, and on the Pi's
/// cores an int8 multiply-accumulate costs a quarter to a half of a float one. A scale per query and per
/// key follows every token with no calibration (the encoder's tokens and the decoder's queries differ in
/// magnitude by orders). A probability row spans more than one 7-bit code holds: round(127 E) drops every
/// key below 1/254 of the row's largest weight, and a peaked row of hundreds of keys keeps much of its mass
/// there, so each probability is two codes, the second the first's rounding error times 127 (two int8
/// products, still fewer instructions than one float product). The row's sum comes from the same codes, so
/// the weights the output averages with sum to exactly one. A value channel gets its own range, not one
/// symmetric about 0: channels that are mostly of one sign (DEIMv2's) keep twice the steps, which took
/// DEIMv2's loss from 0.19 / 0.28 AP to -0.03 / 0.09 on two 1000-image splits (docs/ACCURACY.md).
///
/// How: each head's keys are quantized and packed once as GEMM panels (N = keys, K = head depth, panel
/// scales s_k * scale), its values as panels of V^T (N = value channels, K = keys, scales s_v; s_v zp_v
/// beside them), every
/// query row quantized once, all into `scratch`. Then each task takes one head and 16 queries: their scores
/// on the int8 tile (float epilogue), their codes eight keys at a time, the hi rows and lo rows through one
/// int8 GEMM against the value panels (float epilogue), the two combined and divided by T. The integer
/// parts are exact and every float step is one fixed sequence of IEEE operations, so any thread count and
/// any int8 tile give the same bits; against `dynamicInt8AttentionReference` (libm `expf`) a code can
/// differ by one where the vector exponential rounds differently. Keys are at most
/// `dynamicInt8AttentionMaximumKeys`, which keeps T and the accumulators inside int32.
public func dynamicInt8Attention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                 v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                 queryHeadDim: Int, valueHeadDim: Int, scale: Float, output: UnsafeMutablePointer<Float>,
                                 scratch: UnsafeMutableRawPointer, taskScratch: KernelScratch?, pool: ThreadPool?) {
    if attentionIsTrivial(queries: queries, keys: keys, heads: heads, valueHeadDim: valueHeadDim, output: output) { return }
    precondition(keys <= dynamicInt8AttentionMaximumKeys, "dynamicInt8Attention: more keys than its int32 sums hold")
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
    let plan = DynamicAttentionScratch(queries: queries, keys: keys, heads: heads, depth: depth, valueHeadDim: valueHeadDim,
                                       layout: layout)
    // The panels are read as 64-byte aligned; the caller's scratch need not be (hence the 64 spare bytes).
    let aligned = scratch + (64 - Int(bitPattern: scratch) % 64) % 64
    let shared = DynamicAttentionShared(plan: plan, base: aligned)
    let rowsPerTask = rowsPerNormalizationTask(columns: depth)
    let queryTasks = (queries * heads + rowsPerTask - 1) / rowsPerTask
    runTasks(2 * heads + queryTasks, pool: pool,
             DynamicAttentionPackingJob(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, queries: queries,
                                        keys: keys, heads: heads, depth: depth, valueHeadDim: valueHeadDim, scale: scale,
                                        layout: layout, plan: plan, shared: shared, rowsPerTask: rowsPerTask, level: level,
                                        taskScratch: taskScratch))
    let blocks = (queries + attentionQueryBlock - 1) / attentionQueryBlock
    runTasks(heads * blocks, pool: pool,
             DynamicAttentionJob(queries: queries, keys: keys, heads: heads, depth: depth, valueHeadDim: valueHeadDim,
                                 blocks: blocks, output: output, outputStride: outputStride, layout: layout, plan: plan,
                                 shared: shared, kernel: Int8GEMMKernel.choose(for: layout), level: level,
                                 work: DynamicAttentionTaskScratch(keys: keys, depth: depth, valueHeadDim: valueHeadDim, layout: layout),
                                 taskScratch: taskScratch))
}

/// The most keys `dynamicInt8Attention` takes: a row's total T and the value products' accumulators add up
/// to 16193 and 127 * 127 a key, which int32 holds for 2^16 keys (the shape rule refuses more).
public let dynamicInt8AttentionMaximumKeys = 1 << 16

/// Bytes of shared scratch `dynamicInt8Attention` needs: the query codes and scales, every head's packed keys
/// and values, sized for whichever panel layout the machine packs, and 64 to align them.
public func dynamicInt8AttentionScratchBytes(queries: Int, keys: Int, heads: Int, queryHeadDim: Int, valueHeadDim: Int) -> Int {
    64 + (Int8WeightLayout.allCases.map {
        DynamicAttentionScratch(queries: max(queries, 0), keys: max(keys, 0), heads: max(heads, 0), depth: max(queryHeadDim, 0),
                                valueHeadDim: max(valueHeadDim, 0), layout: $0).byteCount
    }.max() ?? 0)
}

/// Bytes of `KernelScratch` each thread needs for `dynamicInt8Attention`: one block's scores, codes, totals
/// and value products and the int8 tiles' staging (`DynamicAttentionTaskScratch`), or one key row's codes
/// while packing.
public func dynamicInt8AttentionTaskScratchBytes(keys: Int, queryHeadDim: Int, valueHeadDim: Int) -> Int {
    let block = Int8WeightLayout.allCases.map {
        DynamicAttentionTaskScratch(keys: max(keys, 0), depth: max(queryHeadDim, 0), valueHeadDim: max(valueHeadDim, 0),
                                    layout: $0).byteCount
    }.max() ?? 0
    return max(block, roundedUp(max(queryHeadDim, 1), to: 64))
}

/// Where the parts of the shared scratch lie, each 64-byte aligned.
private struct DynamicAttentionScratch {
    /// The query codes come first, at offset 0.
    let scalesOffset: Int, keyPanelsOffset: Int, headKeyPanelBytes: Int, keyBiasOffset: Int, headKeyBiasCount: Int
    let valuePanelsOffset: Int, headValuePanelBytes: Int, valueBiasOffset: Int, headValueBiasCount: Int
    /// Each value channel's s_v * zp_v, [heads, valueHeadDim] floats.
    let valueShiftsOffset: Int
    let byteCount: Int

    init(queries: Int, keys: Int, heads: Int, depth: Int, valueHeadDim: Int, layout: Int8WeightLayout) {
        let columns = layout.panelColumns
        scalesOffset = roundedUp(queries * heads * depth, to: 64)
        keyPanelsOffset = scalesOffset + roundedUp(4 * queries * heads, to: 64)
        headKeyPanelBytes = (keys + columns - 1) / columns * layout.panelByteCount(inputs: depth)
        keyBiasOffset = keyPanelsOffset + heads * headKeyPanelBytes
        headKeyBiasCount = roundedUp(keys, to: columns)
        valuePanelsOffset = keyBiasOffset + roundedUp(4 * heads * headKeyBiasCount, to: 64)
        headValuePanelBytes = (valueHeadDim + columns - 1) / columns * layout.panelByteCount(inputs: keys)
        valueBiasOffset = valuePanelsOffset + heads * headValuePanelBytes
        headValueBiasCount = roundedUp(valueHeadDim, to: columns)
        valueShiftsOffset = valueBiasOffset + roundedUp(4 * heads * headValueBiasCount, to: 64)
        byteCount = valueShiftsOffset + roundedUp(4 * heads * valueHeadDim, to: 64)
    }
}

/// The shared scratch's parts as pointers.
private struct DynamicAttentionShared {
    let queryCodes: UnsafeMutablePointer<Int8>, queryScales: UnsafeMutablePointer<Float>
    let keyPanels: UnsafeMutableRawPointer, keyBias: UnsafeMutablePointer<Int32>
    let valuePanels: UnsafeMutableRawPointer, valueBias: UnsafeMutablePointer<Int32>, valueShifts: UnsafeMutablePointer<Float>

    init(plan: DynamicAttentionScratch, base: UnsafeMutableRawPointer) {
        queryCodes = base.bindMemory(to: Int8.self, capacity: plan.scalesOffset)
        queryScales = (base + plan.scalesOffset).assumingMemoryBound(to: Float.self)
        keyPanels = base + plan.keyPanelsOffset
        keyBias = (base + plan.keyBiasOffset).assumingMemoryBound(to: Int32.self)
        valuePanels = base + plan.valuePanelsOffset
        valueBias = (base + plan.valueBiasOffset).assumingMemoryBound(to: Int32.self)
        valueShifts = (base + plan.valueShiftsOffset).assumingMemoryBound(to: Float.self)
    }
}

/// Where the parts of one task's scratch lie, each 64-byte aligned: the block's scores (16 rows of `keys`
/// floats), its codes (16 hi rows, then 16 lo rows, `codeStride` apart), its totals, its value products (the
/// hi rows, then the lo rows, of `valueHeadDim` floats) and the int8 tiles' staging for either product.
private struct DynamicAttentionTaskScratch {
    let codesOffset: Int, codeStride: Int, totalsOffset: Int, productsOffset: Int, stagingOffset: Int
    let byteCount: Int

    init(keys: Int, depth: Int, valueHeadDim: Int, layout: Int8WeightLayout) {
        let rows = attentionQueryBlock
        codesOffset = roundedUp(4 * rows * keys, to: 64)
        codeStride = roundedUp(max(keys, 1), to: 64)
        totalsOffset = codesOffset + 2 * rows * codeStride
        productsOffset = totalsOffset + roundedUp(4 * rows, to: 64)
        stagingOffset = productsOffset + roundedUp(4 * 2 * rows * valueHeadDim, to: 64)
        byteCount = stagingOffset + max(int8GEMMTaskScratchBytes(layout: layout, inputs: depth),
                                        int8GEMMTaskScratchBytes(layout: layout, inputs: keys))
    }
}

/// The first pass: tasks 0..<heads quantize and pack one head's keys each, tasks heads..<2 heads one head's
/// values each, the rest quantize `rowsPerTask` query rows (one query of one head a row) each.
private struct DynamicAttentionPackingJob: ParallelJob {
    let q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int
    let queries: Int, keys: Int, heads: Int, depth: Int, valueHeadDim: Int, scale: Float, layout: Int8WeightLayout
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
        if task < 2 * heads {
            packValues(head: task - heads)
            return
        }
        let first = (task - 2 * heads) * rowsPerTask
        for row in first..<min(queries * heads, first + rowsPerTask) {
            let (query, head) = row.quotientAndRemainder(dividingBy: heads)
            shared.queryScales[row] = quantizeRowSymmetric(q + query * qStride + head * depth, count: depth,
                                                           codes: shared.queryCodes + row * depth, level: level)
        }
    }

    /// Head `head`'s keys as the panels of a [keys, depth] weight matrix with no bias, each key's
    /// scale s_k * scale in the header, and the VNNI tiles' bias row, whichever tile will read them.
    func packKeys(head: Int, codes: UnsafeMutablePointer<Int8>) {
        let columns = layout.panelColumns, group = layout.depthGroup
        let header = layout.panelHeaderByteCount, panelStride = layout.panelByteCount(inputs: depth)
        let panels = shared.keyPanels + head * plan.headKeyPanelBytes
        panels.initializeMemory(as: UInt8.self, repeating: 0, count: plan.headKeyPanelBytes)
        let unsignedBias = shared.keyBias + head * plan.headKeyBiasCount
        unsignedBias.initialize(repeating: 0, count: plan.headKeyBiasCount)
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

    /// Head `head`'s values as the panels of V^T, a [valueHeadDim, keys] weight matrix with no bias: each
    /// channel quantized over the keys at its own scale and zero point (`valueQuantization`: its range in 254
    /// steps, the codes in -127...127 as the packers require), eight channels at a time, the scale in the
    /// header, s_v * zp_v in `valueShifts`, and the VNNI tiles' bias row.
    func packValues(head: Int) {
        let columns = layout.panelColumns, header = layout.panelHeaderByteCount
        let panelStride = layout.panelByteCount(inputs: keys)
        let panels = shared.valuePanels + head * plan.headValuePanelBytes
        panels.initializeMemory(as: UInt8.self, repeating: 0, count: plan.headValuePanelBytes)
        let unsignedBias = shared.valueBias + head * plan.headValueBiasCount
        unsignedBias.initialize(repeating: 0, count: plan.headValueBiasCount)
        let shifts = shared.valueShifts + head * valueHeadDim
        let values = v + head * valueHeadDim
        var channel = 0
        while channel < valueHeadDim {
            // Eight channels at a time, the last block partial: its missing lanes load as 0, which the range
            // contains anyway, and are not stored. A block never straddles two panels (NR is a multiple of 8).
            let lanes = min(8, valueHeadDim - channel)
            let panel = panels + (channel / columns) * panelStride
            let column = channel % columns
            let scales = (panel + 4 * (columns + column)).assumingMemoryBound(to: Float.self)
            var lowest = loadFloats(values + channel, count: lanes), highest = lowest
            for key in 1..<max(keys, 1) {
                let value = loadFloats(values + key * vStride + channel, count: lanes)
                lowest = lowest.replacing(with: value, where: value .< lowest)
                highest = highest.replacing(with: value, where: value .> highest)
            }
            var scale = SIMD8<Float>(), zeroPoint = SIMD8<Int32>()
            for lane in 0..<8 {
                let quantization = valueQuantization(lowest: lowest[lane], highest: highest[lane])
                (scale[lane], zeroPoint[lane]) = (quantization.scale, quantization.zeroPoint)
            }
            // `requantize`'s clamp, round and shift: `valueCode`'s operations, lane by lane.
            let lower = SIMD8<Float>(-127 &- zeroPoint), upper = SIMD8<Float>(127 &- zeroPoint)
            var sums = SIMD8<Int32>()
            for key in 0..<keys {
                var scaled = loadFloats(values + key * vStride + channel, count: lanes) / scale
                scaled = scaled.replacing(with: 0, where: scaled .!= scaled)
                let codes = requantize(scaled, lower: lower, upper: upper, zeroPoint: zeroPoint)
                sums &+= codes
                let target = panel + header + layout.weightOffset(column: column, depth: key)
                for lane in 0..<lanes {
                    target.storeBytes(of: Int8(truncatingIfNeeded: codes[lane]), toByteOffset: lane * layout.depthGroup, as: Int8.self)
                }
            }
            for lane in 0..<lanes {
                scales[lane] = scale[lane]
                shifts[channel + lane] = scale[lane] * Float(zeroPoint[lane])
                unsignedBias[channel + lane] = -128 &* sums[lane]
            }
            channel += lanes
        }
    }
}

/// A value channel's quantization: [lowest, highest], widened to contain 0, in 254 steps, the zero point
/// placing the low end at code -127; a channel of zeros, or of non-finite values, gets the symmetric scale
/// of its largest magnitude. The channel's values then sit in -127...127, which the packers require.
@inline(__always)
func valueQuantization(lowest: Float, highest: Float) -> Int8Quantization {
    let lowest = lowest < 0 ? lowest : 0, highest = highest > 0 ? highest : 0
    let range = highest - lowest
    guard range > 0, range.isFinite else {
        return Int8Quantization.symmetric(absoluteMaximum: max(lowest.magnitude, highest.magnitude))
    }
    let scale = range / 254
    let zeroPoint = (-127 - lowest / scale).rounded(.toNearestOrEven)
    return Int8Quantization(scale: scale, zeroPoint: Int32(min(max(zeroPoint, -127), 127)))
}

/// round(x / s) + zp clamped to -127...127 (NaN as 0), in `requantize`'s order: divide, clamp, round, shift.
@inline(__always)
func valueCode(_ value: Float, _ quantization: Int8Quantization) -> Int8 {
    var scaled = value / quantization.scale
    if scaled != scaled { scaled = 0 }
    let lower = Float(-127 - quantization.zeroPoint), upper = Float(127 - quantization.zeroPoint)
    let clamped = scaled < lower ? lower : (scaled > upper ? upper : scaled)
    return Int8(Int32(clamped.rounded(.toNearestOrEven)) + quantization.zeroPoint)
}

/// The second pass: one head and 16 queries a task.
private struct DynamicAttentionJob: ParallelJob {
    let queries: Int, keys: Int, heads: Int, depth: Int, valueHeadDim: Int
    let blocks: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, layout: Int8WeightLayout
    let plan: DynamicAttentionScratch, shared: DynamicAttentionShared, kernel: Int8GEMMKernel, level: KernelLevel
    let work: DynamicAttentionTaskScratch
    let taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DynamicAttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let head = task / blocks
        let firstQuery = (task % blocks) * attentionQueryBlock
        let queryCount = min(attentionQueryBlock, queries - firstQuery)
        // Every head's panels come with their VNNI bias row, so whichever tile `kernel` is can read them.
        let keyPanels = Int8Panels(layout: layout, outputs: keys, inputs: depth,
                                   bytes: UnsafeRawPointer(shared.keyPanels + head * plan.headKeyPanelBytes),
                                   unsignedInputBias: UnsafePointer(shared.keyBias + head * plan.headKeyBiasCount))
        let valuePanels = Int8Panels(layout: layout, outputs: valueHeadDim, inputs: keys,
                                     bytes: UnsafeRawPointer(shared.valuePanels + head * plan.headValuePanelBytes),
                                     unsignedInputBias: UnsafePointer(shared.valueBias + head * plan.headValueBiasCount))
        let queryRows = Int8GEMMRows.matrix(shared.queryCodes + (firstQuery * heads + head) * depth, stride: heads * depth)
        withTaskScratch(taskScratch, thread: thread, bytes: work.byteCount) { memory in
            let scores = memory.bindMemory(to: Float.self, capacity: attentionQueryBlock * keys)
            let codes = (memory + work.codesOffset).bindMemory(to: Int8.self, capacity: 2 * attentionQueryBlock * work.codeStride)
            let totals = (memory + work.totalsOffset).bindMemory(to: Int32.self, capacity: attentionQueryBlock)
            let products = (memory + work.productsOffset).bindMemory(to: Float.self, capacity: 2 * attentionQueryBlock * valueHeadDim)
            let staging = memory + work.stagingOffset
            Int8GEMMBlock(weights: keyPanels, source: queryRows, residual: nil, output: .float(scores), outputStride: keys,
                          kernel: kernel)
                .run(rows: 0..<queryCount, panels: 0..<keyPanels.panelCount, buffer: staging)
            let multipliers = shared.queryScales + firstQuery * heads + head
            exponentiateRowsAsCodes(scores, rows: queryCount, multipliers: multipliers, codes: codes, totals: totals)
            // The hi rows and the lo rows are one GEMM's 2 * queryCount rows.
            Int8GEMMBlock(weights: valuePanels, source: .matrix(UnsafePointer(codes), stride: work.codeStride), residual: nil,
                          output: .float(products), outputStride: valueHeadDim, kernel: kernel)
                .run(rows: 0..<(2 * queryCount), panels: 0..<valuePanels.panelCount, buffer: staging)
            let destination = output + firstQuery * outputStride + head * valueHeadDim
            for row in 0..<queryCount {
                combineProbabilityLevels(high: products + row * valueHeadDim, low: products + (queryCount + row) * valueHeadDim,
                                         count: valueHeadDim, inverseTotal: 1 / Float(totals[row]),
                                         shifts: shared.valueShifts + head * valueHeadDim, output: destination + row * outputStride)
            }
        }
    }
}

extension DynamicAttentionJob {
    /// The block's scores as two-level probability codes and totals, on the widest registers `level` has.
    @inline(__always)
    func exponentiateRowsAsCodes(_ scores: UnsafePointer<Float>, rows: Int, multipliers: UnsafePointer<Float>,
                                 codes: UnsafeMutablePointer<Int8>, totals: UnsafeMutablePointer<Int32>) {
        #if arch(x86_64) && canImport(KernelsAVX512VNNI)
        if level == .avx512VNNI {
            return exponentiateRowsAsCodesAVX512(scores, rows: rows, columns: keys, multipliers: multipliers, multiplierStride: heads,
                                                 codes: codes, codeStride: work.codeStride, totals: totals)
        }
        #endif
        #if arch(x86_64) && canImport(KernelsAVX2)
        if level >= .avx2 {
            return exponentiateRowsAsCodesAVX2(scores, rows: rows, columns: keys, multipliers: multipliers, multiplierStride: heads,
                                               codes: codes, codeStride: work.codeStride, totals: totals)
        }
        #endif
        Kernels.exponentiateRowsAsCodes(scores, rows: rows, columns: keys, multipliers: multipliers, multiplierStride: heads,
                                        codes: codes, codeStride: work.codeStride, totals: totals)
    }
}

/// out[c] = (127 * high[c] + low[c]) * inverseTotal - shifts[c]: the value products of a row's two code
/// levels, weighed by their steps, divided by the row's total, less the channel's zero point (the weights sum
/// to one, so it comes off whole). Eight lanes at a time, the same operations per element.
@inline(__always)
private func combineProbabilityLevels(high: UnsafePointer<Float>, low: UnsafePointer<Float>, count: Int, inverseTotal: Float,
                                      shifts: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
    var index = 0
    while index < count {
        let lanes = min(8, count - index)
        let combined = (loadFloats(high + index, count: lanes) * 127 + loadFloats(low + index, count: lanes))
            * SIMD8<Float>(repeating: inverseTotal) - loadFloats(shifts + index, count: lanes)
        storeFloats(combined, output + index, count: lanes)
        index += 8
    }
}

/// The scalar reference of `dynamicInt8Attention`, from its definition: each query, key and value channel
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
            let queryQuantization = Int8Quantization.symmetric(absoluteMaximum: largestMagnitudeReference(queryRow, count: depth, stride: 1))
            for key in 0..<keys {
                let keyRow = k + key * kStride + head * depth
                let keyQuantization = Int8Quantization.symmetric(absoluteMaximum: largestMagnitudeReference(keyRow, count: depth, stride: 1))
                var accumulator: Int32 = 0
                for d in 0..<depth {
                    accumulator &+= Int32(queryQuantization.quantize(queryRow[d])) * Int32(max(keyQuantization.quantize(keyRow[d]), -127))
                }
                scores[key] = (Float(accumulator) * (keyQuantization.scale * scale)) * queryQuantization.scale
            }
            var maximum = scores[0]
            for key in 1..<keys where scores[key] > maximum { maximum = scores[key] }
            var total: Int32 = 0
            for key in 0..<keys {
                scores[key] = expf(scores[key] - maximum)
                let (high, low) = probabilityCodesReference(scores[key])
                total &+= 127 &* high &+ low
            }
            for dimension in 0..<valueHeadDim {
                let column = v + head * valueHeadDim + dimension
                var lowest = column[0], highest = column[0]
                for key in 1..<keys {
                    lowest = min(lowest, column[key * vStride])
                    highest = max(highest, column[key * vStride])
                }
                let quantization = valueQuantization(lowest: lowest, highest: highest)
                var highSum: Int32 = 0, lowSum: Int32 = 0
                for key in 0..<keys {
                    let (high, low) = probabilityCodesReference(scores[key])
                    let value = Int32(valueCode(column[key * vStride], quantization))
                    highSum &+= high &* value
                    lowSum &+= low &* value
                }
                let weighed = (Float(highSum) * quantization.scale) * 127 + Float(lowSum) * quantization.scale
                destination[dimension] = weighed * (1 / Float(total)) - quantization.scale * Float(quantization.zeroPoint)
            }
        }
    }
}

/// hi = round(127 e) and lo = round(127 (127 e - hi)), each half to even, of e = expf(x <= 0) in [0, 1].
private func probabilityCodesReference(_ e: Float) -> (high: Int32, low: Int32) {
    let scaled = e * 127
    let high = scaled.rounded(.toNearestOrEven)
    let low = ((scaled - high) * 127).rounded(.toNearestOrEven)
    return (Int32(high), Int32(low))
}

/// max |x| over `count` values `stride` apart, one by one, NaN skipped (0 for none).
private func largestMagnitudeReference(_ values: UnsafePointer<Float>, count: Int, stride: Int) -> Float {
    var largest: Float = 0
    for index in 0..<max(count, 0) where values[index * stride].magnitude > largest { largest = values[index * stride].magnitude }
    return largest
}
