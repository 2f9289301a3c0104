import EdgeRuntime
import Foundation
import Kernels

/// Options of the int8 rewrite.
public struct QuantizationOptions: Sendable {
    public var method: CalibrationMethod = .percentile
    /// Fraction of each tail clipped by the percentile method.
    public var percentileTail: Double = 1e-4
    /// Node-name substrings that stay float32. The defaults are the layers known to be sensitive in
    /// DETR-family models: the deformable sampling offsets and attention weights (they place and weigh
    /// samples: a small error moves a sample by pixels) and the prediction heads.
    public var keepFloat: [String] = QuantizationOptions.sensitiveLayers
    /// Exact node names that stay float32 (what the automatic precision search chooses).
    public var floatLayers: Set<String> = []
    /// When set, more layers are kept float32 by measurement (`PrecisionSearch`), on top of those
    /// `keepFloat` names, until the output drift on the calibration images meets this target.
    public var automaticPrecision: AutomaticPrecision?
    /// Weight-only int8 for the convolutions and linear layers kept float32: their weights are
    /// rounded to int8, symmetric per output channel, and the file stores the int8 values and scales
    /// (a quarter of the bytes); the reader dequantizes them at load and the layer runs in float32 on
    /// exactly those values. Activations stay float32.
    public var weightOnlyInt8 = true
    /// The linear layers kept float32 by name (`keepFloat`: heads, sampling offsets and weights, anchor
    /// MLPs) run as `dynamicQuantizedLinear` instead: int8 weights per output channel and each input
    /// row quantized at run time at its own scale, on the int8 GEMM. Layers of constant inputs, layers
    /// narrower than 16 outputs and those the automatic search keeps float stay float32. On the six
    /// trained detectors (docs/ACCURACY.md) it loses within 0.05 AP of float32 heads (0.11 against 0.12
    /// on Deformable DETR), and their multiply-accumulates run on the int8 tiles.
    public var dynamicInt8 = true
    /// Multi-head attention runs as `dynamicQuantizedAttention`: each head's queries and keys quantized at
    /// run time per row, its values per channel, Q K^T and P V on the int8 GEMM (the probabilities as
    /// two-level codes). Attention whose queries and keys both derive from constants (folded at load) and
    /// attention kept float by name (`floatLayers`, `keepFloat`) stay float32. docs/ACCURACY.md has its
    /// measurement on the trained detectors.
    public var dynamicInt8Attention = true
    /// Layers whose input depends on constants only stay float32 (with `weightOnlyInt8`, their weights
    /// are still stored in int8). These are the projections of the learned query embeddings and of
    /// the fixed-size position embeddings: Conditional DETR's `ref_point_head`, `ca_qpos_proj`,
    /// `ca_kpos_proj`, `sa_qpos_proj`, DAB-DETR's key position projections. Per-tensor int8 on their
    /// inputs cost the trained Conditional DETR 0.66 AP, and ONNX Runtime constant-folds them.
    public var keepConstantSubgraphsFloat = true

    public static let sensitiveLayers = [
        "sampling_offsets", "attention_weights", "reference_points", "class_embed", "bbox_embed",
        "bbox_predictor", "class_labels_classifier", "ref_point_head", "ref_anchor_head", "query_scale",
        // D-FINE: the first box head and the location quality estimator.
        "pre_bbox_head", "reg_conf",
    ]

    /// The plain rewrite: percentile ranges, the sensitive layers float32 by name, no search. The
    /// library default (tests build on it); `recommended` is what `edgedetr quantize` uses.
    public init() {}

    /// The best accuracy/speed trade-off measured on the trained detectors (docs/ACCURACY.md): the
    /// plain rewrite, then the automatic search on top when its drift misses the target (a safety
    /// net: on the three trained detectors the plain rewrite already meets it, so the search costs
    /// one extra run over the search images).
    public static var recommended: QuantizationOptions {
        var options = QuantizationOptions()
        options.automaticPrecision = AutomaticPrecision()
        return options
    }
}

/// The target of the automatic precision search.
public struct AutomaticPrecision: Sendable {
    public var target: OutputDrift
    /// At most this fraction of the quantizable layers stays float32.
    public var maximumFloatFraction: Double

