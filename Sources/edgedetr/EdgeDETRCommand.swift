import ArgumentParser

@main
struct EdgeDETRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgedetr",
        abstract: "Quantize and run DETR-family detectors (Deformable DETR, DAB-DETR, Conditional DETR, RT-DETR).",
        subcommands: [BenchCommand.self, BenchKernelsCommand.self, DatasetCommand.self, DemoCommand.self, DetectCommand.self, EvalCommand.self, ExportCommand.self, InspectCommand.self, QuantizeCommand.self, CompareCommand.self]
    )
}
