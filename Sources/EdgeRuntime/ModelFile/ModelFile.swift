import Kernels

/// A model file read and validated (docs/FORMAT.md): the graph with its constants borrowed from the
/// mapping, the arena plan, and the metadata. Reading follows the format section by section; every
/// count, offset and size is checked against the file before it is used, and the graph is rebuilt
/// through `Graph.add`, so its shape rules check every op's arity and shapes.
public final class ModelFile {
    public let file: MappedFile
    public let graph: Graph
    public let plan: ArenaPlan
    public let metadata: ModelMetadata
    /// Bytes of constant data in the file (weights and folded constants, as stored).
    public let constantBytes: Int
    /// Bytes of constant data materialized at load: generated constants and weight-only int8 weights
    /// dequantized to float32 (the rest is used in place from the mapping).
    public let materializedBytes: Int

    public convenience init(path: String) throws(ModelFileError) {
        try self.init(file: try MappedFile(path: path))
    }

    public convenience init(bytes: [UInt8]) throws(ModelFileError) {
        let file = bytes.withUnsafeBytes { MappedFile(bytes: $0) }
        try self.init(file: file)
    }

    public init(file: MappedFile) throws(ModelFileError) {
        self.file = file
        let bytes = file.bytes
        let sections = try Self.readSections(bytes)
        let strings = StringTable(bytes: sections.section(.strings))
        metadata = try ModelMetadata(entries: try Self.readMetadata(sections.section(.metadata), strings: strings))
        let (graph, constantBytes) = try Self.readGraph(sections: sections, strings: strings, file: file,
                                                        version: sections.version)
        try Self.checkPackedWeights(graph)
        try Self.checkConstants(graph)
        try Self.checkOutputs(graph)
        self.graph = graph
        self.constantBytes = constantBytes
        materializedBytes = graph.constants.reduce(0) { $0 + $1.ownedByteCount }
        plan = try Self.readPlan(sections.section(.plan), values: graph.values.count)
        try ArenaPlanner.validate(plan, for: graph)
        guard graph.shape(of: graph.inputs[0]) == [metadata.inputHeight, metadata.inputWidth, 3] else {
            throw .invalidMetadata(key: "input.size", detail: "does not match the graph input \(graph.shape(of: graph.inputs[0]))")
        }
        if case .fixed(let height, let width) = metadata.preprocess.resize, height != metadata.inputHeight || width != metadata.inputWidth {
            throw .invalidMetadata(key: "preprocess.resize",
                                   detail: "resizes every image to \(height)x\(width), the graph input is \(metadata.inputHeight)x\(metadata.inputWidth)")
        }
    }

    // MARK: - Header and sections

    struct Sections {
        var version: UInt32 = 0
        var ranges: [UnsafeRawBufferPointer?] = Array(repeating: nil, count: ModelFileFormat.SectionKind.allCases.count + 1)

        func section(_ kind: ModelFileFormat.SectionKind) -> UnsafeRawBufferPointer { ranges[Int(kind.rawValue)]! }
    }

