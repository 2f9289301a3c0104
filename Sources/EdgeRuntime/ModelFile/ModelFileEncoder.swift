import Kernels

/// Writes a graph, its arena plan and its metadata as one model file (docs/FORMAT.md): the encoding
/// `ModelFile` decodes, kept in the same module and folder so that the two change together (opcodes
/// and attributes through `OperationCoding`, constants through `ConstantCoding`, both shared). Layout:
/// header, sections at 64-byte aligned offsets, constant data at 64-byte aligned offsets within the
/// data section, the section table last. The output depends only on its inputs, so identical inputs
/// give byte-identical files. libc only: the quantizer writes the bytes to disk, a board could too.
public enum ModelFileEncoder {
    /// - Parameter weightLayout: store the int8 weights of quantized linear layers and convolutions
    ///   packed in this kernel layout (encoding 3: used in place by a CPU whose kernel reads it,
    ///   repacked at load by others); nil stores them raw, in PyTorch layout.
    public static func encode(graph: Graph, plan: ArenaPlan, metadata: ModelMetadata,
                              weightLayout: Int8WeightLayout? = nil) -> [UInt8] {
        var strings = StringTableBuilder()
        let packed = weightLayout.map { packedWeights(of: graph, layout: $0) } ?? [:]

        // Metadata.
        var metadataBytes = ByteWriter()
        let entries = metadata.entries
        SectionCountsRecord(count: UInt32(entries.count)).write(to: &metadataBytes)
        for entry in entries {
            var head = MetadataEntryRecord(key: strings.reference(entry.key))
            switch entry.value {
            case .integers(let values):
                head.type = ModelFileFormat.MetadataType.integers.rawValue
                head.items = UInt32(values.count)
                head.write(to: &metadataBytes)
                for value in values { metadataBytes.u64(UInt64(bitPattern: value)) }
            case .floats(let values):
                head.type = ModelFileFormat.MetadataType.floats.rawValue
                head.items = UInt32(values.count)
                head.write(to: &metadataBytes)
                for value in values { metadataBytes.u64(value.bitPattern) }
            case .strings(let values):
                head.type = ModelFileFormat.MetadataType.strings.rawValue
                head.items = UInt32(values.count)
                head.write(to: &metadataBytes)
                for value in values { strings.reference(value).write(to: &metadataBytes) }
            }
        }

        // Values, with constant data laid out in the data section.
        var data = ByteWriter()
        var values = ByteWriter()
        SectionCountsRecord(count: UInt32(graph.values.count)).write(to: &values)
        for value in graph.values {
            let start = values.bytes.count
            var dataOffset = ModelFileFormat.none64
            var dataSize: UInt64 = 0
            var encoding: UInt8 = 0
            let source: ModelFileFormat.ValueSourceCode
            switch value.source {
            case .input:
                source = .input
            case .node:
                source = .node
            case .constant(let c):
                source = .constant
                data.align(to: ModelFileFormat.alignment)
                dataOffset = UInt64(data.bytes.count)
                let storage = packed[c] ?? graph.constants[c]
                encoding = storage.encoding.code
                ConstantCoding.encode(storage, into: &data.bytes)
                dataSize = UInt64(data.bytes.count) - dataOffset
                precondition(dataSize == UInt64(storage.storedByteCount), "constant encoding layout")
            }
            func dimension(_ axis: Int) -> UInt32 { axis < value.shape.count ? UInt32(value.shape[axis]) : 0 }
            ValueRecordFields(name: strings.reference(value.name), source: source.rawValue, elementType: value.elementType.rawValue,
                              rank: UInt8(value.shape.count), encoding: encoding,
                              zeroPoint: UInt32(bitPattern: value.quantization?.zeroPoint ?? 0),
                              dimensions: (dimension(0), dimension(1), dimension(2), dimension(3)),
                              scaleBits: (value.quantization?.scale ?? 0).bitPattern, dataOffset: dataOffset, dataSize: dataSize)
                .write(to: &values)
            precondition(values.bytes.count - start == ModelFileFormat.valueRecordSize, "value record layout")
        }

        // Nodes, then the named graph outputs.
        var nodes = ByteWriter()
        SectionCountsRecord(count: UInt32(graph.nodes.count), second: UInt32(graph.outputs.count)).write(to: &nodes)
        for node in graph.nodes {
            let (opcode, words) = OperationCoding.encode(node.operation)
            NodeRecordHead(name: strings.reference(node.name), opcode: opcode.rawValue, inputCount: UInt32(node.inputs.count),
                           wordCount: UInt32(words.count), output: UInt32(node.output.index)).write(to: &nodes)
            for input in node.inputs { nodes.u32(UInt32(input.index)) }
            for word in words { nodes.u64(word) }
        }
        for output in graph.outputs {
            GraphOutputRecord(name: strings.reference(output.name), value: UInt32(output.value.index)).write(to: &nodes)
        }

        // Arena plan.
        var planBytes = ByteWriter()
        PlanRecordHead(size: UInt64(plan.size), count: UInt32(plan.offsets.count)).write(to: &planBytes)
        for offset in plan.offsets { planBytes.u64(UInt64(bitPattern: Int64(offset))) }

        // Assemble: header, sections, section table.
        let sections: [(ModelFileFormat.SectionKind, [UInt8])] = [
            (.strings, strings.bytes), (.metadata, metadataBytes.bytes), (.values, values.bytes),
            (.nodes, nodes.bytes), (.plan, planBytes.bytes), (.data, data.bytes),
        ]
        var file = ByteWriter()
        file.bytes = [UInt8](repeating: 0, count: ModelFileFormat.headerSize)
        var table = ByteWriter()
        for (kind, bytes) in sections {
            file.align(to: ModelFileFormat.alignment)
            let offset = file.bytes.count
            file.bytes.append(contentsOf: bytes)
            SectionEntryRecord(kind: kind.rawValue, offset: UInt64(offset), size: UInt64(bytes.count),
                               crc: bytes.withUnsafeBytes { modelFileCRC32($0) }).write(to: &table)
        }
        file.align(to: ModelFileFormat.alignment)
        let tableOffset = file.bytes.count
        file.bytes.append(contentsOf: table.bytes)

        var fields = FileHeaderRecord(version: ModelFileFormat.version, byteOrderMark: ModelFileFormat.byteOrderMark,
                                      headerSize: UInt32(ModelFileFormat.headerSize), sectionCount: UInt32(sections.count),
                                      tableOffset: UInt64(tableOffset), fileSize: UInt64(file.bytes.count))
        func headerBytes() -> ByteWriter {
            var header = ByteWriter()
            header.bytes.append(contentsOf: ModelFileFormat.magic)
            fields.write(to: &header)
            return header
        }
        // The checksum covers every header byte before it.
        fields.crc = headerBytes().bytes.withUnsafeBytes { modelFileCRC32(UnsafeRawBufferPointer(rebasing: $0[0..<(ModelFileFormat.headerSize - 4)])) }
        let header = headerBytes()
        file.bytes.replaceSubrange(0..<ModelFileFormat.headerSize, with: header.bytes)
        return file.bytes
    }

