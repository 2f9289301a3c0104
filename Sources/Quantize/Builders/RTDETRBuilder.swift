import EdgeRuntime
import Foundation

/// Lowers RT-DETR (transformers' `RTDetrForObjectDetection`) to the graph IR for one input size.
///
/// Dataflow (modeling_rt_detr.py): ResNet-vd maps at strides 8/16/32 -> `encoder_input_proj` (1x1 conv +
/// BatchNorm) -> hybrid encoder (AIFI transformer layers on the stride-32 map; top-down FPN and bottom-up
/// PAN of CSP-RepVGG layers) -> `decoder_input_proj` -> query selection (every token scored and boxed
/// against a fixed anchor; the `num_queries` best by top class become the decoder's queries) -> decoder
/// (self-attention, deformable cross-attention, FFN, box refinement every layer). BatchNorms fold into
/// their convolutions and each RepVGG block's 3x3 and 1x1 branches into one 3x3 convolution; the AIFI
/// position embedding and the anchors are constants of the input size. The input must be a multiple of
/// 32 so that the FPN's upsampled maps align.
///
/// D-FINE (`config.dFine`) shares the hybrid encoder's AIFI, the query selection and the decoder's
/// attention; its HGNetV2 backbone, ELAN encoder blocks, SCDown downsampling, gated decoder layers and
/// fine-grained distribution refinement are in DFineBuilder.swift.
struct RTDETRBuilder {
    let builder: GraphBuilder
    let config: DetectorConfig
    let rt: RTDETRConfig
    let inputHeight: Int
    let inputWidth: Int

    var d: Int { config.dModel }
    var hidden: Int { rt.encoderHiddenDim }
    var dFine: DFineConfig? { config.dFine }
    var deimv2: DEIMv2Options? { config.dFine?.deimv2 }

    /// RepVGG/CSP blocks per CSP layer (fixed in RTDetrCSPRepLayer).
    static let cspBlocks = 3

    func build() throws(BuildError) -> Graph {
        guard inputHeight % 32 == 0, inputWidth % 32 == 0 else {
            throw .unsupported("input \(inputHeight)x\(inputWidth) px: RT-DETR needs sides that are multiples of 32 "
                               + "(its FPN concatenates upsampled stride-32 maps with stride-16 ones)")
        }
        let image = builder.graph.input("pixel_values", shape: [inputHeight, inputWidth, 3])
        let features: [ValueID]
        if let dFine {
            features = try HGNetV2Backbone(builder: builder, config: dFine.backbone, outIndices: config.backbone.outIndices).build(image)
        } else {
            features = try RTDETRResNet(builder: builder, config: config.backbone, downsampleInFirstStage: rt.downsampleInFirstStage,
                                        downsampleInBottleneck: rt.downsampleInBottleneck).build(image)
        }
        let encoded: [ValueID]
        if deimv2?.liteEncoder == true {
            encoded = try liteEncoder(features[0])
        } else {
            var maps: [ValueID] = []
            for (level, feature) in features.enumerated() {
                if deimv2 != nil {
                    // Deimv2ConvEncoder's projections: ConvNormLayers (`conv`, `norm`, batch_norm_eps), no activation.
                    maps.append(try convolution(feature, "model.conv_encoder.encoder_input_proj.\(level)", kernel: 1, stride: 1,
                                                outputs: hidden, activated: false))
                    continue
                }
                maps.append(try builder.convolutionBatchNorm(
                    feature, weight: "model.encoder_input_proj.\(level).0.weight", batchNorm: "model.encoder_input_proj.\(level).1",
                    name: "model.encoder_input_proj.\(level)", kernel: 1, stride: 1, padding: 0, activation: .none,
                    outputs: hidden, epsilon: RTDETRResNet.batchNormEpsilon))
            }
            encoded = try hybridEncoder(maps)
        }
        let (memory, levels) = try decoderSources(encoded)
        builder.graph.markOutput("encoder_last_hidden_state", memory)
        let queries = try selectQueries(memory, levels: levels)
        if let dFine {
            try refinementDecoder(queries, memory: memory, levels: levels, dFine: dFine)
        } else {
            try decoder(queries, memory: memory, levels: levels)
        }
        return builder.graph
    }

    // MARK: - Hybrid encoder

