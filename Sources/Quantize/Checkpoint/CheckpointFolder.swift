import Foundation

/// A transformers checkpoint folder (what `save_pretrained` writes): `config.json`,
/// `model.safetensors` and optionally `preprocessor_config.json`.
///
/// Tensors are addressed by canonical name: the checkpoint's own key, except backbone tensors,
/// which are renamed to torchvision naming under `backbone.` whatever layout the file uses (see
/// `BackboneKeyMapping`). The folder remembers which tensors were read so that a builder can warn
/// about weights it ignored — usually the sign of a config field it does not honour. It is a class
/// because of that bookkeeping; use it from one thread.
public final class CheckpointFolder {
    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"
    public static let preprocessorFileName = "preprocessor_config.json"

    public let path: String
    public let config: DetectorConfig
    /// `preprocessor_config.json` as parsed JSON, nil when the folder has none. Its meaning (resize,
    /// normalization) is interpreted elsewhere.
    public let preprocessorConfig: [String: JSONValue]?
    /// The underlying file, for tools that want raw keys.
    public let weights: SafetensorsFile

    /// Canonical name -> key in the safetensors file.
    private let fileKeys: [String: String]
    private var readNames: Set<String> = []

    public convenience init(path: String) throws(CheckpointError) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw .pathNotFound(path: path)
        }
        guard isFolder.boolValue else { throw .notAFolder(path: path) }
        let folder = URL(fileURLWithPath: path, isDirectory: true)
        func file(_ name: String) -> String { folder.appendingPathComponent(name).path }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

        guard exists(Self.configFileName) else { throw .missingConfig(folder: path) }
        let config = try DetectorConfig(contentsOf: file(Self.configFileName))

        guard exists(Self.weightsFileName) else {
            throw exists("pytorch_model.bin") ? .pickleWeightsOnly(folder: path) : .missingWeights(folder: path)
        }
        let weights = try SafetensorsFile(path: file(Self.weightsFileName))

        var preprocessorConfig: [String: JSONValue]? = nil
        if exists(Self.preprocessorFileName) {
            let data = try JSONFields.read(path: file(Self.preprocessorFileName))
            preprocessorConfig = try JSONFields.object(data, file: Self.preprocessorFileName)
        }
        try self.init(path: path, config: config, preprocessorConfig: preprocessorConfig, weights: weights)
    }

    /// The checkpoint from its three files' contents already in memory (`preprocessor` nil: the folder
    /// has none), validated exactly as `init(path:)` validates them; `name` stands for the folder in
    /// messages. The fuzz harness imports this way, without touching the file system.
    public convenience init(name: String, config: Data, preprocessor: Data?, weights: Data) throws(CheckpointError) {
        func checkSize(_ data: Data, _ file: String) throws(CheckpointError) {
            guard data.count <= JSONFields.maximumFileSize else {
                throw .fileTooLarge(file: file, size: data.count, limit: JSONFields.maximumFileSize)
            }
        }
        try checkSize(config, Self.configFileName)
        let detectorConfig = try DetectorConfig(jsonData: config, file: Self.configFileName)
        let safetensors = try SafetensorsFile(data: weights, name: Self.weightsFileName)
        var preprocessorConfig: [String: JSONValue]? = nil
        if let preprocessor {
            try checkSize(preprocessor, Self.preprocessorFileName)
            preprocessorConfig = try JSONFields.object(preprocessor, file: Self.preprocessorFileName)
        }
        try self.init(path: name, config: detectorConfig, preprocessorConfig: preprocessorConfig, weights: safetensors)
    }

    private init(
        path: String, config: DetectorConfig, preprocessorConfig: [String: JSONValue]?, weights: SafetensorsFile
    ) throws(CheckpointError) {
        self.path = path
        self.config = config
        self.preprocessorConfig = preprocessorConfig
        self.weights = weights
        fileKeys = try Self.canonicalNames(weights, config: config)
    }

    /// Detects the backbone layout from the stem key, checks it against config.json and builds the
    /// canonical name table. `num_batches_tracked` buffers (BatchNorm training counters) are dropped.
    private static func canonicalNames(
        _ weights: SafetensorsFile, config: DetectorConfig
    ) throws(CheckpointError) -> [String: String] {
        let family = config.family
        let layout: BackboneKeyLayout
        if family.usesHybridEncoder {
            layout = family == .dFine || family == .deimv2 ? .hgNetV2 : .rtDETRResNet
            guard weights.info(BackboneKeyMapping.stemKey(for: layout, family: family)) != nil else {
                throw .missingTensor(file: weights.name, tensor: BackboneKeyMapping.stemKey(for: layout, family: family))
            }
        } else if weights.info(BackboneKeyMapping.stemKey(for: .huggingFaceResNet, family: family)) != nil {
            layout = .huggingFaceResNet
        } else if weights.info(BackboneKeyMapping.stemKey(for: .timm, family: family)) != nil {
            layout = .timm
        } else {
            throw .missingTensor(file: weights.name,
                                 tensor: BackboneKeyMapping.stemKey(for: config.backbone.layout, family: family))
        }
        guard layout == config.backbone.layout else {
            throw .backboneLayoutMismatch(file: weights.name, tensorLayout: layout, configLayout: config.backbone.layout)
        }
        var names: [String: String] = [:]
        for key in weights.tensorNames where !key.hasSuffix("num_batches_tracked") {
            let canonical = BackboneKeyMapping.canonicalName(for: key, layout: layout, family: family) ?? key
            if let other = names[canonical] {
                throw .conflictingTensorNames(file: weights.name, canonical: canonical, first: other, second: key)
            }
            names[canonical] = key
        }
        return names
    }

    /// Whether the checkpoint has a tensor with this canonical name (does not count as a read).
    public func contains(_ name: String) -> Bool { fileKeys[name] != nil }

    /// The shape of a tensor by canonical name, without reading it.
    public func shape(of name: String) -> [Int]? {
        fileKeys[name].flatMap { weights.info($0)?.shape }
    }

    /// All canonical names, sorted.
    public var tensorNames: [String] { fileKeys.keys.sorted() }

    /// Reads a tensor by canonical name and returns its shape and row-major values. A NaN or an
    /// infinity is refused (`nonFiniteValue`) whatever the dtype.
    public func tensor(_ name: String) throws(CheckpointError) -> (shape: [Int], values: [Float]) {
        guard let key = fileKeys[name], let info = weights.info(key) else {
            throw .missingTensor(file: weights.name, tensor: name)
        }
        let values = try weights.finiteFloats(key)
        readNames.insert(name)
        return (info.shape, values)
    }

    /// Reads a tensor by canonical name, refusing it unless its shape is exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> [Float] {
        guard let key = fileKeys[name], let info = weights.info(key) else {
            throw .missingTensor(file: weights.name, tensor: name)
        }
        guard info.shape == shape else {
            throw .shapeMismatch(file: weights.name, tensor: key, shape: info.shape, expected: shape)
        }
        let values = try weights.finiteFloats(key)
        readNames.insert(name)
        return values
    }

    /// Canonical names never read through `tensor(_:)` / `tensor(_:shape:)`, sorted. After a build
    /// this should be empty; anything left is a weight the builder ignored.
    public var unusedTensorNames: [String] {
        fileKeys.keys.filter { !readNames.contains($0) }.sorted()
    }
}
