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

    /// Calibrates on `images`, rewrites to int8, and returns the mixed-precision graph, its plan and metadata.
    public func quantize(images: [RGBImage], options: QuantizationOptions, threads: Int,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(QuantizationError) -> (graph: Graph, plan: ArenaPlan, metadata: ModelMetadata, counterpart: [ValueID?]) {
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
        let rewritten: (graph: Graph, counterpart: [ValueID?])
        do { rewritten = try GraphQuantizer.quantize(floatGraph, statistics: statistics, options: options) } catch { throw .graph(error) }
        let plan = ArenaPlanner.plan(rewritten.graph)
        let int8Ops = rewritten.graph.nodes.filter { node in
            switch node.operation {
            case .quantizedLinear, .quantizedConv2d, .quantizedDeformableSampling: true
            default: false
            }
        }.count
        let notes = [
            "precision: int8 for \(int8Ops) of \(floatGraph.nodes.count) ops (convolutions, linear layers, deformable sampling); float32 elsewhere",
            "kept float: " + options.keepFloat.joined(separator: ", "),
            "calibration: \(images.count) images, \(options.method.rawValue)"
                + (options.method == .percentile ? " (tail \(options.percentileTail))" : ""),
        ]
        let metadata = ModelExport.metadata(for: checkpoint, preprocess: preprocess, height: height, width: width, notes: notes)
        return (rewritten.graph, plan, metadata, rewritten.counterpart)
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
