import Foundation

/// A box in COCO's convention: top-left corner and size, in pixels (`[x, y, width, height]`).
public struct COCOBox: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

public struct COCOImage: Equatable, Sendable {
    public var id: Int
    /// The image file, relative to the images folder (for `edgedetr dataset synth`: relative to the
    /// annotations file's folder).
    public var fileName: String
    public var width: Int
    public var height: Int

    public init(id: Int, fileName: String, width: Int, height: Int) {
        self.id = id
        self.fileName = fileName
        self.width = width
        self.height = height
    }
}

public struct COCOCategory: Equatable, Sendable {
    public var id: Int
    public var name: String
    public var supercategory: String?

    public init(id: Int, name: String, supercategory: String? = nil) {
        self.id = id
        self.name = name
        self.supercategory = supercategory
    }
}

/// One ground-truth object.
public struct COCOAnnotation: Equatable, Sendable {
    public var id: Int
    public var imageID: Int
    public var categoryID: Int
    public var box: COCOBox
    /// The segmentation area in pixels, which decides small/medium/large; COCO's is the mask area,
    /// not the box area.
    public var area: Double
    /// A crowd region: detections on it are neither rewarded nor punished (see `COCOEvaluation`).
    public var isCrowd: Bool

    public init(id: Int, imageID: Int, categoryID: Int, box: COCOBox, area: Double, isCrowd: Bool = false) {
        self.id = id
        self.imageID = imageID
        self.categoryID = categoryID
        self.box = box
        self.area = area
        self.isCrowd = isCrowd
    }
}

/// A COCO ground-truth file (`instances_val2017.json` and the like): images, categories and
/// annotations, with every id unique and every reference resolved.
///
/// Required fields: `images[i].{id, file_name, width, height}`, `categories[i].{id, name}`,
/// `annotations[i].{id, image_id, category_id, bbox, area, iscrowd}`; other fields (segmentation,
/// info, licenses) are ignored. Widths, heights and areas must not be negative.
public struct COCODataset: Equatable, Sendable {
    public var images: [COCOImage]
    public var categories: [COCOCategory]
    public var annotations: [COCOAnnotation]

    /// Checks that ids are unique and references resolve; `file` names the source in errors.
    public init(images: [COCOImage], categories: [COCOCategory], annotations: [COCOAnnotation], file: String = "dataset") throws(COCOError) {
        var imageFields: [Int: String] = [:]
        for (index, image) in images.enumerated() {
            let field = "images[\(index)].id"
            if let first = imageFields[image.id] { throw .duplicateID(file: file, field: field, id: image.id, firstField: first) }
            imageFields[image.id] = field
            guard image.width > 0 else { throw .invalidValue(file: file, field: "images[\(index)].width", value: "\(image.width)", expected: "at least 1") }
            guard image.height > 0 else { throw .invalidValue(file: file, field: "images[\(index)].height", value: "\(image.height)", expected: "at least 1") }
        }
        var categoryFields: [Int: String] = [:]
        for (index, category) in categories.enumerated() {
            let field = "categories[\(index)].id"
            if let first = categoryFields[category.id] { throw .duplicateID(file: file, field: field, id: category.id, firstField: first) }
            categoryFields[category.id] = field
        }
        var annotationFields: [Int: String] = [:]
        for (index, annotation) in annotations.enumerated() {
            let path = "annotations[\(index)]"
            if let first = annotationFields[annotation.id] {
                throw .duplicateID(file: file, field: "\(path).id", id: annotation.id, firstField: first)
            }
            annotationFields[annotation.id] = "\(path).id"
            guard imageFields[annotation.imageID] != nil else {
                throw .unknownReference(file: file, field: "\(path).image_id", id: annotation.imageID, target: "image ids of \(file)")
            }
            guard categoryFields[annotation.categoryID] != nil else {
                throw .unknownReference(file: file, field: "\(path).category_id", id: annotation.categoryID, target: "category ids of \(file)")
            }
            try Self.check(annotation.box, file: file, field: "\(path).bbox")
            guard annotation.area.isFinite, annotation.area >= 0 else {
                throw .invalidValue(file: file, field: "\(path).area", value: "\(annotation.area)", expected: "a finite number at least 0")
            }
        }
        self.images = images
        self.categories = categories
        self.annotations = annotations
    }

    static func check(_ box: COCOBox, file: String, field: String) throws(COCOError) {
        let values = [box.x, box.y, box.width, box.height]
        for (index, value) in values.enumerated() where !value.isFinite {
            throw .invalidValue(file: file, field: "\(field)[\(index)]", value: "\(value)", expected: "a finite number")
        }
        if box.width < 0 { throw .invalidValue(file: file, field: "\(field)[2] (width)", value: "\(box.width)", expected: "at least 0") }
        if box.height < 0 { throw .invalidValue(file: file, field: "\(field)[3] (height)", value: "\(box.height)", expected: "at least 0") }
    }

    /// Reads a ground-truth file.
    public static func load(path: String) throws(COCOError) -> COCODataset {
        try COCODataset(json: try COCOFields.readJSON(path: path), file: path)
    }

    /// Parses ground truth from JSON bytes; `file` names the source in errors.
    public init(jsonData: Data, file: String) throws(COCOError) {
        try self.init(json: try COCOFields.parseJSON(jsonData, file: file), file: file)
    }

    init(json: JSONValue, file: String) throws(COCOError) {
        guard case .object(let top) = json else {
            throw .wrongType(file: file, field: "top level", expected: "an object with images, annotations and categories", found: COCOFields.describe(json))
        }
        let root = COCOFields(file: file, path: "", object: top)
        var images: [COCOImage] = []
        for fields in try COCOFields.objects(try root.value("images"), file: file, name: "images") {
            images.append(COCOImage(
                id: try fields.int("id"), fileName: try fields.string("file_name"),
                width: try fields.int("width"), height: try fields.int("height")))
        }
        var categories: [COCOCategory] = []
        for fields in try COCOFields.objects(try root.value("categories"), file: file, name: "categories") {
            categories.append(COCOCategory(id: try fields.int("id"), name: try fields.string("name"),
                                           supercategory: try fields.optionalString("supercategory")))
        }
        var annotations: [COCOAnnotation] = []
        for fields in try COCOFields.objects(try root.value("annotations"), file: file, name: "annotations") {
            let area = try fields.number("area")
            guard area >= 0 else { throw .invalidValue(file: file, field: fields.fieldName("area"), value: "\(area)", expected: "at least 0") }
            annotations.append(COCOAnnotation(
                id: try fields.int("id"), imageID: try fields.int("image_id"), categoryID: try fields.int("category_id"),
                box: try fields.box("bbox"), area: area, isCrowd: try fields.crowdFlag("iscrowd")))
        }
        try self.init(images: images, categories: categories, annotations: annotations, file: file)
    }

    /// Category ids to names, for tables and for a model's `id2label`.
    public var categoryNames: [Int: String] {
        Dictionary(categories.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
}
