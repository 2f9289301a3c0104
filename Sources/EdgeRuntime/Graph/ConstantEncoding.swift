import CLibc
import Kernels

/// How a model file stores a constant (docs/FORMAT.md, "Constant encodings"). The graph always holds
/// the data the kernels read (float32, int8 or int32); an encoding other than `raw` says how the file
/// stores that data more compactly, and the reader materializes it at load into memory the constant
/// owns, bit for bit the data the writer's graph held.
public enum ConstantEncoding: Sendable {
    /// The bytes as they are.
    case raw
    /// Weight-only int8: a float32 weight `[O, ...]` that is exactly the dequantization of int8
    /// values, symmetric per output channel: `data[o, i] = Float(values[o, i]) * scales[o]`, values in
    /// -127...127. The kernels still see float32 (the layer runs in float); the file stores
    /// `values` (int8, the weight's shape) and `scales` (float32 `[O]`).
    case int8PerChannel(values: ConstantStorage, scales: ConstantStorage)
    /// A pure function of the input size (plus a small learned tensor), stored as its recipe.
    case generated(ConstantRecipe)
    /// The int8 weights of one quantized linear layer or convolution stored in a kernel's panel
    /// layout, with the layer's bias (input zero point folded in) and requantization scales, so the
    /// runtime uses the mapped bytes in place. The constant keeps its logical type and shape (int8
    /// `[N, K]` or `[O, C, kH, kW]`), but its data is the panels: only the layer's kernel reads it.
    case int8Packed(PackedWeightEncoding)

    /// The stored code (value record byte 11).
    public var code: UInt8 {
        switch self {
        case .raw: ConstantCoding.Code.raw.rawValue
        case .int8PerChannel: ConstantCoding.Code.int8PerChannel.rawValue
        case .generated: ConstantCoding.Code.generated.rawValue
        case .int8Packed: ConstantCoding.Code.int8Packed.rawValue
        }
    }

    public var name: String {
        switch self {
        case .raw: "raw"
        case .int8PerChannel: "int8 per channel"
        case .generated(let recipe): recipe.name
        case .int8Packed(let packed): "int8 packed (\(packed.weights.layout.name))"
        }
    }
}

/// The depth order of packed weights: a linear layer's own K, or a convolution's weights
/// `[O, C, kH, kW]` in the order of an HWC patch (kernel row, kernel column, input channel).
public enum PackedDepthOrder: UInt32, Sendable {
    case linear = 0
    case convolutionPatch = 1
}

/// Packed int8 weights as a model file stores them (docs/FORMAT.md, encoding 3): the panels, the depth
/// order and the input zero point folded into the panels' biases.
public struct PackedWeightEncoding: @unchecked Sendable {
    public let weights: PackedInt8Weights
    public let depthOrder: PackedDepthOrder
    public let inputZeroPoint: Int32

    public init(weights: PackedInt8Weights, depthOrder: PackedDepthOrder, inputZeroPoint: Int32) {
        self.weights = weights
        self.depthOrder = depthOrder
        self.inputZeroPoint = inputZeroPoint
    }
}

extension Int8WeightLayout {
    /// The layout's name in files, tools and errors.
    public var name: String {
        switch self {
        case .avx2: "avx2 16x2"
        case .neon: "neon 8x8"
        case .dotProduct: "dot-product 16x4"
        }
    }
}

/// A constant computed from a few parameters. One case per generator; each generator is the one
/// implementation the builders and the model-file reader both call.
public enum ConstantRecipe: Sendable {
    case sinePosition(SinePositionEmbedding)

    public var name: String {
        switch self {
        case .sinePosition: "generated sine position embedding"
        }
    }

    /// The shape of the data the recipe generates.
    public var shape: [Int] {
        switch self {
        case .sinePosition(let embedding): [embedding.rows, embedding.columns]
        }
    }

    /// Writes the generated data (`shape`'s element count floats).
    public func fill(_ output: UnsafeMutablePointer<Float>) {
        switch self {
        case .sinePosition(let embedding): embedding.fill(output)
        }
    }
}

/// Why an encoded constant's parameters were refused (a recipe's, or weight-only int8 scales and values).
public struct ConstantEncodingError: Error, Equatable, CustomStringConvertible {
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}

/// The image sine position embedding of DETR-family models for unpadded feature maps, with an
/// optional learned row added per level (Deformable DETR's `level_embed`), the levels flattened one
/// after the other as the encoder's tokens are: `[sum of H_l * W_l, 2 * features]`. For pixel (y, x)
/// of a level, with `e(i, n) = (i + 1 - centreOffset) / (n + 1e-6) * scale` and
/// `f_T(k) = T^(2 floor(k / 2) / features)`, column k < features is sin (k even) or cos (k odd) of
/// `e(y, H) / f_Ty(k)`, column features + k the same of `e(x, W) / f_Tx(k)`; then the level's row is
/// added. This is transformers' `DeformableDetrSinePositionEmbedding` (centreOffset 0.5) and DAB /
/// Conditional DETR's (centreOffset 0, their temperatures and scale), in their float32 order of
/// operations.
public struct SinePositionEmbedding: Sendable {
    public let levels: [LevelShape]
    /// Columns per axis; a row is `2 * features` wide.
    public let features: Int
    public let temperatureY: Float
    public let temperatureX: Float
    public let centreOffset: Float
    public let scale: Float
    /// float32 `[levels, 2 * features]`, added to every pixel of its level; nil adds nothing.
    public let levelEmbedding: ConstantStorage?