    /// AIFI on `encode_proj_layers`, then the top-down FPN and bottom-up PAN (RTDetrHybridEncoder).
    private func hybridEncoder(_ input: [ValueID]) throws(BuildError) -> [ValueID] {
        var maps = input
        if config.encoderLayers > 0 {
            for (index, level) in rt.encodeProjLayers.enumerated() {
                maps[level] = try aifi(maps[level], prefix: "model.encoder.encoder.\(index)")
            }
        }
        let stages = maps.count - 1
        var fpn = [maps[stages]]
        for index in 0..<stages {
            // D-FINE's lateral convolutions have no activation.
            let lateral = try convolution(fpn[fpn.count - 1], "model.encoder.lateral_convs.\(index)", kernel: 1, stride: 1,
                                          outputs: hidden, activated: dFine == nil)
            fpn[fpn.count - 1] = lateral
            let upsampled = try builder.add(.upsampleNearest(factor: 2), [lateral], name: "model.encoder.fpn_upsample.\(index)")
            let fused = try fuse(upsampled, maps[stages - index - 1], name: "model.encoder.fpn_concat.\(index)")
            fpn.append(try encoderBlock(fused, prefix: "model.encoder.fpn_blocks.\(index)"))
        }
        fpn.reverse()
        var pan = [fpn[0]]
        for index in 0..<stages {
            let downsamplePrefix = "model.encoder.downsample_convs.\(index)"
            let downsampled = dFine == nil
                ? try convolution(pan[pan.count - 1], downsamplePrefix, kernel: 3, stride: 2, outputs: hidden)
                : try scDown(pan[pan.count - 1], prefix: downsamplePrefix)
            let fused = try fuse(downsampled, fpn[index + 1], name: "model.encoder.pan_concat.\(index)")
            pan.append(try encoderBlock(fused, prefix: "model.encoder.pan_blocks.\(index)"))
        }
        return pan
    }

    /// Two maps joined: side by side (RT-DETR, D-FINE, DEIMv2's `encoder_fuse_op` "cat") or summed (DEIMv2's "sum").
    private func fuse(_ a: ValueID, _ b: ValueID, name: String) throws(BuildError) -> ValueID {
        deimv2?.fuseBySum == true ? try builder.binary(.add, a, b, name: name) : try builder.concatenateChannels([a, b], name: name)
    }

    /// The FPN/PAN block: RT-DETR's CSP layer, D-FINE's ELAN block or DEIMv2's ELAN5 block.
    private func encoderBlock(_ x: ValueID, prefix: String) throws(BuildError) -> ValueID {
        if deimv2 != nil { return try elan5Block(x, prefix: prefix) }
        return dFine == nil ? try cspLayer(x, prefix: prefix) : try elanBlock(x, prefix: prefix)
    }

    /// RTDetrAIFILayer: the map as tokens through `encoder_layers` transformer encoder layers, with the
    /// 2-D sine position embedding added to queries and keys (unless transformers skips it: `eval_size`).
    private func aifi(_ map: ValueID, prefix: String) throws(BuildError) -> ValueID {
        let shape = builder.graph.shape(of: map)
        let (height, width, channels) = (shape[0], shape[1], shape[2])
        var x = try builder.add(.reshape([height * width, channels]), [map], name: "\(prefix).flatten")
        var position: ValueID? = nil
        if rt.aifiPositionEmbedding {
            let values = Self.sinePositionEmbedding(height: height, width: width, channels: channels,
                                                    temperature: Double(rt.positionalEncodingTemperature))
            position = try builder.constant("\(prefix).position_embedding", shape: [height * width, channels], values: values)
        }
        for layer in 0..<config.encoderLayers {
            x = try encoderLayer(x, position: position, prefix: "\(prefix).layers.\(layer)")
        }
        return try builder.add(.reshape([height, width, channels]), [x], name: "\(prefix).unflatten")
    }

