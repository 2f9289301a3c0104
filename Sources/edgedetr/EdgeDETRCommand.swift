import ArgumentParser

@main
struct EdgeDETRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgedetr",
        abstract: "Quantize and run DETR-family detectors (Deformable DETR, DAB-DETR, Conditional DETR).",
        subcommands: [DemoCommand.self, DetectCommand.self]
    )
}
