/// The runtime's public API: load a model file once, then detect objects in RGB8 images of any size.
///
/// ```swift
/// let detector = try Detector(path: "model.edq", threads: 2)
/// let detections = try detector.detect(image)          // RGBImage from decodeImage(bytes)
/// for d in detections { print(detector.labelName(d.label), d.score, d.x0, d.y0, d.x1, d.y1) }
/// ```
/// Everything a run needs (arena, scratch, packed weights) is allocated by `init`; several detectors
/// can share one `ModelFile` (its weights are mapped once).
public final class Detector {
    public let model: ModelFile
    public let executor: GraphExecutor

    public convenience init(path: String, threads: Int = 1) throws(DetectorError) {
        let model: ModelFile
        do { model = try ModelFile(path: path) } catch { throw .model(error) }
        try self.init(model: model, threads: threads)
    }

    public init(model: ModelFile, threads: Int = 1) throws(DetectorError) {
        self.model = model
        do { executor = try GraphExecutor(graph: model.graph, plan: model.plan, threads: threads) } catch {
            throw .execution(error)
        }
    }

    public var metadata: ModelMetadata { model.metadata }

    public func labelName(_ id: Int) -> String { model.metadata.labelName(id) }

    /// Bytes a run works in besides the weights: the arena plus kernel scratch.
    public var workingBytes: Int { executor.workingBytes }

    /// Preprocess (resize to the model's input size, normalize), run, and post-process one image.
    public func detect(_ image: RGBImage, topK: Int? = nil, threshold: Float = 0.5) throws(DetectorError) -> [Detection] {
        // The size first, so an image the model cannot take is refused before it is resized.
        let metadata = model.metadata
        let input: (values: [Float], height: Int, width: Int)
        do throws(PreprocessError) {
            let size = try Preprocess.checkedOutputSize(image, config: metadata.preprocess)
            guard size.height == metadata.inputHeight, size.width == metadata.inputWidth else {
                throw PreprocessError.inputSizeMismatch(expectedHeight: metadata.inputHeight, expectedWidth: metadata.inputWidth,
                                                        height: size.height, width: size.width)
            }
            input = try Preprocess.pixelValues(image, config: metadata.preprocess)
        } catch {
            throw .preprocess(error)
        }
        do {
            try input.values.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(ExecutionError) in
                guard let base = buffer.baseAddress else { throw .inputShape(name: "pixel_values", expected: 1, got: 0) }
                try executor.run(input: base, count: buffer.count)
            }
        } catch {
            throw .execution(error)
        }
        // ModelFile checked both outputs' types and shapes ([queries, labels] and [queries, 4]).
        do {
            return try executor.detections(imageWidth: image.width, imageHeight: image.height, topK: topK ?? metadata.topK,
                                           threshold: threshold)
        } catch {
            throw .execution(error)
        }
    }
}

public enum DetectorError: Error, CustomStringConvertible {
    case model(ModelFileError)
    case execution(ExecutionError)
    case preprocess(PreprocessError)

    public var description: String {
        switch self {
        case .model(let error): error.description
        case .execution(let error): error.description
        case .preprocess(let error): error.description
        }
    }
}
