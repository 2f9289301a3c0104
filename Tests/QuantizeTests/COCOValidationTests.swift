import Foundation
import Testing
@testable import Quantize

/// Every way a ground-truth or results file can be refused, each naming the file and the field.
@Suite("COCO evaluation: file validation")
struct COCOValidationTests {
    static let groundTruthFile = "gt.json"
    static let resultsFile = "results.json"

    static let validImages = #"[{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, {"id": 2, "file_name": "b.png", "width": 64, "height": 48}]"#
    static let validCategories = #"[{"id": 1, "name": "cat"}, {"id": 3, "name": "dog", "supercategory": "animal"}]"#
    static let validAnnotation = #"{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 20.5], "area": 150.25, "iscrowd": 0}"#

    static func groundTruth(images: String = validImages, categories: String = validCategories, annotations: String = "[\(validAnnotation)]") -> String {
        #"{"info": {}, "images": \#(images), "categories": \#(categories), "annotations": \#(annotations)}"#
    }

    static func parseGroundTruth(_ json: String) throws(COCOError) -> COCODataset {
        try COCODataset(jsonData: Data(json.utf8), file: groundTruthFile)
    }

    static func parseResults(_ json: String) throws(COCOError) -> [COCODetection] {
        let dataset = try! parseGroundTruth(groundTruth())
        return try COCODetection.parse(jsonData: Data(json.utf8), file: resultsFile, dataset: dataset, datasetFile: groundTruthFile)
    }

    /// Expects `body` to throw exactly `expected`, with a one-line description starting with the file name.
    func expectError(_ expected: COCOError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("accepted; expected \(expected)", sourceLocation: sourceLocation)
        } catch {
            guard let error = error as? COCOError else {
                Issue.record("\(error) is not a COCOError", sourceLocation: sourceLocation)
                return
            }
            #expect(error == expected, sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test("a valid file reads with every field")
    func valid() throws {
        let dataset = try Self.parseGroundTruth(Self.groundTruth(annotations: "[\(Self.validAnnotation), " + #"{"id": 7, "image_id": 2, "category_id": 1, "bbox": [0, 0, 0, 0], "area": 0, "iscrowd": true, "segmentation": []}]"#))
        #expect(dataset.images == [COCOImage(id: 1, fileName: "a.png", width: 64, height: 48), COCOImage(id: 2, fileName: "b.png", width: 64, height: 48)])
        #expect(dataset.categories == [COCOCategory(id: 1, name: "cat"), COCOCategory(id: 3, name: "dog", supercategory: "animal")])
        #expect(dataset.annotations == [
            COCOAnnotation(id: 1, imageID: 1, categoryID: 3, box: COCOBox(x: 1, y: 2, width: 10, height: 20.5), area: 150.25, isCrowd: false),
            COCOAnnotation(id: 7, imageID: 2, categoryID: 1, box: COCOBox(x: 0, y: 0, width: 0, height: 0), area: 0, isCrowd: true),
        ])
        let detections = try Self.parseResults(#"[{"image_id": 2, "category_id": 3, "bbox": [1.5, 2, 3, 4], "score": 0.8999999999999999, "file_name": "x"}, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]"#)
        #expect(detections == [
            COCODetection(imageID: 2, categoryID: 3, box: COCOBox(x: 1.5, y: 2, width: 3, height: 4), score: 0.8999999999999999),
            COCODetection(imageID: 1, categoryID: 1, box: COCOBox(x: 0, y: 0, width: 1, height: 1), score: 1),
        ])
        // Doubles are read correctly rounded (JSONSerialization reads this one 2 ulps off).
        #expect(detections[0].score.bitPattern == 0x3FECCCCCCCCCCCCC)
        #expect(try Self.parseResults("[]").isEmpty)
    }

