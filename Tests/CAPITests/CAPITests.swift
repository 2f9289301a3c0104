import CEdgeDETR
import EdgeDETRC
import EdgeRuntime
import Foundation
import Quantize
import Testing

/// The C API (edgedetr.h) called through its C declarations: the same detections as `Detector`, row
/// strides honoured, and every bad argument or file a -1 / NULL with a one-line message.
@Suite struct CAPITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    /// The bundled fixture images.
    nonisolated(unsafe) static let images: [RGBImage] = ["oracle_rgb_64x48", "oracle_gray_70x70", "oracle_rgba_50x90"].map { name in
        let bytes = try! [UInt8](Data(contentsOf: fixtures.appendingPathComponent("images/\(name).png")))
        return try! decodeImage(bytes)
    }

    /// Where this process's model files go: one folder, removed when the test process exits (the
    /// files used to stay in /tmp after every run).
    static let scratchFolder: String = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-capi-\(getpid())").path
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        atexit { removeCAPIScratchFolder() }
        return folder
    }()

    /// An int8 model file of a fixture at 96x128.
    static func writeModel(_ fixture: String) -> String {
        let quantizer = try! Quantizer(folder: fixtures.appendingPathComponent("models/\(fixture)").path, height: 96, width: 128)
        let result = try! quantizer.quantize(images: Self.images, options: QuantizationOptions(), threads: 1)
        let path = scratchFolder + "/\(fixture).edq"
        try! ModelFileWriter.write(graph: result.graph, plan: result.plan, metadata: result.metadata, weightLayout: .native, to: path)
        return path
    }

    /// The deformable_base fixture's model file, written once.
    static let modelPath = writeModel("deformable_base")
    /// The RT-DETRv2 discrete-sampling fixture's, written once.
    static let rtDETRModelPath = writeModel("rt_detr_v2_discrete")
    /// The D-FINE-N-layout and DEIMv2 lite-layout fixtures', written once each.
    static let dFineModelPath = writeModel("d_fine_n")
    static let deimv2ModelPath = writeModel("deimv2_lite")

    static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test(arguments: ["deformable_base", "rt_detr_v2_discrete", "d_fine_n", "deimv2_lite"])
    func detectionsEqualTheSwiftDetectors(_ fixture: String) throws {
        let modelPath = switch fixture {
        case "deformable_base": Self.modelPath
        case "d_fine_n": Self.dFineModelPath
        case "deimv2_lite": Self.deimv2ModelPath
        default: Self.rtDETRModelPath
        }
        #expect(edgedetr_api_version() == EDGEDETR_API_VERSION)
        var error = [CChar](repeating: 0, count: 256)
        let handle = try #require(edgedetr_open(modelPath, 2, &error, error.count), "\(Self.message(error))")
        defer { edgedetr_close(handle) }
        let detector = try Detector(path: modelPath)
        #expect(edgedetr_input_width(handle) == 128 && edgedetr_input_height(handle) == 96)
        #expect(edgedetr_arena_bytes(handle) == detector.model.plan.size && detector.model.plan.size > 0)
        for image in Self.images {
            let expected = try detector.detect(image, threshold: 0)
            #expect(expected.count > 10)
            // The image in rows 5 bytes longer than the pixels: the padding must not be read as pixels.
            let rowBytes = image.width * 3 + 5
            var padded = [UInt8](repeating: 0xAB, count: rowBytes * image.height)
            for row in 0..<image.height {
                for column in 0..<(image.width * 3) { padded[row * rowBytes + column] = image.pixels[row * image.width * 3 + column] }
            }
            var found = [edgedetr_detection](repeating: edgedetr_detection(), count: 300)
            let count = edgedetr_detect(handle, padded, Int32(image.width), Int32(image.height), rowBytes, 0, &found, 300,
                                        &error, error.count)
            #expect(Int(count) == expected.count, "\(Self.message(error))")
            for (got, want) in zip(found.prefix(Int(max(count, 0))), expected) {
                #expect(Int(got.label) == want.label && got.score == want.score && got.x0 == want.x0 && got.y0 == want.y0
                        && got.x1 == want.x1 && got.y1 == want.y1)
            }
            // A smaller buffer gets the best ones.
            var three = [edgedetr_detection](repeating: edgedetr_detection(), count: 3)
            #expect(edgedetr_detect(handle, padded, Int32(image.width), Int32(image.height), rowBytes, 0, &three, 3, nil, 0) == 3)
            #expect(three[0].score == expected[0].score)
        }
        let name = try #require(edgedetr_label_name(handle, Int32(detector.metadata.labelIDs[0])))
        #expect(String(cString: name) == detector.labelName(detector.metadata.labelIDs[0]))
        #expect(edgedetr_label_name(handle, 100_000) == nil)
    }

    @Test func badArgumentsAndFilesAreErrors() throws {
        var error = [CChar](repeating: 0, count: 256)
        #expect(edgedetr_open("/nonexistent/model.edq", 1, &error, error.count) == nil)
        #expect(Self.message(error).contains("/nonexistent/model.edq"))
        #expect(edgedetr_open(Self.modelPath, 0, &error, error.count) == nil)
        #expect(Self.message(error) == "edgedetr_open: threads must be from 1 to 64, got 0")
        #expect(edgedetr_open(nil, 1, &error, error.count) == nil)
        // Not a model file; the message is truncated to the buffer and NUL-terminated.
        let text = Self.scratchFolder + "/text.edq"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
        var small = [CChar](repeating: 1, count: 8)
        #expect(edgedetr_open(text, 1, &small, small.count) == nil)
        #expect(small[7] == 0 && Self.message(small).count == 7)
        #expect(edgedetr_open(text, 1, nil, 0) == nil)

        let handle = try #require(edgedetr_open(Self.modelPath, 1, &error, error.count))
        defer { edgedetr_close(handle) }
        let pixels = [UInt8](repeating: 100, count: 4 * 4 * 3)
        var found = [edgedetr_detection](repeating: edgedetr_detection(), count: 4)
        func refused(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation,
                     _ call: (UnsafeMutablePointer<CChar>) -> Int32) {
            var buffer = [CChar](repeating: 0, count: 256)
            #expect(buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!) } == -1, sourceLocation: sourceLocation)
            #expect(Self.message(buffer).contains(expected), "\(Self.message(buffer))", sourceLocation: sourceLocation)
        }
        refused("detector is NULL") { edgedetr_detect(nil, pixels, 4, 4, 12, 0.5, &found, 4, $0, 256) }
        refused("rgb is NULL") { edgedetr_detect(handle, nil, 4, 4, 12, 0.5, &found, 4, $0, 256) }
        refused("image of 0x4 pixels") { edgedetr_detect(handle, pixels, 0, 4, 12, 0.5, &found, 4, $0, 256) }
        refused("image of 4x-1 pixels") { edgedetr_detect(handle, pixels, 4, -1, 12, 0.5, &found, 4, $0, 256) }
        refused("image of 20000x4 pixels") { edgedetr_detect(handle, pixels, 20000, 4, 60000, 0.5, &found, 4, $0, 256) }
        refused("row_bytes 11 is less than 3 x width = 12") { edgedetr_detect(handle, pixels, 4, 4, 11, 0.5, &found, 4, $0, 256) }
        refused("threshold nan") { edgedetr_detect(handle, pixels, 4, 4, 12, .nan, &found, 4, $0, 256) }
        refused("capacity 4 with no detection buffer") { edgedetr_detect(handle, pixels, 4, 4, 12, 0.5, nil, 4, $0, 256) }
        refused("capacity -1") { edgedetr_detect(handle, pixels, 4, 4, 12, 0.5, &found, -1, $0, 256) }
        // Capacity 0 is a valid question with no room: nothing written.
        let gray = [UInt8](repeating: 100, count: 16 * 16 * 3)
        #expect(edgedetr_detect(handle, gray, 16, 16, 48, 0, nil, 0, &error, error.count) == 0, "\(Self.message(error))")
        // The runtime's own checks come back the same way.
        refused("image is 4x4 px; EdgeDETR needs at least 8x8 px") { edgedetr_detect(handle, pixels, 4, 4, 12, 0.5, &found, 4, $0, 256) }
        edgedetr_close(nil)
        #expect(edgedetr_label_name(nil, 0) == nil && edgedetr_arena_bytes(nil) == 0)
    }
}

/// Removes `CAPITests.scratchFolder` (an `atexit` handler cannot capture it, so it names it again).
private func removeCAPIScratchFolder() {
    try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-capi-\(getpid())").path)
}
