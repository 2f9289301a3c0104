import EdgeRuntime

/// Lowers Conditional DETR (transformers 5.23's `ConditionalDetrForObjectDetection`) to the graph IR
/// for one input size.
///
/// Reference points `s = sigmoid(ref_point_head(query_pos))` are computed once from the learned
/// positional queries and never refined. Their sine embedding ([y | x], T 10000), scaled by
/// `query_scale(out)` after layer 0, is the spatial query of every cross-attention; only layer 0 adds
/// the positional query (and the image position to the keys) to the content parts. Boxes are
/// `sigmoid(bbox_predictor(hs) + [inverse_sigmoid(s), 0, 0])`.
///
/// transformers quirk kept on purpose (ConditionalDetrDecoder in modeling_conditional_detr.py): with `auxiliary_loss` true the decoder
/// LayerNorm is applied to each layer's output before the next layer reads it, and once more at the
/// end. The input is assumed unpadded (batch of one), so no attention mask is needed.
struct ConditionalDETRBuilder {
    let builder: GraphBuilder
    let config: DetectorConfig
    let inputHeight: Int
    let inputWidth: Int

    var d: Int { config.dModel }
    private var parts: ConditionalDecoderParts { ConditionalDecoderParts(builder: builder, config: config) }

    func build() throws(BuildError) -> Graph {
        let image = builder.graph.input("pixel_values", shape: [inputHeight, inputWidth, 3])
        let (source, level) = try parts.imageTokens(image)
        let position = try parts.imagePosition(level, temperatureY: 10000, temperatureX: 10000, scale: 2 * Float.pi)
        var memory = source
        for layer in 0..<config.encoderLayers {
            memory = try parts.encoderLayer(memory, position: position, prefix: "model.encoder.layers.\(layer)")
        }
        builder.graph.markOutput("encoder_last_hidden_state", memory)
        try decoder(memory: memory, imagePosition: position)
        return builder.graph
    }

    private func decoder(memory: ValueID, imagePosition: ValueID) throws(BuildError) {
        let count = config.numQueries
        let queryPosition = try builder.weight("model.query_position_embeddings.weight", shape: [count, d])
        var target = try builder.constant("model.decoder.inputs_embeds", shape: [count, d],
                                          values: [Float](repeating: 0, count: try builder.product(count, d, of: "num_queries x d_model")))
        let referenceLogits = try parts.mlp(queryPosition, "model.decoder.ref_point_head", hidden: d, outputs: 2, layers: 2,
                                            name: "model.decoder.ref_point_head")
        let reference = try builder.sigmoid(referenceLogits, name: "model.decoder.reference_points")
        let sine = try builder.add(.sineEmbedding(features: d / 2, temperature: 10000, scale: 2 * Float.pi, order: [1, 0]),
                                   [reference], name: "model.decoder.query_sine_embed")
        for layer in 0..<config.decoderLayers {
            let prefix = "model.decoder.layers.\(layer)"
            var querySine = sine
            if layer > 0 {
                let transformation = try parts.mlp(target, "model.decoder.query_scale", hidden: d, outputs: d, layers: 2,
                                                   name: "\(prefix).query_scale")
                querySine = try builder.binary(.multiply, sine, transformation, name: "\(prefix).query_sine_embed")
            }
            let inputs = ConditionalDecoderParts.LayerInputs(
                memory: memory, imagePosition: imagePosition, queryPosition: queryPosition, querySine: querySine,
                addPositionInCrossAttention: layer == 0)
            target = try parts.decoderLayer(target, inputs, names: Self.layerNames(prefix), prefix: prefix)
            // The layer's own output, before any decoder LayerNorm.
            if layer == 0 { builder.graph.markOutput("decoder_layer0", target) }
            if config.auxiliaryLoss {
                target = try layerNorm(target, name: "\(prefix).layernorm")
            }
        }
        let hidden = try layerNorm(target, name: "model.decoder.layernorm")
        let logits = try builder.linear(hidden, "class_labels_classifier", outputs: config.numLabels)
        let delta = try builder.mlp(hidden, "bbox_predictor", hidden: d, outputs: 4, layers: 3)
        let boxes = try parts.boxes(delta: delta, reference: reference, name: DetectorOutput.boxes)
        builder.graph.markOutput(DetectorOutput.logits, logits)
        builder.graph.markOutput(DetectorOutput.boxes, boxes)
    }

    /// The decoder's `layernorm` as a node called `name` (it may run once per layer).
    private func layerNorm(_ x: ValueID, name: String) throws(BuildError) -> ValueID {
        let gamma = try builder.weight("model.decoder.layernorm.weight", shape: [d])
        let beta = try builder.weight("model.decoder.layernorm.bias", shape: [d])
        return try builder.add(.layerNorm(epsilon: 1e-5), [x, gamma, beta], name: name)
    }

    /// Hub names (`sa_qcontent_proj`, ...: what `save_pretrained` writes), then transformers 5's
    /// in-memory names (`self_attn.q_content_proj`, ...). `out_proj`/`fc1` fall back to
    /// `o_proj`/`mlp.fc1` through `GraphBuilder.storedName`.
    private static func layerNames(_ prefix: String) -> ConditionalDecoderParts.LayerNames {
        func names(_ hub: String, _ module: String, _ renamed: String) -> [String] {
            ["\(prefix).\(hub)", "\(prefix).\(module).\(renamed)"]
        }
        return ConditionalDecoderParts.LayerNames(
            selfQueryContent: names("sa_qcontent_proj", "self_attn", "q_content_proj"),
            selfQueryPosition: names("sa_qpos_proj", "self_attn", "q_pos_proj"),
            selfKeyContent: names("sa_kcontent_proj", "self_attn", "k_content_proj"),
            selfKeyPosition: names("sa_kpos_proj", "self_attn", "k_pos_proj"),
            selfValue: names("sa_v_proj", "self_attn", "v_proj"),
            selfOutput: "\(prefix).self_attn.out_proj",
            selfNorm: "\(prefix).self_attn_layer_norm",
            crossQueryContent: names("ca_qcontent_proj", "encoder_attn", "q_content_proj"),
            crossQueryPosition: names("ca_qpos_proj", "encoder_attn", "q_pos_proj"),
            crossKeyContent: names("ca_kcontent_proj", "encoder_attn", "k_content_proj"),
            crossKeyPosition: names("ca_kpos_proj", "encoder_attn", "k_pos_proj"),
            crossValue: names("ca_v_proj", "encoder_attn", "v_proj"),
            crossQuerySine: names("ca_qpos_sine_proj", "encoder_attn", "q_pos_sine_proj"),
            crossOutput: "\(prefix).encoder_attn.out_proj",
            crossNorm: "\(prefix).encoder_attn_layer_norm",
            fc1: "\(prefix).fc1",
            activation: "\(prefix).activation_fn",
            fc2: "\(prefix).fc2",
            finalNorm: "\(prefix).final_layer_norm")
    }
}
