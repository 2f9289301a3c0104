/// The tile layouts int8 weights are packed in, one per microkernel family. The packed bytes are
/// what a model file stores, so the layout is part of the file (docs/QUANTIZATION.md, "Packed
/// weights").
///
/// Every layout is panels of `panelColumns` output channels (NR). Panel p covers outputs
/// NR*p ..< NR*p + NR and holds, in order, 64-byte aligned:
///   NR x Int32   bias with the input zero point folded in: bias[n] - zp_in * sum_k W[n, k]
///   NR x Float32 requantization scale s_in * s_w[n] / s_out (or s_in * s_w[n] for float output)
///   ceil(K / KR) groups (rounded up to even) of NR x KR Int8 weights: W[n, k] at byte (n % NR) * KR + k % KR of group k / KR
/// Columns past N and depths past K are zero. All numbers little-endian.
public enum Int8WeightLayout: UInt8, Sendable, CaseIterable {
    /// 16 x 2: vpmaddwd pairs (x86-64 AVX2). A group is the (k, k+1) pairs of 16 outputs.
    case avx2 = 1
    /// 8 x 8: SMULL/SMLAL + SADALP over 8 consecutive k (ARMv8 NEON, Cortex-A72).
    case neon = 2
    /// 16 x 4: four consecutive k per output, the group one dot-product instruction reduces: SDOT
    /// (ARMv8.2, Cortex-A76) and VPDPBUSD (x86-64 AVX-VNNI) both read it.
    case dotProduct = 3

    /// NR: output channels per panel.
    public var panelColumns: Int {
        switch self {
        case .avx2: return 16
        case .neon: return 8
        case .dotProduct: return 16
        }
    }

    /// KR: consecutive depths stored together for one output channel.
    public var depthGroup: Int {
        switch self {
        case .avx2: return 2
        case .neon: return 8
        case .dotProduct: return 4
        }
    }

    /// The layout the fastest kernel of this machine reads. On x86-64 it follows the dispatch level
    /// (`EDGEDETR_KERNELS=avx2` on an AVX-VNNI machine packs for the AVX2 tile), read when weights are
    /// packed or loaded.
    public static var native: Int8WeightLayout {
        #if arch(arm64)
        return CPUFeatures.host.asimdDotProduct ? .dotProduct : .neon
        #else
        return KernelDispatch.current >= .avxVNNI ? .dotProduct : .avx2
        #endif
    }

    /// Bytes of one panel of a [outputs, inputs] matrix: header plus the weight groups.
    public func panelByteCount(inputs: Int) -> Int {
        // An even number of groups, at least two: the NEON kernels consume two per step, and every
        // kernel walks at least two (zero) groups even for a depth of 0 (AddressSanitizer found the
        // AVX2 tile reading 16 bytes past a header-only panel).
        let groups = max(roundedUp((max(inputs, 0) + depthGroup - 1) / depthGroup, to: 2), 2)
        return panelHeaderByteCount + roundedUp(groups * panelColumns * depthGroup, to: 64)
    }

    /// Where W[n, k] lies in a panel's weight groups, for column n % NR = `column` and depth k.
    @inline(__always)
    public func weightOffset(column: Int, depth: Int) -> Int {
        (depth / depthGroup) * panelColumns * depthGroup + column * depthGroup + depth % depthGroup
    }

    /// Bias and scale of one panel, rounded up to 64 bytes.
    public var panelHeaderByteCount: Int { roundedUp(panelColumns * 8, to: 64) }
}

@inline(__always)
func roundedUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}

