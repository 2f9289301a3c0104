import Kernels

/// The op set of EdgeDETR's graph IR.
///
/// Every family (Deformable DETR, DAB-DETR, Conditional DETR, RT-DETR, D-FINE) is lowered to these ops by a builder in
/// Quantize; the float executor, the quantizer and the int8 runtime all read the same list. Tensors are
/// batch-1 and row-major: feature maps are `[height, width, channels]` (HWC), token matrices are
/// `[rows, columns]`. Each case documents its inputs in order; `GraphOperation.outputShape` is its shape rule.
public enum GraphOperation: Equatable, Sendable {
    /// Inputs: x `[H, W, Cin]`, weight `[Cout, Cin, kH, kW]`, bias `[Cout]`, optional residual `[Ho, Wo, Cout]`.
    /// Output `activation(conv(x) + bias + residual)`, zero padding.
    case conv2d(stride: Int, padding: Int, activation: Activation)
    /// Inputs: x `[H, W, C]`, weight `[k, k, C]` (tap-major: one tap's weights for every channel side by
    /// side, like the map's pixels), bias `[C]`. Output `activation(depthwise conv(x) + bias)`, zero
    /// padding: PyTorch `Conv2d(C, C, k, groups=C)` (HGNetV2, D-FINE's SCDown).
    case depthwiseConv2d(stride: Int, padding: Int, activation: Activation)
    /// Inputs: x `[H, W, C]`, float32 or int8. Output `[top + H + bottom, left + W + right, C]` with a
    /// border of 0.0 (PyTorch `F.pad`, HGNetV2's stem); an int8 output keeps its input's quantization and
    /// pads with its zero point.
    case pad2d(top: Int, left: Int, bottom: Int, right: Int)
    /// Inputs: x `[H, W, C]`. Max pooling with -infinity padding (PyTorch `MaxPool2d`).
    case maxPool2d(kernel: Int, stride: Int, padding: Int)
    /// Inputs: x `[H, W, C]` float32. PyTorch `AvgPool2d(kernel, stride, padding, ceil_mode)` with
    /// `count_include_pad=True`: window sums divided by the window size clipped to the padded input
    /// (RT-DETR's ResNet-vd shortcut: kernel 2, stride 2, ceil mode).
    case averagePool2d(kernel: Int, stride: Int, padding: Int, ceilMode: Bool)
    /// Inputs: x `[R, K]`, weight `[N, K]`, bias `[N]`, optional residual `[R, N]`.
    /// Output `activation(x W^T + bias + residual)`.
    case linear(activation: Activation)
    /// Inputs: x `[R, C]`, gamma `[C]`, beta `[C]`, optional residual `[R, C]`: LayerNorm of (x + residual).
    case layerNorm(epsilon: Float)
    /// Inputs: x `[H, W, C]`, gamma `[C]`, beta `[C]`.
    case groupNorm(groups: Int, epsilon: Float)
    /// Inputs: x `[R, C]`, gamma `[C]`, optional residual `[R, C]`: RMSNorm of (x + residual), gamma times
    /// x / sqrt(mean(x^2) + epsilon) (transformers' LlamaRMSNorm; DEIMv2's decoder).
    case rmsNorm(epsilon: Float)
    /// Inputs: x `[R, C]`. Output `[C]`: the mean of each column (a map's global average pooling).
    case columnMeans
    /// Inputs: a, b. `b` is a's shape, a row `[C]` broadcast over rows, a column `[R, 1]` broadcast over
    /// columns, or a scalar `[1]`.
    case binary(BinaryOperator)
    /// Inputs: x; for `.prelu` also alpha `[1]` or `[C]`.
    case unary(UnaryOperator)
    /// Inputs: x. `log(x1 / x2)` with x clamped to [0, 1], x1 = max(x, eps), x2 = max(1 - x, eps).
    case inverseSigmoid(epsilon: Float)
    /// Inputs: x. Softmax over consecutive groups of `groupSize` elements of each row.
    case softmax(groupSize: Int)
    /// Inputs: x, float32 or int8. Each value clamped into [minimum, maximum] (PyTorch `clamp`; D-FINE's query
    /// positions, HGNetV2's folded affine blocks); an int8 output keeps its input's quantization.
    case clamp(minimum: Float, maximum: Float)
    /// Inputs: reference `[R, 4]` (cx, cy, w, h), distances `[R, 4]` (left, top, right, bottom). D-FINE's
    /// `distance2bbox`: the box whose edges lie (0.5 regScale + distance) x (w or h) / regScale from the
    /// reference's centre. Output `[R, 4]` (cx, cy, w, h).
    case distanceToBox(regScale: Float)
    /// Inputs: x `[R, G * groupSize]`, weights `[groupSize]`. Output `[R, G]`: each group's values times the
    /// weights, summed (D-FINE's integral of each edge's bin probabilities with the weighting function; a
    /// constant that must stay exact, which a `linear` weight would not be under weight-only int8).
    case groupWeightedSum(groupSize: Int)
    /// Inputs: x `[R, G * groupSize]`. Output `[R, G * (count + 1)]`: for each group its `count` largest
    /// values in descending order, then their mean (D-FINE's location quality statistics).
    case topValuesWithMean(groupSize: Int, count: Int)
    /// Inputs: q `[Nq, heads * dq]`, k `[Nk, heads * dq]`, v `[Nk, heads * dv]`. Output `[Nq, heads * dv]`.
    case attention(heads: Int, scale: Float)
    /// Multi-scale deformable sampling (the core of MSDeformAttn). `points[l]` is level l's sampling points
    /// per head (the same for every level except in D-FINE); S = their sum. Inputs: value `[sum HW, heads * dh]`,
    /// locations `[Nq, heads * S * 2]` (normalized x, y; each head's samples level by level), weights
    /// `[Nq, heads * S]` (softmaxed). Output `[Nq, heads * dh]`.
    /// `method` `.discrete` (RT-DETRv2's `decoder_method`) reads the one pixel at
    /// clamp(trunc(loc * size + 0.5)) instead of interpolating.
    case deformableSampling(levels: [LevelShape], heads: Int, points: [Int], method: SamplingMethod)
    /// Sampling locations of MSDeformAttn. Inputs: reference `[Nq, 2]` or `[Nq, 4]` (normalized cx, cy(, w, h)),
    /// offsets `[Nq, heads * S * 2]`. 2-d: ref + offset / (W_l, H_l); 4-d: ref_xy + offset / P_l * ref_wh / 2.
    case deformableLocations(levels: [LevelShape], heads: Int, points: [Int])
    /// Inputs: two or more matrices with the same row count; output their columns side by side. All
    /// float32, or all int8 (each requantized to the node's quantization where it differs).
    case concatenateColumns
    /// Inputs: two or more matrices with the same column count; output their rows one after the other.
    /// All float32, or all int8 (requantized to the node's quantization where it differs).
    case concatenateRows
    /// Inputs: x `[R, C]`; output columns `start ..< start + count`.
    case sliceColumns(start: Int, count: Int)
    /// Inputs: a `[R, heads * da]`, b `[R, heads * db]`; output `[R, heads * (da + db)]`, each head's
    /// a-part followed by its b-part (DAB/Conditional DETR's content + spatial query and key).
    case interleaveHeads(heads: Int)
    /// Inputs: x `[R, k]` coordinates; output `[R, k * features]`: each coordinate c (taken in `order`)
    /// becomes `features` values sin/cos(c * scale / T^(2 floor(i/2) / features)) interleaved.
    case sineEmbedding(features: Int, temperature: Float, scale: Float, order: [Int])
    /// Inputs: scores `[R, C]`, rows `[R, X]`. Output `[count, X]`: the rows with the `count` largest
    /// scores, in descending order; a row's score is one column of `scores` (two-stage Deformable DETR's
    /// proposal selection by class 0) or its maximum (RT-DETR's query selection by best class).
    case topRows(count: Int, score: RowScore)
    /// Inputs: x. Same data, new shape with the same element count.
    case reshape([Int])
    /// Inputs: x `[H, W, C]`, float32 or int8. Output `[H * factor, W * factor, C]`, each pixel
    /// repeated factor x factor times (PyTorch `interpolate(scale_factor=factor, mode="nearest")`,
    /// RT-DETR's FPN); an int8 output keeps its input's scale and zero point.
    case upsampleNearest(factor: Int)