    /// RTDetrEncoderLayer, post-norm (default) or pre-norm (`normalize_before`).
    func encoderLayer(_ x: ValueID, position: ValueID?, prefix: String) throws(BuildError) -> ValueID {
        let epsilon = rt.layerNormEpsilon
        let normalizedInput = rt.normalizeBefore ? try builder.layerNorm(x, "\(prefix).self_attn_layer_norm", epsilon: epsilon) : x
        let attended = try selfAttention(normalizedInput, position: position, prefix: "\(prefix).self_attn",
                                         heads: config.encoderHeads, residual: x)
        let y = rt.normalizeBefore ? attended : try builder.layerNorm(attended, "\(prefix).self_attn_layer_norm", epsilon: epsilon)
        // Pre-norm, transformers' FFN residual is the normalized value, not the stream before it.
        let ffnInput = rt.normalizeBefore ? try builder.layerNorm(y, "\(prefix).final_layer_norm", epsilon: epsilon) : y
        let h = try builder.linearWithActivation(ffnInput, "\(prefix).fc1", outputs: config.encoderFFNDim,
                                                 activation: rt.encoderActivation)
        let z = try builder.linear(h, "\(prefix).fc2", outputs: builder.columns(x), residual: ffnInput)
        return rt.normalizeBefore ? z : try builder.layerNorm(z, "\(prefix).final_layer_norm", epsilon: epsilon)
    }

    /// RTDetrSelfAttention: q = k = x + position, v = x; output projection fused with the residual add.
    func selfAttention(_ x: ValueID, position: ValueID?, prefix: String, heads: Int,
                               residual: ValueID) throws(BuildError) -> ValueID {
        let width = builder.columns(x)
        var qk = x
        if let position { qk = try builder.binary(.add, x, position, name: "\(prefix).query") }
        let q = try builder.linear(qk, "\(prefix).q_proj", outputs: width)
        let k = try builder.linear(qk, "\(prefix).k_proj", outputs: width)
        let v = try builder.linear(x, "\(prefix).v_proj", outputs: width)
        let scale = 1 / Float(width / heads).squareRoot()
        let attended = try builder.add(.attention(heads: heads, scale: scale), [q, k, v], name: prefix)
        return try builder.linear(attended, "\(prefix).out_proj", outputs: width, residual: residual)
    }

    /// RTDetrCSPRepLayer: conv1 -> three RepVGG blocks, plus conv2, summed, then conv3 when the hidden
    /// width differs from the output's. D-FINE's (DFineCSPRepLayer) has `blocks` RepVGG blocks and keeps
    /// its input's width (`hiddenChannels` = `outputs`, no conv3).
    func cspLayer(_ x: ValueID, prefix: String, hiddenChannels: Int? = nil, outputs: Int? = nil,
                  blocks: Int = cspBlocks) throws(BuildError) -> ValueID {
        let (width, outputs) = (hiddenChannels ?? rt.cspHiddenChannels, outputs ?? hidden)
        var branch = try convolution(x, "\(prefix).conv1", kernel: 1, stride: 1, outputs: width)
        for block in 0..<blocks {
            branch = try repVGG(branch, prefix: "\(prefix).bottlenecks.\(block)")
        }
        let shortcut = try convolution(x, "\(prefix).conv2", kernel: 1, stride: 1, outputs: width)
        let sum = try builder.binary(.add, branch, shortcut, name: "\(prefix).add")
        guard width != outputs else { return sum }
        return try convolution(sum, "\(prefix).conv3", kernel: 1, stride: 1, outputs: outputs)
    }

    /// RTDetrRepVggBlock: activation(BN(conv3x3(x)) + BN(conv1x1(x))), both branches folded into one
    /// 3x3 convolution (the 1x1 kernel added at the centre tap, the biases summed).
    func repVGG(_ x: ValueID, prefix: String) throws(BuildError) -> ValueID {
        let channels = builder.columns(x)
        let epsilon = rt.batchNormEpsilon
        // RTDetrRepVggBlock keeps the width: both branches have as many outputs as inputs.
        var wide = try builder.foldedConvolution(weight: "\(prefix).conv1.conv.weight", batchNorm: "\(prefix).conv1.norm",
                                                 inputChannels: channels, kernel: 3, outputs: channels, epsilon: epsilon)
        let narrow = try builder.foldedConvolution(weight: "\(prefix).conv2.conv.weight", batchNorm: "\(prefix).conv2.norm",
                                                   inputChannels: channels, kernel: 1, outputs: channels, epsilon: epsilon)
        for output in 0..<wide.outputs {
            wide.bias[output] += narrow.bias[output]
            for input in 0..<channels {
                wide.weight[(output * channels + input) * 9 + 4] += narrow.weight[output * channels + input]
            }
        }
        let weight = try builder.constant("\(prefix).folded.weight", shape: [wide.outputs, channels, 3, 3], values: wide.weight)
        let bias = try builder.constant("\(prefix).folded.bias", shape: [wide.outputs], values: wide.bias)
        return try activate(weight: weight, bias: bias, x, stride: 1, padding: 1, name: prefix)
    }

