import EdgeRuntime
import Foundation

/// What D-FINE (transformers' `DFineForObjectDetection`, modeling_d_fine.py) changes in RT-DETR's dataflow,
/// lowered by `RTDETRBuilder` when `config.dFine` is set:
/// - the HGNetV2 backbone (`HGNetV2Backbone`);
/// - the hybrid encoder's FPN/PAN blocks are ELAN blocks (`DFineRepNCSPELAN4`), its downsampling a 1x1
///   then a depthwise 3x3 stride-2 convolution (`DFineSCDown`), its lateral convolutions unactivated;
/// - decoder layers sample the memory without value and output projections, with a point count per level,
///   and merge the result through a gate (`DFineGate`) instead of a residual LayerNorm;
/// - boxes are refined as distributions (FDR): every layer's box head predicts, for each edge, logits over
///   max_num_bins + 1 bins added to the previous layer's; their softmax dotted with the weighting function
///   W(n) gives the edge distances from the first layer's box (`distanceToBox`); the class logits of the
///   last layer get the location quality estimate (LQE) of the last distributions added.
extension RTDETRBuilder {
    /// DFineRepNCSPELAN4: conv1 (SiLU) to twice the encoder width, its second half through a CSP layer and
    /// a 3x3 convolution, that through another pair; the conv1 output and both branches concatenated into
    /// conv4 (SiLU). transformers hard-codes SiLU here, whatever `activation_function` says.
    func elanBlock(_ x: ValueID, prefix: String) throws(BuildError) -> ValueID {
        guard let dFine else { throw .unsupported("\(prefix): an ELAN block outside D-FINE") }
        let branchWidth = dFine.elanBranchChannels
        let widened = try convolution(x, "\(prefix).conv1", kernel: 1, stride: 1, outputs: 2 * hidden, activation: "silu")
        let shape = builder.graph.shape(of: widened)
        let rows = try builder.add(.reshape([shape[0] * shape[1], 2 * hidden]), [widened], name: "\(prefix).split")
        let secondHalf = try builder.slice(rows, start: hidden, count: hidden, name: "\(prefix).split.1")
        let half = try builder.add(.reshape([shape[0], shape[1], hidden]), [secondHalf], name: "\(prefix).split.1.map")
        var branch1 = try cspLayer(half, prefix: "\(prefix).csp_rep1", hiddenChannels: branchWidth, outputs: branchWidth,
                                   blocks: dFine.elanBlocks)
        branch1 = try convolution(branch1, "\(prefix).conv2", kernel: 3, stride: 1, outputs: branchWidth, activation: "silu")
        var branch2 = try cspLayer(branch1, prefix: "\(prefix).csp_rep2", hiddenChannels: branchWidth, outputs: branchWidth,
                                   blocks: dFine.elanBlocks)
        branch2 = try convolution(branch2, "\(prefix).conv3", kernel: 3, stride: 1, outputs: branchWidth, activation: "silu")
        // cat(split(conv1) + [branch1, branch2]): the two halves side by side are conv1's output.
        let merged = try builder.concatenateChannels([widened, branch1, branch2], name: "\(prefix).concat")
        return try convolution(merged, "\(prefix).conv4", kernel: 1, stride: 1, outputs: hidden, activation: "silu")
    }

    /// DFineSCDown: a 1x1 convolution, then a depthwise 3x3 stride-2 one, both BatchNorm, no activation.
    func scDown(_ x: ValueID, prefix: String) throws(BuildError) -> ValueID {
        let pointwise = try convolution(x, "\(prefix).conv1", kernel: 1, stride: 1, outputs: hidden, activated: false)
        return try builder.depthwiseConvolutionBatchNorm(
            pointwise, weight: "\(prefix).conv2.conv.weight", batchNorm: "\(prefix).conv2.norm", name: "\(prefix).conv2",
            kernel: 3, stride: 2, padding: 1, activation: .none, epsilon: rt.batchNormEpsilon)
    }

