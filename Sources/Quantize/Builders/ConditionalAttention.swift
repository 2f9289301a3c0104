import EdgeRuntime

/// The pieces DAB-DETR and Conditional DETR share, lowered in transformers 5.23's order of operations:
/// the single-level image source (last backbone stage, 1x1 `input_projection`, sine position
/// embedding), the DETR-style post-norm encoder layer, and the decoder layer whose self- and
/// cross-attention have separate content and positional projections.
///
/// The cross-attention is what makes these families "conditional": per head, the query is
/// [content (32) | spatial (32)] and the key is [content | image position], so a head's dot product is
/// the content match plus the spatial match; the scale is that of the doubled head, 1/sqrt(2d/heads).
/// The value keeps d/heads per head. The IR's `interleaveHeads` builds those per-head concatenations.
struct ConditionalDecoderParts {
    let builder: GraphBuilder
    let config: DetectorConfig

    var d: Int { config.dModel }

    // MARK: - Image source

    /// Backbone up to the last stage HF returns (`out_indices` lists stages 1...4 but these families
    /// use only the last), `model.input_projection` (1x1 convolution, no GroupNorm), flattened to
    /// tokens `[H * W, d]` in row-major pixel order (HF's `flatten(2).transpose(1, 2)`).
    func imageTokens(_ image: ValueID) throws(BuildError) -> (tokens: ValueID, level: LevelShape) {
        guard let lastStage = config.backbone.outIndices.last else {
            throw .unsupported("config.json: the backbone lists no output stage")
        }
        let backbone = ResNetBackbone(builder: builder, config: config.backbone)
        let feature = try backbone.build(image, stages: [lastStage])[0]
        let channels = builder.graph.shape(of: feature)[2]
        let weight = try builder.weight("model.input_projection.weight", shape: [d, channels, 1, 1])
        let bias = try builder.weight("model.input_projection.bias", shape: [d])
        let projected = try builder.add(.conv2d(stride: 1, padding: 0, activation: .none), [feature, weight, bias],
                                        name: "model.input_projection")
        let shape = builder.graph.shape(of: projected)
        let level = LevelShape(height: shape[0], width: shape[1])
        let tokens = try builder.add(.reshape([level.pixels, d]), [projected], name: "model.source")
        return (tokens, level)
    }

    /// The image sine position embedding `[H * W, d]` as a generated constant: `cumsum / (last + 1e-6) *
    /// scale` with no -0.5 offset, y block (temperature `temperatureY`) then x block.
    func imagePosition(_ level: LevelShape, temperatureY: Float, temperatureX: Float, scale: Float) throws(BuildError) -> ValueID {
        try builder.sinePosition("model.position_embeddings", levels: [level], features: d / 2, temperatureY: temperatureY,
                                 temperatureX: temperatureX, centreOffset: 0, scale: scale)
    }

    // MARK: - Encoder

    /// A DETR encoder layer (post-norm): self-attention with `position` added to the queries and keys
    /// (not the values), residual, LayerNorm, feed-forward, residual, LayerNorm.
    func encoderLayer(_ x: ValueID, position: ValueID, prefix: String) throws(BuildError) -> ValueID {
        let heads = config.encoderHeads
        let queryKey = try builder.binary(.add, x, position, name: "\(prefix).self_attn.query_key")
        let q = try builder.linear(queryKey, "\(prefix).self_attn.q_proj", outputs: d)
        let k = try builder.linear(queryKey, "\(prefix).self_attn.k_proj", outputs: d)
        let v = try builder.linear(x, "\(prefix).self_attn.v_proj", outputs: d)
        let attended = try builder.add(.attention(heads: heads, scale: Self.scale(headDim: d / heads)), [q, k, v],
                                       name: "\(prefix).self_attn")
        let projected = try builder.linear(attended, "\(prefix).self_attn.out_proj", outputs: d, residual: x)
        let normed = try builder.layerNorm(projected, "\(prefix).self_attn_layer_norm")
        return try feedForward(normed, fc1: "\(prefix).fc1", activation: "\(prefix).activation_fn",
                               fc2: "\(prefix).fc2", norm: "\(prefix).final_layer_norm", hidden: config.encoderFFNDim)
    }

