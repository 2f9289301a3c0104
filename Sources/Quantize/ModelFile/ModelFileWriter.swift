import EdgeRuntime
import Foundation
import Kernels

/// Writes model files to disk: the bytes come from `ModelFileEncoder` (EdgeRuntime, beside the reader).
public enum ModelFileWriter {
    /// The model file's bytes (`ModelFileEncoder.encode`).
    public static func encode(graph: Graph, plan: ArenaPlan, metadata: ModelMetadata,
                              weightLayout: Int8WeightLayout? = nil) -> [UInt8] {
        ModelFileEncoder.encode(graph: graph, plan: plan, metadata: metadata, weightLayout: weightLayout)
    }

    public static func write(graph: Graph, plan: ArenaPlan, metadata: ModelMetadata, weightLayout: Int8WeightLayout? = nil,
                             to path: String) throws(ModelExportError) {
        let bytes = encode(graph: graph, plan: plan, metadata: metadata, weightLayout: weightLayout)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw .cannotWrite(path: path)
        }
    }
}

public enum ModelExportError: Error, CustomStringConvertible {
    case cannotWrite(path: String)
    case build(BuildError)
    case checkpoint(CheckpointError)

    public var description: String {
        switch self {
        case .cannotWrite(let path): "\(path): cannot write the model file"
        case .build(let error): error.description
        case .checkpoint(let error): error.description
        }
    }
}