    /// The weights of each quantized linear layer and convolution packed in `layout` with the layer's
    /// bias, scales and input zero point, by constant index. A raw int8 weight read by anything else
    /// too stays raw (its panels would fold one layer's bias).
    static func packedWeights(of graph: Graph, layout: Int8WeightLayout) -> [Int: ConstantStorage] {
        var readers = [Int](repeating: 0, count: graph.values.count)
        for node in graph.nodes { for input in node.inputs { readers[input.index] += 1 } }
        var packed: [Int: ConstantStorage] = [:]
        for node in graph.nodes {
            guard let layer = QuantizedLayerWeights(node: node, in: graph), layer.placement == .packedAtLoad,
                  let weight = node[.weight], readers[weight.index] == 1, case .raw = layer.weight.encoding,
                  case .constant(let c) = graph.values[weight.index].source else { continue }
            packed[c] = ConstantStorage(packed: PackedWeightEncoding(weights: layer.packedFromRaw(layout: layout), depthOrder: layer.depthOrder,
                                                                     inputZeroPoint: layer.inputZeroPoint),
                                        count: layer.weight.count, from: nil)
        }
        return packed
    }
}

/// Little-endian byte output.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func align(to alignment: Int) {
        let padding = (alignment - bytes.count % alignment) % alignment
        bytes.append(contentsOf: [UInt8](repeating: 0, count: padding))
    }
}

/// The strings section: each distinct string stored once, referenced by (offset, length).
struct StringTableBuilder {
    var bytes: [UInt8] = []
    /// Keyed by UTF-8 bytes: strings are stored as bytes, so two that compare equal as Strings but
    /// differ in bytes (NFC and NFD forms) are two strings here.
    private var offsets: [[UInt8]: UInt32] = [:]

    mutating func reference(_ string: String) -> StringReference {
        let utf8 = Array(string.utf8)
        let offset: UInt32
        if let known = offsets[utf8] {
            offset = known
        } else {
            offset = UInt32(bytes.count)
            bytes.append(contentsOf: utf8)
            offsets[utf8] = offset
        }
        return StringReference(offset: offset, length: UInt32(utf8.count))
    }
}