    static func readSections(_ bytes: UnsafeRawBufferPointer) throws(ModelFileError) -> Sections {
        var header = ByteReader(bytes, what: "header")
        // The magic first, so any other file is named for what it is rather than "truncated".
        for (index, byte) in ModelFileFormat.magic.enumerated() where index >= bytes.count || bytes[index] != byte {
            throw index >= bytes.count && index > 0 ? .truncated(what: "header", needed: ModelFileFormat.headerSize, available: bytes.count) : .badMagic
        }
        try header.require(ModelFileFormat.headerSize)
        try header.skip(ModelFileFormat.magic.count)
        let fields = try FileHeaderRecord.read(from: &header)
        let version = fields.version
        let byteOrder = fields.byteOrderMark
        if byteOrder != ModelFileFormat.byteOrderMark {
            throw byteOrder == ModelFileFormat.byteOrderMark.byteSwapped ? .wrongByteOrder : .badHeader(detail: "bad byte-order mark")
        }
        guard (ModelFileFormat.oldestReadableVersion...ModelFileFormat.version).contains(version) else {
            throw .unsupportedVersion(version)
        }
        let headerSize = fields.headerSize
        guard headerSize == UInt32(ModelFileFormat.headerSize) else { throw .badHeader(detail: "header size \(headerSize)") }
        let sectionCount = Int(fields.sectionCount)
        let tableOffset = fields.tableOffset
        let fileSize = fields.fileSize
        let storedCRC = fields.crc
        let computedCRC = modelFileCRC32(UnsafeRawBufferPointer(rebasing: bytes[0..<(ModelFileFormat.headerSize - 4)]))
        guard storedCRC == computedCRC else { throw .headerChecksum(stored: storedCRC, computed: computedCRC) }
        guard fileSize == UInt64(bytes.count) else { throw .fileSizeMismatch(header: fileSize, actual: bytes.count) }
        guard sectionCount <= 16 else { throw .countTooLarge(what: "section", count: sectionCount, limit: 16) }
        guard tableOffset <= UInt64(bytes.count) else {
            throw .truncated(what: "section table", needed: sectionCount * ModelFileFormat.sectionEntrySize, available: 0)
        }
        var table = ByteReader(bytes, what: "section table", at: Int(tableOffset))
        try table.require(sectionCount * ModelFileFormat.sectionEntrySize)
        var sections = Sections()
        sections.version = version
        for _ in 0..<sectionCount {
            let entry = try SectionEntryRecord.read(from: &table)
            let rawKind = entry.kind, offset = entry.offset, size = entry.size, crc = entry.crc
            guard let kind = ModelFileFormat.SectionKind(rawValue: rawKind) else { throw .unknownSection(rawKind) }
            guard sections.ranges[Int(rawKind)] == nil else { throw .duplicateSection(kind.name) }
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, end <= UInt64(bytes.count) else {
                throw .sectionOutOfBounds(section: kind.name, offset: offset, size: size, fileSize: bytes.count)
            }
            guard offset % UInt64(ModelFileFormat.alignment) == 0 else { throw .sectionMisaligned(section: kind.name, offset: offset) }
            let range = UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<Int(end)])
            let computed = modelFileCRC32(range)
            guard computed == crc else { throw .sectionChecksum(section: kind.name, stored: crc, computed: computed) }
            sections.ranges[Int(rawKind)] = range
        }
        for kind in ModelFileFormat.SectionKind.allCases where sections.ranges[Int(kind.rawValue)] == nil {
            throw .missingSection(kind.name)
        }
        return sections
    }

    /// Strings are (offset, length) references into the strings section, UTF-8.
    struct StringTable {
        let bytes: UnsafeRawBufferPointer

        func string(_ reference: StringReference) throws(ModelFileError) -> String {
            let offset = reference.offset, length = reference.length
            let (end, overflow) = Int(offset).addingReportingOverflow(Int(length))
            guard !overflow, end <= bytes.count else {
                throw .badString(offset: offset, length: length, tableSize: bytes.count)
            }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<end])
            guard let text = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
                throw .badString(offset: offset, length: length, tableSize: bytes.count)
            }
            return text
        }

        func read(_ reader: inout ByteReader) throws(ModelFileError) -> String {
            try string(StringReference.read(from: &reader))
        }
    }

    // MARK: - Metadata

    static func readMetadata(_ bytes: UnsafeRawBufferPointer, strings: StringTable) throws(ModelFileError) -> [(key: String, value: MetadataValue)] {
        var reader = ByteReader(bytes, what: "metadata")
        let count = Int(try SectionCountsRecord.read(from: &reader).count)
        guard count <= ModelFileFormat.maximumMetadataEntries else {
            throw .countTooLarge(what: "metadata entry", count: count, limit: ModelFileFormat.maximumMetadataEntries)
        }
        var entries: [(key: String, value: MetadataValue)] = []
        for _ in 0..<count {
            let head = try MetadataEntryRecord.read(from: &reader)
            let key = try strings.string(head.key)
            let rawType = head.type
            let items = Int(head.items)
            guard items <= ModelFileFormat.maximumMetadataItems else {
                throw .countTooLarge(what: "metadata '\(key)' item", count: items, limit: ModelFileFormat.maximumMetadataItems)
            }
            try reader.require(items * 8)
            switch ModelFileFormat.MetadataType(rawValue: rawType) {
            case .integers:
                var values: [Int64] = []
                for _ in 0..<items { values.append(Int64(bitPattern: try reader.u64())) }
                entries.append((key, .integers(values)))
            case .floats:
                var values: [Double] = []
                for _ in 0..<items { values.append(Double(bitPattern: try reader.u64())) }
                entries.append((key, .floats(values)))
            case .strings:
                var values: [String] = []
                for _ in 0..<items { values.append(try strings.read(&reader)) }
                entries.append((key, .strings(values)))
            case nil:
                throw .invalidMetadata(key: key, detail: "unknown type \(rawType)")
            }
        }
        return entries
    }

    // MARK: - Values and nodes

    private struct ValueRecord {
        var name: String
        var source: ModelFileFormat.ValueSourceCode
        var elementType: ElementType
        var quantization: Int8Quantization?
        var shape: [Int]
        /// `ConstantCoding.Code` of a constant (0 raw; always 0 in version 1 and for other values).
        var encoding: UInt8
        var dataOffset: UInt64
        var dataSize: UInt64
    }

    static func readGraph(sections: Sections, strings: StringTable, file: MappedFile,
                          version: UInt32) throws(ModelFileError) -> (Graph, Int) {
        let data = sections.section(.data)
        var values = ByteReader(sections.section(.values), what: "values")
        let valueCount = Int(try SectionCountsRecord.read(from: &values).count)
        guard valueCount <= ModelFileFormat.maximumValues else {
            throw .countTooLarge(what: "value", count: valueCount, limit: ModelFileFormat.maximumValues)
        }
        try values.require(valueCount * ModelFileFormat.valueRecordSize)
        var nodes = ByteReader(sections.section(.nodes), what: "nodes")
        let nodeCounts = try SectionCountsRecord.read(from: &nodes)
        let nodeCount = Int(nodeCounts.count)
        let outputCount = Int(nodeCounts.second)
        guard nodeCount <= ModelFileFormat.maximumNodes, outputCount <= 64 else {
            throw .countTooLarge(what: "node", count: nodeCount, limit: ModelFileFormat.maximumNodes)
        }

        let graph = Graph()
        var constantBytes = 0
        var materializedBytes = 0
        var nodesRead = 0
        for index in 0..<valueCount {
            let record = try readValueRecord(&values, index: index, strings: strings)
            func invalid(_ detail: String) -> ModelFileError { .invalidValue(index: index, name: record.name, detail: detail) }
            switch record.source {
            case .input:
                guard record.encoding == 0 else { throw invalid("constant encoding \(record.encoding) on the graph input") }
                guard graph.inputs.isEmpty else { throw invalid("a second graph input") }
                guard record.shape.count == 3, record.shape[2] == 3, record.elementType == .float32 else {
                    throw invalid("the input must be float32 [height, width, 3], got \(record.shape)")
                }
                _ = graph.input(record.name, shape: record.shape)
            case .constant:
                let (end, overflow) = record.dataOffset.addingReportingOverflow(record.dataSize)
                guard !overflow, end <= UInt64(data.count) else {
                    throw invalid("data at \(record.dataOffset) of \(record.dataSize) bytes is past the end of the data section (\(data.count) bytes)")
                }
                guard record.dataOffset % UInt64(ModelFileFormat.alignment) == 0 else {
                    throw invalid("data offset \(record.dataOffset) is not \(ModelFileFormat.alignment)-byte aligned")
                }
                guard version >= 2 || record.encoding == ConstantCoding.Code.raw.rawValue else {
                    throw invalid("constant encoding \(record.encoding) in a version \(version) file")
                }
                // Encodings other than raw and packed are materialized as float32: bound their sum before
                // any of them is allocated (one recipe of a few bytes can ask for a gigabyte, and several
                // values may reference the same stored bytes).
                if record.encoding == ConstantCoding.Code.generated.rawValue || record.encoding == ConstantCoding.Code.int8PerChannel.rawValue {
                    guard reserveMaterialized(record.shape, used: &materializedBytes) else {
                        throw invalid("materializing \(record.shape) as float32 takes the file's materialized constants past \(RuntimeLimits.maximumMaterializedBytes) bytes")
                    }
                }
                let bytes = UnsafeRawBufferPointer(rebasing: data[Int(record.dataOffset)..<Int(end)])
                let storage: ConstantStorage
                do {
                    storage = try ConstantCoding.decode(code: record.encoding, shape: record.shape, elementType: record.elementType,
                                                        data: bytes, file: file)
                } catch {
                    throw invalid(error.detail)
                }
                do { _ = try graph.constant(record.name, shape: record.shape, storage: storage) } catch { throw .graph(error) }
                constantBytes += Int(record.dataSize)
            case .node:
                guard record.encoding == 0 else { throw invalid("constant encoding \(record.encoding) on a node's value") }
                guard nodesRead < nodeCount else { throw invalid("produced by a node past the \(nodeCount) stored") }
                let node = try readNode(&nodes, index: nodesRead, output: index, strings: strings)
                let id: ValueID
                do {
                    id = try graph.add(node.operation, node.inputs.map(ValueID.init), name: node.name, quantization: record.quantization)
                } catch {
                    throw .graph(error)
                }
                guard graph.shape(of: id) == record.shape else {
                    throw invalid("stored shape \(record.shape), but '\(node.name)' produces \(graph.shape(of: id))")
                }
                let produced = graph.values[id.index]
                guard produced.elementType == record.elementType, produced.quantization == record.quantization else {
                    throw invalid("stored element type \(record.elementType.rawValue), but '\(node.name)' produces \(produced.elementType.rawValue) with other quantization")
                }
                nodesRead += 1
            }
        }
        guard graph.inputs.count == 1 else { throw .invalidValue(index: 0, name: "", detail: "the graph has no input") }
        guard nodesRead == nodeCount else { throw .invalidNode(index: nodesRead, name: "", detail: "node produces no stored value") }
        for _ in 0..<outputCount {
            let record = try GraphOutputRecord.read(from: &nodes)
            let name = try strings.string(record.name)
            let value = Int(record.value)
            guard value < graph.values.count, case .node = graph.values[value].source else {
                throw .invalidNode(index: value, name: name, detail: "graph output '\(name)' is not a node's value")
            }
            graph.markOutput(name, ValueID(value))
        }
        for required in [DetectorOutput.logits, DetectorOutput.boxes] where graph.output(named: required) == nil {
            throw .invalidNode(index: 0, name: required, detail: "the graph has no '\(required)' output")
        }
        return (graph, constantBytes)
    }

    /// Adds the float32 bytes of a constant of `shape` to `used` if the total stays within `limit`.
    static func reserveMaterialized(_ shape: [Int], used: inout Int, limit: Int = RuntimeLimits.maximumMaterializedBytes) -> Bool {
        guard let elements = checkedElementCount(shape), let bytes = checkedProduct(elements, MemoryLayout<Float>.stride),
              used <= limit, bytes <= limit - used else { return false }
        used += bytes
        return true
    }

    private static func readValueRecord(_ reader: inout ByteReader, index: Int, strings: StringTable) throws(ModelFileError) -> ValueRecord {
        let fields = try ValueRecordFields.read(from: &reader)
        let name = try strings.string(fields.name)
        let rawSource = fields.source, rawType = fields.elementType, rank = Int(fields.rank), encoding = fields.encoding
        let zeroPoint = Int32(bitPattern: fields.zeroPoint)
        let dims = fields.storedDimensions
        let scale = Float(bitPattern: fields.scaleBits)
        let dataOffset = fields.dataOffset, dataSize = fields.dataSize
        func invalid(_ detail: String) -> ModelFileError { .invalidValue(index: index, name: name, detail: detail) }
        guard let source = ModelFileFormat.ValueSourceCode(rawValue: rawSource) else { throw invalid("unknown source \(rawSource)") }
        guard let type = ElementType(rawValue: rawType) else { throw invalid("unknown element type \(rawType)") }
        var quantization: Int8Quantization? = nil
        if type == .int8 && source != .constant {
            guard scale.isFinite, scale > 0 else { throw invalid("int8 scale \(scale) must be positive and finite") }
            guard (-128...127).contains(zeroPoint) else { throw invalid("int8 zero point \(zeroPoint) outside -128...127") }
            quantization = Int8Quantization(scale: scale, zeroPoint: zeroPoint)
        }
        guard rank >= 1, rank <= ModelFileFormat.maximumRank else { throw invalid("rank \(rank) outside 1...\(ModelFileFormat.maximumRank)") }
        var shape: [Int] = []
        var count = 1
        for dimension in dims.prefix(rank) {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow, product <= 1 << 36 else { throw invalid("dimensions \(dims.prefix(rank).map { Int($0) }) overflow") }
            count = product
            shape.append(Int(dimension))
        }
        return ValueRecord(name: name, source: source, elementType: type, quantization: quantization, shape: shape,
                           encoding: encoding, dataOffset: dataOffset, dataSize: dataSize)
    }

    private static func readNode(_ reader: inout ByteReader, index: Int, output: Int, strings: StringTable) throws(ModelFileError) -> (name: String, operation: GraphOperation, inputs: [Int]) {
        let head = try NodeRecordHead.read(from: &reader)
        let name = try strings.string(head.name)
        let opcode = head.opcode
        let inputCount = Int(head.inputCount)
        let wordCount = Int(head.wordCount)
        let storedOutput = Int(head.output)
        func invalid(_ detail: String) -> ModelFileError { .invalidNode(index: index, name: name, detail: detail) }
        guard inputCount <= ModelFileFormat.maximumInputsPerNode else { throw invalid("\(inputCount) inputs") }
        guard wordCount <= ModelFileFormat.maximumAttributeWords else { throw invalid("\(wordCount) attribute words") }
        guard storedOutput == output else { throw invalid("writes value \(storedOutput), expected \(output)") }
        var inputs: [Int] = []
        for _ in 0..<inputCount {
            let input = Int(try reader.u32())
            guard input < output else { throw invalid("reads value \(input), which is not defined before it") }
            inputs.append(input)
        }
        var words: [UInt64] = []
        for _ in 0..<wordCount { words.append(try reader.u64()) }
        let operation = try OperationCoding.decode(opcode: opcode, words: words, node: name)
        return (name, operation, inputs)
    }

    /// How this CPU gets the int8 weights of the quantized layers (stored bytes): packed in its
    /// kernel's layout and used in place, packed for another CPU and repacked at load, or stored raw
    /// and packed at load.
    public var int8WeightPlacement: (inPlace: Int, repacked: Int, packedAtLoad: Int) {
        var placement = (inPlace: 0, repacked: 0, packedAtLoad: 0)
        for node in graph.nodes {
            guard let layer = QuantizedLayerWeights(node: node, in: graph) else { continue }
            switch layer.placement {
            case .inPlace: placement.inPlace += layer.storedByteCount
            case .repacked: placement.repacked += layer.storedByteCount
            case .packedAtLoad: placement.packedAtLoad += layer.storedByteCount
            }
        }
        return placement
    }

    // MARK: - Packed weights

    /// Packed int8 weights carry their layer's bias (input zero point folded in) and scales, so each
    /// packed constant must be read only as the weight of quantized linear layers or convolutions (in
    /// the matching depth order) whose input zero point, bias and scales give exactly its panels.
    static func checkPackedWeights(_ graph: Graph) throws(ModelFileError) {
        for node in graph.nodes {
            for (position, input) in node.inputs.enumerated() {
                guard case .constant(let c) = graph.values[input.index].source,
                      let packed = graph.constants[c].packedWeights else { continue }
                let name = graph.values[input.index].name
                func invalid(_ detail: String) -> ModelFileError { .invalidValue(index: input.index, name: name, detail: detail) }
                guard node.operation.isQuantized, node.operation.operand(at: position) == .weight else {
                    throw invalid("packed int8 weights read by '\(node.name)' as input \(position); only the weights of quantized linear layers and convolutions are packed")
                }
                guard let layer = QuantizedLayerWeights(node: node, in: graph), layer.bias?.packedWeights == nil else {
                    throw invalid("'\(node.name)' needs constant biases and scales beside packed weights")
                }
                guard packed.depthOrder == layer.depthOrder else {
                    throw invalid("packed in depth order \(packed.depthOrder.rawValue), '\(node.name)' reads order \(layer.depthOrder.rawValue)")
                }
                guard packed.inputZeroPoint == layer.inputZeroPoint else {
                    throw invalid("packed for input zero point \(packed.inputZeroPoint), '\(node.name)' reads one of \(layer.inputZeroPoint)")
                }
                if let problem = packed.weights.foldingProblem(bias: layer.bias?.int32Pointer, scales: layer.scales.pointer,
                                                               inputZeroPoint: layer.inputZeroPoint) {
                    throw invalid("packed int8 weights of '\(node.name)': \(problem)")
                }
            }
        }
    }

    // MARK: - Constants and outputs

    /// No float32 constant may hold NaN, and the parameters of layers (weights, biases, norm gains
    /// and offsets, PReLU slopes, requantization scales) must be finite, the scales positive: a NaN
    /// weight would otherwise run and print NaN boxes with a success status. Other constants may hold
    /// infinities on purpose (two-stage Deformable DETR's proposals are +inf where a token is invalid).
    static func checkConstants(_ graph: Graph) throws(ModelFileError) {
        var isParameter = [Bool](repeating: false, count: graph.values.count)
        var isScale = [Bool](repeating: false, count: graph.values.count)
        for node in graph.nodes {
            for (position, input) in node.inputs.enumerated() {
                switch node.operation.operand(at: position) {
                case .weight, .bias, .gamma, .beta, .alpha: isParameter[input.index] = true
                case .scales: isScale[input.index] = true
                default: break
                }
            }
        }
        for (index, value) in graph.values.enumerated() {
            guard case .constant(let c) = value.source, value.elementType == .float32 else { continue }
            let storage = graph.constants[c]
            let values = storage.pointer
            for element in 0..<storage.count {
                let x = values[element]
                if x.isNaN || ((isParameter[index] || isScale[index]) && !x.isFinite) || (isScale[index] && !(x > 0)) {
                    let expected = isScale[index] ? "a positive finite requantization scale" : isParameter[index] ? "a finite number" : "not NaN"
                    throw .invalidValue(index: index, name: value.name, detail: "element \(element) is \(x), expected \(expected)")
                }
            }
        }
    }

    /// The outputs the runtime reads: float32 `logits` [queries, labels] and `pred_boxes` [queries, 4].
    static func checkOutputs(_ graph: Graph) throws(ModelFileError) {
        guard let logits = graph.output(named: DetectorOutput.logits), let boxes = graph.output(named: DetectorOutput.boxes) else {
            throw .invalidNode(index: 0, name: DetectorOutput.logits, detail: "the graph needs '\(DetectorOutput.logits)' and '\(DetectorOutput.boxes)' outputs")
        }
        let logitsInfo = graph.values[logits.index], boxesInfo = graph.values[boxes.index]
        guard logitsInfo.elementType == .float32, logitsInfo.shape.count == 2, logitsInfo.shape[0] >= 1, logitsInfo.shape[1] >= 1 else {
            throw .invalidValue(index: logits.index, name: logitsInfo.name,
                                detail: "output 'logits' must be float32 [queries, labels], got \(logitsInfo.elementType) \(logitsInfo.shape)")
        }
        guard boxesInfo.elementType == .float32, boxesInfo.shape == [logitsInfo.shape[0], 4] else {
            throw .invalidValue(index: boxes.index, name: boxesInfo.name,
                                detail: "output 'pred_boxes' must be float32 [\(logitsInfo.shape[0]), 4], got \(boxesInfo.elementType) \(boxesInfo.shape)")
        }
    }

    // MARK: - Plan

    static func readPlan(_ bytes: UnsafeRawBufferPointer, values: Int) throws(ModelFileError) -> ArenaPlan {
        var reader = ByteReader(bytes, what: "plan")
        let head = try PlanRecordHead.read(from: &reader)
        let size = head.size
        let count = Int(head.count)
        guard size <= UInt64(RuntimeLimits.maximumWorkingBytes) else {
            throw .invalidPlan(detail: "arena of \(size) bytes exceeds the limit of \(RuntimeLimits.maximumWorkingBytes)")
        }
        guard count == values else { throw .invalidPlan(detail: "\(count) offsets for \(values) values") }
        try reader.require(count * 8)
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        for _ in 0..<count {
            let raw = Int64(bitPattern: try reader.u64())
            guard raw >= -1, raw <= 1 << 40 else { throw .invalidPlan(detail: "offset \(raw)") }
            offsets.append(Int(raw))
        }
        return ArenaPlan(offsets: offsets, size: Int(size))
    }
}