    /// RTDetrConvNormLayer at `prefix` (`conv`, `norm`) with `activation` (`activation_function` unless
    /// given), or none when not `activated`.
    func convolution(_ x: ValueID, _ prefix: String, kernel: Int, stride: Int, outputs: Int, activated: Bool = true,
                     activation: String? = nil) throws(BuildError) -> ValueID {
        let folded = try builder.foldedConvolution(weight: "\(prefix).conv.weight", batchNorm: "\(prefix).norm",
                                                   inputChannels: builder.columns(x), kernel: kernel, outputs: outputs,
                                                   epsilon: rt.batchNormEpsilon)
        let shape = [folded.outputs, builder.columns(x), kernel, kernel]
        let weight = try builder.constant("\(prefix).conv.weight", shape: shape, values: folded.weight)
        let bias = try builder.constant("\(prefix).norm.folded_bias", shape: [folded.outputs], values: folded.bias)
        guard activated else {
            return try builder.add(.conv2d(stride: stride, padding: (kernel - 1) / 2, activation: .none), [x, weight, bias], name: prefix)
        }
        return try activate(weight: weight, bias: bias, x, stride: stride, padding: (kernel - 1) / 2, name: prefix,
                            activation: activation ?? rt.convolutionActivation)
    }

    /// A convolution followed by `activation` (`activation_function` unless given): ReLU fused, SiLU and
    /// GELU as their own op.
    private func activate(weight: ValueID, bias: ValueID, _ x: ValueID, stride: Int, padding: Int,
                          name: String, activation: String? = nil) throws(BuildError) -> ValueID {
        let activation = activation ?? rt.convolutionActivation
        let fused: Activation = activation == "relu" ? .relu : .none
        let conv = try builder.add(.conv2d(stride: stride, padding: padding, activation: fused), [x, weight, bias], name: name)
        switch activation {
        case "silu": return try builder.add(.unary(.silu), [conv], name: "\(name).silu")
        case "gelu": return try builder.add(.unary(.gelu), [conv], name: "\(name).gelu")
        default: return conv
        }
    }

    // MARK: - Decoder inputs and query selection

    /// `decoder_input_proj` of each PAN map (1x1 conv + BatchNorm), then 3x3 stride-2 ones of the last map
    /// up to `num_feature_levels`, flattened level-major: the decoder's value source. D-FINE has no
    /// projections when d_model equals the last `decoder_in_channels` (nn.Identity: extra levels repeat the
    /// last map).
    private func decoderSources(_ maps: [ValueID]) throws(BuildError) -> (ValueID, [LevelShape]) {
        var flattened: [ValueID] = []
        var levels: [LevelShape] = []
        let identity = dFine != nil && d == rt.decoderInChannelsLast
        if identity && hidden != d {
            throw .unsupported("config.json: d_model \(d) equals decoder_in_channels' last entry but not encoder_hidden_dim "
                               + "\(hidden): D-FINE's decoder would read \(hidden)-wide maps as \(d)-wide")
        }
        for level in 0..<config.numFeatureLevels {
            let extra = level >= maps.count
            let prefix = "model.decoder_input_proj.\(level)"
            let source = identity ? maps[min(level, maps.count - 1)]
                : deimv2 != nil ? try convolution(extra ? maps[maps.count - 1] : maps[level], prefix, kernel: extra ? 3 : 1,
                                                  stride: extra ? 2 : 1, outputs: d, activated: false)
                : try builder.convolutionBatchNorm(
                extra ? maps[maps.count - 1] : maps[level], weight: "\(prefix).0.weight", batchNorm: "\(prefix).1",
                name: prefix, kernel: extra ? 3 : 1, stride: extra ? 2 : 1, padding: extra ? 1 : 0, activation: .none,
                outputs: d, epsilon: rt.batchNormEpsilon)
            let shape = builder.graph.shape(of: source)
            levels.append(LevelShape(height: shape[0], width: shape[1]))
            flattened.append(try builder.add(.reshape([shape[0] * shape[1], d]), [source], name: "\(prefix).flatten"))
        }
        let memory = flattened.count == 1 ? flattened[0]
            : try builder.add(.concatenateRows, flattened, name: "model.source_flatten")
        return (memory, levels)
    }

