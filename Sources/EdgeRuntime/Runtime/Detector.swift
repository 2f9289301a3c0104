import CLibc

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
    /// Where the last `detect` spent its time (a stream's per-stage report reads it).
    public private(set) var lastStageTimes = DetectorStageTimes()

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
        let start = monotonicSeconds()
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
        let preprocessed = monotonicSeconds()
        do {
            try input.values.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(ExecutionError) in
                guard let base = buffer.baseAddress else { throw .inputShape(name: "pixel_values", expected: 1, got: 0) }
                try executor.run(input: base, count: buffer.count)
            }
        } catch {
            throw .execution(error)
        }
        let inferred = monotonicSeconds()
        // ModelFile checked both outputs' types and shapes ([queries, labels] and [queries, 4]).
        let detections: [Detection]
        do {
            detections = try executor.detections(imageWidth: image.width, imageHeight: image.height,
                                                 topK: topK ?? metadata.topK, threshold: threshold)
        } catch {
            throw .execution(error)
        }
        lastStageTimes = DetectorStageTimes(preprocess: preprocessed - start, inference: inferred - preprocessed,
                                            postprocess: monotonicSeconds() - inferred)
        return detections
    }
}

/// Seconds a `Detector.detect` call spent in each stage, on the monotonic clock.
public struct DetectorStageTimes: Sendable, Equatable {
    /// Resize and normalization of the image into the input tensor.
    public var preprocess: Double = 0
    /// The graph run.
    public var inference: Double = 0
    /// Top-k over queries x classes, boxes scaled to the image, threshold.
    public var postprocess: Double = 0

    public init(preprocess: Double = 0, inference: Double = 0, postprocess: Double = 0) {
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
    }
}

/// Seconds on the monotonic clock (for intervals only).
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
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