/// Per-output-channel symmetric int8 weights packed once into one kernel's tile layout, with
/// the bias, the input zero-point correction and the requantization scales folded in. `bytes`
/// is exactly what a model file stores for the tensor (see `Int8WeightLayout`).
public final class PackedInt8Weights {
    public let layout: Int8WeightLayout
    /// N: output channels.
    public let outputs: Int
    /// K: depth (input features, or kH*kW*inC for a convolution).
    public let inputs: Int
    public let panelCount: Int
    /// Bytes from one panel to the next.
    public let panelStride: Int
    /// The packed bytes, 64-byte aligned, `byteCount` long.
    public let bytes: UnsafeMutableRawPointer
    /// False when the bytes are borrowed (a mapped model file's, used in place).
    public let owned: Bool
    /// The folded bias minus 128 x the weight sum of each output, panel by panel (NR per panel), for
    /// the AVX-VNNI tile: VPDPBUSD multiplies unsigned by signed bytes, so that tile reads activations
    /// as x + 128 (x XOR 0x80) and this bias takes the 128 x sum_k W[n, k] back out, exactly.
    /// Computed at pack or load time for `.dotProduct` weights on an x86-64 CPU with a VNNI level; nil otherwise.
    let unsignedInputBias: UnsafeMutablePointer<Int32>?
    public var byteCount: Int { panelCount * panelStride }