    public static let maximumLevels = 8
    public static let maximumSide = 16384
    public static let maximumFeatures = 65536
    /// At most this many generated floats (1 GiB): a recipe of a few bytes must not ask for more.
    public static let maximumElements = 1 << 28

    public let rows: Int
    public var columns: Int { 2 * features }

    /// Checks every parameter: 1 to 8 levels of 1...16384 pixels a side, 1...65536 features, finite
    /// positive temperatures, finite offset and scale, a float32 level embedding of `[levels, 2 *
    /// features]` values, and at most `maximumElements` generated values (sizes overflow-checked).
    public init(levels: [LevelShape], features: Int, temperatureY: Float, temperatureX: Float, centreOffset: Float,
                scale: Float, levelEmbedding: ConstantStorage?) throws(ConstantEncodingError) {
        guard (1...Self.maximumLevels).contains(levels.count) else {
            throw ConstantEncodingError("\(levels.count) levels, expected 1 to \(Self.maximumLevels)")
        }
        var rows = 0
        for (index, level) in levels.enumerated() {
            guard (1...Self.maximumSide).contains(level.height), (1...Self.maximumSide).contains(level.width) else {
                throw ConstantEncodingError("level \(index) is \(level.height)x\(level.width), expected 1...\(Self.maximumSide) a side")
            }
            rows += level.height * level.width  // at most 8 * 2^28: no overflow
        }
        guard (1...Self.maximumFeatures).contains(features) else {
            throw ConstantEncodingError("\(features) features, expected 1...\(Self.maximumFeatures)")
        }
        let (elements, overflow) = rows.multipliedReportingOverflow(by: 2 * features)
        guard !overflow, elements <= Self.maximumElements else {
            throw ConstantEncodingError("\(rows) rows of \(2 * features) values exceed \(Self.maximumElements) values")
        }
        guard temperatureY.isFinite, temperatureY > 0, temperatureX.isFinite, temperatureX > 0 else {
            throw ConstantEncodingError("temperatures \(temperatureY), \(temperatureX) must be positive and finite")
        }
        guard centreOffset.isFinite, scale.isFinite else {
            throw ConstantEncodingError("centre offset \(centreOffset) and scale \(scale) must be finite")
        }
        if let levelEmbedding {
            guard levelEmbedding.elementType == .float32, levelEmbedding.count == levels.count * 2 * features else {
                throw ConstantEncodingError("level embedding of \(levelEmbedding.count) values, expected \(levels.count) x \(2 * features) float32")
            }
        }
        self.levels = levels
        self.features = features
        self.temperatureY = temperatureY
        self.temperatureX = temperatureX
        self.centreOffset = centreOffset
        self.scale = scale
        self.levelEmbedding = levelEmbedding
        self.rows = rows
    }

    /// Writes `rows * columns` floats.
    public func fill(_ output: UnsafeMutablePointer<Float>) {
        let epsilon: Float = 1e-6
        let width = columns
        let frequenciesY = UnsafeMutablePointer<Float>.allocate(capacity: features)
        let frequenciesX = UnsafeMutablePointer<Float>.allocate(capacity: features)
        defer {
            frequenciesY.deallocate()
            frequenciesX.deallocate()
        }
        for k in 0..<features {
            frequenciesY[k] = powf(temperatureY, Float(2 * (k / 2)) / Float(features))
            frequenciesX[k] = powf(temperatureX, Float(2 * (k / 2)) / Float(features))
        }
        var row = 0
        for (level, shape) in levels.enumerated() {
            let embedding: UnsafeMutablePointer<Float>? = levelEmbedding.map { $0.pointer + level * width }
            for y in 0..<shape.height {
                let ey = (Float(y + 1) - centreOffset) / (Float(shape.height) + epsilon) * scale
                for x in 0..<shape.width {
                    let ex = (Float(x + 1) - centreOffset) / (Float(shape.width) + epsilon) * scale
                    let target = output + row * width
                    for k in 0..<features {
                        let py = ey / frequenciesY[k]
                        let px = ex / frequenciesX[k]
                        target[k] = k % 2 == 0 ? sinf(py) : cosf(py)
                        target[features + k] = k % 2 == 0 ? sinf(px) : cosf(px)
                    }
                    if let embedding {
                        for column in 0..<width { target[column] += embedding[column] }
                    }
                    row += 1
                }
            }
        }
    }
}
