import EdgeRuntime
import Foundation

/// Builds the graph of a checkpoint for one model input size and writes it as a model file with its
/// arena plan and metadata. The int8 quantizer writes through the same path.
public enum ModelExport {
    /// The model input size used when none is given: what the checkpoint's preprocessing makes of a
    /// 640x480 (4:3 landscape) photo.
    public static func defaultInputSize(for preprocess: PreprocessConfig) -> (height: Int, width: Int) {
        preprocess.outputSize(height: 480, width: 640)
    }

    public static func metadata(for checkpoint: CheckpointFolder, preprocess: PreprocessConfig,
                                height: Int, width: Int, notes: [String]) -> ModelMetadata {
        let ids = checkpoint.config.labels.keys.sorted()
        // The file's graph takes exactly height x width, so detection resizes every image to it.
        var fixed = preprocess
        fixed.resize = .fixed(height: height, width: width)
        return ModelMetadata(
            family: checkpoint.config.family.rawValue, inputHeight: height, inputWidth: width, preprocess: fixed,
            labelIDs: ids, labelNames: ids.map { checkpoint.config.labels[$0] ?? "\($0)" },
            topK: checkpoint.config.defaultTopK,
            notes: ["checkpoint: \(URL(fileURLWithPath: checkpoint.path).lastPathComponent)"] + notes)
    }

    /// Writes the float32 model of `folder` for a `height` x `width` input to `path`.
    public static func exportFloat(folder: String, height: Int, width: Int, to path: String) throws(ModelExportError) -> (graph: Graph, plan: ArenaPlan) {
        let model = try Quantizer(folder: folder, height: height, width: width)
        let plan = ArenaPlanner.plan(model.floatGraph)
        let metadata = metadata(for: model.checkpoint, preprocess: model.preprocess, height: height, width: width,
                                notes: ["precision: float32 (every op)"])
        try ModelFileWriter.write(graph: model.floatGraph, plan: plan, metadata: metadata, to: path)
        return (model.floatGraph, plan)
    }
}
