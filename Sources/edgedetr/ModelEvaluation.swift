import EdgeRuntime
import Foundation
import Quantize

/// Runs a model over a COCO dataset's images and returns its detections as COCO results.
enum ModelEvaluation {
    /// Detections of `model` on `images` (threshold 0, the model's top-k), with labels mapped to the
    /// dataset's category ids by name (falling back to equal ids), and the mean latency in ms.
    static func detect(model: String, dataset: COCODataset, images: [COCOImage], folder: String,
                       threads: Int) throws -> (detections: [COCODetection], milliseconds: Double) {
        let detector = try AnyDetector(model: model, threads: threads)
        let category = categories(of: detector, in: dataset)
        var results: [COCODetection] = []
        var total = 0.0
        for image in images {
            let picture = try ImageFile.load(folder + "/" + image.fileName)
            let start = DispatchTime.now().uptimeNanoseconds
            let detections = try detector.detect(picture, nil, 0)
            total += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            for detection in detections {
                guard let categoryID = category(detection.label) else { continue }
                results.append(COCODetection(
                    imageID: image.id, categoryID: categoryID,
                    box: box(detection), score: Double(detection.score)))
            }
        }
        return (results, total / Double(max(images.count, 1)))
    }

    /// The dataset category of a detector's label: by name, falling back to an equal id; nil for none.
    static func categories(of detector: AnyDetector, in dataset: COCODataset) -> (Int) -> Int? {
        let byName = Dictionary(dataset.categories.map { ($0.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        let ids = Set(dataset.categories.map(\.id))
        return { label in byName[detector.labelName(label)] ?? (ids.contains(label) ? label : nil) }
    }

    /// A detection's corners as a COCO `[x, y, width, height]` box.
    static func box(_ detection: Detection) -> COCOBox {
        COCOBox(x: Double(detection.x0), y: Double(detection.y0),
                width: Double(detection.x1 - detection.x0), height: Double(detection.y1 - detection.y0))
    }
}
