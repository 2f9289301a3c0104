/// What a node's input is to its op: `node[.residual]` instead of `node.inputs[3]` (a float linear's
/// residual) or `node.inputs[4]` (a quantized one's).
///
/// The positions are those `GraphOperation` documents case by case; `GraphOperation.operand(at:)` is
/// the one table that maps between the two, so the executor, the quantizer, the model file writer and
/// `inspect` name operands instead of counting them.
public enum Operand: String, Equatable, Sendable {
    /// The first input of every op: the activation of conv, linear, norms, pooling, element-wise ops
    /// and quantize/dequantize, `a` of a binary op, the queries of attention, the value map of
    /// deformable sampling, the reference points of deformable locations, the scores of `topRows`,
    /// and each input of a concatenation.
    case x
    /// conv2d, linear and their quantized forms: weights, bias, requantization scales (quantized
    /// only) and the optional residual added before the activation (also LayerNorm's).
    case weight, bias, scales, residual
    /// LayerNorm and GroupNorm's affine parameters.
    case gamma, beta
    /// A binary op's second operand and the second half of `interleaveHeads`.
    case other
    /// PReLU's slope.
    case alpha
    /// Attention's keys and values.
    case keys, values
    /// Deformable sampling's sampling locations and attention weights.
    case locations, samplingWeights
    /// Deformable locations' offsets, and an int8 deformable sampling's that computes its locations.
    case offsets
    /// The second summand of a `dynamicQuantizedLinear` that reads the sum of two inputs (`sumsInput`).
    case addend
    /// The reference points of an int8 deformable sampling that computes its locations
    /// (`SamplingInputs.locationOffsets`; `deformableLocations` reads them as its `x`).
    case reference
    /// `topRows`: the rows it selects from.
    case rows
    /// `distanceToBox`: the edge distances from the reference box.
    case distances
}

extension GraphOperation {
    /// The operand at input `position`, or nil past the op's inputs (optional operands included).
    public func operand(at position: Int) -> Operand? {
        if position == 0 { return .x }
        if case .dynamicQuantizedLinear(let activation, true) = self {
            // The addend at 1, then the layer's operands one position later.
            return position == 1 ? .addend : GraphOperation.dynamicQuantizedLinear(activation: activation).operand(at: position - 1)
        }
        switch (self, position) {
        case (.conv2d, 1), (.linear, 1), (.quantizedConv2d, 1), (.quantizedLinear, 1), (.depthwiseConv2d, 1),
             (.quantizedDepthwiseConv2d, 1), (.dynamicQuantizedLinear, 1): return .weight
        case (.conv2d, 2), (.linear, 2), (.quantizedConv2d, 2), (.quantizedLinear, 2), (.depthwiseConv2d, 2),
             (.quantizedDepthwiseConv2d, 2), (.dynamicQuantizedLinear, 2): return .bias
        case (.quantizedConv2d, 3), (.quantizedLinear, 3), (.quantizedDepthwiseConv2d, 3), (.dynamicQuantizedLinear, 3): return .scales
        case (.conv2d, 3), (.linear, 3), (.layerNorm, 3), (.quantizedConv2d, 4), (.quantizedLinear, 4),
             (.dynamicQuantizedLinear, 4): return .residual
        case (.layerNorm, 1), (.groupNorm, 1), (.rmsNorm, 1): return .gamma
        case (.rmsNorm, 2): return .residual
        case (.layerNorm, 2), (.groupNorm, 2): return .beta
        case (.binary, 1), (.interleaveHeads, 1): return .other
        case (.unary(.prelu), 1), (.quantizedUnary(.prelu), 1): return .alpha
        case (.attention, 1), (.dynamicQuantizedAttention, 1): return .keys
        case (.attention, 2), (.dynamicQuantizedAttention, 2): return .values
        case (.quantizedDeformableSampling(_, _, _, _, let inputs), 1): return inputs.contains(.locationOffsets) ? .reference : .locations
        case (.quantizedDeformableSampling(_, _, _, _, let inputs), 2): return inputs.contains(.locationOffsets) ? .offsets : .samplingWeights
        case (.quantizedDeformableSampling(_, _, _, _, let inputs), 3) where inputs.contains(.locationOffsets): return .samplingWeights
        case (.deformableSampling, 1): return .locations
        case (.deformableSampling, 2): return .samplingWeights
        case (.deformableLocations, 1): return .offsets
        case (.topRows, 1): return .rows
        case (.distanceToBox, 1): return .distances
        case (.groupWeightedSum, 1): return .weight
        case (.concatenateColumns, _), (.concatenateRows, _): return .x
        default: return nil
        }
    }

