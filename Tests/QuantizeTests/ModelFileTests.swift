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

    @Test(arguments: ["deformable_base", "deformable_refine_two_stage", "dab_detr_patterns", "conditional_detr"])
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
}
