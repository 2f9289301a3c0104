import EdgeRuntime

/// Lowers DAB-DETR (transformers 5.23's `DabDetrForObjectDetection`) to the graph IR for one input size.
///
/// Queries are 4-d anchors (x, y, w, h) refined layer by layer. Per decoder layer, given anchors `a`:
/// the anchor sine embedding (T 10000, order [y, x, w, h]) gives the positional query through
/// `ref_point_head`; its [y | x] half, scaled by `query_scale(out)` after layer 0, is modulated by
/// `sigmoid(ref_anchor_head(out)) / (w, h)` to become the spatial query of the conditional
/// cross-attention; the un-normed layer output updates the anchors through the decoder's box head.
/// The image position embedding uses `temperature_height` / `temperature_width` and no -0.5 offset.
/// The input is assumed unpadded (batch of one), so no attention mask is needed.
struct DABDETRBuilder {
    let builder: GraphBuilder
    let config: DetectorConfig
    let inputHeight: Int
    let inputWidth: Int

    var d: Int { config.dModel }
    private var parts: ConditionalDecoderParts { ConditionalDecoderParts(builder: builder, config: config) }

    func build() throws(BuildError) -> Graph {
        let image = builder.graph.input("pixel_values", shape: [inputHeight, inputWidth, 3])
        let (source, level) = try parts.imageTokens(image)
        let position = try parts.imagePosition(
            level, temperatureY: Float(config.temperatureHeight), temperatureX: Float(config.temperatureWidth),
            scale: Float(config.sinePositionEmbeddingScale))
        let memory = try encoder(source, position: position)
        builder.graph.markOutput("encoder_last_hidden_state", memory)
        try decoder(memory: memory, imagePosition: position)
        return builder.graph
    }

    // MARK: - Encoder

    /// Each layer adds `position * query_scale(x)` (an MLP of the layer's input) to its queries and keys.
    private func encoder(_ source: ValueID, position: ValueID) throws(BuildError) -> ValueID {
        var x = source
        for layer in 0..<config.encoderLayers {
            let prefix = "model.encoder.layers.\(layer)"
            let scales = try parts.mlp(x, "model.encoder.query_scale", hidden: d, outputs: d, layers: 2, name: "\(prefix).query_scale")
            let scaled = try builder.binary(.multiply, position, scales, name: "\(prefix).position_embeddings")
            x = try parts.encoderLayer(x, position: scaled, prefix: prefix)
        }
        return x
    }

    // MARK: - Decoder and heads

    /// Anchors `[N, 4]` (sigmoid of `query_refpoint_embeddings`) and the initial targets `[N, d]`:
    /// zeros, or with `num_patterns` P > 0, N = P * Q rows where row p * Q + q holds pattern p and
    /// anchor q (HF repeats the patterns over queries and the anchors over patterns).
    private func queries() throws(BuildError) -> (target: ValueID, anchors: ValueID) {
        let count = config.numQueries
        let embeddings = try builder.weight("model.query_refpoint_embeddings.weight", shape: [count, config.queryDim])
        let patternCount = config.numPatterns
        guard patternCount > 0 else {
            let zeros = try builder.constant("model.decoder.inputs_embeds", shape: [count, d],
                                             values: [Float](repeating: 0, count: try builder.product(count, d, of: "num_queries x hidden_size")))
            return (zeros, try builder.sigmoid(embeddings, name: "model.decoder.reference_points"))
        }
        let patterns = try builder.values("model.patterns.weight", shape: [patternCount, d])
        let rows = try builder.product(patternCount, count, of: "num_patterns x num_queries")
        var target: [Float] = []
        target.reserveCapacity(try builder.product(rows, d, of: "num_patterns x num_queries x hidden_size"))
        for pattern in 0..<patternCount {
            let row = patterns[(pattern * d)..<((pattern + 1) * d)]
            for _ in 0..<count { target += row }
        }
        let targetID = try builder.constant("model.decoder.inputs_embeds", shape: [rows, d], values: target)
        let repeated = try builder.add(.concatenateRows, Array(repeating: embeddings, count: patternCount),
                                       name: "model.query_refpoint_embeddings.repeated")
        return (targetID, try builder.sigmoid(repeated, name: "model.decoder.reference_points"))
    }