    /// The search runs on at most this many of the calibration images (each trial is one run over them).
    public var images: Int

    public init(target: OutputDrift = AutomaticPrecision.defaultTarget, maximumFloatFraction: Double = 0.25, images: Int = 8) {
        self.target = target
        self.maximumFloatFraction = maximumFloatFraction
        self.images = images
    }

    /// Mean |score drift| 0.005 and mean |box drift| 0.005 of the image (0.6 px at 128 px) on the
    /// float top-10: the trained detectors lose at most 0.06 AP at the drift the plain rewrite gives
    /// (score 0.0007-0.0028, box 0.0023-0.0045).
    public static let defaultTarget = OutputDrift(score: 0.005, box: 0.005)
}

/// Rewrites a float graph into a mixed-precision one: convolutions and linear layers (except those
/// kept float) run int8 with per-output-channel symmetric weights, int32 bias and per-tensor int8
/// activations whose ranges come from calibration (those kept float run float32, on weight-only int8
/// weights unless `weightOnlyInt8` is off); max-pool, reshape and the deformable sampling core
/// follow in int8 when their input is int8; everything else stays float32. `quantize` and
/// `dequantize` nodes are inserted where precision changes. Values and nodes of the float graph keep
/// their names, so `compare` can pair each float activation with its int8 counterpart.
public struct GraphQuantizer {
    public let source: Graph
    public let statistics: ActivationStatistics
    public let options: QuantizationOptions

    private let graph = Graph()
    /// Float and int8 versions of each source value in the new graph.
    private var floatVersion: [ValueID?]
    private var int8Version: [ValueID?]
    /// Source values produced natively in int8 (so pass-through ops stay int8).
    private var producedInt8: [Bool]
    /// Weight-only int8 versions of float weights (`QuantizationOptions.weightOnlyInt8`).
    private var weightOnlyVersion: [ValueID?]
    /// Source values read as int8 by at least one consumer. A convolution or linear layer whose
    /// output no consumer reads in int8 (e.g. one feeding a GroupNorm or LayerNorm) writes float32
    /// straight from its int32 accumulators: no output rounding, and no requantize/dequantize pair.
    private var readAsInt8: [Bool]
    /// Source values that depend on constants only (the same for every image).
    private var constantDerived: [Bool]
    /// For a value whose one consumer is a `clamp` (HGNetV2's affine blocks folded into their convolution,
    /// the clamp in place of the ReLU), that clamp's output: the producer writes int8 at the clamped range,
    /// as a fused ReLU's producer does, instead of spending codes on values the clamp removes.
    private var clampedBy: [ValueID?]
    /// Int8 layers with a float output and a float residual whose one reader is a LayerNorm: the layer
    /// writes its bare product and the LayerNorm adds the residual as its own residual operand (the same
    /// float addition, so the same bits), instead of an `add` node writing and reading the whole map once
    /// more. These are every post-norm transformer block's `LayerNorm(x + sublayer(x))`.
    private var residualJoinsNorm: [Bool]
    /// For a value whose residual joins its LayerNorm, the float residual that LayerNorm adds.
    private var normResidual: [ValueID?]
    /// The `softmax` of a deformable sampling's weights (over each head's samples) and the
    /// `deformableLocations` of its locations, where the sampling is their one reader, and an `add` whose
    /// every reader is a `dynamicQuantizedLinear`'s x: emitted only if something reads them in float
    /// (`floatOf`); an int8 sampling or a dynamic linear layer takes their inputs instead (`SamplingInputs`,
    /// `sumsInput`) and computes them itself, with the same bits.
    private var deferred: [Node?]

