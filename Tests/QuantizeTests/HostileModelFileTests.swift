import CAllocationCounter
import EdgeRuntime
import Foundation
import Kernels
import Quantize
import Testing

/// Model files and images as an attacker (or bad luck) makes them: each test is one class of input
/// that once crashed, hung, allocated without bound or printed NaN detections with exit 0, and now
/// gets a one-line error before any of that (docs/FUZZING.md).
@Suite struct HostileModelFileTests {
    typealias Files = ModelFileTests

    /// A hand-built float model: `x` [8, 8, 3] reshaped into whatever the outputs are made of.
    static func tinyModel(logits: (Graph, ValueID) throws -> ValueID, boxes: (Graph, ValueID) throws -> ValueID,
                          metadata change: (inout ModelMetadata) -> Void = { _ in }) throws -> [UInt8] {
        let graph = Graph()
        let input = graph.input("pixel_values", shape: [8, 8, 3])
        let flat = try graph.add(.reshape([48, 4]), [input], name: "flat")
        graph.markOutput("logits", try logits(graph, flat))
        graph.markOutput("pred_boxes", try boxes(graph, flat))
        var metadata = ModelMetadata(
            family: "deformable_detr", inputHeight: 8, inputWidth: 8,
            preprocess: PreprocessConfig(resize: .fixed(height: 8, width: 8), rescaleFactor: 1 / 255, mean: nil, standardDeviation: nil),
            labelIDs: [0, 1, 2, 3], labelNames: ["a", "b", "c", "d"], topK: 10, notes: [])
        change(&metadata)
        return ModelFileWriter.encode(graph: graph, plan: ArenaPlanner.plan(graph), metadata: metadata)
    }

    static func plainBoxes(_ graph: Graph, _ flat: ValueID) throws -> ValueID {
        try graph.add(.unary(.sigmoid), [flat], name: "boxes")
    }