    /// Packs `weights` [outputs, inputs] (int8, symmetric; -128 is clamped to -127, which the
    /// NEON kernel's exact int16 pair sums require) with int32 `bias` (scale s_in * s_w, may be
    /// nil), per-channel requantization `scales` and the input tensor's zero point.
    public init(weights: UnsafePointer<Int8>, outputs: Int, inputs: Int, bias: UnsafePointer<Int32>?,
                scales: UnsafePointer<Float>, inputZeroPoint: Int32, layout: Int8WeightLayout) {
        self.layout = layout
        self.outputs = max(outputs, 0)
        self.inputs = max(inputs, 0)
        let columns = layout.panelColumns
        panelCount = (self.outputs + columns - 1) / columns
        panelStride = layout.panelByteCount(inputs: self.inputs)
        bytes = UnsafeMutableRawPointer.allocate(byteCount: max(panelCount * panelStride, 64), alignment: 64)
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: max(panelCount * panelStride, 64))
        owned = true
        let header = layout.panelHeaderByteCount
        for output in 0..<self.outputs {
            let panel = bytes + (output / columns) * panelStride
            let column = output % columns
            var sum: Int32 = 0
            let weightBytes = (panel + header).assumingMemoryBound(to: Int8.self)
            for input in 0..<self.inputs {
                let weight = max(weights[output * self.inputs + input], -127)
                sum &+= Int32(weight)
                weightBytes[layout.weightOffset(column: column, depth: input)] = weight
            }
            let correctedBias = (bias?[output] ?? 0) &- inputZeroPoint &* sum
            panel.storeBytes(of: correctedBias, toByteOffset: 4 * column, as: Int32.self)
            panel.storeBytes(of: scales[output], toByteOffset: 4 * (columns + column), as: Float.self)
        }
        unsignedInputBias = Self.unsignedInputBias(bytes, layout: layout, panelCount: panelCount, panelStride: panelStride,
                                                   inputs: self.inputs)
    }

    /// Uses `packedBytes` (a model file's mapped panels) in place, without copying: the caller keeps
    /// them alive and unchanged while these weights are used. Returns nil unless the count is exactly
    /// the layout's for `outputs` x `inputs`; a reader then checks `panelProblem()` before use.
    public init?(borrowing packedBytes: UnsafeRawBufferPointer, outputs: Int, inputs: Int, layout: Int8WeightLayout) {
        if outputs < 0 || inputs < 0 { return nil }
        guard let total = Self.packedByteCount(outputs: outputs, inputs: inputs, layout: layout),
              total == packedBytes.count else { return nil }
        self.layout = layout
        self.outputs = outputs
        self.inputs = inputs
        panelCount = (outputs + layout.panelColumns - 1) / layout.panelColumns
        panelStride = layout.panelByteCount(inputs: inputs)
        bytes = UnsafeMutableRawPointer(mutating: packedBytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!)
        owned = false
        unsignedInputBias = Self.unsignedInputBias(bytes, layout: layout, panelCount: panelCount, panelStride: panelStride,
                                                   inputs: inputs)
    }

    /// The same weights, folded biases and scales in another layout (a model file packed for another
    /// CPU), in memory these weights own.
    public init(repacking source: PackedInt8Weights, layout: Int8WeightLayout) {
        self.layout = layout
        outputs = source.outputs
        inputs = source.inputs
        let columns = layout.panelColumns
        panelCount = (outputs + columns - 1) / columns
        panelStride = layout.panelByteCount(inputs: inputs)
        bytes = UnsafeMutableRawPointer.allocate(byteCount: max(panelCount * panelStride, 64), alignment: 64)
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: max(panelCount * panelStride, 64))
        owned = true
        let header = layout.panelHeaderByteCount
        for output in 0..<outputs {
            let panel = bytes + (output / columns) * panelStride
            let column = output % columns
            let weightBytes = (panel + header).assumingMemoryBound(to: Int8.self)
            for input in 0..<inputs {
                weightBytes[layout.weightOffset(column: column, depth: input)] =
                    source.weight(output: output, input: input)
            }
            panel.storeBytes(of: source.foldedBias(output: output), toByteOffset: 4 * column, as: Int32.self)
            panel.storeBytes(of: source.scale(output: output), toByteOffset: 4 * (columns + column), as: Float.self)
        }
        unsignedInputBias = Self.unsignedInputBias(bytes, layout: layout, panelCount: panelCount, panelStride: panelStride,
                                                   inputs: inputs)
    }

    /// `unsignedInputBias` for panels at `bytes` (nil unless x86-64 and `.dotProduct`). Reads only the
    /// panels' own bytes, so it is safe on a mapped file's panels before `panelProblem()` has run.
    private static func unsignedInputBias(_ bytes: UnsafeMutableRawPointer, layout: Int8WeightLayout, panelCount: Int,
                                          panelStride: Int, inputs: Int) -> UnsafeMutablePointer<Int32>? {
        #if arch(x86_64)
        // Only a VNNI tile reads it: on an AVX2-only CPU `.dotProduct` weights are repacked for AVX2.
        guard layout == .dotProduct, KernelDispatch.best >= .avxVNNI else { return nil }
        let columns = layout.panelColumns
        let groups = roundedUp((inputs + layout.depthGroup - 1) / layout.depthGroup, to: 2)
        let result = UnsafeMutablePointer<Int32>.allocate(capacity: max(panelCount * columns, 1))
        for panelIndex in 0..<panelCount {
            let panel = UnsafeRawPointer(bytes + panelIndex * panelStride)
            let weightBytes = (panel + layout.panelHeaderByteCount).assumingMemoryBound(to: Int8.self)
            for column in 0..<columns {
                var sum: Int32 = 0
                for groupIndex in 0..<groups {
                    for lane in 0..<layout.depthGroup {
                        sum &+= Int32(weightBytes[(groupIndex * columns + column) * layout.depthGroup + lane])
                    }
                }
                result[panelIndex * columns + column] = panel.load(fromByteOffset: 4 * column, as: Int32.self) &- 128 &* sum
            }
        }
        return result
        #else
        return nil
        #endif
    }

    /// Bytes of `outputs` x `inputs` weights packed in `layout`; nil when the size overflows.
    public static func packedByteCount(outputs: Int, inputs: Int, layout: Int8WeightLayout) -> Int? {
        if outputs < 0 || inputs < 0 || inputs > Int.max / 4 { return nil }
        let panels = (outputs + layout.panelColumns - 1) / layout.panelColumns
        let (total, overflow) = panels.multipliedReportingOverflow(by: layout.panelByteCount(inputs: inputs))
        return overflow ? nil : total
    }

    /// Why these bytes are not panels the packer could have written, or nil: every weight must be in
    /// -127...127 (the NEON kernels' exact int16 pair sums need it), and the padding (header slots and
    /// weight columns past `outputs`, depths past `inputs`, bytes to the 64-byte boundary) zero.
    public func panelProblem() -> String? {
        let columns = layout.panelColumns, group = layout.depthGroup
        let header = layout.panelHeaderByteCount
        for panelIndex in 0..<panelCount {
            let panel = UnsafeRawPointer(bytes + panelIndex * panelStride)
            let live = min(columns, outputs - panelIndex * columns)
            for slot in 0..<(header / 4) where slot % columns >= live || slot >= 2 * columns {
                if panel.load(fromByteOffset: 4 * slot, as: UInt32.self) != 0 {
                    return "panel \(panelIndex): header padding word \(slot) is not zero"
                }
            }
            let weightBytes = (panel + header).assumingMemoryBound(to: Int8.self)
            let groups = roundedUp((inputs + group - 1) / group, to: 2)
            for groupIndex in 0..<groups {
                for column in 0..<columns {
                    let start = (groupIndex * columns + column) * group
                    for lane in 0..<group {
                        let value = weightBytes[start + lane]
                        if column >= live || groupIndex * group + lane >= inputs {
                            if value != 0 { return "panel \(panelIndex): padding byte \(start + lane) is not zero" }
                        } else if value == -128 {
                            return "weight [\(panelIndex * columns + column), \(groupIndex * group + lane)] is -128 (symmetric weights are -127...127)"
                        }
                    }
                }
            }
            for offset in (groups * columns * group)..<(panelStride - header) where weightBytes[offset] != 0 {
                return "panel \(panelIndex): padding byte \(offset) is not zero"
            }
        }
        return nil
    }

    /// Why the panels' folded biases and scales differ from what packing these weights with `bias`,
    /// `scales` and `inputZeroPoint` stores, or nil (a model file's panels are checked against the
    /// layer's own bias and scale constants this way). Assumes `panelProblem()` is nil.
    public func foldingProblem(bias: UnsafePointer<Int32>?, scales: UnsafePointer<Float>, inputZeroPoint: Int32) -> String? {
        let columns = layout.panelColumns, group = layout.depthGroup
        let header = layout.panelHeaderByteCount
        let groups = roundedUp((inputs + group - 1) / group, to: 2)
        for panelIndex in 0..<panelCount {
            let panel = UnsafeRawPointer(bytes + panelIndex * panelStride)
            let weightBytes = (panel + header).assumingMemoryBound(to: Int8.self)
            for column in 0..<min(columns, outputs - panelIndex * columns) {
                var sum: Int32 = 0
                for groupIndex in 0..<groups {
                    let start = (groupIndex * columns + column) * group
                    for lane in 0..<group { sum &+= Int32(weightBytes[start + lane]) }
                }
                let output = panelIndex * columns + column
                let expected = (bias?[output] ?? 0) &- inputZeroPoint &* sum
                let stored = panel.load(fromByteOffset: 4 * column, as: Int32.self)
                if stored != expected {
                    return "output \(output): folded bias \(stored), expected \(expected) (bias - zero point \(inputZeroPoint) x weight sum \(sum))"
                }
                let scale = panel.load(fromByteOffset: 4 * (columns + column), as: Float.self)
                if scale.bitPattern != scales[output].bitPattern {
                    // Bit patterns, not decimals: Embedded Swift would link float printing into the kernels.
                    return "output \(output): requantization scale bits \(scale.bitPattern), the layer's are \(scales[output].bitPattern)"
                }
            }
        }
        return nil
    }

    deinit {
        if owned { bytes.deallocate() }
        unsignedInputBias?.deallocate()
    }

    /// These weights as the GEMM driver reads them.
    @inline(__always)
    public var panels: Int8Panels {
        Int8Panels(layout: layout, outputs: outputs, inputs: inputs, bytes: UnsafeRawPointer(bytes),
                   unsignedInputBias: unsignedInputBias.map { UnsafePointer($0) }, panelCount: panelCount,
                   panelStride: panelStride)
    }

    /// The first byte of panel `panel`.
    @inline(__always)
    func panel(_ panel: Int) -> UnsafeRawPointer { panels.panel(panel) }

    /// W[output, input] as stored (zero past the matrix).
    @inline(__always)
    public func weight(output: Int, input: Int) -> Int8 { panels.weight(output: output, input: input) }

    /// The folded bias of `output`: bias - zp_in * sum_k W[output, k].
    @inline(__always)
    public func foldedBias(output: Int) -> Int32 { panels.foldedBias(output: output) }

    /// The requantization scale of `output`.
    @inline(__always)
    public func scale(output: Int) -> Float { panels.scale(output: output) }
}