    // MARK: Quantized ops (docs/QUANTIZATION.md): int8 activations real = scale * (q - zeroPoint),
    // int8 weights symmetric per output channel, int32 bias, fp32 requantization.

    /// Inputs: x float32. Output int8 with the node's quantization.
    case quantize
    /// Inputs: x int8. Output float32.
    case dequantize
    /// Inputs: x int8 `[R, K]`, weight int8 `[N, K]`, bias int32 `[N]`, requantization scales float32
    /// `[N]` (s_in * s_w[n] / s_out; s_in * s_w[n] for a float output), optional residual int8 `[R, N]`.
    /// Output int8 (when the node has a quantization) or float32.
    case quantizedLinear(activation: Activation)
    /// Inputs: x int8 `[H, W, Cin]`, weight int8 `[Cout, Cin, kH, kW]`, bias int32, scales float32,
    /// optional residual int8. Output as `quantizedLinear`.
    case quantizedConv2d(stride: Int, padding: Int, activation: Activation)
    /// Inputs: value int8, locations float32, weights float32 (as `deformableSampling`); with
    /// `SamplingInputs.locationOffsets` value, reference points, offsets (as `deformableLocations`), weights.
    /// With `.weightLogits` the weights are their logits. Output int8.
    case quantizedDeformableSampling(levels: [LevelShape], heads: Int, points: [Int], method: SamplingMethod, inputs: SamplingInputs)
    /// Inputs: x int8 (and for PReLU its one slope, float32 `[1]`). Output int8 (the node's quantization): the
    /// unary function of each code, through a 256-entry table built at load (`Int8UnaryTable`).
    case quantizedUnary(UnaryOperator)
    /// Inputs: x int8 `[H, W, C]`, weight int8 `[k, k, C]` (symmetric per channel), bias int32 `[C]`, scales
    /// float32 `[C]` (s_in * s_w[c] / s_out). Output int8 (the node's quantization): `int8DepthwiseConv2d`.
    case quantizedDepthwiseConv2d(stride: Int, padding: Int, activation: Activation)
    /// Inputs: x float32 `[R, K]`, weight int8 `[N, K]` (symmetric per channel), bias float32 `[N]`, weight
    /// scales float32 `[N]` (s_w[n]), optional residual float32 `[R, N]`. Output float32: each row of x
    /// quantized at run time at its own symmetric scale, the product on the int8 GEMM, then
    /// `activation(acc * s_w[n] * s_row + bias + residual)` (`dynamicInt8Linear`). For the layers whose
    /// input a per-tensor calibrated range serves badly; needs no calibration of its input. With
    /// `sumsInput` a second float32 `[R, K]` input follows x and the layer reads x + it (an `add` the
    /// quantizer folded, each row summed where it is quantized: the same values, no sum in memory).
    case dynamicQuantizedLinear(activation: Activation, sumsInput: Bool = false)
    /// Inputs and output as `attention`, all float32: each head's queries and keys quantized at run time,
    /// one symmetric scale per row, its values a scale and zero point per channel, Q K^T on the int8 GEMM tiles,
    /// the softmax's exponentials as two-level int8 codes, P V on the int8 tiles (`dynamicInt8Attention`).
    /// Needs no calibration; at most `dynamicInt8AttentionMaximumKeys` keys.
    case dynamicQuantizedAttention(heads: Int, scale: Float)
}

