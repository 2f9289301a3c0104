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
        let byName = Dictionary(dataset.categories.map { ($0.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        let ids = Set(dataset.categories.map(\.id))
        func category(_ label: Int) -> Int? {
            if let id = byName[detector.labelName(label)] { return id }
            return ids.contains(label) ? label : nil
        }
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
                    box: COCOBox(x: Double(detection.x0), y: Double(detection.y0),
                                 width: Double(detection.x1 - detection.x0), height: Double(detection.y1 - detection.y0)),
                    score: Double(detection.score)))
            }
        }
        return (results, total / Double(max(images.count, 1)))
    }
}
