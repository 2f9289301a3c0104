/// Renames backbone tensors to one canonical torchvision/timm naming under `backbone.`, so builders
/// handle one layout:
///
///     backbone.conv1.weight                      backbone.bn1.{weight,bias,running_mean,running_var}
///     backbone.layer{1-4}.{b}.conv{1,2,3}.weight backbone.layer{s}.{b}.bn{1,2,3}.*
///     backbone.layer{s}.{b}.downsample.0.weight  backbone.layer{s}.{b}.downsample.1.*
///
/// Sources (verified against models saved by transformers 5.23 `save_pretrained`):
/// - timm: Deformable and Conditional DETR `model.backbone.conv_encoder.model.<torchvision name>`,
///   DAB-DETR `model.backbone.conv_encoder.model._backbone.<torchvision name>` (it keeps the
///   TimmBackbone wrapper).
/// - HF ResNet, all three families, under `model.backbone.conv_encoder.model.`:
///   `embedder.embedder.convolution` -> `conv1`, `embedder.embedder.normalization` -> `bn1`,
///   `encoder.stages.{s}.layers.{b}.layer.{i}.convolution` -> `layer{s+1}.{b}.conv{i+1}`,
///   `....layer.{i}.normalization` -> `bn{i+1}`, `....shortcut.convolution` -> `downsample.0`,
///   `....shortcut.normalization` -> `downsample.1`.
/// - RT-DETR's ResNet-vd: `model.backbone.model.` becomes `backbone.`, the rest unchanged
///   (`backbone.embedder.embedder.0.convolution.weight`, `backbone.encoder.stages.1.layers.0.shortcut.1.*`):
///   its blocks have no torchvision counterpart.
enum BackboneKeyMapping {
    static let canonicalPrefix = "backbone."
    static let huggingFacePrefix = "model.backbone.conv_encoder.model."
    static let rtDETRPrefix = "model.backbone.model."
    /// DEIMv2 keeps its backbone in `conv_encoder` (with the encoder input projections).
    static let deimv2Prefix = "model.conv_encoder.model."

    /// Where RT-DETR's ResNet-vd and D-FINE's and DEIMv2's HGNetV2 tensors live.
    static func realTimePrefix(for family: DetectorFamily) -> String { family == .deimv2 ? deimv2Prefix : rtDETRPrefix }

    static func timmPrefix(for family: DetectorFamily) -> String {
        switch family {
        case .dabDETR: "model.backbone.conv_encoder.model._backbone."
        case .deformableDETR, .conditionalDETR, .rtDETR, .rtDETRv2, .dFine, .deimv2: "model.backbone.conv_encoder.model."
        }
    }

    /// The file key whose presence identifies each layout: the stem convolution.
    static func stemKey(for layout: BackboneKeyLayout, family: DetectorFamily) -> String {
        switch layout {
        case .timm: timmPrefix(for: family) + "conv1.weight"
        case .huggingFaceResNet: huggingFacePrefix + "embedder.embedder.convolution.weight"
        case .rtDETRResNet: rtDETRPrefix + "embedder.embedder.0.convolution.weight"
        case .hgNetV2: realTimePrefix(for: family) + "embedder.stem1.convolution.weight"
        }
    }

    /// The canonical name for a file key of the given layout, or nil if the key is not a backbone
    /// tensor of that layout (it then keeps its file name).
    static func canonicalName(for key: String, layout: BackboneKeyLayout, family: DetectorFamily) -> String? {
        switch layout {
        case .timm:
            let prefix = timmPrefix(for: family)
            guard key.hasPrefix(prefix) else { return nil }
            let rest = key.dropFirst(prefix.count)
            // A Deformable/Conditional key with "_backbone." is not this layout's; leave it visible.
            guard !rest.hasPrefix("_backbone.") else { return nil }
            return canonicalPrefix + rest
        case .huggingFaceResNet:
            guard key.hasPrefix(huggingFacePrefix) else { return nil }
            return huggingFaceResNetName(key.dropFirst(huggingFacePrefix.count)).map { canonicalPrefix + $0 }
        case .rtDETRResNet, .hgNetV2:
            let prefix = realTimePrefix(for: family)
            guard key.hasPrefix(prefix) else { return nil }
            return canonicalPrefix + key.dropFirst(prefix.count)
        }
    }

    /// Maps the part after the prefix, e.g. `encoder.stages.1.layers.0.shortcut.normalization.bias`
    /// to `layer2.0.downsample.1.bias`.
    private static func huggingFaceResNetName(_ rest: Substring) -> String? {
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts[0] == "embedder", parts[1] == "embedder" {
            switch parts[2] {
            case "convolution": return "conv1.\(parts[3])"
            case "normalization": return "bn1.\(parts[3])"
            default: return nil
            }
        }
        // encoder.stages.{s}.layers.{b}.layer.{i}.{convolution|normalization}.{param}   (9 parts)
        // encoder.stages.{s}.layers.{b}.shortcut.{convolution|normalization}.{param}   (8 parts)
        guard parts.count >= 8, parts[0] == "encoder", parts[1] == "stages", parts[3] == "layers",
              let stage = index(parts[2], below: 4), let block = index(parts[4], below: BackboneConfig.maximumDepth)
        else { return nil }
        let layer = "layer\(stage + 1).\(block)"
        if parts.count == 9, parts[5] == "layer", let convolution = index(parts[6], below: 3) {
            switch parts[7] {
            case "convolution": return "\(layer).conv\(convolution + 1).\(parts[8])"
            case "normalization": return "\(layer).bn\(convolution + 1).\(parts[8])"
            default: return nil
            }
        }
        if parts.count == 8, parts[5] == "shortcut" {
            switch parts[6] {
            case "convolution": return "\(layer).downsample.0.\(parts[7])"
            case "normalization": return "\(layer).downsample.1.\(parts[7])"
            default: return nil
            }
        }
        return nil
    }

    /// A stage, block or convolution number as transformers writes it: decimal digits without sign or
    /// leading zero, below `limit` (4 stages, `BackboneConfig.maximumDepth` blocks, 3 convolutions).
    /// Anything else, e.g. `stages.9223372036854775807` or `layers.01`, is not a key of this layout
    /// and keeps its file name, so no arithmetic ever sees it and two spellings of one number cannot
    /// both map to one canonical name.
    static func index(_ part: Substring, below limit: Int) -> Int? {
        guard !part.isEmpty, part.count <= 4, part.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              part == "0" || !part.hasPrefix("0"), let value = Int(part), value < limit
        else { return nil }
        return value
    }
}