public enum Activation: UInt8, Equatable, Sendable {
    case none = 0
    case relu = 1
}

/// How deformable sampling reads a value map at a location.
public enum SamplingMethod: Equatable, Sendable {
    /// grid_sample's bilinear interpolation, zero padding, align_corners false (Deformable DETR, RT-DETR).
    case bilinear
    /// RT-DETRv2's "discrete": the pixel (trunc(x * W + 0.5), trunc(y * H + 0.5)) clamped into the map.
    case discrete

    /// The kernels' switch.
    public var isDiscrete: Bool { self == .discrete }
}

/// Which inputs of an int8 deformable sampling are those of ops the quantizer folded into it, so that the
/// sampling computes what they computed, per query while it is in cache, with their arithmetic and bits.
public struct SamplingInputs: OptionSet, Equatable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The weights are logits: the op takes the softmax over each head's samples (`softmax`'s kernel).
    public static let weightLogits = SamplingInputs(rawValue: 2)
    /// Inputs 1 and 2 are `deformableLocations`' reference points and offsets (same levels, heads and
    /// points): the op computes each query's locations as that op does.
    public static let locationOffsets = SamplingInputs(rawValue: 4)
}

/// What ranks a row in `topRows`.
public enum RowScore: Equatable, Sendable {
    /// `scores[row, column]`.
    case column(Int)
    /// The largest value of the row.
    case maximum
}

