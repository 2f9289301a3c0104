import EdgeRuntime
import Foundation
import Kernels

/// A deterministic synthetic detection dataset: shapes of eight classes on cluttered backgrounds,
/// written as PNG images and a COCO annotations file.
///
/// Layout under the output folder, for split `val`:
///
///     val.json                 COCO ground truth (images, annotations, categories)
///     val/000001.png ...       the images; `file_name` is "val/000001.png", relative to val.json's folder
///
/// Annotation conventions (COCO's): `bbox` is the tight box of the object's *visible* pixels (those it
/// owns after later shapes are drawn over it; a pixel is owned when at least half of it is covered),
/// in whole pixels `[x, y, width, height]`; `area` is the count of those pixels (the segmentation
/// area, not the box area); `iscrowd` is 0. Category ids are `SyntheticShape` raw values 0...7, equal
/// to the label index a model trained on them predicts. Image ids are 1...count.
///
/// Image `i` of a split depends only on (seed, split name, i), so the same arguments give the same
/// bytes whatever the thread count; different split names give independent streams, so
/// `--split train`, `val` and `calib` with one seed never share an image.
public struct SyntheticDataset: Sendable {
    public let seed: UInt64
    public let split: String
    public let size: Int
    public let difficulty: SyntheticDifficulty

    public static let sizeRange = 32...4096

    public init(seed: UInt64, split: String, size: Int, difficulty: SyntheticDifficulty = .standard) {
        self.seed = seed
        self.split = split
        self.size = size
        self.difficulty = difficulty
    }

    /// The categories, in id order.
    public static var categories: [COCOCategory] {
        SyntheticShape.allCases.map { COCOCategory(id: $0.rawValue, name: $0.name, supercategory: "shape") }
    }

    /// Draws image `index` (0-based; its COCO id is index + 1).
    public func render(index: Int) -> SyntheticImage {
        precondition(Self.sizeRange.contains(size), "synthetic image size \(size) outside \(Self.sizeRange)")
        let stream = SplitMix64.mix(SplitMix64.mix(seed ^ fnv1a64(split)) &+ UInt64(index))
        var renderer = SyntheticImageRenderer(size: size, difficulty: difficulty, random: SplitMix64(seed: stream))
        return renderer.render()
    }

    public func fileName(index: Int) -> String {
        let number = String(index + 1)
        return "\(split)/" + String(repeating: "0", count: max(0, 6 - number.count)) + number + ".png"
    }

    /// The COCO ground truth of images `0..<count` (renders them; no files).
    public func annotations(count: Int) -> COCODataset {
        assemble((0..<count).map { render(index: $0).objects })
    }

    private func assemble(_ objects: [[SyntheticObject]]) -> COCODataset {
        var images: [COCOImage] = []
        var annotations: [COCOAnnotation] = []
        for (index, imageObjects) in objects.enumerated() {
            images.append(COCOImage(id: index + 1, fileName: fileName(index: index), width: size, height: size))
            for object in imageObjects {
                annotations.append(COCOAnnotation(
                    id: annotations.count + 1, imageID: index + 1, categoryID: object.shape.rawValue,
                    box: object.box, area: Double(object.area), isCrowd: false))
            }
        }
        // Ids are unique and references resolve by construction.
        return try! COCODataset(images: images, categories: Self.categories, annotations: annotations, file: "\(split).json")
    }

    /// Renders `count` images on `threads` threads, writes them and `<split>.json` under `folder`
    /// (created if needed), and returns the ground truth.
    @discardableResult
    public func write(count: Int, to folder: String, threads: Int = 1) throws(COCOError) -> COCODataset {
        let imageFolder = (folder as NSString).appendingPathComponent(split)
        do {
            try FileManager.default.createDirectory(atPath: imageFolder, withIntermediateDirectories: true)
        } catch {
            throw .fileUnwritable(file: imageFolder, reason: error.localizedDescription)
        }
        var objects = [[SyntheticObject]](repeating: [], count: count)
        var failures = [String?](repeating: nil, count: count)
        let pool = ThreadPool(threadCount: max(1, min(threads, 64)))
        objects.withUnsafeMutableBufferPointer { objectSlots in
            failures.withUnsafeMutableBufferPointer { failureSlots in
                pool.parallelFor(count) { index in
                    let rendered = render(index: index)
                    objectSlots[index] = rendered.objects
                    let path = (folder as NSString).appendingPathComponent(fileName(index: index))
                    if !FileManager.default.createFile(atPath: path, contents: Data(encodePNG(rendered.image))) {
                        failureSlots[index] = path
                    }
                }
            }
        }
        if let path = failures.lazy.compactMap({ $0 }).first { throw .fileUnwritable(file: path, reason: "cannot create file") }
        let dataset = assemble(objects)
        let jsonPath = (folder as NSString).appendingPathComponent("\(split).json")
        try dataset.writeJSON(to: jsonPath)
        return dataset
    }

    /// Split names become folder and file names: letters, digits, '-' and '_' only.
    public static func isValidSplitName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }
}

/// FNV-1a, 64 bits: a fixed hash of a split name (`String.hashValue` is seeded per process).
func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return hash
}
