import EdgeRuntime
import Foundation
import Kernels

/// The quantization pipeline: checkpoint -> float graph for one input size -> calibration over
/// images -> int8 rewrite -> arena plan -> model file. Deterministic: the same checkpoint, images
/// and options give a byte-identical file.
public struct Quantizer {
    public let checkpoint: CheckpointFolder
    public let preprocess: PreprocessConfig
    public let height: Int
    public let width: Int
    public let floatGraph: Graph

    public init(folder: String, height: Int? = nil, width: Int? = nil) throws(ModelExportError) {
        do {
            checkpoint = try CheckpointFolder(path: folder)
            preprocess = try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig)
        } catch {
            throw .checkpoint(error)
        }
        let size = (height != nil && width != nil) ? (height!, width!) : ModelExport.defaultInputSize(for: preprocess)
        self.height = size.0
        self.width = size.1
        do { floatGraph = try DetectorGraph.build(checkpoint, height: self.height, width: self.width) } catch { throw .build(error) }
    }

    /// The preprocessing of the model file: transformers' normalization, resized to the model size.
    public var modelPreprocess: PreprocessConfig {
        var fixed = preprocess
        fixed.resize = .fixed(height: height, width: width)
        return fixed
    }

    /// Preprocesses `images` to the model input.
    public func inputs(_ images: [RGBImage]) throws(PreprocessError) -> [[Float]] {
        var result: [[Float]] = []
        for image in images { result.append(try Preprocess.pixelValues(image, config: modelPreprocess).values) }
        return result
    }

    /// A quantized model: the mixed-precision graph, its arena plan, and for each float value the
    /// quantized graph's value holding it (for `compare`).
    public struct Result {
        public var graph: Graph
        public var plan: ArenaPlan
        public var metadata: ModelMetadata
        public var counterpart: [ValueID?]
        /// The automatic precision search's measurements, when it ran.
        public var search: PrecisionSearch.Result?
    }

    /// Calibrates on `images`, rewrites to int8, and returns the mixed-precision graph, its plan and
    /// metadata. With `options.automaticPrecision`, the float32 layers are chosen by `PrecisionSearch`
    /// on the same images (`searchProgress` reports it).
    public func quantize(images: [RGBImage], options: QuantizationOptions, threads: Int,
                         progress: (Int, Int) -> Void = { _, _ in },
                         searchProgress: (Int, Int) -> Void = { _, _ in }) throws(QuantizationError) -> Result {
        guard !images.isEmpty else { throw .noCalibrationImages }
        let calibration: [[Float]]
        do { calibration = try inputs(images) } catch { throw .preprocess(error) }
        let statistics: ActivationStatistics
        do {
            statistics = try ActivationStatistics.collect(graph: floatGraph, inputs: calibration, method: options.method,
                                                          threads: threads, progress: progress)
        } catch {
            throw .execution(error)
        }
        var chosen = options
        var search: PrecisionSearch.Result?
        if let automatic = options.automaticPrecision {
            let reference: DriftReference
            do {
                reference = try DriftReference(float: floatGraph, inputs: Array(calibration.prefix(max(automatic.images, 1))), threads: threads)
            } catch { throw .execution(error) }
            // The layers already float32 by name or by hand stay so; the search adds to them.
            let alreadyFloat = GraphQuantizer(source: floatGraph, statistics: statistics, options: options)
            let candidates = PrecisionSearch.candidates(in: floatGraph).filter { name in
                !floatGraph.nodes.contains { $0.name == name && alreadyFloat.keepsFloat($0) }
            }
            var trial = options
            let result = try PrecisionSearch.run(
                candidates: candidates, reference: reference, target: automatic.target,
                maximumFloat: Int(Double(candidates.count) * automatic.maximumFloatFraction), threads: threads,
                rewrite: { float throws(QuantizationError) in
                    trial.floatLayers = options.floatLayers.union(float)
                    let model = try rewrite(statistics: statistics, options: trial)
                    return (model.graph, ArenaPlanner.plan(model.graph))
                },
                progress: searchProgress)
            chosen.floatLayers = options.floatLayers.union(result.keptFloat)
            search = result
        }
        let rewritten = try rewrite(statistics: statistics, options: chosen)
        let plan = ArenaPlanner.plan(rewritten.graph)
        let int8Ops = rewritten.graph.nodes.filter { node in
            switch node.operation {
            case .quantizedLinear, .quantizedConv2d, .quantizedDeformableSampling, .quantizedDepthwiseConv2d: true
            default: false
            }
        }.count
        var notes = [
            "precision: int8 for \(int8Ops) of \(floatGraph.nodes.count) ops (convolutions, linear layers, deformable sampling); float32 elsewhere",
        ]
        notes.append("kept float: " + (options.keepFloat + options.floatLayers.sorted()).joined(separator: ", "))
        if let search {
            notes.append("kept float (automatic, \(search.keptFloat.count) layers): " + search.keptFloat.joined(separator: ", "))
            notes.append(String(format: "automatic precision: drift score %.5f box %.5f (before the search: score %.5f box %.5f), target score %.5f box %.5f%@",
                                search.drift.score, search.drift.box, search.allInt8Drift.score, search.allInt8Drift.box,
                                options.automaticPrecision!.target.score, options.automaticPrecision!.target.box,
                                search.targetMet ? "" : " (not met: float layer limit reached)"))
        }
        if options.dynamicInt8 {
            let dynamic = rewritten.graph.nodes.filter { if case .dynamicQuantizedLinear = $0.operation { true } else { false } }.count
            notes.append("dynamic int8: \(dynamic) linear layers kept float by name run int8 on rows quantized at run time")
        }
        if options.dynamicInt8Attention {
            let attention = rewritten.graph.nodes.filter { if case .dynamicQuantizedAttention = $0.operation { true } else { false } }.count
            notes.append("dynamic int8 attention: \(attention) attention ops run Q K^T and P V on int8, quantized at run time (queries and keys per row, values per channel, probabilities in two codes)")
        }
        notes.append(options.weightOnlyInt8
                     ? "float32 layers: weights stored int8 per output channel (weight-only), dequantized at load"
                     : "float32 layers: weights stored float32")
        notes.append("calibration: \(images.count) images, \(options.method.rawValue)"
                     + (options.method == .percentile ? " (tail \(options.percentileTail))" : ""))
        let metadata = ModelExport.metadata(for: checkpoint, preprocess: preprocess, height: height, width: width, notes: notes)
        return Result(graph: rewritten.graph, plan: plan, metadata: metadata, counterpart: rewritten.counterpart, search: search)
    }

    /// The int8 rewrite of the float graph for `statistics` and `options`.
    public func rewrite(statistics: ActivationStatistics, options: QuantizationOptions) throws(QuantizationError) -> (graph: Graph, counterpart: [ValueID?]) {
        do { return try GraphQuantizer.quantize(floatGraph, statistics: statistics, options: options) } catch { throw .graph(error) }
    }
}

public enum QuantizationError: Error, CustomStringConvertible {
    case noCalibrationImages
    case preprocess(PreprocessError)
    case execution(ExecutionError)
    case graph(GraphError)

    public var description: String {
        switch self {
        case .noCalibrationImages: "no calibration images"
        case .preprocess(let error): error.description
        case .execution(let error): error.description
        case .graph(let error): "internal graph error: \(error.description)"
        }
    }
}