    /// Writes each hostile model of this suite into `EDGEDETR_REGRESSION_OUT` when set, so the fuzz
    /// harness replays them too (Fuzz/regressions/modelfile).
    static func keep(_ bytes: [UInt8], as name: String) {
        guard let folder = ProcessInfo.processInfo.environment["EDGEDETR_REGRESSION_OUT"] else { return }
        FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(bytes))
    }

    @Test func theTinyModelIsValidAndRuns() throws {
        let bytes = try Self.tinyModel(logits: { g, x in try g.add(.unary(.relu), [x], name: "scores") }, boxes: Self.plainBoxes)
        let detector = try Detector(model: try ModelFile(bytes: bytes))
        let detections = try detector.detect(try RGBImage(width: 16, height: 16), threshold: 0)
        #expect(detections.count == 10)
    }

    /// Outputs the runtime indexes: `logits` of rank 1 (the label count was read as its shape[1])
    /// or int8 (force-unwrapped as float32) trapped at the first detection.
    @Test func outputsOfTheWrongRankOrTypeAreRefusedAtLoad() throws {
        let rankOne = try Self.tinyModel(logits: { g, x in try g.add(.reshape([192]), [x], name: "scores") }, boxes: Self.plainBoxes)
        Self.keep(rankOne, as: "logits-of-rank-1.edq")
        Files.expectError(rankOne) { if case .invalidValue(_, _, let detail) = $0 { detail.contains("'logits' must be float32 [queries, labels]") } else { false } }
        let int8 = try Self.tinyModel(
            logits: { g, x in try g.add(.quantize, [x], name: "scores", quantization: Int8Quantization(scale: 0.1, zeroPoint: 0)) },
            boxes: Self.plainBoxes)
        Self.keep(int8, as: "logits-int8.edq")
        Files.expectError(int8) { if case .invalidValue(_, _, let detail) = $0 { detail.contains("'logits' must be float32") } else { false } }
        let fewerBoxes = try Self.tinyModel(logits: { g, x in try g.add(.unary(.relu), [x], name: "scores") },
                                            boxes: { g, x in try g.add(.sliceColumns(start: 0, count: 2), [x], name: "boxes") })
        Files.expectError(fewerBoxes) { if case .invalidValue(_, _, let detail) = $0 { detail.contains("'pred_boxes' must be float32 [48, 4]") } else { false } }
    }

    /// Label ids stored twice once reached `Dictionary(uniqueKeysWithValues:)` in `inspect --json`.
    @Test func duplicateLabelIDsAreRefused() throws {
        let bytes = try Self.tinyModel(logits: { g, x in try g.add(.unary(.relu), [x], name: "scores") }, boxes: Self.plainBoxes) {
            $0.labelIDs = [0, 1, 1, 3]
        }
        Self.keep(bytes, as: "duplicate-label-ids.edq")
        Files.expectError(bytes) { $0 == .invalidMetadata(key: "labels.ids", detail: "id 1 appears twice") }
    }

    /// A fixed preprocessing resize that disagrees with the graph input once resized every image to
    /// it (16384 x 16384: 3 GB of floats) before the mismatch was found.
    @Test func aFixedResizeMustMatchTheGraphInput() throws {
        let bytes = try Self.tinyModel(logits: { g, x in try g.add(.unary(.relu), [x], name: "scores") }, boxes: Self.plainBoxes) {
            $0.preprocess.resize = .fixed(height: 4096, width: 4096)
        }
        Self.keep(bytes, as: "fixed-resize-4096-over-8x8-input.edq")
        Files.expectError(bytes) { if case .invalidMetadata("preprocess.resize", let detail) = $0 { detail.contains("4096x4096") } else { false } }
    }

    /// Metadata doubles outside Float's range ran as infinities: a mean of 1e300 normalized every
    /// pixel to -inf and the model printed NaN boxes with exit 0.
    @Test func preprocessingConstantsMustBeFiniteAsFloat() throws {
        let bytes = try Self.tinyModel(logits: { g, x in try g.add(.unary(.relu), [x], name: "scores") }, boxes: Self.plainBoxes) {
            $0.preprocess.mean = [0.25, 0.5, 0.75]
            $0.preprocess.standardDeviation = [0.5, 0.5, 0.5]
        }
        _ = try ModelFile(bytes: bytes)
        let stored = Double(Float(0.25)).bitPattern
        var corrupt = bytes
        let offset = try #require((0..<(bytes.count - 8)).first { at in (0..<8).allSatisfy { bytes[at + $0] == UInt8(truncatingIfNeeded: stored >> (8 * UInt64($0))) } })
        for (index, byte) in withUnsafeBytes(of: (1e300 as Double).bitPattern.littleEndian, Array.init).enumerated() { corrupt[offset + index] = byte }
        Self.keep(Files.resealed(corrupt), as: "mean-1e300.edq")
        Files.expectError(Files.resealed(corrupt)) { if case .invalidMetadata("preprocess.mean", let detail) = $0 { detail.contains("1e+300") } else { false } }
    }

    /// NaN or infinite weights, biases and requantization scales were accepted and ran: NaN boxes
    /// were printed with exit 0.
    @Test func nonFiniteConstantsAreRefusedAtLoad() throws {
        let (bytes, graph, _, _) = try Files.floatModel()
        let weight = try #require(graph.values.firstIndex { $0.name.hasSuffix("weight") && $0.elementType == .float32
            && { if case .constant = $0.source { true } else { false } }($0) })
        for poison in [Float.nan, .infinity] {
            var corrupt = bytes
            let data = Files.constantData(bytes, weight) + 4 * 3
            withUnsafeBytes(of: poison.bitPattern.littleEndian) { for (i, byte) in $0.enumerated() { corrupt[data + i] = byte } }
            Files.expectInvalid(corrupt, graph.values[weight].name, "element 3 is")
        }
    }

    /// Infinities that mean something stay allowed: two-stage Deformable DETR's encoder proposals are
    /// +inf for tokens outside (0.01, 0.99), which every input wider than about 400 px has.
    @Test func twoStageProposalInfinitiesStillLoad() throws {
        let fixture = try GoldenFixture("deformable_refine_two_stage")
        let checkpoint = try CheckpointFolder(path: fixture.folder)
        let graph = try DetectorGraph.build(checkpoint, height: 64, width: 448)
        let proposals = try #require(graph.values.first { value in
            guard case .constant(let c) = value.source, value.elementType == .float32 else { return false }
            return graph.constants[c].values.contains(.infinity)
        })
        let preprocess = try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig)
        let metadata = ModelExport.metadata(for: checkpoint, preprocess: preprocess, height: 64, width: 448, notes: [])
        let model = try ModelFile(bytes: ModelFileWriter.encode(graph: graph, plan: ArenaPlanner.plan(graph), metadata: metadata))
        #expect(model.graph.values.contains { $0.name == proposals.name })
    }

    /// The arena size was accepted up to 2^40 bytes and allocated at load.
    @Test func anArenaLargerThanItsBuffersIsRefused() throws {
        let (bytes, _, plan, _) = try Files.floatModel()
        let section = try #require(Files.sections(bytes)[ModelFileFormat.SectionKind.plan.rawValue])
        for size in [UInt64(1) << 40, UInt64(RuntimeLimits.maximumWorkingBytes), UInt64(plan.size) * 64] {
            var corrupt = bytes
            withUnsafeBytes(of: size.littleEndian) { for (i, byte) in $0.enumerated() { corrupt[section.offset + i] = byte } }
            Files.expectError(Files.resealed(corrupt)) { if case .invalidPlan(let detail) = $0 { detail.contains("arena of \(size) bytes") } else { false } }
        }
    }

    /// Image headers that claim 16384 x 8192 pixels over a few bytes of data: the PNG inflater and
    /// the JPEG planes were allocated at the claimed size (402 MB) before the data was found missing.
    @Test func imageBuffersGrowWithTheData() throws {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            // PNG's chunk CRC is the model file's CRC-32 (the zlib polynomial).
            return bigEndian(UInt32(data.count)) + body + bigEndian(body.withUnsafeBytes { modelFileCRC32($0) })
        }
        func bigEndian(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        let header = bigEndian(16384) + bigEndian(8192) + [8, 2, 0, 0, 0]
        let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]) + chunk("IEND", [])
        #expect(png.count < 70)
        func segment(_ marker: UInt8, _ data: [UInt8]) -> [UInt8] {
            [0xFF, marker, UInt8((data.count + 2) >> 8), UInt8((data.count + 2) & 0xFF)] + data
        }
        let jpeg: [UInt8] = [0xFF, 0xD8] + segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
            + segment(0xC0, [8, 0x20, 0x00, 0x40, 0x00, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
            + segment(0xC4, [0x00, 1] + [UInt8](repeating: 0, count: 15) + [0])
            + segment(0xC4, [0x10, 1] + [UInt8](repeating: 0, count: 15) + [0])
            + segment(0xDA, [3, 1, 0, 2, 0, 3, 0, 0, 63, 0]) + [UInt8](repeating: 0, count: 8)
        let counting = edgedetr_allocation_counting_available() != 0
        for (name, bytes) in [("png", png), ("jpeg", jpeg)] {
            edgedetr_reset_counted_allocations()
            edgedetr_count_allocations_on_this_thread(1)
            let result = Result { () throws(ImageError) in try decodeImage(bytes) }
            edgedetr_count_allocations_on_this_thread(0)
            guard case .failure(let error) = result else { Issue.record("\(name): decoded a truncated image"); continue }
            #expect(error.description.contains("ends early"), "\(name): \(error)")
            // Under AddressSanitizer the counter is absent; its -malloc_limit_mb fuzz runs check this instead.
            #expect(!counting || edgedetr_largest_counted_allocation() <= 1 << 20, "\(name): allocated \(edgedetr_largest_counted_allocation()) bytes at once")
        }
    }
}