    public init(source: Graph, statistics: ActivationStatistics, options: QuantizationOptions) {
        self.source = source
        self.statistics = statistics
        self.options = options
        floatVersion = Array(repeating: nil, count: source.values.count)
        int8Version = Array(repeating: nil, count: source.values.count)
        weightOnlyVersion = Array(repeating: nil, count: source.values.count)
        producedInt8 = Array(repeating: false, count: source.values.count)
        readAsInt8 = Array(repeating: false, count: source.values.count)
        clampedBy = Array(repeating: nil, count: source.values.count)
        residualJoinsNorm = Array(repeating: false, count: source.values.count)
        normResidual = Array(repeating: nil, count: source.values.count)
        deferred = Array(repeating: nil, count: source.values.count)
        constantDerived = source.constantDerivedValues()
        for node in source.nodes {
            for (position, input) in node.inputs.enumerated() where readsInt8(node, position: position) {
                readAsInt8[input.index] = true
            }
        }
        var consumers = [Int](repeating: 0, count: source.values.count)
        for node in source.nodes { for input in node.inputs { consumers[input.index] += 1 } }
        for output in source.outputs { consumers[output.value.index] += 1 }
        for node in source.nodes where consumers[node.x.index] == 1 {
            if case .clamp = node.operation { clampedBy[node.x.index] = node.output }
        }
        var producer = [Node?](repeating: nil, count: source.values.count)
        for node in source.nodes { producer[node.output.index] = node }
        for node in source.nodes {
            guard case .deformableSampling(let levels, let heads, let points, _) = node.operation else { continue }
            if let weights = node[.samplingWeights], consumers[weights.index] == 1, let softmax = producer[weights.index],
               case .softmax(let groupSize) = softmax.operation, groupSize == points.reduce(0, +) {
                deferred[weights.index] = softmax
            }
            if let locations = node[.locations], consumers[locations.index] == 1, let maker = producer[locations.index],
               maker.operation == .deformableLocations(levels: levels, heads: heads, points: points) {
                deferred[locations.index] = maker
            }
        }
        var readers = [[Node]](repeating: [], count: source.values.count)
        for node in source.nodes { for input in Set(node.inputs.map(\.index)) { readers[input].append(node) } }
        for node in source.nodes {
            let sum = node.output.index
            guard node.operation == .binary(.add), node.inputs.count == 2, !constantDerived[sum],
                  source.shape(of: node.inputs[0]) == source.shape(of: node.inputs[1]), readers[sum].count == consumers[sum],
                  readers[sum].allSatisfy({ reader in
                      guard case .linear = reader.operation, keepsFloat(reader), runsDynamicInt8(reader) else { return false }
                      return reader.x.index == sum && reader.inputs.dropFirst().allSatisfy { $0.index != sum }
                  }) else { continue }
            deferred[sum] = node
        }
        for node in source.nodes where consumers[node.x.index] == 1 && node[.residual] == nil {
            guard case .layerNorm = node.operation, let layer = producer[node.x.index], layer[.residual] != nil,
                  !readAsInt8[node.x.index], !keepsFloat(layer) else { continue }
            switch layer.operation {
            case .linear(let activation), .conv2d(_, _, let activation): residualJoinsNorm[node.x.index] = activation == .none
            default: break
            }
        }
    }

    /// The int8 range a layer writes its output at: its own calibrated range, or its clamp's.
    private func outputQuantization(_ value: ValueID) -> Int8Quantization {
        activationQuantization(clampedBy[value.index] ?? value)
    }

    /// Whether `node` would read its input at `position` in int8 (when that input is int8).
    private func readsInt8(_ node: Node, position: Int) -> Bool {
        switch node.operation {
        case .conv2d, .linear: !keepsFloat(node) && (position == 0 || position == 3)
        case .maxPool2d, .reshape, .upsampleNearest, .pad2d, .clamp: position == 0
        case .depthwiseConv2d: !keepsFloat(node) && position == 0
        case .deformableSampling: !keepsFloat(node) && position == 0
        case .unary: hasTableForm(node) && position == 0
        case .concatenateColumns, .concatenateRows: true
        default: false
        }
    }

    /// The rewritten graph and, for each source value, the new value holding it (int8 or float).
    public static func quantize(_ source: Graph, statistics: ActivationStatistics,
                                options: QuantizationOptions) throws(GraphError) -> (graph: Graph, counterpart: [ValueID?]) {
        var quantizer = GraphQuantizer(source: source, statistics: statistics, options: options)
        return try quantizer.run()
    }

