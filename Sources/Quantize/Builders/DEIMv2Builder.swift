import EdgeRuntime

/// What DEIMv2 (transformers' `Deimv2ForObjectDetection`, modeling_deimv2.py) changes in D-FINE's
/// dataflow, lowered by `RTDETRBuilder` when `config.dFine?.deimv2` is set (HGNetV2 sizes only):
/// - the backbone and the encoder input projections live in `model.conv_encoder`;
/// - the hybrid encoder joins maps by a sum (`encoder_fuse_op`) and its FPN/PAN blocks are ELAN5 blocks
///   (`Deimv2RepNCSPELAN5`: two CSP layers of one split convolution each, no convolutions between them);
/// - the lite encoder (Atto, Femto, Pico) replaces it: one backbone map, an average-pooled stride-2 map
///   fused with its global average, one FPN and one PAN block;
/// - decoder layers normalize with RMSNorm, their FFN is SwiGLU, the gate is optional, and the query
///   position head has three layers of d_model with the decoder's activation.
extension RTDETRBuilder {
    /// transformers' LlamaRMSNorm default, which Deimv2RMSNorm(d_model) keeps.
    static let rmsNormEpsilon: Float = 1e-6

    /// Deimv2RepNCSPELAN5: conv1 to twice the width, its second half through two CSP layers, the conv1
    /// output and both CSP outputs concatenated into conv2 (both with `activation_function`).
    func elan5Block(_ x: ValueID, prefix: String) throws(BuildError) -> ValueID {
        guard let dFine else { throw .unsupported("\(prefix): an ELAN5 block outside DEIMv2") }
        let branchWidth = dFine.elanBranchChannels
        let widened = try convolution(x, "\(prefix).conv1", kernel: 1, stride: 1, outputs: 2 * hidden)
        let half = try secondHalf(widened, name: "\(prefix).split")
        let branch1 = try deimv2CSP(half, prefix: "\(prefix).csp_rep1", width: branchWidth, blocks: dFine.elanBlocks)
        let branch2 = try deimv2CSP(branch1, prefix: "\(prefix).csp_rep2", width: branchWidth, blocks: dFine.elanBlocks)
        let merged = try builder.concatenateChannels([widened, branch1, branch2], name: "\(prefix).concat")
        return try convolution(merged, "\(prefix).conv2", kernel: 1, stride: 1, outputs: hidden)
    }

    /// Deimv2CSPRepLayer: conv1 to twice `width`, split into a residual half and a half through the RepVGG
    /// blocks, summed, then the trailing 3x3 conv2 (`encoder_has_trailing_conv`).
    private func deimv2CSP(_ x: ValueID, prefix: String, width: Int, blocks: Int) throws(BuildError) -> ValueID {
        let widened = try convolution(x, "\(prefix).conv1", kernel: 1, stride: 1, outputs: 2 * width)
        let shape = builder.graph.shape(of: widened)
        let rows = try builder.add(.reshape([shape[0] * shape[1], 2 * width]), [widened], name: "\(prefix).chunk")
        let residual = try builder.add(.reshape([shape[0], shape[1], width]),
                                       [try builder.slice(rows, start: 0, count: width, name: "\(prefix).chunk.0")],
                                       name: "\(prefix).chunk.0.map")
        var h = try secondHalf(widened, name: "\(prefix).chunk.1")
        for block in 0..<blocks {
            h = try repVGG(h, prefix: "\(prefix).bottlenecks.\(block)")
        }
        let sum = try builder.binary(.add, residual, h, name: "\(prefix).add")
        guard deimv2?.trailingConvolution != false else { return sum }
        return try convolution(sum, "\(prefix).conv2", kernel: 3, stride: 1, outputs: width)
    }

    /// `x.chunk(2, dim=1)[1]` of an NCHW map, as an HWC map.
    private func secondHalf(_ x: ValueID, name: String) throws(BuildError) -> ValueID {
        let shape = builder.graph.shape(of: x)
        let half = shape[2] / 2
        let rows = try builder.add(.reshape([shape[0] * shape[1], shape[2]]), [x], name: "\(name).rows")
        let slice = try builder.slice(rows, start: half, count: half, name: name)
        return try builder.add(.reshape([shape[0], shape[1], half]), [slice], name: "\(name).map")
    }