/// Packed int8 panels as the GEMM driver reads them, owning nothing: a `PackedInt8Weights`' (its
/// `panels`), or panels a kernel packs into its scratch at run time (attention's keys, which change
/// with every image and so cannot be a class instance that allocates).
public struct Int8Panels {
    public let layout: Int8WeightLayout
    /// N: output channels.
    public let outputs: Int
    /// K: depth.
    public let inputs: Int
    /// The panels, `panelCount * panelStride` bytes, 64-byte aligned.
    public let bytes: UnsafeRawPointer
    /// As `PackedInt8Weights.unsignedInputBias`: NR per panel, present exactly when a VNNI tile reads these panels.
    let unsignedInputBias: UnsafePointer<Int32>?
    public let panelCount: Int
    /// Bytes from one panel to the next.
    public let panelStride: Int

    /// `outputs` and `inputs` are not negative.
    @inline(__always)
    init(layout: Int8WeightLayout, outputs: Int, inputs: Int, bytes: UnsafeRawPointer, unsignedInputBias: UnsafePointer<Int32>?) {
        self.layout = layout
        self.outputs = outputs
        self.inputs = inputs
        self.bytes = bytes
        self.unsignedInputBias = unsignedInputBias
        panelCount = (outputs + layout.panelColumns - 1) / layout.panelColumns
        panelStride = layout.panelByteCount(inputs: inputs)
    }