    private func decoder(memory: ValueID, imagePosition: ValueID) throws(BuildError) {
        let (initialTarget, initialAnchors) = try queries()
        // transformers ties `model.decoder.bbox_embed` to `bbox_predictor`: when the file has only one,
        // both use it; when it has both with different values, each keeps its own.
        let decoderBoxHead = builder.has("model.decoder.bbox_embed.layers.0.weight") ? "model.decoder.bbox_embed" : "bbox_predictor"
        let outputBoxHead = builder.has("bbox_predictor.layers.0.weight") ? "bbox_predictor" : "model.decoder.bbox_embed"
        let half = d / 2
        var target = initialTarget
        var anchors = initialAnchors
        for layer in 0..<config.decoderLayers {
            let prefix = "model.decoder.layers.\(layer)"
            // Anchor sine embedding: [y | x | w | h], 128 features each for d = 256, T = 10000.
            let sine = try builder.add(.sineEmbedding(features: half, temperature: 10000, scale: 2 * Float.pi, order: [1, 0, 2, 3]),
                                       [anchors], name: "\(prefix).query_sine_embed")
            let queryPosition = try parts.mlp(sine, "model.decoder.ref_point_head", hidden: d, outputs: d, layers: 2, name: "\(prefix).ref_point_head")
            var spatial = try builder.slice(sine, start: 0, count: d, name: "\(prefix).query_sine_embed.center")
            if layer > 0 {
                let transformation = try parts.mlp(target, "model.decoder.query_scale", hidden: d, outputs: d, layers: 2, name: "\(prefix).query_scale")
                spatial = try builder.binary(.multiply, spatial, transformation, name: "\(prefix).query_sine_embed.scaled")
            }
            // Width/height modulation: x half * w_ref / w, y half * h_ref / h.
            let anchorSizeLogits = try parts.mlp(target, "model.decoder.ref_anchor_head", hidden: d, outputs: 2, layers: 2, name: "\(prefix).ref_anchor_head")
            let anchorSize = try builder.sigmoid(anchorSizeLogits, name: "\(prefix).reference_anchor_size")
            let widthRatio = try builder.binary(
                .divide, try builder.slice(anchorSize, start: 0, count: 1, name: "\(prefix).reference_anchor_width"),
                try builder.slice(anchors, start: 2, count: 1, name: "\(prefix).anchor_width"), name: "\(prefix).width_modulation")
            let heightRatio = try builder.binary(
                .divide, try builder.slice(anchorSize, start: 1, count: 1, name: "\(prefix).reference_anchor_height"),
                try builder.slice(anchors, start: 3, count: 1, name: "\(prefix).anchor_height"), name: "\(prefix).height_modulation")
            let yHalf = try builder.binary(.multiply, try builder.slice(spatial, start: 0, count: half, name: "\(prefix).query_sine_embed.y"),
                                           heightRatio, name: "\(prefix).query_sine_embed.y_modulated")
            let xHalf = try builder.binary(.multiply, try builder.slice(spatial, start: half, count: half, name: "\(prefix).query_sine_embed.x"),
                                           widthRatio, name: "\(prefix).query_sine_embed.x_modulated")
            let querySine = try builder.add(.concatenateColumns, [yHalf, xHalf], name: "\(prefix).query_sine_embed.modulated")

            let inputs = ConditionalDecoderParts.LayerInputs(
                memory: memory, imagePosition: imagePosition, queryPosition: queryPosition, querySine: querySine,
                addPositionInCrossAttention: layer == 0 || config.keepQueryPos)
            target = try parts.decoderLayer(target, inputs, names: Self.layerNames(prefix), prefix: prefix)
            if layer == 0 { builder.graph.markOutput("decoder_layer0", target) }

            // Anchor update from the un-normed output; the last layer's update is never read.
            if layer < config.decoderLayers - 1 {
                let delta = try parts.mlp(target, decoderBoxHead, hidden: d, outputs: 4, layers: 3, name: "\(prefix).bbox_embed")
                anchors = try parts.boxes(delta: delta, reference: anchors, name: "\(prefix).reference_points")
            }
        }
        let hidden = try builder.layerNorm(target, "model.decoder.layernorm")
        let logits = try builder.linear(hidden, "class_embed", outputs: config.numLabels)
        let delta = try builder.mlp(hidden, outputBoxHead, hidden: d, outputs: 4, layers: 3)
        let boxes = try parts.boxes(delta: delta, reference: anchors, name: DetectorOutput.boxes)
        builder.graph.markOutput(DetectorOutput.logits, logits)
        builder.graph.markOutput(DetectorOutput.boxes, boxes)
    }

    private static func layerNames(_ prefix: String) -> ConditionalDecoderParts.LayerNames {
        let selfAttention = "\(prefix).self_attn"
        let cross = "\(prefix).cross_attn"
        return ConditionalDecoderParts.LayerNames(
            selfQueryContent: ["\(selfAttention).self_attn_query_content_proj"],
            selfQueryPosition: ["\(selfAttention).self_attn_query_pos_proj"],
            selfKeyContent: ["\(selfAttention).self_attn_key_content_proj"],
            selfKeyPosition: ["\(selfAttention).self_attn_key_pos_proj"],
            selfValue: ["\(selfAttention).self_attn_value_proj"],
            selfOutput: "\(selfAttention).self_attn.output_proj",
            selfNorm: "\(selfAttention).self_attn_layer_norm",
            crossQueryContent: ["\(cross).cross_attn_query_content_proj"],
            crossQueryPosition: ["\(cross).cross_attn_query_pos_proj"],
            crossKeyContent: ["\(cross).cross_attn_key_content_proj"],
            crossKeyPosition: ["\(cross).cross_attn_key_pos_proj"],
            crossValue: ["\(cross).cross_attn_value_proj"],
            crossQuerySine: ["\(cross).cross_attn_query_pos_sine_proj"],
            crossOutput: "\(cross).cross_attn.output_proj",
            crossNorm: "\(cross).cross_attn_layer_norm",
            fc1: "\(prefix).mlp.fc1",
            activation: "\(prefix).mlp.activation_fn",
            fc2: "\(prefix).mlp.fc2",
            finalNorm: "\(prefix).mlp.final_layer_norm")
    }
}
