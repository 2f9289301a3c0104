import ArgumentParser
import EdgeRuntime
import Kernels
import Foundation
import Quantize

/// Parses `HxW` (e.g. `512x512`).
struct InputSize: ExpressibleByArgument {
    let height: Int
    let width: Int

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        guard parts.count == 2, let height = Int(parts[0]), let width = Int(parts[1]),
              (32...4096).contains(height), (32...4096).contains(width) else { return nil }
        self.height = height
        self.width = width
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint as a float32 model file (the runtime's format, before quantization).",
        discussion: "The graph, its arena plan and metadata are built for one input size; `detect` resizes images to it."
    )

    @Option(name: .long, help: "A Hugging Face checkpoint folder.")
    var model: String

    @Option(name: .long, help: "Model input size HxW (32 to 4096 each); default: what the checkpoint's preprocessing makes of a 640x480 photo.")
    var inputSize: InputSize?

    @Option(name: [.customShort("o"), .long], help: "The model file to write.")
    var output: String

    func run() throws {
        let size: (height: Int, width: Int)
        if let inputSize {
            size = (inputSize.height, inputSize.width)
        } else {
            do {
                let checkpoint = try CheckpointFolder(path: model)
                size = ModelExport.defaultInputSize(for: try PreprocessorConfigParser.parse(checkpoint.preprocessorConfig))
            } catch { throw CLIError(error.description) }
        }
        let (graph, plan) : (Graph, ArenaPlan)
        do { (graph, plan) = try ModelExport.exportFloat(folder: model, height: size.height, width: size.width, to: output) } catch {
            throw CLIError(error.description)
        }
        print("wrote \(output): \(size.height)x\(size.width) input, \(graph.nodes.count) ops, "
              + "\(graph.constantElementCount * 4) weight bytes, arena \(plan.size) bytes")
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

struct InspectCommand: ParsableCommand {
    /// What a node computes of the ops the quantizer folded into it, for the op listing.
    static func foldedWork(_ operation: GraphOperation) -> [String] {
        switch operation {
        case .quantizedDeformableSampling(_, _, _, _, let inputs):
            (inputs.contains(.locationOffsets) ? ["locations from reference points and offsets"] : [])
                + (inputs.contains(.weightLogits) ? ["softmax of the weights"] : [])
        case .dynamicQuantizedLinear(_, true): ["x + addend, summed row by row"]
        default: []
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model file: metadata, ops with their shapes, weight and arena bytes, the arena plan."
    )

    @Argument(help: "A model file (.edq).")
    var model: String

    @Flag(name: .long, help: "Print the arena plan, one line per buffer.")
    var plan = false

    @Flag(name: .long, help: "Machine-readable output.")
    var json = false

    @Option(name: .long, help: "List this many of the largest constants (name, kind, type, shape, bytes in the file).")
    var constants: Int = 10

    func validate() throws {
        guard constants >= 0 else { throw ValidationError("--constants must be at least 0") }
    }

    func run() throws {
        let file: ModelFile
        do { file = try ModelFile(path: model) } catch { throw CLIError("\(model): \(error.description)") }
        let graph = file.graph
        let metadata = file.metadata
        func precision(_ node: Node) -> String {
            if node.operation.kindName.hasPrefix("quantized") { return "int8" }
            return graph.values[node.output.index].elementType == .int8 ? "int8" : "float32"
        }
        let summary = ConstantSummary(graph)
        let placement = file.int8WeightPlacement
        if json {
            let ops: [[String: Any]] = graph.nodes.map { node in
                ["name": node.name, "op": node.operation.kindName, "precision": precision(node),
                 "inputs": node.inputs.map { graph.shape(of: $0) }, "output": graph.shape(of: node.output)]
            }
            let object: [String: Any] = [
                "family": metadata.family, "input": [metadata.inputHeight, metadata.inputWidth],
                "labels": Dictionary(uniqueKeysWithValues: zip(metadata.labelIDs.map(String.init), metadata.labelNames)),
                "weight_bytes": file.constantBytes, "materialized_bytes": file.materializedBytes, "arena_bytes": file.plan.size, "file_bytes": file.file.count,
                "int8_weights": ["this_cpu_layout": Int8WeightLayout.native.name, "in_place_bytes": placement.inPlace,
                                 "repacked_at_load_bytes": placement.repacked, "packed_at_load_bytes": placement.packedAtLoad],
                "ops": ops, "notes": metadata.notes,
                "constant_bytes_by_kind": Dictionary(uniqueKeysWithValues: summary.byKind.map { ($0.kind, $0.bytes) }),
                "constants": summary.entries.map { entry -> [String: Any] in
                    ["name": entry.name, "kind": entry.kind, "type": ConstantSummary.typeName(entry.elementType),
                     "shape": entry.shape, "encoding": entry.encoding, "bytes": entry.bytes]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("\(model): \(metadata.family), input \(metadata.inputHeight)x\(metadata.inputWidth), "
              + "\(metadata.labelIDs.count) labels, top-k \(metadata.topK)")
        for note in metadata.notes { print("  \(note)") }
        print("file \(file.file.count) bytes, weights \(file.constantBytes) bytes (\(file.materializedBytes) materialized at load), "
              + "arena \(file.plan.size) bytes, \(graph.nodes.count) ops")
        print("int8 weights on this CPU (\(Int8WeightLayout.native.name) kernels): \(placement.inPlace) bytes used in place, "
              + "\(placement.repacked) repacked at load (packed for another CPU), \(placement.packedAtLoad) packed at load (stored raw)")
        var counts: [String: Int] = [:]
        for node in graph.nodes { counts[node.operation.kindName, default: 0] += 1 }
        print("constants by kind (bytes in the file):")
        for kind in summary.byKind {
            let share = summary.totalBytes > 0 ? 100 * Double(kind.bytes) / Double(summary.totalBytes) : 0
            print("  \(String(kind.bytes).leftPadded(to: 11)) \(String(format: "%5.1f%%", share))  \(kind.kind) (\(kind.count))")
        }
        if constants > 0 {
            print("largest constants:")
            for entry in summary.largest(constants) {
                print("  \(String(entry.bytes).leftPadded(to: 11))  \(entry.name)  \(ConstantSummary.typeName(entry.elementType)) \(entry.shape)  \(entry.kind)"
                      + (entry.encoding == "raw" ? "" : ", stored as \(entry.encoding)"))
            }
        }
        print("ops: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for node in graph.nodes {
            let inputs = node.inputs.map { "\(graph.shape(of: $0))" }.joined(separator: " ")
            print("  \(precision(node).padding(toLength: 8, withPad: " ", startingAt: 0)) \(node.operation.kindName.padding(toLength: 27, withPad: " ", startingAt: 0)) \(node.name)  \(inputs) -> \(graph.shape(of: node.output))"
                  + (Self.foldedWork(node.operation).isEmpty ? "" : "  (" + Self.foldedWork(node.operation).joined(separator: "; ") + ")"))
        }
        if plan { print(ArenaPlanner.describe(file.plan, for: graph)) }
    }
}