    @Test("unreadable and malformed files")
    func files() {
        do {
            _ = try COCODataset.load(path: "/nonexistent/gt.json")
            Issue.record("read a missing file")
        } catch {
            guard case .fileUnreadable("/nonexistent/gt.json", _) = error else { Issue.record("\(error)"); return }
        }
        do {
            _ = try Self.parseGroundTruth("{\"images\": [")
            Issue.record("accepted truncated JSON")
        } catch {
            guard case .invalidJSON(let file, _) = error else { Issue.record("\(error)"); return }
            #expect(file == Self.groundTruthFile && error.description.hasPrefix("gt.json: not valid JSON: "))
        }
        do {
            _ = try Self.parseResults(#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]"#)
            Issue.record("accepted NaN")
        } catch {
            guard case .invalidJSON(Self.resultsFile, _) = error else { Issue.record("\(error)"); return }
        }
    }

    @Test("ground truth: top level and sections")
    func sections() {
        let file = Self.groundTruthFile
        expectError(.wrongType(file: file, field: "top level", expected: "an object with images, annotations and categories", found: "an array")) {
            _ = try Self.parseGroundTruth("[]")
        }
        expectError(.missingField(file: file, field: "images")) { _ = try Self.parseGroundTruth(#"{"categories": [], "annotations": []}"#) }
        expectError(.missingField(file: file, field: "categories")) { _ = try Self.parseGroundTruth(#"{"images": [], "annotations": []}"#) }
        expectError(.missingField(file: file, field: "annotations")) { _ = try Self.parseGroundTruth(#"{"images": [], "categories": [], "annotations": null}"#) }
        expectError(.wrongType(file: file, field: "images", expected: "an array", found: "an object")) {
            _ = try Self.parseGroundTruth(Self.groundTruth(images: "{}"))
        }
        expectError(.wrongType(file: file, field: "annotations[1]", expected: "an object", found: "3")) {
            _ = try Self.parseGroundTruth(Self.groundTruth(annotations: "[\(Self.validAnnotation), 3]"))
        }
    }

    @Test("ground truth: images")
    func images() {
        let file = Self.groundTruthFile
        func images(_ second: String) -> String { Self.groundTruth(images: #"[{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, \#(second)]"#) }
        expectError(.missingField(file: file, field: "images[1].id")) { _ = try Self.parseGroundTruth(images(#"{"file_name": "b.png", "width": 1, "height": 1}"#)) }
        expectError(.wrongType(file: file, field: "images[1].id", expected: "an integer", found: "the string \"2\"")) {
            _ = try Self.parseGroundTruth(images(#"{"id": "2", "file_name": "b.png", "width": 1, "height": 1}"#))
        }
        expectError(.wrongType(file: file, field: "images[1].id", expected: "an integer", found: "2.5")) {
            _ = try Self.parseGroundTruth(images(#"{"id": 2.5, "file_name": "b.png", "width": 1, "height": 1}"#))
        }
        expectError(.missingField(file: file, field: "images[1].file_name")) { _ = try Self.parseGroundTruth(images(#"{"id": 2, "width": 1, "height": 1}"#)) }
        expectError(.wrongType(file: file, field: "images[1].width", expected: "an integer", found: "true")) {
            _ = try Self.parseGroundTruth(images(#"{"id": 2, "file_name": "b.png", "width": true, "height": 1}"#))
        }
        expectError(.invalidValue(file: file, field: "images[1].height", value: "0", expected: "at least 1")) {
            _ = try Self.parseGroundTruth(images(#"{"id": 2, "file_name": "b.png", "width": 1, "height": 0}"#))
        }
        expectError(.duplicateID(file: file, field: "images[1].id", id: 1, firstField: "images[0].id")) {
            _ = try Self.parseGroundTruth(images(#"{"id": 1, "file_name": "b.png", "width": 1, "height": 1}"#))
        }
    }

    @Test("ground truth: categories")
    func categories() {
        let file = Self.groundTruthFile
        expectError(.missingField(file: file, field: "categories[0].name")) {
            _ = try Self.parseGroundTruth(Self.groundTruth(categories: #"[{"id": 3}]"#, annotations: "[]"))
        }
        expectError(.duplicateID(file: file, field: "categories[1].id", id: 3, firstField: "categories[0].id")) {
            _ = try Self.parseGroundTruth(Self.groundTruth(categories: #"[{"id": 3, "name": "a"}, {"id": 3, "name": "b"}]"#, annotations: "[]"))
        }
        expectError(.wrongType(file: file, field: "categories[0].supercategory", expected: "a string", found: "1")) {
            _ = try Self.parseGroundTruth(Self.groundTruth(categories: #"[{"id": 3, "name": "a", "supercategory": 1}]"#, annotations: "[]"))
        }
    }

    @Test("ground truth: annotations")
    func annotations() {
        let file = Self.groundTruthFile
        /// The valid annotation with `field` replaced (or removed when `value` is nil), as annotations[1].
        func replacing(_ field: String, with value: String?) throws {
            var fields = ["\"id\": 2", "\"image_id\": 1", "\"category_id\": 1", "\"bbox\": [0, 0, 5, 5]", "\"area\": 20", "\"iscrowd\": 0"]
            fields.removeAll { $0.hasPrefix("\"\(field)\"") }
            if let value { fields.append("\"\(field)\": \(value)") }
            _ = try Self.parseGroundTruth(Self.groundTruth(annotations: "[\(Self.validAnnotation), {\(fields.joined(separator: ", "))}]"))
        }
        for field in ["id", "image_id", "category_id", "bbox", "area", "iscrowd"] {
            expectError(.missingField(file: file, field: "annotations[1].\(field)")) { try replacing(field, with: nil) }
        }
        expectError(.missingField(file: file, field: "annotations[1].bbox")) { try replacing("bbox", with: "null") }
        expectError(.wrongType(file: file, field: "annotations[1].bbox", expected: "an array [x, y, width, height]", found: "the string \"0 0 5 5\"")) {
            try replacing("bbox", with: "\"0 0 5 5\"")
        }
        expectError(.invalidValue(file: file, field: "annotations[1].bbox", value: "3 numbers", expected: "4 numbers [x, y, width, height]")) {
            try replacing("bbox", with: "[0, 0, 5]")
        }
        expectError(.wrongType(file: file, field: "annotations[1].bbox[1]", expected: "a number", found: "null")) {
            try replacing("bbox", with: "[0, null, 5, 5]")
        }
        expectError(.invalidValue(file: file, field: "annotations[1].bbox[2] (width)", value: "-4.0", expected: "at least 0")) {
            try replacing("bbox", with: "[0, 0, -4, 5]")
        }
        expectError(.invalidValue(file: file, field: "annotations[1].bbox[3] (height)", value: "-0.5", expected: "at least 0")) {
            try replacing("bbox", with: "[0, 0, 4, -0.5]")
        }
        expectError(.invalidValue(file: file, field: "annotations[1].area", value: "-1.0", expected: "at least 0")) { try replacing("area", with: "-1") }
        expectError(.wrongType(file: file, field: "annotations[1].area", expected: "a number", found: "false")) { try replacing("area", with: "false") }
        expectError(.invalidValue(file: file, field: "annotations[1].iscrowd", value: "2", expected: "0 or 1")) { try replacing("iscrowd", with: "2") }
        expectError(.wrongType(file: file, field: "annotations[1].iscrowd", expected: "0 or 1", found: "the string \"no\"")) {
            try replacing("iscrowd", with: "\"no\"")
        }
        expectError(.unknownReference(file: file, field: "annotations[1].image_id", id: 9, target: "image ids of gt.json")) {
            try replacing("image_id", with: "9")
        }
        expectError(.unknownReference(file: file, field: "annotations[1].category_id", id: 2, target: "category ids of gt.json")) {
            try replacing("category_id", with: "2")
        }
        expectError(.duplicateID(file: file, field: "annotations[1].id", id: 1, firstField: "annotations[0].id")) { try replacing("id", with: "1") }
    }

    @Test("results: every field of every detection")
    func results() {
        let file = Self.resultsFile
        let valid = #"{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}"#
        func replacing(_ field: String, with value: String?) throws {
            var fields = ["\"image_id\": 2", "\"category_id\": 3", "\"bbox\": [1, 1, 5, 5]", "\"score\": 0.25"]
            fields.removeAll { $0.hasPrefix("\"\(field)\"") }
            if let value { fields.append("\"\(field)\": \(value)") }
            _ = try Self.parseResults("[\(valid), {\(fields.joined(separator: ", "))}]")
        }
        expectError(.wrongType(file: file, field: "top level", expected: "an array", found: "an object")) { _ = try Self.parseResults("{}") }
        expectError(.wrongType(file: file, field: "[0]", expected: "an object", found: "an array")) { _ = try Self.parseResults("[[1, 1, 0, 0, 5, 5, 0.5]]") }
        for field in ["image_id", "category_id", "bbox", "score"] {
            expectError(.missingField(file: file, field: "[1].\(field)")) { try replacing(field, with: nil) }
        }
        expectError(.unknownReference(file: file, field: "[1].image_id", id: 5, target: "image ids of gt.json")) { try replacing("image_id", with: "5") }
        expectError(.unknownReference(file: file, field: "[1].category_id", id: 2, target: "category ids of gt.json")) { try replacing("category_id", with: "2") }
        expectError(.wrongType(file: file, field: "[1].image_id", expected: "an integer", found: "1.5")) { try replacing("image_id", with: "1.5") }
        expectError(.wrongType(file: file, field: "[1].score", expected: "a number", found: "the string \"0.5\"")) { try replacing("score", with: "\"0.5\"") }
        expectError(.invalidValue(file: file, field: "[1].bbox[2] (width)", value: "-1.0", expected: "at least 0")) { try replacing("bbox", with: "[0, 0, -1, 5]") }
        expectError(.invalidValue(file: file, field: "[1].bbox", value: "5 numbers", expected: "4 numbers [x, y, width, height]")) {
            try replacing("bbox", with: "[0, 0, 1, 5, 6]")
        }
    }

    @Test("detections made in code are checked like a file's")
    func inCode() throws {
        let dataset = try Self.parseGroundTruth(Self.groundTruth())
        let box = COCOBox(x: 0, y: 0, width: 1, height: 1)
        expectError(.invalidValue(file: "detections", field: "[0].score", value: "nan", expected: "a finite number")) {
            try COCODetection.validate([COCODetection(imageID: 1, categoryID: 1, box: box, score: .nan)], dataset: dataset)
        }
        expectError(.invalidValue(file: "detections", field: "[1].bbox[0]", value: "inf", expected: "a finite number")) {
            try COCODetection.validate([COCODetection(imageID: 1, categoryID: 1, box: box, score: 1),
                                        COCODetection(imageID: 1, categoryID: 1, box: COCOBox(x: .infinity, y: 0, width: 1, height: 1), score: 1)], dataset: dataset)
        }
        expectError(.unknownReference(file: "detections", field: "[0].image_id", id: 4, target: "image ids of the dataset")) {
            try COCODetection.validate([COCODetection(imageID: 4, categoryID: 1, box: box, score: 1)], dataset: dataset)
        }
        expectError(.invalidValue(file: "dataset", field: "annotations[0].bbox[3] (height)", value: "-1.0", expected: "at least 0")) {
            _ = try COCODataset(images: dataset.images, categories: dataset.categories,
                                annotations: [COCOAnnotation(id: 1, imageID: 1, categoryID: 1, box: COCOBox(x: 0, y: 0, width: 1, height: -1), area: 1)])
        }
    }

    @Test("messages name the file and the field")
    func messages() {
        #expect(COCOError.invalidValue(file: "val.json", field: "annotations[3].bbox[2] (width)", value: "-4.0", expected: "at least 0").description
                == "val.json: annotations[3].bbox[2] (width) must be at least 0, found -4.0")
        #expect(COCOError.unknownReference(file: "r.json", field: "[17].image_id", id: 99, target: "image ids of val.json").description
                == "r.json: [17].image_id 99 is not among the image ids of val.json")
        #expect(COCOError.duplicateID(file: "val.json", field: "images[4].id", id: 2, firstField: "images[1].id").description
                == "val.json: images[4].id 2 repeats the id of images[1].id")
        #expect(COCOError.missingField(file: "val.json", field: "annotations[0].area").description == "val.json: missing field annotations[0].area")
    }
}