    /// fc1, the configured activation, fc2 + residual, LayerNorm. "prelu" is `nn.PReLU()` with one
    /// learned slope stored at `activation.weight`.
    func feedForward(_ x: ValueID, fc1: String, activation: String, fc2: String, norm: String,
                     hidden: Int) throws(BuildError) -> ValueID {
        let h = try builder.linearWithActivation(x, fc1, outputs: hidden, activation: config.activation, slope: activation)
        let y = try builder.linear(h, fc2, outputs: d, residual: x)
        return try builder.layerNorm(y, norm)
    }

    // MARK: - Decoder attention

    /// Checkpoint names of one decoder layer's projections. Each is a module prefix (`.weight`/`.bias`
    /// follow); Conditional DETR lists transformers 5's in-memory name as a second choice.
    struct LayerNames {
        var selfQueryContent: [String]
        var selfQueryPosition: [String]
        var selfKeyContent: [String]
        var selfKeyPosition: [String]
        var selfValue: [String]
        var selfOutput: String
        var selfNorm: String
        var crossQueryContent: [String]
        var crossQueryPosition: [String]
        var crossKeyContent: [String]
        var crossKeyPosition: [String]
        var crossValue: [String]
        var crossQuerySine: [String]
        var crossOutput: String
        var crossNorm: String
        var fc1: String
        var activation: String
        var fc2: String
        var finalNorm: String
    }

    /// The first candidate the checkpoint has, else the first (so a missing tensor is reported by its
    /// canonical name).
    func resolve(_ candidates: [String]) -> String {
        for name in candidates where builder.has("\(name).weight") { return name }
        return candidates[0]
    }

    /// The inputs of one decoder layer besides the target.
    struct LayerInputs {
        /// Encoder output `[T, d]`.
        var memory: ValueID
        /// Image position embedding `[T, d]`.
        var imagePosition: ValueID
        /// Positional query `[Q, d]` (DAB: `ref_point_head` of the anchor sine; Conditional: the learned
        /// `query_position_embeddings`).
        var queryPosition: ValueID
        /// Spatial query `[Q, d]`: the (scaled, modulated) reference sine embedding.
        var querySine: ValueID
        /// Whether the cross-attention adds the positional query to the content query and the image
        /// position to the content key (layer 0, or every layer with DAB's `keep_query_pos`).
        var addPositionInCrossAttention: Bool
    }

    /// Self-attention, cross-attention and feed-forward of one decoder layer; returns its (un-normed)
    /// output `[Q, d]`.
    func decoderLayer(_ target: ValueID, _ inputs: LayerInputs, names: LayerNames, prefix: String) throws(BuildError) -> ValueID {
        let heads = config.decoderHeads
        // Self-attention: q = Wqc t + Wqp pos, k = Wkc t + Wkp pos, v = Wv t.
        let queryContent = try builder.linear(target, resolve(names.selfQueryContent), outputs: d)
        let query = try builder.linear(inputs.queryPosition, resolve(names.selfQueryPosition), outputs: d,
                                       residual: queryContent)
        let keyContent = try builder.linear(target, resolve(names.selfKeyContent), outputs: d)
        let key = try builder.linear(inputs.queryPosition, resolve(names.selfKeyPosition), outputs: d,
                                     residual: keyContent)
        let value = try builder.linear(target, resolve(names.selfValue), outputs: d)
        let attended = try builder.add(.attention(heads: heads, scale: Self.scale(headDim: d / heads)),
                                       [query, key, value], name: "\(prefix).self_attn")
        let projected = try builder.linear(attended, names.selfOutput, outputs: d, residual: target)
        var x = try builder.layerNorm(projected, names.selfNorm)

        // Cross-attention: per head [content | spatial] for queries and keys.
        let add = inputs.addPositionInCrossAttention
        var crossQuery = try builder.linear(x, resolve(names.crossQueryContent), outputs: d)
        if add {
            crossQuery = try builder.linear(inputs.queryPosition, resolve(names.crossQueryPosition), outputs: d,
                                            residual: crossQuery)
        }
        let keyPosition = try builder.linear(inputs.imagePosition, resolve(names.crossKeyPosition), outputs: d)
        let crossKey = try builder.linear(inputs.memory, resolve(names.crossKeyContent), outputs: d,
                                          residual: add ? keyPosition : nil)
        let crossValue = try builder.linear(inputs.memory, resolve(names.crossValue), outputs: d)
        let sine = try builder.linear(inputs.querySine, resolve(names.crossQuerySine), outputs: d)
        let fullQuery = try builder.add(.interleaveHeads(heads: heads), [crossQuery, sine], name: "\(prefix).cross_attn.query")
        let fullKey = try builder.add(.interleaveHeads(heads: heads), [crossKey, keyPosition], name: "\(prefix).cross_attn.key")
        let crossed = try builder.add(.attention(heads: heads, scale: Self.scale(headDim: 2 * d / heads)),
                                      [fullQuery, fullKey, crossValue], name: "\(prefix).cross_attn")
        let crossProjected = try builder.linear(crossed, names.crossOutput, outputs: d, residual: x)
        x = try builder.layerNorm(crossProjected, names.crossNorm)

        return try feedForward(x, fc1: names.fc1, activation: names.activation, fc2: names.fc2, norm: names.finalNorm,
                               hidden: config.decoderFFNDim)
    }

