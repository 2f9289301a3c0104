import EdgeRuntime
import Foundation

/// Lowers Deformable DETR (transformers' `DeformableDetrForObjectDetection`) to the graph IR for one
/// input size: 1 to 4 feature levels, any encoder/decoder point count, iterative box refinement and
/// two-stage. The image is assumed unpadded (batch of one), so every valid ratio is exactly 1.
struct DeformableDETRBuilder {
    let builder: GraphBuilder
    let config: DetectorConfig
    let inputHeight: Int
    let inputWidth: Int

    var d: Int { config.dModel }

    func build() throws(BuildError) -> Graph {
        let image = builder.graph.input("pixel_values", shape: [inputHeight, inputWidth, 3])
        let (memory, levels) = try encoderInput(image)
        let encoded = try encoder(memory, levels: levels)
        builder.graph.markOutput("encoder_last_hidden_state", encoded.memory)
        let queries = try decoderQueries(memory: encoded.memory, levels: levels)
        try decoder(queries, memory: encoded.memory, levels: levels)
        return builder.graph
    }

    // MARK: - Backbone, projections, embeddings

    /// Backbone, input projections and the flattened multi-level source with its level shapes.
    private func encoderInput(_ image: ValueID) throws(BuildError) -> (source: ValueID, levels: [LevelShape]) {
        let levelCount = config.numFeatureLevels
        let backbone = ResNetBackbone(builder: builder, config: config.backbone)
        let features = try backbone.build(image, stages: config.backbone.outIndices)
        var sources: [ValueID] = []
        for (level, feature) in features.enumerated() {
            sources.append(try projection(feature, level: level, kernel: 1, stride: 1, padding: 0))
        }
        var previous = features.last!
        for level in features.count..<levelCount {
            let projected = try projection(previous, level: level, kernel: 3, stride: 2, padding: 1)
            sources.append(projected)
            previous = projected
        }
        var flattened: [ValueID] = []
        var levels: [LevelShape] = []
        for (level, source) in sources.enumerated() {
            let shape = builder.graph.shape(of: source)
            let levelShape = LevelShape(height: shape[0], width: shape[1])
            levels.append(levelShape)
            flattened.append(try builder.add(.reshape([levelShape.pixels, d]), [source], name: "model.source.\(level)"))
        }
        let source = flattened.count == 1 ? flattened[0]
            : try builder.add(.concatenateRows, flattened, name: "model.source_flatten")
        return (source, levels)
    }

    /// `model.input_proj.{level}`: convolution + GroupNorm(32).
    private func projection(_ x: ValueID, level: Int, kernel: Int, stride: Int, padding: Int) throws(BuildError) -> ValueID {
        let prefix = "model.input_proj.\(level)"
        let inChannels = builder.graph.shape(of: x)[2]
        let weight = try builder.weight("\(prefix).0.weight", shape: [d, inChannels, kernel, kernel])
        let bias = try builder.weight("\(prefix).0.bias", shape: [d])
        let conv = try builder.add(.conv2d(stride: stride, padding: padding, activation: .none), [x, weight, bias], name: "\(prefix).0")
        let gamma = try builder.weight("\(prefix).1.weight", shape: [d])
        let beta = try builder.weight("\(prefix).1.bias", shape: [d])
        guard d % 32 == 0 else { throw .unsupported("config.json: d_model = \(d) is not a multiple of 32 (GroupNorm(32) in input_proj)") }
        return try builder.add(.groupNorm(groups: 32, epsilon: 1e-5), [conv, gamma, beta], name: "\(prefix).1")
    }

    // MARK: - Encoder

    /// The encoder; its position embedding is each level's sine embedding (-0.5 offset, T 10000) plus
    /// that level's `level_embed` row, flattened like the tokens: a generated constant.
    private func encoder(_ source: ValueID, levels shapes: [LevelShape]) throws(BuildError) -> (memory: ValueID, Void) {
        let tokens = builder.rows(source)
        var reference: [Float] = []
        for level in shapes {
            reference += Embeddings.encoderReferencePoints(height: level.height, width: level.width)
        }
        let levelEmbed = try builder.values("model.level_embed", shape: [shapes.count, d])
        let positionID = try builder.sinePosition(
            "model.encoder.position_embeddings", levels: shapes, features: d / 2, temperatureY: 10000, temperatureX: 10000,
            centreOffset: 0.5, scale: 2 * Float.pi, levelEmbedding: levelEmbed)
        let referenceID = try builder.constant("model.encoder.reference_points", shape: [tokens, 2], values: reference)
        var x = source
        for layer in 0..<config.encoderLayers {
            let prefix = "model.encoder.layers.\(layer)"
            let query = try builder.binary(.add, x, positionID, name: "\(prefix).query")
            let attended = try deformableAttention(
                query: query, value: x, reference: referenceID, prefix: "\(prefix).self_attn", levels: shapes,
                heads: config.encoderHeads, points: config.encoderPoints, residual: x)
            x = try builder.layerNorm(attended, "\(prefix).self_attn_layer_norm")
            x = try feedForward(x, prefix: prefix, hidden: config.encoderFFNDim)
        }
        return (x, ())
    }