    struct Queries {
        var target: ValueID
        var reference: ValueID  // [Q, 4] normalized cx, cy, w, h
    }

    /// Every token is scored (`enc_score_head`) and boxed (`enc_bbox_head` + its anchor); the
    /// `num_queries` tokens with the best top-class score become the queries: their `enc_output`
    /// features as targets, their boxes as references.
    private func selectQueries(_ memory: ValueID, levels: [LevelShape]) throws(BuildError) -> Queries {
        if let size = rt.anchorImageSize {
            let anchorLevels = rt.featStrides.map { LevelShape(height: Int(Double(size[0]) / Double($0)), width: Int(Double(size[1]) / Double($0))) }
            guard anchorLevels == levels else {
                func list(_ levels: [LevelShape]) -> String { levels.map { "\($0.height)x\($0.width)" }.joined(separator: ", ") }
                throw .unsupported("config.json: anchor_image_size \(size) gives anchors for levels \(list(anchorLevels)) "
                    + "but input \(inputHeight)x\(inputWidth) has \(list(levels)): build the model at \(size[0])x\(size[1])")
            }
        }
        let tokens = builder.rows(memory)
        guard config.numQueries <= tokens else {
            throw .inputTooSmall(height: inputHeight, width: inputWidth,
                                 detail: "num_queries \(config.numQueries) exceeds the \(tokens) encoder tokens")
        }
        let (anchors, valid) = Self.anchors(levels: levels)
        let anchorID = try builder.constant("model.anchors", shape: [tokens, 4], values: anchors)
        var source = memory
        if valid.contains(0) {
            let validID = try builder.constant("model.valid_mask", shape: [tokens, 1], values: valid)
            source = try builder.binary(.multiply, memory, validID, name: "model.masked_memory")
        }
        let projected = try builder.linear(source, "model.enc_output.0", outputs: d)
        let outputMemory = try builder.layerNorm(projected, "model.enc_output.1", epsilon: rt.layerNormEpsilon)
        let classLogits = try builder.linear(outputMemory, "model.enc_score_head", outputs: config.numLabels)
        let delta = try builder.mlp(outputMemory, "model.enc_bbox_head", hidden: d, outputs: 4, layers: 3)
        let coordinateLogits = try builder.binary(.add, delta, anchorID, name: "model.enc_outputs_coord_logits")
        builder.graph.markOutput("enc_outputs_class", classLogits)
        builder.graph.markOutput("enc_outputs_coord_logits", coordinateLogits)
        let candidates = try builder.add(.concatenateColumns, [outputMemory, coordinateLogits], name: "model.query_candidates")
        let selected = try builder.add(.topRows(count: config.numQueries, score: .maximum), [classLogits, candidates],
                                       name: "model.topk_queries")
        let target = try builder.slice(selected, start: 0, count: d, name: "model.target")
        let referenceLogits = try builder.slice(selected, start: d, count: 4, name: "model.reference_points_unact")
        return Queries(target: target, reference: try builder.sigmoid(referenceLogits, name: "model.reference_points"))
    }

    // MARK: - Decoder