    private mutating func run() throws(GraphError) -> (graph: Graph, counterpart: [ValueID?]) {
        for (index, value) in source.values.enumerated() {
            if case .input = value.source { floatVersion[index] = graph.input(value.name, shape: value.shape) }
        }
        for node in source.nodes { try lower(node) }
        for output in source.outputs { graph.markOutput(output.name, try floatOf(output.value)) }
        // A layer whose residual joined its LayerNorm wrote only its product: its sum exists nowhere.
        let counterpart = (0..<source.values.count).map {
            residualJoinsNorm[$0] ? nil : producedInt8[$0] ? int8Version[$0] : (floatVersion[$0] ?? int8Version[$0])
        }
        return (graph, counterpart)
    }

    public func keepsFloat(_ node: Node) -> Bool {
        if options.floatLayers.contains(node.name) || options.keepFloat.contains(where: { !$0.isEmpty && node.name.contains($0) }) {
            return true
        }
        // A layer computed from constants only (learned query embeddings, the sine position embedding
        // of the fixed input size) gives the same result on every image: int8 would only add error.
        if options.keepConstantSubgraphsFloat, let input = node.inputs.first, constantDerived[input.index] {
            switch node.operation {
            case .conv2d, .linear, .deformableSampling, .depthwiseConv2d: return true
            default: return false
            }
        }
        return false
    }

    /// Whether a unary op is a function of each code alone (a 256-entry table at load): all but PReLU,
    /// and PReLU too when it has one constant slope (DAB-DETR's FFN activation).
    private func hasTableForm(_ node: Node) -> Bool {
        guard case .unary(let op) = node.operation else { return false }
        guard op == .prelu else { return true }
        guard let alpha = node[.alpha], case .constant = source.values[alpha.index].source else { return false }
        return source.shape(of: alpha) == [1]
    }

    /// Whether a linear layer kept float by name runs as `dynamicQuantizedLinear` (`QuantizationOptions.dynamicInt8`):
    /// not one the search keeps float, not one of constant inputs, and not one narrower than an int8 tile panel
    /// (box coordinates, anchors: 2 or 4 outputs), which costs less in float than quantizing its input rows.
    private func runsDynamicInt8(_ node: Node) -> Bool {
        guard options.dynamicInt8, !options.floatLayers.contains(node.name), let weight = node[.weight],
              case .constant = source.values[weight.index].source, (source.shape(of: weight).first ?? 0) >= 16 else {
            return false
        }
        return !(options.keepConstantSubgraphsFloat && constantDerived[node.x.index])
    }

    /// Whether an attention runs as `dynamicQuantizedAttention` (`QuantizationOptions.dynamicInt8Attention`).
    private func runsDynamicInt8Attention(_ node: Node) -> Bool {
        guard options.dynamicInt8Attention, !keepsFloat(node), let keys = node[.keys] else { return false }
        return !(constantDerived[node.x.index] && constantDerived[keys.index])
    }

    private func activationQuantization(_ value: ValueID) -> Int8Quantization {
        statistics.quantization(of: value.index, method: options.method, tail: options.percentileTail)
    }

    // MARK: - Versions of values

    private mutating func floatOf(_ value: ValueID) throws(GraphError) -> ValueID {
        if let existing = floatVersion[value.index] { return existing }
        if let node = deferred[value.index] {
            var inputs: [ValueID] = []
            for input in node.inputs { inputs.append(try floatOf(input)) }
            let id = try graph.add(node.operation, inputs, name: node.name)
            floatVersion[value.index] = id
            return id
        }
        let info = source.values[value.index]
        if case .constant(let c) = info.source {
            let id = try graph.constant(info.name, shape: info.shape, storage: source.constants[c])
            floatVersion[value.index] = id
            return id
        }
        guard let quantized = int8Version[value.index] else {
            throw .unknownValue(node: info.name, index: value.index)
        }
        let id = try graph.add(.dequantize, [quantized], name: "\(info.name).dequantize")
        floatVersion[value.index] = id
        return id
    }