    /// Whether the op runs on the int8 kernels (its main input or output is int8 by construction).
    /// Max-pool and reshape of an int8 input also touch int8 data but are layout ops, not counted.
    public var isQuantized: Bool {
        switch self {
        case .quantize, .dequantize, .quantizedLinear, .quantizedConv2d, .quantizedDeformableSampling, .quantizedUnary,
             .quantizedDepthwiseConv2d, .dynamicQuantizedLinear, .dynamicQuantizedAttention: true
        default: false
        }
    }

    /// Whether the op computes on an int8 kernel (GEMM, convolution, deformable sampling, table), as
    /// opposed to converting at a float/int8 boundary (`quantize`, `dequantize`) or running in float:
    /// `edgedetr bench` counts the time outside these (and `Graph.runsInt8Kernel`'s int8 max-pools) as the
    /// overhead of a quantized graph.
    public var runsInt8Kernel: Bool {
        switch self {
        case .quantizedLinear, .quantizedConv2d, .quantizedDeformableSampling, .quantizedUnary, .quantizedDepthwiseConv2d,
             .dynamicQuantizedLinear, .dynamicQuantizedAttention: true
        default: false
        }
    }
}

extension Node {
    /// The input playing `operand` in this node's op, nil when the op has no such operand or this
    /// node leaves an optional one out (a residual).
    public subscript(_ operand: Operand) -> ValueID? {
        for position in inputs.indices where self.operation.operand(at: position) == operand {
            return inputs[position]
        }
        return nil
    }

    /// The first input (every op has one: `Graph.add` checks arity).
    public var x: ValueID { inputs[0] }
}

extension Graph {
    /// Multiply-accumulates of a GEMM-like node (conv2d, linear, attention, float or int8); 0 for the
    /// others. `edgedetr bench` reports GMAC/s from it.
    public func multiplyAccumulates(of node: Node) -> Int {
        let output = shape(of: node.output).reduce(1, *)
        switch node.operation {
        case .conv2d, .quantizedConv2d:
            guard let weight = node[.weight].map(shape(of:)), weight.count == 4 else { return 0 }
            return output * weight[1] * weight[2] * weight[3]
        case .depthwiseConv2d, .quantizedDepthwiseConv2d:
            guard let weight = node[.weight].map(shape(of:)), weight.count == 3 else { return 0 }
            return output * weight[0] * weight[1]
        case .linear, .quantizedLinear, .dynamicQuantizedLinear:
            guard let weight = node[.weight].map(shape(of:)), weight.count == 2 else { return 0 }
            return output * weight[1]
        case .attention, .dynamicQuantizedAttention:
            guard let keys = node[.keys], let values = node[.values] else { return 0 }
            let (q, k, v) = (shape(of: node.x), shape(of: keys), shape(of: values))
            return q[0] * k[0] * (q[1] + v[1])
        default:
            return 0
        }
    }

    /// Whether `node` computes on an int8 kernel: an op that always does (`GraphOperation.runsInt8Kernel`), or
    /// a max-pool of an int8 map (the stem's, after an int8 convolution), which compares int8 codes. What
    /// `edgedetr bench` counts as inside the int8 kernels.
    public func runsInt8Kernel(_ node: Node) -> Bool {
        if node.operation.runsInt8Kernel { return true }
        if case .maxPool2d = node.operation { return values[node.x.index].elementType == .int8 }
        return false
    }

    /// The part of `multiplyAccumulates(of:)` that runs on int8 kernels: all of an int8 GEMM-like node's
    /// (`dynamicQuantizedAttention`'s Q K^T and P V both), none of a float node's.
    public func int8MultiplyAccumulates(of node: Node) -> Int {
        node.operation.runsInt8Kernel ? multiplyAccumulates(of: node) : 0
    }
}
