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

    public var defaultTopK: Int { config.defaultTopK }

    /// The label name of a class id (id2label), or its number.
    public func labelName(_ id: Int) -> String { config.labels[id] ?? "\(id)" }

    /// Runs the model on already preprocessed `pixel_values` ([height, width, 3]); returns every graph output.
    public func run(pixelValues: [Float], height: Int, width: Int) throws(FloatDetectorError) -> [FloatTensor] {
        let executor = try preparedExecutor(height: height, width: width)
        do { return try executor.run(input: pixelValues) } catch { throw .detector(.execution(error)) }
    }

    /// The executor of the graph for this input size, built (and its weights packed) on first use.
    private func preparedExecutor(height: Int, width: Int) throws(FloatDetectorError) -> GraphExecutor {
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
                throw .detector(.execution(error))
            } catch {
                throw .build(.unsupported("\(error)"))
            }
            executors[key] = executor
        }
        return executor
    }

    /// Preprocess, run and post-process one image.
    public func detect(_ image: RGBImage, topK: Int? = nil, threshold: Float = 0.5) throws(FloatDetectorError) -> [Detection] {
        let input: (values: [Float], height: Int, width: Int)
        do { input = try Preprocess.pixelValues(image, config: preprocess) } catch { throw .detector(.preprocess(error)) }
        let executor = try preparedExecutor(height: input.height, width: input.width)
        do {
            try input.values.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(ExecutionError) in
                guard let base = buffer.baseAddress else { throw .inputShape(name: "pixel_values", expected: 1, got: 0) }
                try executor.run(input: base, count: buffer.count)
            }
            return try executor.detections(imageWidth: image.width, imageHeight: image.height, topK: topK ?? defaultTopK,
                                           threshold: threshold)
        } catch {
            throw .detector(.execution(error))
        }
    }
}

/// Why a float detection failed: the checkpoint's graph could not be built for the input size, or
/// running it failed the way any detector's run fails (`DetectorError`, shared with the int8 `Detector`).
public enum FloatDetectorError: Error, CustomStringConvertible {
    case build(BuildError)
    case detector(DetectorError)

    public var description: String {
        switch self {
        case .build(let error): error.description
        case .detector(let error): error.description
        }
    }
}
