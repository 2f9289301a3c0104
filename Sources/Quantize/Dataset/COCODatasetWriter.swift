import EdgeRuntime
import Foundation

extension COCODataset {
    /// The ground truth as COCO JSON text: one image, category or annotation per line, keys in a
    /// fixed order, numbers in Swift's shortest round-trip form (integers without a fraction), so
    /// that equal datasets give equal bytes.
    public func jsonText() -> String {
        var lines: [String] = ["{"]
        lines.append("\"info\": {\"description\": \"EdgeDETR\"},")
        lines.append("\"images\": [")
        lines += images.enumerated().map { index, image in
            "{\"id\": \(image.id), \"file_name\": \(jsonString(image.fileName)), \"width\": \(image.width), \"height\": \(image.height)}"
                + (index + 1 < images.count ? "," : "")
        }
        lines.append("],")
        lines.append("\"categories\": [")
        lines += categories.enumerated().map { index, category in
            var fields = "\"id\": \(category.id), \"name\": \(jsonString(category.name))"
            if let supercategory = category.supercategory { fields += ", \"supercategory\": \(jsonString(supercategory))" }
            return "{\(fields)}" + (index + 1 < categories.count ? "," : "")
        }
        lines.append("],")
        lines.append("\"annotations\": [")
        lines += annotations.enumerated().map { index, annotation in
            let box = [annotation.box.x, annotation.box.y, annotation.box.width, annotation.box.height].map(jsonNumber).joined(separator: ", ")
            return "{\"id\": \(annotation.id), \"image_id\": \(annotation.imageID), \"category_id\": \(annotation.categoryID), "
                + "\"bbox\": [\(box)], \"area\": \(jsonNumber(annotation.area)), \"iscrowd\": \(annotation.isCrowd ? 1 : 0)}"
                + (index + 1 < annotations.count ? "," : "")
        }
        lines.append("]")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    public func writeJSON(to path: String) throws(COCOError) {
        guard FileManager.default.createFile(atPath: path, contents: Data(jsonText().utf8)) else {
            throw .fileUnwritable(file: path, reason: "cannot create file")
        }
    }
}

/// A finite double as a dataset writes it: as the COCO results writer does (`JSONText.number`), with
/// -0 written as 0 (a box edge at -0 is at 0).
func jsonNumber(_ value: Double) -> String {
    JSONText.number(value == 0 ? 0 : value)
}

/// A JSON string literal as a dataset writes it: `JSONText.string`, `/` left as is (file names are
/// paths people read).
func jsonString(_ text: String) -> String {
    JSONText.string(text, escapingSlash: false)
}