public enum BinaryOperator: UInt8, Equatable, Sendable {
    case add = 0, subtract = 1, multiply = 2, divide = 3
}

public enum UnaryOperator: UInt8, Equatable, Sendable {
    case relu = 0, sigmoid = 1, prelu = 2
    /// PyTorch's exact GELU: x * (1 + erf(x / sqrt 2)) / 2.
    case gelu = 3
    /// x * sigmoid(x) (transformers' "silu" / "swish").
    case silu = 4
}

/// The spatial size of one feature level.
public struct LevelShape: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }
    public var pixels: Int { height * width }
}

extension GraphOperation {
    /// A short name for plans, errors and `inspect`.
    public var kindName: String {
        switch self {
        case .conv2d: "conv2d"
        case .depthwiseConv2d: "depthwiseConv2d"
        case .pad2d: "pad2d"
        case .maxPool2d: "maxPool2d"
        case .averagePool2d: "averagePool2d"
        case .linear: "linear"
        case .layerNorm: "layerNorm"
        case .groupNorm: "groupNorm"
        case .rmsNorm: "rmsNorm"
        case .columnMeans: "columnMeans"
        case .binary(let op):
            switch op {
            case .add: "add"
            case .subtract: "subtract"
            case .multiply: "multiply"
            case .divide: "divide"
            }
        case .unary(let op):
            switch op {
            case .relu: "relu"
            case .sigmoid: "sigmoid"
            case .prelu: "prelu"
            case .gelu: "gelu"
            case .silu: "silu"
            }
        case .inverseSigmoid: "inverseSigmoid"
        case .softmax: "softmax"
        case .clamp: "clamp"
        case .distanceToBox: "distanceToBox"
        case .groupWeightedSum: "groupWeightedSum"
        case .topValuesWithMean: "topValuesWithMean"
        case .attention: "attention"
        case .deformableSampling: "deformableSampling"
        case .deformableLocations: "deformableLocations"
        case .concatenateColumns: "concatenateColumns"
        case .concatenateRows: "concatenateRows"
        case .sliceColumns: "sliceColumns"
        case .interleaveHeads: "interleaveHeads"
        case .sineEmbedding: "sineEmbedding"
        case .topRows: "topRows"
        case .reshape: "reshape"
        case .upsampleNearest: "upsampleNearest"
        case .quantize: "quantize"
        case .dequantize: "dequantize"
        case .quantizedLinear: "quantizedLinear"
        case .quantizedConv2d: "quantizedConv2d"
        case .quantizedDeformableSampling: "quantizedDeformableSampling"
        case .quantizedUnary: "quantizedUnary"
        case .quantizedDepthwiseConv2d: "quantizedDepthwiseConv2d"
        case .dynamicQuantizedLinear: "dynamicQuantizedLinear"
        case .dynamicQuantizedAttention: "dynamicQuantizedAttention"
        }
    }
}