    private func deformableAttention(query: ValueID, value: ValueID, reference: ValueID, prefix: String,
                                     levels: [LevelShape], heads: Int, points: Int, residual: ValueID) throws(BuildError) -> ValueID {
        try builder.deformableAttention(query: query, value: value, reference: reference, prefix: prefix, levels: levels,
                                        heads: heads, points: Array(repeating: points, count: levels.count), width: d, residual: residual)
    }

    /// fc1 + activation, fc2 + residual, final LayerNorm.
    private func feedForward(_ x: ValueID, prefix: String, hidden: Int) throws(BuildError) -> ValueID {
        let h = try builder.linearWithActivation(x, "\(prefix).fc1", outputs: hidden, activation: config.activation)
        let y = try builder.linear(h, "\(prefix).fc2", outputs: d, residual: x)
        return try builder.layerNorm(y, "\(prefix).final_layer_norm")
    }

    // MARK: - Queries

    private struct Queries {
        var target: ValueID
        var position: ValueID
        var reference: ValueID  // [Q, 2] or [Q, 4], normalized
    }

    private func decoderQueries(memory: ValueID, levels: [LevelShape]) throws(BuildError) -> Queries {
        if !config.twoStage {
            let embeddings = try builder.weight("model.query_position_embeddings.weight",
                                            shape: [config.numQueries, try builder.product(2, d, of: "query_position_embeddings")])
            let position = try builder.slice(embeddings, start: 0, count: d, name: "model.query_pos")
            let target = try builder.slice(embeddings, start: d, count: d, name: "model.target")
            let logits = try builder.linear(position, "model.reference_points", outputs: 2)
            let reference = try builder.sigmoid(logits, name: "model.reference_points.sigmoid")
            return Queries(target: target, position: position, reference: reference)
        }
        // Two-stage: every encoder token proposes a box; the top ones by class-0 logit become queries.
        let tokens = builder.rows(memory)
        let (proposals, valid) = Self.encoderProposals(levels: levels)
        let proposalID = try builder.constant("model.output_proposals", shape: [tokens, 4], values: proposals)
        let validID = try builder.constant("model.output_proposals_valid", shape: [tokens, 1], values: valid)
        let masked = try builder.binary(.multiply, memory, validID, name: "model.object_query")
        let projected = try builder.linear(masked, "model.enc_output", outputs: d)
        let objectQuery = try builder.layerNorm(projected, "model.enc_output_norm")
        let last = config.decoderLayers
        let classLogits = try builder.linear(objectQuery, "model.decoder.class_embed.\(last)", outputs: config.numLabels)
        let delta = try builder.mlp(objectQuery, "model.decoder.bbox_embed.\(last)", hidden: d, outputs: 4, layers: 3)
        let coordinateLogits = try builder.binary(.add, delta, proposalID, name: "model.enc_outputs_coord_logits")
        builder.graph.markOutput("enc_outputs_class", classLogits)
        builder.graph.markOutput("enc_outputs_coord_logits", coordinateLogits)
        guard config.twoStageNumProposals <= tokens else {
            throw .inputTooSmall(height: inputHeight, width: inputWidth, detail: "two_stage_num_proposals \(config.twoStageNumProposals) exceeds the \(tokens) encoder tokens")
        }
        let top = try builder.add(.topRows(count: config.twoStageNumProposals, score: .column(0)), [classLogits, coordinateLogits],
                                  name: "model.topk_coords_logits")
        let reference = try builder.sigmoid(top, name: "model.reference_points")
        let sine = try builder.add(.sineEmbedding(features: d / 2, temperature: 10000, scale: 2 * Float.pi, order: [0, 1, 2, 3]),
                                   [reference], name: "model.proposal_pos_embed")
        let transformed = try builder.linear(sine, "model.pos_trans", outputs: 2 * d)
        let normalized = try builder.layerNorm(transformed, "model.pos_trans_norm")
        let position = try builder.slice(normalized, start: 0, count: d, name: "model.query_pos")
        let target = try builder.slice(normalized, start: d, count: d, name: "model.target")
        return Queries(target: target, position: position, reference: reference)
    }

