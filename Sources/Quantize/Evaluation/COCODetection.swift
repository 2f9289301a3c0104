import Foundation

/// One detection in COCO's results format: `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`.
public struct COCODetection: Equatable, Sendable {
    public var imageID: Int
    public var categoryID: Int
    public var box: COCOBox
    public var score: Double

    public init(imageID: Int, categoryID: Int, box: COCOBox, score: Double) {
        self.imageID = imageID
        self.categoryID = categoryID
        self.box = box
        self.score = score
    }

    /// Reads a results file (a JSON array), checking each entry against `dataset`: image and
    /// category ids must exist there, boxes and scores must be finite, widths and heights not
    /// negative. Extra fields (`file_name`, `id`) are ignored. An empty array is accepted (it scores
    /// 0; pycocotools refuses it).
    public static func load(path: String, dataset: COCODataset, datasetFile: String = "dataset") throws(COCOError) -> [COCODetection] {
        try parse(json: try COCOFields.readJSON(path: path), file: path, dataset: dataset, datasetFile: datasetFile)
    }

    public static func parse(jsonData: Data, file: String, dataset: COCODataset, datasetFile: String = "dataset") throws(COCOError) -> [COCODetection] {
        try parse(json: try COCOFields.parseJSON(jsonData, file: file), file: file, dataset: dataset, datasetFile: datasetFile)
    }

    static func parse(json: JSONValue, file: String, dataset: COCODataset, datasetFile: String) throws(COCOError) -> [COCODetection] {
        let imageIDs = Set(dataset.images.map(\.id))
        let categoryIDs = Set(dataset.categories.map(\.id))
        var detections: [COCODetection] = []
        for fields in try COCOFields.objects(json, file: file, name: "") {
            let imageID = try fields.int("image_id")
            guard imageIDs.contains(imageID) else {
                throw .unknownReference(file: file, field: fields.fieldName("image_id"), id: imageID, target: "image ids of \(datasetFile)")
            }
            let categoryID = try fields.int("category_id")
            guard categoryIDs.contains(categoryID) else {
                throw .unknownReference(file: file, field: fields.fieldName("category_id"), id: categoryID, target: "category ids of \(datasetFile)")
            }
            detections.append(COCODetection(imageID: imageID, categoryID: categoryID, box: try fields.box("bbox"), score: try fields.number("score")))
        }
        return detections
    }

    /// Checks detections made in code (not read from a file) the way `load` checks a file's.
    public static func validate(_ detections: [COCODetection], dataset: COCODataset, file: String = "detections") throws(COCOError) {
        let imageIDs = Set(dataset.images.map(\.id))
        let categoryIDs = Set(dataset.categories.map(\.id))
        for (index, detection) in detections.enumerated() {
            guard imageIDs.contains(detection.imageID) else {
                throw .unknownReference(file: file, field: "[\(index)].image_id", id: detection.imageID, target: "image ids of the dataset")
            }
            guard categoryIDs.contains(detection.categoryID) else {
                throw .unknownReference(file: file, field: "[\(index)].category_id", id: detection.categoryID, target: "category ids of the dataset")
            }
            try COCODataset.check(detection.box, file: file, field: "[\(index)].bbox")
            guard detection.score.isFinite else {
                throw .invalidValue(file: file, field: "[\(index)].score", value: "\(detection.score)", expected: "a finite number")
            }
        }
    }
}