    /// DFineDecoder in eval mode: every layer refines the edge distributions; the last layer's boxes and
    /// LQE-corrected logits are the detections.
    func refinementDecoder(_ queries: Queries, memory: ValueID, levels: [LevelShape], dFine: DFineConfig) throws(BuildError) {
        let bins = dFine.maxNumBins + 1
        let (regScale, up) = (try decoderScalar("model.decoder.reg_scale", default: dFine.regScale),
                              try decoderScalar("model.decoder.up", default: dFine.up))
        let weighting = Self.weightingFunction(maxNumBins: dFine.maxNumBins, up: up, regScale: regScale)
        guard weighting.allSatisfy(\.isFinite) else {
            throw .unsupported("config.json: max_num_bins \(dFine.maxNumBins), up \(up) and reg_scale \(regScale) give a "
                               + "weighting function beyond float32")
        }
        let project = try builder.constant("model.decoder.integral.project", shape: [bins], values: weighting)
        var target = queries.target
        var reference = queries.reference
        var initialReference = queries.reference
        var previousTarget: ValueID?
        var previousCorners: ValueID?
        for layer in 0..<config.decoderLayers {
            let prefix = "model.decoder.layers.\(layer)"
            let last = layer == config.decoderLayers - 1
            let unclamped = deimv2 == nil
                ? try builder.mlp(reference, "model.decoder.query_pos_head", hidden: 2 * d, outputs: d, layers: 2)
                : try activatedMLP(reference, "model.decoder.query_pos_head", hidden: d, outputs: d, layers: 3, activation: config.activation)
            let position = try builder.add(.clamp(minimum: -10, maximum: 10), [unclamped], name: "\(prefix).query_pos")
            target = try gatedDecoderLayer(target, position: position, reference: reference, memory: memory, levels: levels,
                                           points: dFine.decoderPoints, prefix: prefix)
            if layer == 0 {
                builder.graph.markOutput("decoder_layer0", target)
                let delta = try builder.mlp(target, "model.decoder.pre_bbox_head", hidden: d, outputs: 4, layers: 3)
                let inverse = try builder.add(.inverseSigmoid(epsilon: 1e-5), [reference], name: "model.decoder.pre_bbox.inverse_sigmoid")
                let logits = try builder.binary(.add, delta, inverse, name: "model.decoder.pre_bbox.logits")
                initialReference = try builder.sigmoid(logits, name: "model.decoder.initial_reference")
            }
            // bbox_embed[i](h + previous h) + previous corners (h and the corners are detached in training only).
            var boxInput = target
            if let previousTarget { boxInput = try builder.binary(.add, target, previousTarget, name: "\(prefix).box_input") }
            var corners = try builder.mlp(boxInput, "model.decoder.bbox_embed.\(try boxHead(layer))", hidden: d, outputs: 4 * bins, layers: 3)
            if let previousCorners { corners = try builder.binary(.add, corners, previousCorners, name: "\(prefix).corners") }
            // DFineIntegral: softmax over each edge's bins, dotted with W(n).
            let probabilities = try builder.add(.softmax(groupSize: bins), [corners], name: "\(prefix).corner_probabilities")
            let distances = try builder.add(.groupWeightedSum(groupSize: bins), [probabilities, project], name: "\(prefix).integral")
            reference = try builder.add(.distanceToBox(regScale: regScale), [initialReference, distances],
                                        name: last ? DetectorOutput.boxes : "\(prefix).reference_points")
            if last {
                let scores = try builder.linear(target, "model.decoder.class_embed.\(layer)", outputs: config.numLabels)
                let statistics = try builder.add(.topValuesWithMean(groupSize: bins, count: dFine.topProbValues), [probabilities],
                                                 name: "model.decoder.lqe_layers.\(layer).statistics")
                let quality = try builder.mlp(statistics, "model.decoder.lqe_layers.\(layer).reg_conf", hidden: dFine.lqeHiddenDim,
                                              outputs: 1, layers: dFine.lqeLayers)
                let logits = try builder.binary(.add, scores, quality, name: "model.decoder.lqe_layers.\(layer).scores")
                builder.graph.markOutput(DetectorOutput.logits, logits)
                builder.graph.markOutput(DetectorOutput.boxes, reference)
            }
            previousTarget = target
            previousCorners = corners
        }
    }

    /// DFineDecoderLayer: self-attention with the query positions, then deformable sampling of the memory
    /// merged by the gate, then the FFN. transformers clamps the FFN output to float16's range before the
    /// last LayerNorm; float32 activations beyond +-65504 do not occur in a working model, and the clamp
    /// is left out.
    private func gatedDecoderLayer(_ x: ValueID, position: ValueID, reference: ValueID, memory: ValueID, levels: [LevelShape],
                                   points: [Int], prefix: String) throws(BuildError) -> ValueID {
        let epsilon = rt.layerNormEpsilon
        let attended = try selfAttention(x, position: position, prefix: "\(prefix).self_attn", heads: config.decoderHeads,
                                         residual: x)
        let target = deimv2 == nil ? try builder.layerNorm(attended, "\(prefix).self_attn_layer_norm", epsilon: epsilon)
            : try rmsNorm(attended, "\(prefix).self_attn_layer_norm")
        let query = try builder.binary(.add, target, position, name: "\(prefix).encoder_attn.query")
        try checkPointScales("\(prefix).encoder_attn.num_points_scale", points: points)
        let sampled = try builder.deformableSampling(
            query: query, value: memory, reference: reference, prefix: "\(prefix).encoder_attn", levels: levels,
            heads: config.decoderHeads, points: points, method: rt.samplingMethod, offsetScale: rt.offsetScale)
        if let deimv2 {
            return try deimv2LayerTail(target: target, sampled: sampled, prefix: prefix, gateway: deimv2.gateway)
        }
        let (kept, added) = try gates(target: target, sampled: sampled, prefix: prefix)
        let gated = try builder.layerNorm(kept, "\(prefix).gateway.norm", residual: added, epsilon: 1e-5)
        let h = try builder.linearWithActivation(gated, "\(prefix).fc1", outputs: config.decoderFFNDim, activation: config.activation)
        let y = try builder.linear(h, "\(prefix).fc2", outputs: d, residual: gated)
        return try builder.layerNorm(y, "\(prefix).final_layer_norm", epsilon: epsilon)
    }