    /// Deimv2LiteEncoder on the one backbone map: its 1x1 projection (stride s), a 3x3 stride-2 average pool
    /// and 1x1 convolution for stride 2s, fused with its own global average; the FPN block on the first
    /// plus the upsampled second, the PAN block on the second plus the pooled FPN output.
    func liteEncoder(_ feature: ValueID) throws(BuildError) -> [ValueID] {
        let projected = try convolution(feature, "model.encoder.input_proj.0", kernel: 1, stride: 1, outputs: hidden, activated: false)
        let pooled = try builder.add(.averagePool2d(kernel: 3, stride: 2, padding: 1, ceilMode: false), [projected],
                                     name: "model.encoder.down_pool1")
        let coarse = try convolution(pooled, "model.encoder.down_conv1", kernel: 1, stride: 1, outputs: hidden)
        let shape = builder.graph.shape(of: coarse)
        let tokens = try builder.add(.reshape([shape[0] * shape[1], hidden]), [coarse], name: "model.encoder.bi_fusion.tokens")
        let average = try builder.add(.columnMeans, [tokens], name: "model.encoder.bi_fusion.global_average")
        let withAverage = try builder.add(.reshape(shape), [try builder.binary(.add, tokens, average, name: "model.encoder.bi_fusion.sum")],
                                          name: "model.encoder.bi_fusion.map")
        let fused = try convolution(withAverage, "model.encoder.bi_fusion_conv", kernel: 1, stride: 1, outputs: hidden)
        let upsampled = try builder.add(.upsampleNearest(factor: 2), [fused], name: "model.encoder.fpn_upsample")
        guard builder.graph.shape(of: upsampled) == builder.graph.shape(of: projected) else {
            throw .unsupported("input \(inputHeight)x\(inputWidth): the lite encoder's pooled map doubled is "
                               + "\(builder.graph.shape(of: upsampled)), not the backbone map's \(builder.graph.shape(of: projected))")
        }
        let top = try elan5Block(try builder.binary(.add, projected, upsampled, name: "model.encoder.fpn_fuse"), prefix: "model.encoder.fpn_block")
        let down = try builder.add(.averagePool2d(kernel: 3, stride: 2, padding: 1, ceilMode: false), [top], name: "model.encoder.down_pool2")
        let downConv = try convolution(down, "model.encoder.down_conv2", kernel: 1, stride: 1, outputs: hidden)
        let bottom = try elan5Block(try builder.binary(.add, fused, downConv, name: "model.encoder.pan_fuse"), prefix: "model.encoder.pan_block")
        return [top, bottom]
    }

    /// Deimv2DecoderLayer after its cross-attention sample: the gate (Deimv2Gate, normalized by RMSNorm) or
    /// a residual RMSNorm, then the SwiGLU FFN (down(silu(gate(x)) * up(x))) and the final RMSNorm.
    func deimv2LayerTail(target: ValueID, sampled: ValueID, prefix: String, gateway: Bool) throws(BuildError) -> ValueID {
        let merged: ValueID
        if gateway {
            let (kept, added) = try gates(target: target, sampled: sampled, prefix: prefix)
            merged = try rmsNorm(kept, "\(prefix).gateway.norm", residual: added)
        } else {
            merged = try rmsNorm(target, "\(prefix).encoder_attn_layer_norm", residual: sampled)
        }
        let width = (try builder.shape(of: "\(prefix).mlp.gate_proj.weight").first) ?? 0
        let gate = try builder.add(.unary(.silu), [try builder.linear(merged, "\(prefix).mlp.gate_proj", outputs: width)],
                                   name: "\(prefix).mlp.act_fn")
        let up = try builder.linear(merged, "\(prefix).mlp.up_proj", outputs: width)
        let product = try builder.binary(.multiply, gate, up, name: "\(prefix).mlp.product")
        let y = try builder.linear(product, "\(prefix).mlp.down_proj", outputs: d, residual: merged)
        return try rmsNorm(y, "\(prefix).final_layer_norm")
    }

    /// `RMSNorm` at `prefix` (`prefix.weight`) of x (+ residual).
    func rmsNorm(_ x: ValueID, _ prefix: String, residual: ValueID? = nil) throws(BuildError) -> ValueID {
        let gamma = try builder.weight("\(prefix).weight", shape: [builder.columns(x)])
        return try builder.add(.rmsNorm(epsilon: Self.rmsNormEpsilon), [x, gamma] + (residual.map { [$0] } ?? []), name: prefix)
    }

    /// Deimv2MLP(4, d, d, 3) with the decoder's activation: DEIMv2's query position head.
    func activatedMLP(_ x: ValueID, _ prefix: String, hidden width: Int, outputs: Int, layers: Int,
                      activation: String) throws(BuildError) -> ValueID {
        var h = x
        for layer in 0..<layers {
            let name = "\(prefix).layers.\(layer)"
            h = layer == layers - 1 ? try builder.linear(h, name, outputs: outputs)
                : try builder.linearWithActivation(h, name, outputs: width, activation: activation)
        }
        return h
    }
}