    /// The float weight `value` as its weight-only int8 dequantization (stored int8 in the file), or
    /// unchanged when it is not a float32 constant or a channel's scale would not be a positive
    /// finite number (an infinite or subnormal weight).
    private mutating func weightOnlyInt8Of(_ value: ValueID) throws(GraphError) -> ValueID {
        if let existing = weightOnlyVersion[value.index] { return existing }
        let info = source.values[value.index]
        guard case .constant(let c) = info.source, info.elementType == .float32, let outputs = info.shape.first, outputs > 0 else {
            return try floatOf(value)
        }
        let (values, scales) = Self.quantizePerChannel(source.constants[c], outputs: outputs)
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { return try floatOf(value) }
        let storage = ConstantStorage(dequantizing: ConstantStorage(int8: values), scales: ConstantStorage(scales))
        let id = try graph.constant(info.name, shape: info.shape, storage: storage)
        weightOnlyVersion[value.index] = id
        return id
    }

    /// Symmetric per-output-channel int8 of a weight `[outputs, ...]`: scale = max|W[o, :]| / 127 (1 for
    /// an all-zero channel), q = W / scale rounded half to even, clamped to [-127, 127].
    static func quantizePerChannel(_ weights: ConstantStorage, outputs: Int) -> (values: [Int8], scales: [Float]) {
        let perOutput = weights.count / max(outputs, 1)
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 0, count: outputs)
        for o in 0..<outputs {
            var largest: Float = 0
            for i in 0..<perOutput { largest = max(largest, abs(weights.pointer[o * perOutput + i])) }
            let weightScale = largest > 0 ? largest / 127 : 1
            for i in 0..<perOutput {
                let q = (weights.pointer[o * perOutput + i] / weightScale).rounded(.toNearestOrEven)
                values[o * perOutput + i] = Int8(max(-127, min(127, q)))
            }
            scales[o] = weightScale
        }
        return (values, scales)
    }

    private mutating func int8Of(_ value: ValueID) throws(GraphError) -> ValueID {
        if let existing = int8Version[value.index] { return existing }
        let float = try floatOf(value)
        let id = try graph.add(.quantize, [float], name: "\(source.values[value.index].name).quantize",
                               quantization: activationQuantization(value))
        int8Version[value.index] = id
        return id
    }

    // MARK: - Lowering

    private mutating func lower(_ node: Node) throws(GraphError) {
        let output = node.output.index
        switch node.operation {
        case .softmax where deferred[output] != nil, .deformableLocations where deferred[output] != nil,
             .binary(.add) where deferred[output] != nil:
            break
        case .conv2d(let stride, let padding, let activation) where !keepsFloat(node):
            record(output, try quantizedWeightOp(node, operation: .quantizedConv2d(stride: stride, padding: padding, activation: activation)))
        case .linear(let activation) where !keepsFloat(node):
            record(output, try quantizedWeightOp(node, operation: .quantizedLinear(activation: activation)))
        case .linear(let activation) where runsDynamicInt8(node):
            floatVersion[output] = try dynamicQuantizedLinear(node, activation: activation)
        case .attention(let heads, let scale) where runsDynamicInt8Attention(node):
            guard let keys = node[.keys], let values = node[.values] else {
                throw .arity(node: node.name, operation: node.operation.kindName, expected: "3", got: node.inputs.count)
            }
            floatVersion[output] = try graph.add(.dynamicQuantizedAttention(heads: heads, scale: scale),
                                                 [try floatOf(node.x), try floatOf(keys), try floatOf(values)], name: node.name)
        case .layerNorm where normResidual[node.x.index] != nil:
            guard let gamma = node[.gamma], let beta = node[.beta], let residual = normResidual[node.x.index] else {
                throw .arity(node: node.name, operation: node.operation.kindName, expected: "3", got: node.inputs.count)
            }
            floatVersion[output] = try graph.add(node.operation, [try floatOf(node.x), try floatOf(gamma), try floatOf(beta), residual],
                                                 name: node.name)
        case .linear(let activation) where keepsFloat(node) && constantDerived[node.x.index]
            && node[.residual].map({ !constantDerived[$0.index] }) == true:
            floatVersion[output] = try constantLinearPlusResidual(node, activation: activation)
        case .maxPool2d where producedInt8[node.x.index], .reshape where producedInt8[node.x.index],
             .upsampleNearest where producedInt8[node.x.index], .pad2d where producedInt8[node.x.index],
             .clamp where producedInt8[node.x.index]:
            let id = try graph.add(node.operation, [try int8Of(node.x)], name: node.name)
            record(output, int8: id)
        case .depthwiseConv2d(let stride, let padding, let activation) where !keepsFloat(node):
            record(output, int8: try quantizedDepthwiseOp(node, operation: .quantizedDepthwiseConv2d(stride: stride, padding: padding,
                                                                                                      activation: activation)))
        case .concatenateColumns where node.inputs.allSatisfy({ producedInt8[$0.index] }),
             .concatenateRows where node.inputs.allSatisfy({ producedInt8[$0.index] }):
            // Side by side in int8, each input requantized to the concatenation's calibrated range.
            var inputs: [ValueID] = []
            for input in node.inputs { inputs.append(try int8Of(input)) }
            let id = try graph.add(node.operation, inputs, name: node.name, quantization: activationQuantization(node.output))
            record(output, int8: id)
        case .unary(let op) where producedInt8[node.x.index] && hasTableForm(node):
            // A code-wise function of an int8 input is a 256-entry table: int8 in, int8 out.
            var inputs = [try int8Of(node.x)]
            if let alpha = node[.alpha] { inputs.append(try floatOf(alpha)) }
            let id = try graph.add(.quantizedUnary(op), inputs, name: node.name,
                                   quantization: activationQuantization(node.output))
            record(output, int8: id)
        case .deformableSampling(let levels, let heads, let points, let method) where producedInt8[node.x.index] && !keepsFloat(node):
            guard let locations = node[.locations], let samplingWeights = node[.samplingWeights] else {
                throw .arity(node: node.name, operation: node.operation.kindName, expected: "3", got: node.inputs.count)
            }
            // The softmax of the weights and the locations run inside the sampling, on each task's queries.
            var inputs: SamplingInputs = []
            var operands = [try int8Of(node.x)]
            if floatVersion[locations.index] == nil, let maker = deferred[locations.index], let offsets = maker[.offsets] {
                inputs.insert(.locationOffsets)
                operands += [try floatOf(maker.x), try floatOf(offsets)]
            } else {
                operands.append(try floatOf(locations))
            }
            if floatVersion[samplingWeights.index] == nil, let softmax = deferred[samplingWeights.index] {
                inputs.insert(.weightLogits)
                operands.append(try floatOf(softmax.x))
            } else {
                operands.append(try floatOf(samplingWeights))
            }
            let id = try graph.add(.quantizedDeformableSampling(levels: levels, heads: heads, points: points, method: method,
                                                                inputs: inputs),
                                   operands, name: node.name, quantization: activationQuantization(node.output))
            record(output, int8: id)
        default:
            // A convolution or linear layer here is kept float32; its weights may still be stored int8.
            var weightOnly = false
            switch node.operation {
            case .conv2d, .linear: weightOnly = options.weightOnlyInt8
            default: break
            }
            var inputs: [ValueID] = []
            for (position, input) in node.inputs.enumerated() {
                let isWeight = node.operation.operand(at: position) == .weight
                inputs.append(weightOnly && isWeight ? try weightOnlyInt8Of(input) : try floatOf(input))
            }
            floatVersion[output] = try graph.add(node.operation, inputs, name: node.name)
        }
    }

    private mutating func record(_ value: Int, int8 id: ValueID) {
        int8Version[value] = id
        producedInt8[value] = true
    }

    /// Records a quantized op's output under its precision.
    private mutating func record(_ value: Int, _ id: ValueID) {
        if graph.values[id.index].elementType == .int8 {
            record(value, int8: id)
        } else {
            floatVersion[value] = id
        }
    }

    /// A convolution or linear layer in int8: weights symmetric per output channel, int32 bias at
    /// scale s_in * s_w, requantization scales s_in * s_w / s_out, the residual (if any) in int8.
    /// A depthwise convolution in int8: weights `[k, k, C]` symmetric per channel (the last axis), the bias at
    /// s_in * s_w[c], an int8 output at the layer's calibrated range.
    private mutating func quantizedDepthwiseOp(_ node: Node, operation: GraphOperation) throws(GraphError) -> ValueID {
        let input = try int8Of(node.x)
        guard let inputScale = graph.values[input.index].quantization?.scale,
              let weight = node[.weight], case .constant(let w) = source.values[weight.index].source,
              let biasValue = node[.bias], case .constant(let b) = source.values[biasValue.index].source else {
            throw .invalidAttribute(node: node.name, operation: node.operation.kindName, detail: "weights must be constants")
        }
        let weightShape = source.shape(of: weight)
        let (weights, bias) = (source.constants[w], source.constants[b])
        let channels = weightShape.last ?? 0
        let outputQuantization = outputQuantization(node.output)
        var largest = [Float](repeating: 0, count: channels)
        for index in 0..<weights.count { largest[index % channels] = max(largest[index % channels], abs(weights.pointer[index])) }
        let weightScales = largest.map { $0 > 0 ? $0 / 127 : 1 }
        var quantizedWeights = [Int8](repeating: 0, count: weights.count)
        for index in 0..<weights.count {
            let q = (weights.pointer[index] / weightScales[index % channels]).rounded(.toNearestOrEven)
            quantizedWeights[index] = Int8(max(-127, min(127, q)))
        }
        let (quantizedBias, scales) = Self.quantizeBias(bias, inputScale: inputScale, weightScales: weightScales,
                                                        outputScale: outputQuantization.scale)
        let weightID = try graph.constant("\(node.name).weight.int8", shape: weightShape, storage: ConstantStorage(int8: quantizedWeights))
        let biasID = try graph.constant("\(node.name).bias.int32", shape: [channels], storage: ConstantStorage(int32: quantizedBias))
        let scaleID = try graph.constant("\(node.name).requantization_scales", shape: [channels], values: scales)
        return try graph.add(operation, [input, weightID, biasID, scaleID], name: node.name, quantization: outputQuantization)
    }

    /// An int8 layer's bias and requantization scales, per output channel c: the bias at s_in * s_w[c],
    /// rounded half to even and clamped to half the int32 range (room for the accumulation), and the scale
    /// s_in * s_w[c] / outputScale that takes the int32 accumulator to the output.
    static func quantizeBias(_ bias: ConstantStorage, inputScale: Float, weightScales: [Float],
                             outputScale: Float) -> (bias: [Int32], scales: [Float]) {
        var quantizedBias = [Int32](repeating: 0, count: weightScales.count)
        var scales = [Float](repeating: 0, count: weightScales.count)
        for c in weightScales.indices {
            let biasScale = Double(inputScale) * Double(weightScales[c])
            let q = (Double(bias.pointer[c]) / biasScale).rounded(.toNearestOrEven)
            quantizedBias[c] = Int32(max(Double(Int32.min / 2), min(Double(Int32.max / 2), q)))
            scales[c] = Float(biasScale / Double(outputScale))
        }
        return (quantizedBias, scales)
    }

    /// A float linear layer of a constant input with a per-image residual (Conditional DETR's `sa_qpos_proj`
    /// of the learned query positions plus the content projection): the product of constants is its own
    /// node, which the executor then runs once at load (`GraphExecutor`'s constant subgraphs), and the
    /// residual is added after it: (x W^T + b) + r, the same operations in the same order as the fused
    /// kernel, so the same bits.
    private mutating func constantLinearPlusResidual(_ node: Node, activation: Activation) throws(GraphError) -> ValueID {
        guard let weight = node[.weight], let bias = node[.bias], let residual = node[.residual] else {
            throw .arity(node: node.name, operation: node.operation.kindName, expected: "4", got: node.inputs.count)
        }
        let weightInput = options.weightOnlyInt8 ? try weightOnlyInt8Of(weight) : try floatOf(weight)
        let product = try graph.add(.linear(activation: .none), [try floatOf(node.x), weightInput, try floatOf(bias)],
                                    name: "\(node.name).constant")
        let sum = try graph.add(.binary(.add), [product, try floatOf(residual)],
                                name: activation == .none ? node.name : "\(node.name).residual")
        return activation == .relu ? try graph.add(.unary(.relu), [sum], name: node.name) : sum
    }

    /// A linear layer whose input rows are quantized at run time: weights symmetric per output channel,
    /// their scales s_w, the bias and any residual float32.
    private mutating func dynamicQuantizedLinear(_ node: Node, activation: Activation) throws(GraphError) -> ValueID {
        guard let weight = node[.weight], case .constant(let w) = source.values[weight.index].source, let bias = node[.bias] else {
            throw .invalidAttribute(node: node.name, operation: node.operation.kindName, detail: "weights must be constants")
        }
        let weightShape = source.shape(of: weight)
        let (quantizedWeights, weightScales) = Self.quantizePerChannel(source.constants[w], outputs: weightShape[0])
        let weightID = try graph.constant("\(node.name).weight.int8", shape: weightShape, storage: ConstantStorage(int8: quantizedWeights))
        let scaleID = try graph.constant("\(node.name).weight_scales", shape: [weightShape[0]], values: weightScales)
        // An `add` that feeds only dynamic layers is summed row by row inside each of them.
        let folded = floatVersion[node.x.index] == nil && deferred[node.x.index].map { $0.operation == .binary(.add) } == true
        var inputs: [ValueID] = []
        if folded, let sum = deferred[node.x.index] {
            inputs = [try floatOf(sum.inputs[0]), try floatOf(sum.inputs[1])]
        } else {
            inputs = [try floatOf(node.x)]
        }
        inputs += [weightID, try floatOf(bias), scaleID]
        if let residual = node[.residual] { inputs.append(try floatOf(residual)) }
        return try graph.add(.dynamicQuantizedLinear(activation: activation, sumsInput: folded), inputs, name: node.name)
    }

    private mutating func quantizedWeightOp(_ node: Node, operation: GraphOperation) throws(GraphError) -> ValueID {
        let input = try int8Of(node.x)
        guard let inputScale = graph.values[input.index].quantization?.scale,
              let weight = node[.weight], case .constant(let w) = source.values[weight.index].source,
              let biasValue = node[.bias], case .constant(let b) = source.values[biasValue.index].source else {
            throw .invalidAttribute(node: node.name, operation: node.operation.kindName, detail: "weights must be constants")
        }
        let weightShape = source.shape(of: weight)
        let bias = source.constants[b]
        let outputs = weightShape[0]
        let outputQuantization: Int8Quantization? = readAsInt8[node.output.index] ? outputQuantization(node.output) : nil
        let (quantizedWeights, weightScales) = Self.quantizePerChannel(source.constants[w], outputs: outputs)
        // Requantize to the output's scale, or dequantize (s_in * s_w) for a float output.
        let (quantizedBias, scales) = Self.quantizeBias(bias, inputScale: inputScale, weightScales: weightScales,
                                                        outputScale: outputQuantization?.scale ?? 1)
        let weightID = try graph.constant("\(node.name).weight.int8", shape: weightShape, storage: ConstantStorage(int8: quantizedWeights))
        let biasID = try graph.constant("\(node.name).bias.int32", shape: [outputs], storage: ConstantStorage(int32: quantizedBias))
        let scaleID = try graph.constant("\(node.name).requantization_scales", shape: [outputs], values: scales)
        var inputs = [input, weightID, biasID, scaleID]
        guard let residual = node[.residual], outputQuantization == nil else {
            if let residual = node[.residual] { inputs.append(try int8Of(residual)) }
            return try graph.add(operation, inputs, name: node.name, quantization: outputQuantization)
        }
        // A float output keeps its residual in float: op (no activation), add, then the activation; or the
        // bare op, its residual added by the LayerNorm that reads it (`residualJoinsNorm`).
        let activation: Activation
        let bare: GraphOperation
        switch operation {
        case .quantizedConv2d(let stride, let padding, let act):
            (activation, bare) = (act, .quantizedConv2d(stride: stride, padding: padding, activation: .none))
        case .quantizedLinear(let act):
            (activation, bare) = (act, .quantizedLinear(activation: .none))
        default:
            (activation, bare) = (.none, operation)
        }
        let product = try graph.add(bare, inputs, name: "\(node.name).int8")
        if residualJoinsNorm[node.output.index] {
            normResidual[node.output.index] = try floatOf(residual)
            return product
        }
        let sum = try graph.add(.binary(.add), [product, try floatOf(residual)],
                                name: activation == .none ? node.name : "\(node.name).residual")
        return activation == .relu ? try graph.add(.unary(.relu), [sum], name: node.name) : sum
    }
}
