/// What a model file says about itself besides the graph: where it came from, what input it was built
/// for, how to preprocess an image and read the outputs. Stored as typed key/value entries (docs/FORMAT.md).
public struct ModelMetadata: Equatable, Sendable {
    /// `deformable_detr`, `dab-detr` or `conditional_detr`.
    public var family: String
    /// The model input size the graph (and its folded constants and arena plan) was built for.
    public var inputHeight: Int
    public var inputWidth: Int
    public var preprocess: PreprocessConfig
    /// Class ids and their names (id2label); ids may have gaps.
    public var labelIDs: [Int]
    public var labelNames: [String]
    /// The official repositories' number of kept detections (300 for DAB-DETR, 100 otherwise).
    public var topK: Int
    /// Free-form lines for `inspect`: the checkpoint it came from, the quantization options and the
    /// calibration summary.
    public var notes: [String]

    public init(family: String, inputHeight: Int, inputWidth: Int, preprocess: PreprocessConfig,
                labelIDs: [Int], labelNames: [String], topK: Int, notes: [String]) {
        self.family = family
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.preprocess = preprocess
        self.labelIDs = labelIDs
        self.labelNames = labelNames
        self.topK = topK
        self.notes = notes
    }

    public func labelName(_ id: Int) -> String {
        for (index, labelID) in labelIDs.enumerated() where labelID == id { return labelNames[index] }
        return "\(id)"
    }
}

/// One typed metadata entry as stored: a key and a list of integers, floats or strings.
public enum MetadataValue: Equatable, Sendable {
    case integers([Int64])
    case floats([Double])
    case strings([String])
}

extension ModelMetadata {
    /// The stored entries, in a fixed order so files are byte-identical for identical inputs.
    public var entries: [(key: String, value: MetadataValue)] {
        let resize: [Int64]
        switch preprocess.resize {
        case .none: resize = [0, 0, 0]
        case .shortestEdge(let shortest, let longest): resize = [1, Int64(shortest), Int64(longest ?? 0)]
        case .fixed(let height, let width): resize = [2, Int64(height), Int64(width)]
        case .maxHeightWidth(let height, let width): resize = [3, Int64(height), Int64(width)]
        }
        return [
            ("family", .strings([family])),
            ("input.size", .integers([Int64(inputHeight), Int64(inputWidth)])),
            ("preprocess.resize", .integers(resize)),
            ("preprocess.rescale", .floats(preprocess.rescaleFactor.map { [$0] } ?? [])),
            ("preprocess.mean", .floats((preprocess.mean ?? []).map(Double.init))),
            ("preprocess.std", .floats((preprocess.standardDeviation ?? []).map(Double.init))),
            ("labels.ids", .integers(labelIDs.map { Int64($0) })),
            ("labels.names", .strings(labelNames)),
            ("postprocess.top_k", .integers([Int64(topK)])),
            ("notes", .strings(notes)),
        ]
    }

    /// Rebuilds metadata from stored entries, checking each required key's type and range.
    public init(entries: [(key: String, value: MetadataValue)]) throws(ModelFileError) {
        func find(_ key: String) throws(ModelFileError) -> MetadataValue {
            for entry in entries where entry.key == key { return entry.value }
            throw .missingMetadata(key)
        }
        func integers(_ key: String, count: Int? = nil, range: ClosedRange<Int64> = 0...Int64(Int32.max)) throws(ModelFileError) -> [Int] {
            guard case .integers(let values) = try find(key) else { throw .invalidMetadata(key: key, detail: "expected integers") }
            if let count, values.count != count { throw .invalidMetadata(key: key, detail: "\(values.count) integers, expected \(count)") }
            for value in values where !range.contains(value) {
                throw .invalidMetadata(key: key, detail: "\(value) outside \(range.lowerBound)...\(range.upperBound)")
            }
            return values.map { Int($0) }
        }
        /// Floats within `range`: the preprocessing constants are bounded so that every normalized
        /// pixel is a finite Float (a mean of 1e300 would otherwise run as infinity).
        func floats(_ key: String, range: ClosedRange<Double>) throws(ModelFileError) -> [Double] {
            guard case .floats(let values) = try find(key) else { throw .invalidMetadata(key: key, detail: "expected floats") }
            for value in values where !range.contains(value) {
                throw .invalidMetadata(key: key, detail: "\(value) outside \(range.lowerBound)...\(range.upperBound)")
            }
            return values
        }
        func strings(_ key: String) throws(ModelFileError) -> [String] {
            guard case .strings(let values) = try find(key) else { throw .invalidMetadata(key: key, detail: "expected strings") }
            return values
        }
        let familyList = try strings("family")
        guard familyList.count == 1, ["deformable_detr", "dab-detr", "conditional_detr", "rt_detr", "rt_detr_v2", "d_fine", "deimv2"].contains(familyList[0]) else {
            throw .invalidMetadata(key: "family", detail: "expected one of deformable_detr, dab-detr, conditional_detr, rt_detr, rt_detr_v2, d_fine, deimv2")
        }
        let side = Int64(RuntimeLimits.maximumInputSide)
        let size = try integers("input.size", count: 2, range: 1...side)
        let resize = try integers("preprocess.resize", count: 3, range: 0...side)
        let resizeMode: PreprocessConfig.Resize
        switch resize[0] {
        case 0: resizeMode = .none
        case 1:
            guard resize[1] >= 1 else { throw .invalidMetadata(key: "preprocess.resize", detail: "shortest edge 0") }
            resizeMode = .shortestEdge(shortest: resize[1], longest: resize[2] == 0 ? nil : resize[2])
        case 2, 3:
            guard resize[1] >= 1, resize[2] >= 1 else { throw .invalidMetadata(key: "preprocess.resize", detail: "zero size") }
            resizeMode = resize[0] == 2 ? .fixed(height: resize[1], width: resize[2]) : .maxHeightWidth(height: resize[1], width: resize[2])
        default:
            throw .invalidMetadata(key: "preprocess.resize", detail: "unknown resize mode \(resize[0])")
        }
        let rescale = try floats("preprocess.rescale", range: PreprocessConfig.rescaleRange)
        let mean = try floats("preprocess.mean", range: PreprocessConfig.meanRange).map { Float($0) }
        let deviation = try floats("preprocess.std", range: PreprocessConfig.standardDeviationRange).map { Float($0) }
        guard rescale.count <= 1, mean.count == 0 || mean.count == 3, deviation.count == mean.count else {
            throw .invalidMetadata(key: "preprocess", detail: "rescale needs 0 or 1 value, mean and std 0 or 3 each")
        }
        let ids = try integers("labels.ids")
        let names = try strings("labels.names")
        guard ids.count == names.count else {
            throw .invalidMetadata(key: "labels.names", detail: "\(names.count) names for \(ids.count) ids")
        }
        let sortedIDs = ids.sorted()
        for index in sortedIDs.indices.dropFirst() where sortedIDs[index] == sortedIDs[index - 1] {
            throw .invalidMetadata(key: "labels.ids", detail: "id \(sortedIDs[index]) appears twice")
        }
        self.init(
            family: familyList[0], inputHeight: size[0], inputWidth: size[1],
            preprocess: PreprocessConfig(resize: resizeMode, rescaleFactor: rescale.first,
                                         mean: mean.isEmpty ? nil : mean, standardDeviation: deviation.isEmpty ? nil : deviation),
            labelIDs: ids, labelNames: names, topK: try integers("postprocess.top_k", count: 1, range: 1...1_000_000)[0],
            notes: try strings("notes"))
    }
}
