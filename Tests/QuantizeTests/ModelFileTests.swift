import EdgeRuntime
import Foundation
import Kernels
import Quantize
import Testing

/// The model file: a round trip reproduces the in-memory graph bit for bit, writing is deterministic,
/// and a corpus of corrupt files each gives a typed error (never a crash).
@Suite struct ModelFileTests {
    /// The float model file of a fixture, built for its image 0's input size.
    static func floatModel(_ name: String = "deformable_base") throws -> (bytes: [UInt8], graph: Graph, plan: ArenaPlan, fixture: GoldenFixture) {
        let fixture = try GoldenFixture(name)
        let input = try fixture.pixelValues(image: 0)
        let checkpoint = try CheckpointFolder(path: fixture.folder)
        let graph = try DetectorGraph.build(checkpoint, height: input.height, width: input.width)
        let plan = ArenaPlanner.plan(graph)
        let preprocess = try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig)
        let metadata = ModelExport.metadata(for: checkpoint, preprocess: preprocess, height: input.height, width: input.width, notes: [])
        return (ModelFileWriter.encode(graph: graph, plan: plan, metadata: metadata), graph, plan, fixture)
    }

    @Test(arguments: ["deformable_base", "deformable_refine_two_stage", "dab_detr_patterns", "conditional_detr", "rt_detr_r50vd", "rt_detr_v2_discrete"])
    func roundTripRunsBitIdentically(_ name: String) throws {
        let (bytes, graph, plan, fixture) = try Self.floatModel(name)
        let model = try ModelFile(bytes: bytes)
        #expect(model.graph.nodes.count == graph.nodes.count)
        #expect(model.plan == plan)
        let input = try fixture.pixelValues(image: 0)
        let fromMemory = try GraphExecutor(graph: graph).run(input: input.values)
        let fromFile = try GraphExecutor(graph: model.graph, plan: model.plan).run(input: input.values)
        for (a, b) in zip(fromMemory, fromFile) {
            #expect(a.name == b.name && a.values == b.values, "\(name): output \(a.name) differs after the round trip")
        }
        let logits = try fixture.tensor("image0.logits").values
        let comparison = Comparison(got: fromFile.first { $0.name == "logits" }!.values, want: logits, absolute: 1e-4, relative: 1e-4)
        #expect(comparison.passes, "\(comparison)")
    }

    /// The image position embeddings are stored as recipes and regenerated at load, bit for bit.
    @Test(arguments: ["deformable_base", "dab_detr", "conditional_detr"])
    func positionEmbeddingsAreStoredAsRecipes(_ name: String) throws {
        let (bytes, graph, _, _) = try Self.floatModel(name)
        let model = try ModelFile(bytes: bytes)
        let position = name.hasPrefix("deformable") ? "model.encoder.position_embeddings" : "model.position_embeddings"
        let index = try #require(graph.values.firstIndex { $0.name == position })
        guard case .constant(let c) = graph.values[index].source, case .constant(let r) = model.graph.values[index].source else {
            Issue.record("\(position) is not a constant")
            return
        }
        guard case .generated = model.graph.constants[r].encoding else {
            Issue.record("\(position) is stored \(model.graph.constants[r].encoding.name)")
            return
        }
        #expect(model.graph.constants[r].values.map(\.bitPattern) == graph.constants[c].values.map(\.bitPattern))
        #expect(model.graph.constants[r].storedByteCount < 8 * 1024)
        #expect(model.materializedBytes >= graph.constants[c].byteCount)
    }

    /// A float model whose every convolution and linear weight is weight-only int8 (nothing runs int8).
    static func weightOnlyModel() throws -> (bytes: [UInt8], graph: Graph, plan: ArenaPlan, input: [Float]) {
        let (_, float, _, fixture) = try Self.floatModel()
        let input = try fixture.pixelValues(image: 0)
        let statistics = try ActivationStatistics.collect(graph: float, inputs: [input.values], method: .minMax, threads: 1)
        var options = QuantizationOptions()
        options.floatLayers = Set(float.nodes.map(\.name))
        options.weightOnlyInt8 = true
        let graph = try GraphQuantizer.quantize(float, statistics: statistics, options: options).graph
        let plan = ArenaPlanner.plan(graph)
        let checkpoint = try CheckpointFolder(path: fixture.folder)
        let preprocess = try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig)
        let metadata = ModelExport.metadata(for: checkpoint, preprocess: preprocess, height: input.height, width: input.width, notes: [])
        return (ModelFileWriter.encode(graph: graph, plan: plan, metadata: metadata), graph, plan, input.values)
    }

    @Test func weightOnlyInt8RoundTripsExactly() throws {
        let (bytes, graph, plan, input) = try Self.weightOnlyModel()
        #expect(bytes == (try Self.weightOnlyModel().bytes))
        let model = try ModelFile(bytes: bytes)
        var encoded = 0
        for (index, value) in graph.values.enumerated() {
            guard case .constant(let c) = value.source, case .constant(let r) = model.graph.values[index].source,
                  case .int8PerChannel(let q, let scales) = graph.constants[c].encoding else { continue }
            encoded += 1
            let perOutput = q.count / scales.count
            let read = model.graph.constants[r].values
            let expected = (0..<q.count).map { Float(q.int8Pointer[$0]) * scales.pointer[$0 / perOutput] }
            #expect(read.map(\.bitPattern) == expected.map(\.bitPattern), "\(value.name)")
            #expect(graph.constants[c].values.map(\.bitPattern) == expected.map(\.bitPattern), "\(value.name)")
        }
        #expect(encoded > 50)
        let fromMemory = try GraphExecutor(graph: graph, plan: plan).run(input: input)
        let fromFile = try GraphExecutor(graph: model.graph, plan: model.plan).run(input: input)
        for (a, b) in zip(fromMemory, fromFile) { #expect(a.values == b.values, "\(a.name) differs after the round trip") }
        // A quarter of the weight bytes, plus one scale per output channel.
        let float = try Self.floatModel().bytes
        #expect(bytes.count < float.count / 2, "\(bytes.count) bytes, float \(float.count)")
    }

    @Test func writingIsDeterministicAndFromDiskIsMapped() throws {
        let first = try Self.floatModel().bytes
        let second = try Self.floatModel().bytes
        #expect(first == second)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-\(UUID().uuidString).edq").path
        try Data(first).write(to: URL(fileURLWithPath: path))
        let model = try ModelFile(path: path)
        #expect(model.metadata.family == "deformable_detr")
        #expect(model.metadata.labelName(0) == "square")
        #expect(model.constantBytes > 0 && model.constantBytes < first.count)
    }

    // MARK: - Corrupt files

    /// Offsets of the sections in a well-formed file: kind -> (offset, size).
    static func sections(_ bytes: [UInt8]) -> [UInt32: (offset: Int, size: Int)] {
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        func u64(_ at: Int) -> Int { Int(u32(at)) | Int(u32(at + 4)) << 32 }
        let table = u64(24)
        var result: [UInt32: (Int, Int)] = [:]
        for index in 0..<Int(u32(20)) {
            let entry = table + index * 32
            result[u32(entry)] = (u64(entry + 8), u64(entry + 16))
        }
        return result
    }

    /// Recomputes every section checksum and the header checksum, so a deliberate corruption
    /// inside a section reaches the structural checks behind them.
    static func resealed(_ original: [UInt8]) -> [UInt8] {
        var bytes = original
        func put32(_ value: UInt32, at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) } }
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        func u64(_ at: Int) -> Int { Int(u32(at)) | Int(u32(at + 4)) << 32 }
        let table = u64(24)
        for index in 0..<Int(u32(20)) {
            let entry = table + index * 32
            let (offset, size) = (u64(entry + 8), u64(entry + 16))
            put32(bytes[offset..<offset + size].withUnsafeBytes { modelFileCRC32($0) }, at: entry + 24)
        }
        put32(bytes[0..<60].withUnsafeBytes { modelFileCRC32($0) }, at: 60)
        return bytes
    }

    static func expectError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation,
                            _ matches: (ModelFileError) -> Bool) {
        do {
            _ = try ModelFile(bytes: bytes)
            Issue.record("expected the corrupt file to be refused", sourceLocation: sourceLocation)
        } catch {
            #expect(matches(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedAtEverySectionBoundary() throws {
        let bytes = try Self.floatModel().bytes
        var cuts = [0, 8, 63, 64, bytes.count - 1]
        for (_, section) in Self.sections(bytes) { cuts += [section.offset, section.offset + section.size / 2] }
        for cut in cuts where cut < bytes.count {
            Self.expectError(Array(bytes.prefix(cut))) { _ in true }
        }
    }

    @Test func badMagicVersionAndByteOrder() throws {
        let bytes = try Self.floatModel().bytes
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        Self.expectError(magic) { $0 == .badMagic }
        var version = bytes
        version[8] = 9
        Self.expectError(version) { $0 == .unsupportedVersion(9) }
        var order = bytes
        order.replaceSubrange(12..<16, with: [1, 2, 3, 4])
        Self.expectError(order) { $0 == .wrongByteOrder }
    }

    @Test func flippedChecksums() throws {
        let bytes = try Self.floatModel().bytes
        var header = bytes
        header[40] ^= 1
        Self.expectError(header) { if case .headerChecksum = $0 { true } else { false } }
        let data = Self.sections(bytes)[ModelFileFormat.SectionKind.data.rawValue]!
        var payload = bytes
        payload[data.offset + 100] ^= 0x40
        Self.expectError(payload) { if case .sectionChecksum(let section, _, _) = $0 { section == "data" } else { false } }
    }

    /// Byte offset of value record `index` in the values section.
    static func valueRecord(_ bytes: [UInt8], _ index: Int) -> Int {
        Self.sections(bytes)[ModelFileFormat.SectionKind.values.rawValue]!.offset + 8 + index * ModelFileFormat.valueRecordSize
    }

    @Test func dimensionsWhoseProductOverflows() throws {
        let (bytes, graph, _, _) = try Self.floatModel()
        let constant = graph.values.firstIndex { if case .constant = $0.source { true } else { false } }!
        var corrupt = bytes
        let record = Self.valueRecord(bytes, constant)
        corrupt[record + 10] = 4  // rank 4
        for axis in 0..<4 { corrupt.replaceSubrange(record + 16 + axis * 4 ..< record + 20 + axis * 4, with: [0xFF, 0xFF, 0xFF, 0x7F]) }
        Self.expectError(Self.resealed(corrupt)) { if case .invalidValue(_, _, let detail) = $0 { detail.contains("overflow") } else { false } }
    }

    @Test func tensorOffsetPastTheEnd() throws {
        let (bytes, graph, _, _) = try Self.floatModel()
        let constant = graph.values.firstIndex { if case .constant = $0.source { true } else { false } }!
        var corrupt = bytes
        let record = Self.valueRecord(bytes, constant)
        corrupt.replaceSubrange(record + 40 ..< record + 48, with: [0, 0, 0, 0, 0, 0, 0, 0x10])
        Self.expectError(Self.resealed(corrupt)) { if case .invalidValue(_, _, let detail) = $0 { detail.contains("past the end") } else { false } }
    }

    @Test func arenaPlanWithOverlappingLiveBuffers() throws {
        let (bytes, graph, plan, _) = try Self.floatModel()
        // The first node's output and its input are alive together: give them the same offset.
        let node = graph.nodes[0]
        var corrupt = bytes
        let planSection = Self.sections(bytes)[ModelFileFormat.SectionKind.plan.rawValue]!
        let target = planSection.offset + 16 + node.output.index * 8
        let offset = UInt64(plan.offsets[node.inputs[0].index])
        corrupt.replaceSubrange(target ..< target + 8, with: (0..<8).map { UInt8(truncatingIfNeeded: offset >> (8 * UInt64($0))) })
        Self.expectError(Self.resealed(corrupt)) { if case .overlappingBuffers = $0 { true } else { false } }
    }

    /// Byte offset of the first node record's opcode.
    static func firstOpcode(_ bytes: [UInt8]) -> Int {
        Self.sections(bytes)[ModelFileFormat.SectionKind.nodes.rawValue]!.offset + 8 + 8
    }

    @Test func opWithTheWrongNumberOfInputs() throws {
        let bytes = try Self.floatModel().bytes
        var corrupt = bytes
        // conv2d (3 inputs, 3 attribute words) relabelled max-pool (1 input, 3 attribute words).
        corrupt[Self.firstOpcode(bytes)] = UInt8(OperationCoding.Opcode.maxPool2d.rawValue)
        Self.expectError(Self.resealed(corrupt)) { if case .graph(.arity) = $0 { true } else { false } }
    }

    @Test func unknownOpCode() throws {
        let bytes = try Self.floatModel().bytes
        var corrupt = bytes
        corrupt[Self.firstOpcode(bytes)] = 250
        Self.expectError(Self.resealed(corrupt)) { $0 == .unknownOpcode(node: "backbone.conv1", opcode: 250) }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        let bytes = try Self.floatModel().bytes
        var generator = SplitMix64(seed: 7)
        // Flip bytes inside the sections (the header and section table have their own tests), then
        // reseal so the flip reaches the structural checks.
        let table = Self.sections(bytes).values.map { $0.offset + $0.size }.max()!
        for _ in 0..<300 {
            var corrupt = bytes
            let position = ModelFileFormat.headerSize + Int(generator.next() % UInt64(table - ModelFileFormat.headerSize))
            corrupt[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            _ = try? ModelFile(bytes: Self.resealed(corrupt))
        }
    }

    // MARK: - Corrupt encoded constants

    static func put32(_ bytes: inout [UInt8], _ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    static func u64(_ bytes: [UInt8], at offset: Int) -> Int {
        (0..<8).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
    }

    /// Byte offset in the file of the data of value `index` (a constant).
    static func constantData(_ bytes: [UInt8], _ index: Int) -> Int {
        Self.sections(bytes)[ModelFileFormat.SectionKind.data.rawValue]!.offset + u64(bytes, at: valueRecord(bytes, index) + 40)
    }

    /// Expects `invalidValue` naming `name` with a detail containing `detail`.
    static func expectInvalid(_ bytes: [UInt8], _ name: String, _ detail: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectError(resealed(bytes), sourceLocation: sourceLocation) { error in
            if case .invalidValue(_, let value, let text) = error { value == name && text.contains(detail) } else { false }
        }
    }

    @Test func badSinePositionRecipes() throws {
        let (bytes, graph, _, _) = try Self.floatModel()
        let name = "model.encoder.position_embeddings"
        let index = try #require(graph.values.firstIndex { $0.name == name })
        let recipe = Self.constantData(bytes, index)
        #expect(bytes[Self.valueRecord(bytes, index) + 11] == ConstantCoding.Code.generated.rawValue)
        func corrupt(_ offset: Int, _ value: UInt32, _ detail: String, sourceLocation: SourceLocation = #_sourceLocation) {
            var copy = bytes
            Self.put32(&copy, value, at: recipe + offset)
            Self.expectInvalid(copy, name, detail, sourceLocation: sourceLocation)
        }
        corrupt(0, 7, "unknown recipe 7")
        corrupt(4, 0, "0 levels")
        corrupt(4, 9, "9 levels")
        corrupt(8, 0, "0 features")
        corrupt(8, 1 << 20, "features")
        corrupt(8, 8, "bytes, expected")  // fewer features: the level embedding no longer fits
        corrupt(12, 6, "unknown recipe flags")
        corrupt(12, 0, "bytes, expected")  // no level embedding, but its bytes are there
        corrupt(16, Float.nan.bitPattern, "temperatures")
        corrupt(20, 0, "temperatures")
        corrupt(20, (-1 as Float).bitPattern, "temperatures")
        corrupt(24, Float.infinity.bitPattern, "finite")
        corrupt(28, Float.nan.bitPattern, "finite")
        corrupt(32, 0, "level 0 is 0x")
        corrupt(32, 0xFFFF_FFFF, "level 0 is")
        corrupt(32 + 4, 16384, "the recipe generates")  // a wider level: not the value's shape
        var huge = bytes
        for level in 0..<4 {
            Self.put32(&huge, 16384, at: recipe + 32 + 8 * level)
            Self.put32(&huge, 16384, at: recipe + 36 + 8 * level)
        }
        Self.expectInvalid(huge, name, "exceed")
        // The recipe's byte count in the value record disagrees with its parameters.
        var size = bytes
        Self.put32(&size, UInt32(Self.u64(bytes, at: Self.valueRecord(bytes, index) + 48) - 4), at: Self.valueRecord(bytes, index) + 48)
        Self.expectInvalid(size, name, "bytes, expected")
        // A float32 constant relabelled int32 cannot be generated.
        var type = bytes
        type[Self.valueRecord(bytes, index) + 9] = ElementType.int32.rawValue
        Self.expectInvalid(type, name, "must be float32")
    }

    @Test func badWeightOnlyInt8() throws {
        let (bytes, graph, _, _) = try Self.weightOnlyModel()
        let index = try #require(graph.values.firstIndex { value in
            guard case .constant(let c) = value.source, case .int8PerChannel = graph.constants[c].encoding else { return false }
            return value.shape.count == 2 && value.shape[0] >= 2
        })
        let name = graph.values[index].name
        let shape = graph.values[index].shape
        let record = Self.valueRecord(bytes, index)
        let data = Self.constantData(bytes, index)
        #expect(bytes[record + 11] == ConstantCoding.Code.int8PerChannel.rawValue)
        func corrupt(_ detail: String, sourceLocation: SourceLocation = #_sourceLocation, _ change: (inout [UInt8]) -> Void) {
            var copy = bytes
            change(&copy)
            Self.expectInvalid(copy, name, detail, sourceLocation: sourceLocation)
        }
        corrupt("scale 0 = nan") { Self.put32(&$0, Float.nan.bitPattern, at: data) }
        corrupt("scale 1 = 0.0 must be positive") { Self.put32(&$0, 0, at: data + 4) }
        corrupt("must be positive and finite") { Self.put32(&$0, (-0.5 as Float).bitPattern, at: data) }
        corrupt("must be positive and finite") { Self.put32(&$0, Float.infinity.bitPattern, at: data) }
        corrupt("is -128") { $0[data + 4 * shape[0] + 3] = 0x80 }
        // One more output row than the data holds: the scales and values no longer add up.
        corrupt("data bytes, expected \(shape[0] + 1) float32 scales") { Self.put32(&$0, UInt32(shape[0] + 1), at: record + 16) }
        corrupt("past the end") { $0.replaceSubrange(record + 48 ..< record + 56, with: [UInt8](repeating: 0xFF, count: 8)) }
        corrupt("needs a float32 weight") { $0[record + 9] = ElementType.int32.rawValue }
        corrupt("unknown constant encoding 9") { $0[record + 11] = 9 }
        // Dimensions whose product overflows are refused before any size is computed.
        corrupt("overflow") {
            $0[record + 10] = 4
            for axis in 0..<4 { Self.put32(&$0, 0x7FFF_FFFF, at: record + 16 + axis * 4) }
        }
    }

    @Test func encodingsNeedVersion2AndOnlyConstantsHaveThem() throws {
        let (bytes, graph, _, _) = try Self.floatModel()
        // Version 1 had no encodings: a raw-only version 1 file is still read, an encoded one refused.
        var version1 = bytes
        version1[8] = 1
        Self.expectInvalid(version1, "model.encoder.position_embeddings", "constant encoding 2 in a version 1 file")
        var raw = ModelFileWriter.encode(graph: try Self.rawOnly(graph), plan: ArenaPlanner.plan(graph),
                                         metadata: try ModelFile(bytes: bytes).metadata)
        raw[8] = 1
        let model = try ModelFile(bytes: Self.resealed(raw))
        #expect(model.graph.values.count == graph.values.count)
        // Version 3 is refused by name.
        var version3 = bytes
        version3[8] = 3
        Self.expectError(Self.resealed(version3)) { $0 == .unsupportedVersion(3) }
        #expect(ModelFileError.unsupportedVersion(3).description.contains("reads versions 1 to 2"))
        // A node's value with an encoding.
        let node = try #require(graph.values.firstIndex { if case .node = $0.source { true } else { false } })
        var nodeEncoding = bytes
        nodeEncoding[Self.valueRecord(bytes, node) + 11] = 1
        Self.expectInvalid(nodeEncoding, graph.values[node].name, "on a node's value")
    }

    /// `graph` with every constant copied raw (what a version 1 writer wrote).
    static func rawOnly(_ graph: Graph) throws -> Graph {
        let copy = Graph()
        for value in graph.values {
            switch value.source {
            case .input:
                _ = copy.input(value.name, shape: value.shape)
            case .constant(let c):
                let storage = graph.constants[c]
                _ = try copy.constant(value.name, shape: value.shape, storage: ConstantStorage(storage.values))
            case .node(let n):
                let node = graph.nodes[n]
                _ = try copy.add(node.operation, node.inputs, name: node.name, quantization: value.quantization)
            }
        }
        for output in graph.outputs { copy.markOutput(output.name, output.value) }
        return copy
    }
}
