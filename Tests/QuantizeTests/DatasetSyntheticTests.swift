import Kernels
import EdgeRuntime
import Foundation
import Testing
@testable import Quantize

@Suite("Dataset: synthetic shapes")
struct DatasetSyntheticTests {
    @Test("SplitMix64 matches the reference outputs")
    func splitMix() {
        // First outputs for seed 1234567 of the reference C implementation (Vigna's splitmix64.c).
        var random = SplitMix64(seed: 1234567)
        #expect((0..<3).map { _ in random.next() } == [6457827717110365317, 3203168211198807973, 9817491932198370423])
        var bounded = SplitMix64(seed: 9)
        for _ in 0..<1000 {
            #expect((3...7).contains(bounded.integer(in: 3...7)))
            let unit = bounded.unit()
            #expect(unit >= 0 && unit < 1)
        }
    }

    @Test("the same seed, split and index give the same pixels and objects; others differ")
    func determinism() {
        let dataset = SyntheticDataset(seed: 42, split: "train", size: 96)
        let first = dataset.render(index: 3), second = dataset.render(index: 3)
        #expect(first.image == second.image)
        #expect(first.objects == second.objects)
        #expect(encodePNG(first.image) == encodePNG(second.image))
        #expect(dataset.render(index: 4).image != first.image)
        #expect(SyntheticDataset(seed: 42, split: "val", size: 96).render(index: 3).image != first.image)
        #expect(SyntheticDataset(seed: 43, split: "train", size: 96).render(index: 3).image != first.image)
    }

    @Test("boxes lie inside the image with positive area, at most the box area; classes and sizes vary")
    func annotationSanity() throws {
        let size = 128
        let dataset = SyntheticDataset(seed: 7, split: "train", size: size)
        var classes = Set<Int>(), objectCounts = Set<Int>()
        var small = 0, medium = 0, large = 0
        for index in 0..<60 {
            let rendered = dataset.render(index: index)
            #expect(rendered.image.width == size && rendered.image.height == size)
            objectCounts.insert(rendered.objects.count)
            #expect(rendered.objects.count <= 8)
            for object in rendered.objects {
                let box = object.box
                #expect(box.x >= 0 && box.y >= 0 && box.width >= 1 && box.height >= 1)
                #expect(box.x + box.width <= Double(size) && box.y + box.height <= Double(size))
                #expect(object.area >= SyntheticImageRenderer.minimumVisiblePixels)
                #expect(Double(object.area) <= box.width * box.height)
                classes.insert(object.shape.rawValue)
                let scaledArea = Double(object.area) * 4  // as if drawn at 256 px
                if scaledArea < 1024 { small += 1 } else if scaledArea > 9216 { large += 1 } else { medium += 1 }
            }
        }
        #expect(classes == Set(0..<8))
        #expect(objectCounts.count >= 6)
        #expect(small > 10 && medium > 10 && large > 5, "small \(small) medium \(medium) large \(large)")
    }

    @Test("the written folder: PNGs that decode to the rendered pixels, JSON readable by the COCO reader, same bytes twice")
    func writeAndRead() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-synth-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        let dataset = SyntheticDataset(seed: 5, split: "calib", size: 64)
        let written = try dataset.write(count: 12, to: root.appendingPathComponent("a").path, threads: 3)
        try dataset.write(count: 12, to: root.appendingPathComponent("b").path, threads: 1)

        let jsonPath = root.appendingPathComponent("a/calib.json").path
        let read = try COCODataset.load(path: jsonPath)
        #expect(read == written)
        #expect(read.images.count == 12 && read.images.map(\.id) == Array(1...12))
        #expect(read.categories.map(\.name) == ["square", "circle", "triangle", "star", "ring", "cross", "diamond", "hexagon"])
        #expect(read.categories.map(\.id) == Array(0..<8))
        #expect(read == dataset.annotations(count: 12))
        #expect(try Data(contentsOf: URL(fileURLWithPath: jsonPath)) == Data(contentsOf: root.appendingPathComponent("b/calib.json")))
        for image in read.images {
            let first = try Data(contentsOf: root.appendingPathComponent("a").appendingPathComponent(image.fileName))
            let second = try Data(contentsOf: root.appendingPathComponent("b").appendingPathComponent(image.fileName))
            #expect(first == second)
            #expect(try decodeImage([UInt8](first)) == dataset.render(index: image.id - 1).image)
        }
        #expect(read.images[0].fileName == "calib/000001.png")

        // Evaluating the ground truth against itself as detections gives AP 1 (up to pycocotools' eps).
        let detections = read.annotations.map { COCODetection(imageID: $0.imageID, categoryID: $0.categoryID, box: $0.box, score: 1) }
        let evaluation = COCOEvaluation(dataset: read, detections: detections)
        #expect(abs(evaluation.stats.averagePrecision - 1) < 1e-12)
    }

    @Test("easy: at most 4 objects, none small, all classes; standard images are unchanged by the option")
    func easyDifficulty() {
        let easy = SyntheticDataset(seed: 7, split: "train", size: 128, difficulty: .easy)
        var classes = Set<Int>(), most = 0, smallest = Int.max
        for index in 0..<60 {
            let objects = easy.render(index: index).objects
            most = max(most, objects.count)
            for object in objects {
                classes.insert(object.shape.rawValue)
                smallest = min(smallest, Int(object.box.width * object.box.height))
            }
        }
        #expect(most <= 4 && most >= 3)
        #expect(classes.count == SyntheticShape.allCases.count)
        // Shapes are at least 17 px across at 128 px; occlusion and borders may still cut one down.
        #expect(smallest >= 12, "smallest visible box \(smallest) px^2")
        let standard = SyntheticDataset(seed: 7, split: "train", size: 128)
        #expect(easy.render(index: 5).image != standard.render(index: 5).image)
    }

    @Test("standard images are still the committed ones (Tests/Fixtures/datasets/synth128, seed 1)")
    func standardImagesAreStable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/datasets/synth128")
        let val = SyntheticDataset(seed: 1, split: "val", size: 128)
        for index in [0, 7] {
            let committed = try Data(contentsOf: root.appendingPathComponent(val.fileName(index: index)))
            #expect([UInt8](committed) == encodePNG(val.render(index: index).image), "\(val.fileName(index: index))")
        }
    }

    @Test("split names")
    func splitNames() {
        #expect(SyntheticDataset.isValidSplitName("train") && SyntheticDataset.isValidSplitName("val-2_b"))
        #expect(!SyntheticDataset.isValidSplitName("") && !SyntheticDataset.isValidSplitName("../x") && !SyntheticDataset.isValidSplitName("a b"))
    }

    @Test("JSON text escapes strings and writes integers without a fraction")
    func jsonText() {
        #expect(jsonString("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
        #expect(jsonNumber(3) == "3" && jsonNumber(2.5) == "2.5" && jsonNumber(-0.0) == "0")
    }
}
