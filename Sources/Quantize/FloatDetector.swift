import EdgeRuntime

/// Float32 detection straight from a Hugging Face checkpoint folder: the reference every int8 number is
/// measured against. Graphs are built per model input size and kept, so a folder of same-sized images
/// builds (and packs weights) once.
public final class FloatDetector {
    public let checkpoint: CheckpointFolder
    public let preprocess: PreprocessConfig
    public let threads: Int
    private var executors: [String: GraphExecutor] = [:]

    public convenience init(folder: String, threads: Int = 1) throws(CheckpointError) {
        try self.init(checkpoint: CheckpointFolder(path: folder), threads: threads)
    }

    /// A detector over an already imported checkpoint; its preprocessor_config.json is interpreted here.
    public init(checkpoint: CheckpointFolder, threads: Int = 1) throws(CheckpointError) {
        self.checkpoint = checkpoint
        preprocess = try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig)
        self.threads = threads
    }

    public var config: DetectorConfig { checkpoint.config }

    /// The official repositories' number of kept detections: DAB-DETR keeps 300, the others 100.
    public var defaultTopK: Int { config.family == .dabDETR ? 300 : 100 }

    /// The label name of a class id (id2label), or its number.
    public func labelName(_ id: Int) -> String { config.labels[id] ?? "\(id)" }

    /// Runs the model on already preprocessed `pixel_values` ([height, width, 3]); returns every graph output.
    public func run(pixelValues: [Float], height: Int, width: Int) throws(DetectionError) -> [FloatTensor] {
        let key = "\(height)x\(width)"
        let executor: GraphExecutor
        if let cached = executors[key] {
            executor = cached
        } else {
            do {
                let graph = try DetectorGraph.build(checkpoint, height: height, width: width)
                executor = try GraphExecutor(graph: graph, threads: threads)
            } catch let error as BuildError {
                throw .build(error)
            } catch let error as ExecutionError {
                throw .execution(error)
            } catch {
                throw .build(.unsupported("\(error)"))
            }
            executors[key] = executor
        }
        do { return try executor.run(input: pixelValues) } catch { throw .execution(error) }
    }

    /// Preprocess, run and post-process one image.
    public func detect(_ image: RGBImage, topK: Int? = nil, threshold: Float = 0.5) throws(DetectionError) -> [Detection] {
        let input: (values: [Float], height: Int, width: Int)
        do { input = try Preprocess.pixelValues(image, config: preprocess) } catch { throw .preprocess(error) }
        let outputs = try run(pixelValues: input.values, height: input.height, width: input.width)
        guard let logits = outputs.first(where: { $0.name == "logits" }),
              let boxes = outputs.first(where: { $0.name == "pred_boxes" }) else {
            throw .build(.unsupported("the graph has no logits or pred_boxes output"))
        }
        // Weights are checked finite at import; a NaN or infinity here is an overflow in the model.
        let problem = logits.values.withUnsafeBufferPointer { l in
            boxes.values.withUnsafeBufferPointer { b in Postprocess.nonFiniteOutput(logits: l, boxes: b) }
        }
        if let problem { throw .execution(problem) }
        return Postprocess.detections(
            logits: logits.values, boxes: boxes.values, queries: logits.shape[0], labels: logits.shape[1],
            imageWidth: image.width, imageHeight: image.height, topK: topK ?? defaultTopK, threshold: threshold)
    }
}

public enum DetectionError: Error, CustomStringConvertible {
    case build(BuildError)
    case execution(ExecutionError)
    case preprocess(PreprocessError)

    public var description: String {
        switch self {
        case .build(let error): error.description
        case .execution(let error): error.description
        case .preprocess(let error): error.description
        }
    }
}