    @inline(__always)
    init(layout: Int8WeightLayout, outputs: Int, inputs: Int, bytes: UnsafeRawPointer, unsignedInputBias: UnsafePointer<Int32>?,
         panelCount: Int, panelStride: Int) {
        self.layout = layout
        self.outputs = outputs
        self.inputs = inputs
        self.bytes = bytes
        self.unsignedInputBias = unsignedInputBias
        self.panelCount = panelCount
        self.panelStride = panelStride
    }

    /// The first byte of panel `panel`.
    @inline(__always)
    func panel(_ panel: Int) -> UnsafeRawPointer {
        bytes + panel * panelStride
    }

    /// W[output, input] as stored (zero past the matrix).
    @inline(__always)
    func weight(output: Int, input: Int) -> Int8 {
        let columns = layout.panelColumns
        let groupBytes = panel(output / columns) + layout.panelHeaderByteCount
        return groupBytes.load(fromByteOffset: layout.weightOffset(column: output % columns, depth: input), as: Int8.self)
    }

    /// The folded bias of `output`.
    @inline(__always)
    func foldedBias(output: Int) -> Int32 {
        panel(output / layout.panelColumns).load(fromByteOffset: 4 * (output % layout.panelColumns), as: Int32.self)
    }

    /// The scale of `output`.
    @inline(__always)
    func scale(output: Int) -> Float {
        let columns = layout.panelColumns
        return panel(output / columns).load(fromByteOffset: 4 * (columns + output % columns), as: Float.self)
    }
}

/// Quantizes float weights [outputs, inputs] symmetrically per output channel: scale[n] =
/// max|W[n, :]| / 127 (1 for an all-zero channel: ncnn#1412's infinite scale), q in [-127, 127].
public func quantizeWeightsPerChannel(_ weights: UnsafePointer<Float>, outputs: Int, inputs: Int,
                                      quantized: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) {
    for output in 0..<max(outputs, 0) {
        var bound: Float = 0
        for input in 0..<max(inputs, 0) { bound = max(bound, weights[output * inputs + input].magnitude) }
        let quantization = Int8Quantization.symmetric(absoluteMaximum: bound)
        scales[output] = quantization.scale
        for input in 0..<max(inputs, 0) {
            quantized[output * inputs + input] = max(quantization.quantize(weights[output * inputs + input]), -127)
        }
    }
}