    /// RTDetrDecoder: per layer, query positions from the current boxes (`query_pos_head`), the layer,
    /// then the box refined by `bbox_embed.{layer}`; logits from the last layer's `class_embed`.
    private func decoder(_ queries: Queries, memory: ValueID, levels: [LevelShape]) throws(BuildError) {
        let epsilon = rt.layerNormEpsilon
        var target = queries.target
        var reference = queries.reference
        for layer in 0..<config.decoderLayers {
            let prefix = "model.decoder.layers.\(layer)"
            let position = try builder.mlp(reference, "model.decoder.query_pos_head", hidden: 2 * d, outputs: d, layers: 2)
            let attended = try selfAttention(target, position: position, prefix: "\(prefix).self_attn",
                                             heads: config.decoderHeads, residual: target)
            target = try builder.layerNorm(attended, "\(prefix).self_attn_layer_norm", epsilon: epsilon)
            let query = try builder.binary(.add, target, position, name: "\(prefix).encoder_attn.query")
            let crossed = try builder.deformableAttention(
                query: query, value: memory, reference: reference, prefix: "\(prefix).encoder_attn", levels: levels,
                heads: config.decoderHeads, points: Array(repeating: config.decoderPoints, count: levels.count), width: d, method: rt.samplingMethod,
                offsetScale: rt.offsetScale, residual: target)
            target = try builder.layerNorm(crossed, "\(prefix).encoder_attn_layer_norm", epsilon: epsilon)
            let h = try builder.linearWithActivation(target, "\(prefix).fc1", outputs: config.decoderFFNDim,
                                                     activation: config.activation)
            let y = try builder.linear(h, "\(prefix).fc2", outputs: d, residual: target)
            target = try builder.layerNorm(y, "\(prefix).final_layer_norm", epsilon: epsilon)
            if layer == 0 { builder.graph.markOutput("decoder_layer0", target) }
            let delta = try builder.mlp(target, "model.decoder.bbox_embed.\(layer)", hidden: d, outputs: 4, layers: 3)
            let inverse = try builder.add(.inverseSigmoid(epsilon: 1e-5), [reference], name: "\(prefix).reference_points.inverse_sigmoid")
            let logits = try builder.binary(.add, delta, inverse, name: "\(prefix).reference_points.logits")
            let last = layer == config.decoderLayers - 1
            reference = try builder.sigmoid(logits, name: last ? DetectorOutput.boxes : "\(prefix).reference_points")
        }
        let logits = try builder.linear(target, "model.decoder.class_embed.\(config.decoderLayers - 1)", outputs: config.numLabels)
        builder.graph.markOutput(DetectorOutput.logits, logits)
        builder.graph.markOutput(DetectorOutput.boxes, reference)
    }

    // MARK: - Constants of the input size

    /// `build_2d_sinusoidal_position_embedding`: row y * W + x is [sin(y w_i) | cos(y w_i) | sin(x w_i) |
    /// cos(x w_i)] with w_i = 1 / T^(i / (C/4)), computed in float64 like transformers, stored as float32.
    static func sinePositionEmbedding(height: Int, width: Int, channels: Int, temperature: Double) -> [Float] {
        let quarter = channels / 4
        let omega = (0..<quarter).map { 1.0 / pow(temperature, Double($0) / Double(quarter)) }
        var values = [Float](repeating: 0, count: height * width * channels)
        for y in 0..<height {
            for x in 0..<width {
                let row = (y * width + x) * channels
                for i in 0..<quarter {
                    let (angleY, angleX) = (Double(y) * omega[i], Double(x) * omega[i])
                    values[row + i] = Float(sin(angleY))
                    values[row + quarter + i] = Float(cos(angleY))
                    values[row + 2 * quarter + i] = Float(sin(angleX))
                    values[row + 3 * quarter + i] = Float(cos(angleX))
                }
            }
        }
        return values
    }

    /// `generate_anchors` in float32: per token (cx, cy, 0.05 * 2^level, same) in logit space, the float32
    /// maximum where any coordinate is outside (0.01, 0.99), and that validity as 1/0.
    static func anchors(levels: [LevelShape]) -> (anchors: [Float], valid: [Float]) {
        var anchors: [Float] = []
        var valid: [Float] = []
        let (low, high) = (Float(0.01), Float(1 - 0.01))
        for (level, shape) in levels.enumerated() {
            let size = Float(0.05) * Float(1 << level)
            for y in 0..<shape.height {
                for x in 0..<shape.width {
                    let box = [(Float(x) + 0.5) / Float(shape.width), (Float(y) + 0.5) / Float(shape.height), size, size]
                    let isValid = box.allSatisfy { $0 > low && $0 < high }
                    for coordinate in box {
                        anchors.append(isValid ? logf(coordinate / (1 - coordinate)) : Float.greatestFiniteMagnitude)
                    }
                    valid.append(isValid ? 1 : 0)
                }
            }
        }
        return (anchors, valid)
    }
}
