import EdgeRuntime

/// Entry point of the builders: a checkpoint folder becomes a graph for one input size.
///
/// The graph's single input is `pixel_values` `[height, width, 3]` (normalized, HWC). Its outputs are
/// `logits` `[queries, labels]` and `pred_boxes` `[queries, 4]` (normalized cx, cy, w, h), plus the
/// intermediates the golden tests compare: `encoder_last_hidden_state`, `decoder_layer0` and, for
/// two-stage Deformable DETR, `enc_outputs_class` and `enc_outputs_coord_logits`.
public enum DetectorGraph {
    /// Largest input side built: `RuntimeLimits.maximumInputSide`, the limit model files and
    /// preprocessing share, so sizes derived from it stay bounded.
    public static let maximumInputSide = RuntimeLimits.maximumInputSide

    public static func build(_ checkpoint: CheckpointFolder, height: Int, width: Int) throws(BuildError) -> Graph {
        guard height <= maximumInputSide, width <= maximumInputSide else {
            throw .unsupported("input \(height)x\(width) px is too large: at most \(maximumInputSide) px a side")
        }
        // The backbone's stem and four stride-2 stages need at least one pixel at stride 32 (64 for a
        // fifth Deformable DETR level).
        guard height >= 32, width >= 32 else {
            throw .inputTooSmall(height: height, width: width, detail: "the backbone needs at least 32x32 px")
        }
        let builder = GraphBuilder(checkpoint: checkpoint)
        let config = checkpoint.config
        switch config.family {
        case .deformableDETR:
            return try DeformableDETRBuilder(builder: builder, config: config, inputHeight: height, inputWidth: width).build()
        case .dabDETR:
            return try DABDETRBuilder(builder: builder, config: config, inputHeight: height, inputWidth: width).build()
        case .conditionalDETR:
            return try ConditionalDETRBuilder(builder: builder, config: config, inputHeight: height, inputWidth: width).build()
        case .rtDETR, .rtDETRv2, .dFine, .deimv2:
            guard let rt = config.rtDETR else { throw .unsupported("config.json: \(config.family.rawValue) without its settings") }
            return try RTDETRBuilder(builder: builder, config: config, rt: rt, inputHeight: height, inputWidth: width).build()
        }
    }
}