    // MARK: - Shared modules

    /// `nn.Linear` at `prefix` as a node called `name`: for modules applied once per layer (the shared
    /// `query_scale`, `ref_point_head`, box heads), so that every node keeps a unique name.
    func linear(_ x: ValueID, _ prefix: String, outputs: Int, activation: Activation = .none,
                name: String) throws(BuildError) -> ValueID {
        let weight = try builder.weight("\(prefix).weight", shape: [outputs, builder.columns(x)])
        let bias = try builder.weight("\(prefix).bias", shape: [outputs])
        return try builder.add(.linear(activation: activation), [x, weight, bias], name: name)
    }

    /// The DETR MLP at `prefix` (ReLU between layers) as nodes named `name.layers.{i}`.
    func mlp(_ x: ValueID, _ prefix: String, hidden: Int, outputs: Int, layers: Int, name: String) throws(BuildError) -> ValueID {
        var h = x
        for layer in 0..<layers {
            let last = layer == layers - 1
            h = try linear(h, "\(prefix).layers.\(layer)", outputs: last ? outputs : hidden,
                           activation: last ? .none : .relu, name: "\(name).layers.\(layer)")
        }
        return h
    }

    /// transformers' attention scaling `head_dim ** -0.5`, rounded once to float32.
    static func scale(headDim: Int) -> Float {
        Float(1 / Double(headDim).squareRoot())
    }

    // MARK: - Boxes

    /// `sigmoid(delta + [inverse_sigmoid(reference), 0...])`: a 4-d reference offsets every coordinate,
    /// a 2-d one only the centre (transformers' `inverse_sigmoid`, eps 1e-5, in both families).
    func boxes(delta: ValueID, reference: ValueID, name: String) throws(BuildError) -> ValueID {
        let inverse = try builder.add(.inverseSigmoid(epsilon: 1e-5), [reference], name: "\(name).inverse_sigmoid")
        let referenceColumns = builder.columns(reference)
        let logits: ValueID
        if referenceColumns == builder.columns(delta) {
            logits = try builder.binary(.add, delta, inverse, name: "\(name).logits")
        } else {
            let shifted = try builder.slice(delta, start: 0, count: referenceColumns, name: "\(name).delta_shifted")
            let rest = try builder.slice(delta, start: referenceColumns, count: builder.columns(delta) - referenceColumns,
                                         name: "\(name).delta_rest")
            let sum = try builder.binary(.add, shifted, inverse, name: "\(name).shifted_logits")
            logits = try builder.add(.concatenateColumns, [sum, rest], name: "\(name).logits")
        }
        return try builder.sigmoid(logits, name: name)
    }
}
