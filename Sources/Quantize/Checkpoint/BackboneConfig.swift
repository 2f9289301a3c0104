/// How the ResNet backbone is built and which of its stages feed the transformer.
///
/// Widths are deliberately absent: builders read them from the tensor shapes, which is what lets test
/// fixtures use narrow ResNets. Only depth and block type come from the configuration: from the timm
/// model name (`resnet18/34/50/101`) or from an HF `ResNetConfig` (`depths`, `layer_type`).
public struct BackboneConfig: Sendable, Equatable {
    /// Which key naming the checkpoint's backbone tensors use. Canonical names hide the difference;
    /// this is kept to check the tensors against the configuration.
    public var layout: BackboneKeyLayout
    /// Blocks per stage, e.g. [3, 4, 6, 3] for ResNet-50; always four stages.
    public var depths: [Int]
    /// Basic (two 3x3 convolutions, ResNet-18/34) or bottleneck (1x1, 3x3, 1x1, ResNet-50/101) blocks.
    /// Bottlenecks put the stride on the 3x3 convolution (torchvision "ResNet v1.5"), the only variant
    /// accepted.
    public var block: BackboneBlock
    /// Stages whose outputs the detector uses, numbered as HF does: 1...4 are layer1...layer4
    /// (C2...C5, strides 4...32), e.g. [2, 3, 4] for Deformable DETR. DAB-DETR and Conditional DETR
    /// list [1, 2, 3, 4] but use only the last.
    public var outIndices: [Int]

    public init(layout: BackboneKeyLayout, depths: [Int], block: BackboneBlock, outIndices: [Int]) {
        self.layout = layout
        self.depths = depths
        self.block = block
        self.outIndices = outIndices
    }

    /// Most blocks in one stage (ResNet-101 has 23, ResNet-152 36): `depths` above it are refused and
    /// HF ResNet keys numbering a block past it are not read as backbone keys. See `DetectorConfig.Limits`.
    public static let maximumDepth = 64

    /// The timm ResNets this importer builds, by timm model name.
    static let timmModels: [String: (depths: [Int], block: BackboneBlock)] = [
        "resnet18": ([2, 2, 2, 2], .basic),
        "resnet34": ([3, 4, 6, 3], .basic),
        "resnet50": ([3, 4, 6, 3], .bottleneck),
        "resnet101": ([3, 4, 23, 3], .bottleneck),
    ]

    /// The timm model name without a hub prefix or pretrained tag: "timm/resnet50.a1_in1k" is "resnet50".
    static func timmBaseName(_ name: String) -> String {
        var base = Substring(name)
        if base.hasPrefix("timm/") {
            base = base.dropFirst("timm/".count)
        }
        if let dot = base.firstIndex(of: ".") {
            base = base[..<dot]
        }
        return String(base)
    }
}

public enum BackboneBlock: String, Sendable {
    case basic
    case bottleneck
}

/// The two ways transformers names ResNet backbone tensors.
public enum BackboneKeyLayout: String, Sendable {
    /// timm / torchvision names (`conv1`, `layer1.0.bn2`), what the hub checkpoints use
    /// (`use_timm_backbone=True`).
    case timm
    /// transformers' own ResNet (`embedder.embedder.convolution`, `encoder.stages.0.layers.0.layer.1`),
    /// written for models built with `use_timm_backbone=False` and a `ResNetConfig`.
    case huggingFaceResNet
    /// RT-DETR's ResNet-vd (`RTDetrResNetBackbone`: a three-convolution stem, average-pooled shortcuts),
    /// under `model.backbone.model.`; the only layout transformers writes for it.
    case rtDETRResNet
    /// D-FINE's HGNetV2 (`HGNetV2Backbone`: stem1..stem4, `encoder.stages.{s}` of HG blocks), under
    /// `model.backbone.model.`, named as written.
    case hgNetV2

    var displayName: String {
        switch self {
        case .timm: "timm"
        case .huggingFaceResNet: "Hugging Face ResNet"
        case .rtDETRResNet: "RT-DETR ResNet-vd"
        case .hgNetV2: "HGNetV2"
        }
    }
}