    /// DFineGate before its norm: sigmoid(gate([residual, sampled])) split in two weighs the residual and the
    /// sample; returns the two products, which the norm adds.
    func gates(target: ValueID, sampled: ValueID, prefix: String) throws(BuildError) -> (ValueID, ValueID) {
        let both = try builder.add(.concatenateColumns, [target, sampled], name: "\(prefix).gateway.input")
        let gateLogits = try builder.linear(both, "\(prefix).gateway.gate", outputs: 2 * d)
        let gates = try builder.sigmoid(gateLogits, name: "\(prefix).gateway.gates")
        let gate1 = try builder.slice(gates, start: 0, count: d, name: "\(prefix).gateway.gate1")
        let gate2 = try builder.slice(gates, start: d, count: d, name: "\(prefix).gateway.gate2")
        return (try builder.binary(.multiply, gate1, target, name: "\(prefix).gateway.residual"),
                try builder.binary(.multiply, gate2, sampled, name: "\(prefix).gateway.sampled"))
    }

    /// The box head of decoder layer `layer`: its own, or with DEIMv2's `share_bbox_head` the one head, which
    /// transformers 5.23 saves under whichever layer's name it meets last (the first one present is read).
    private func boxHead(_ layer: Int) throws(BuildError) -> Int {
        guard deimv2?.sharedBoxHead == true else { return layer }
        for index in 0..<config.decoderLayers where builder.has("model.decoder.bbox_embed.\(index).layers.0.weight") { return index }
        throw .checkpoint(.missingTensor(file: builder.checkpoint.weights.name, tensor: "model.decoder.bbox_embed.0.layers.0.weight"))
    }

    /// `model.decoder.reg_scale` or `.up` ([1] parameters transformers loads over the config's values).
    private func decoderScalar(_ name: String, default value: Float) throws(BuildError) -> Float {
        guard builder.has(name) else { return value }
        let stored = try builder.values(name, shape: [1])[0]
        guard stored.isFinite, stored != 0, abs(stored) <= 1000 else {
            throw .unsupported("\(builder.checkpoint.weights.name): tensor '\(name)' is \(stored), expected a non-zero number in [-1000, 1000]")
        }
        return stored
    }

    /// The `num_points_scale` buffer of a decoder layer, when stored, must be 1 / points of each level's
    /// points, which is what the sampling locations use.
    private func checkPointScales(_ name: String, points: [Int]) throws(BuildError) {
        guard builder.has(name) else { return }
        let total = points.reduce(0, +)
        let stored = try builder.values(name, shape: [total])
        let expected = points.flatMap { count in Array(repeating: Float(1 / Double(count)), count: count) }
        guard stored == expected else {
            throw .unsupported("\(builder.checkpoint.weights.name): tensor '\(name)' is \(stored.prefix(8)), expected 1 / points "
                               + "per level for decoder_n_points \(points)")
        }
    }

    /// transformers' `weighting_function` in its float32 arithmetic: W = [-2a, 1 - s^(N/2 - 1), ..., 1 - s,
    /// 0, s - 1, ..., s^(N/2 - 1) - 1, 2a] with a = |up| |reg_scale| and s = (a + 1)^(2 / (N - 2)),
    /// N = max_num_bins.
    static func weightingFunction(maxNumBins: Int, up: Float, regScale: Float) -> [Float] {
        let bound = abs(up) * abs(regScale)
        let outer = abs(up) * abs(regScale) * 2
        let step = powf(bound + 1, Float(2) / Float(maxNumBins - 2))
        let half = maxNumBins / 2
        let left = stride(from: half - 1, to: 0, by: -1).map { -powf(step, Float($0)) + 1 }
        let right = (1..<half).map { powf(step, Float($0)) - 1 }
        return [-outer] + left + [0] + right + [outer]
    }
}