    /// `gen_encoder_output_proposals` for an unpadded input: per token, inverse-sigmoid of
    /// (centre, 0.05 * 2^level), +inf where any coordinate is outside (0.01, 0.99), and the validity mask.
    static func encoderProposals(levels: [LevelShape]) -> (proposals: [Float], valid: [Float]) {
        var proposals: [Float] = []
        var valid: [Float] = []
        for (level, shape) in levels.enumerated() {
            let ys = Embeddings.linspace(0, Float(shape.height - 1), shape.height)
            let xs = Embeddings.linspace(0, Float(shape.width - 1), shape.width)
            let size: Float = 0.05 * Float(1 << level)
            for y in 0..<shape.height {
                for x in 0..<shape.width {
                    let box = [(xs[x] + 0.5) / Float(shape.width), (ys[y] + 0.5) / Float(shape.height), size, size]
                    let isValid = box.allSatisfy { $0 > 0.01 && $0 < 0.99 }
                    for coordinate in box {
                        proposals.append(isValid ? logf(coordinate / (1 - coordinate)) : Float.infinity)
                    }
                    valid.append(isValid ? 1 : 0)
                }
            }
        }
        return (proposals, valid)
    }

    // MARK: - Decoder and heads

    private func decoder(_ queries: Queries, memory: ValueID, levels shapes: [LevelShape]) throws(BuildError) {
        let heads = config.decoderHeads
        var target = queries.target
        var reference = queries.reference
        var lastReference = reference
        for layer in 0..<config.decoderLayers {
            let prefix = "model.decoder.layers.\(layer)"
            // Self-attention: q = k = target + query_pos, v = target.
            let qk = try builder.binary(.add, target, queries.position, name: "\(prefix).self_attn.query")
            let q = try builder.linear(qk, "\(prefix).self_attn.q_proj", outputs: d)
            let k = try builder.linear(qk, "\(prefix).self_attn.k_proj", outputs: d)
            let v = try builder.linear(target, "\(prefix).self_attn.v_proj", outputs: d)
            let scale = 1 / Float(d / heads).squareRoot()
            let attended = try builder.add(.attention(heads: heads, scale: scale), [q, k, v], name: "\(prefix).self_attn")
            let projected = try builder.linear(attended, "\(prefix).self_attn.out_proj", outputs: d, residual: target)
            target = try builder.layerNorm(projected, "\(prefix).self_attn_layer_norm")
            // Cross-attention: deformable sampling of the encoder memory around the reference.
            let query = try builder.binary(.add, target, queries.position, name: "\(prefix).encoder_attn.query")
            let crossed = try deformableAttention(
                query: query, value: memory, reference: reference, prefix: "\(prefix).encoder_attn", levels: shapes,
                heads: heads, points: config.decoderPoints, residual: target)
            target = try builder.layerNorm(crossed, "\(prefix).encoder_attn_layer_norm")
            target = try feedForward(target, prefix: prefix, hidden: config.decoderFFNDim)
            if layer == 0 { builder.graph.markOutput("decoder_layer0", target) }
            lastReference = reference
            if config.withBoxRefine && layer < config.decoderLayers - 1 {
                let delta = try builder.mlp(target, "model.decoder.bbox_embed.\(layer)", hidden: d, outputs: 4, layers: 3)
                reference = try refine(reference, delta: delta, name: "\(prefix).reference_points")
            }
        }
        let last = config.decoderLayers - 1
        let logits = try builder.linear(target, headName("class_embed", layer: last), outputs: config.numLabels)
        let delta = try builder.mlp(target, headName("bbox_embed", layer: last), hidden: d, outputs: 4, layers: 3)
        let boxes = try refine(lastReference, delta: delta, name: DetectorOutput.boxes)
        builder.graph.markOutput(DetectorOutput.logits, logits)
        builder.graph.markOutput(DetectorOutput.boxes, boxes)
    }

    /// sigmoid(delta + inverse_sigmoid(reference)); a 2-d reference only offsets the centre.
    private func refine(_ reference: ValueID, delta: ValueID, name: String) throws(BuildError) -> ValueID {
        let inverse = try builder.add(.inverseSigmoid(epsilon: 1e-5), [reference], name: "\(name).inverse_sigmoid")
        let logits: ValueID
        if builder.columns(reference) == 4 {
            logits = try builder.binary(.add, delta, inverse, name: "\(name).logits")
        } else {
            let centre = try builder.slice(delta, start: 0, count: 2, name: "\(name).delta_centre")
            let size = try builder.slice(delta, start: 2, count: 2, name: "\(name).delta_size")
            let shifted = try builder.binary(.add, centre, inverse, name: "\(name).centre_logits")
            logits = try builder.add(.concatenateColumns, [shifted, size], name: "\(name).logits")
        }
        return try builder.sigmoid(logits, name: name)
    }

    /// The head of decoder layer `layer`: its own (`class_embed.{layer}`), else the decoder's copy that
    /// refinement and two-stage tie it to (`model.decoder.bbox_embed.{layer}`: transformers 5 saves only
    /// one of tied tensors), else the first head, shared by all layers without refinement.
    private func headName(_ head: String, layer: Int) -> String {
        for candidate in ["\(head).\(layer)", "model.decoder.\(head).\(layer)"]
        where builder.has("\(candidate).weight") || builder.has("\(candidate).layers.0.weight") {
            return candidate
        }
        return "\(head).0"
    }
}
