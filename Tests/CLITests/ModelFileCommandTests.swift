import EdgeRuntime
import Foundation
import Kernels
import Testing

/// `export`, `inspect` and `detect` on a model file, as a user runs them.
@Suite struct ModelFileCommandTests {
    typealias CLI = DetectCommandTests

    @Test func exportInspectAndDetectAgreeWithTheCheckpoint() throws {
        let file = try CLI.temporaryDirectory().appendingPathComponent("model.edq").path
        let export = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "96x128", "-o", file])
        #expect(export.status == 0, "\(export.standardError)")
        let inspect = try CLI.edgedetr(["inspect", file, "--plan"])
        #expect(inspect.status == 0)
        #expect(inspect.standardOutput.contains("input 96x128"))
        #expect(inspect.standardOutput.contains("arena"))
        #expect(inspect.standardOutput.contains("constants by kind") && inspect.standardOutput.contains("float32 weights"))
        #expect(inspect.standardOutput.contains("largest constants:"))
        let json = try CLI.edgedetr(["inspect", file, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect((parsed?["arena_bytes"] as? Int ?? 0) > 0)
        let constants = parsed?["constants"] as? [[String: Any]] ?? []
        #expect(constants.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) } == parsed?["weight_bytes"] as? Int)
        // The 64x48 image resizes to 96x128 either way, so both paths run the same graph.
        let fromFile = try CLI.edgedetr(["detect", "--model", file, "--threshold", "0", "--top-k", "10", CLI.image])
        let fromFolder = try CLI.edgedetr(["detect", "--model", CLI.fixture, "--threshold", "0", "--top-k", "10", CLI.image])
        #expect(fromFile.status == 0 && fromFile.standardOutput == fromFolder.standardOutput)
    }

    @Test func corruptModelFileGivesOneLine() throws {
        let directory = try CLI.temporaryDirectory()
        let file = directory.appendingPathComponent("model.edq").path
        _ = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "64x64", "-o", file])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: file))
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", file, CLI.image]), contains: "checksum mismatch")
        let notModel = directory.appendingPathComponent("notes.edq").path
        try "not a model".write(toFile: notModel, atomically: true, encoding: .utf8)
        CLI.expectOneLineError(try CLI.edgedetr(["inspect", notModel]), contains: "not an EdgeDETR model file")
        let badSize = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "9x9", "-o", file])
        #expect(badSize.status != 0 && badSize.status < 128 && badSize.standardError.contains("--input-size"))
    }
}

/// `quantize` and `compare` as a user runs them on the bundled model and images.
@Suite struct QuantizeCommandTests {
    typealias CLI = DetectCommandTests
    static let images = CLI.repository.appendingPathComponent("Tests/Fixtures/images").path

    @Test func quantizeInspectDetectAndCompare() throws {
        let file = try CLI.temporaryDirectory().appendingPathComponent("int8.edq").path
        let quantize = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--input-size", "96x128",
                                         "--threads", "1", "-o", file])
        #expect(quantize.status == 0, "\(quantize.standardError)")
        let inspect = try CLI.edgedetr(["inspect", file])
        #expect(inspect.standardOutput.contains("quantizedConv2d"))
        #expect(inspect.standardOutput.contains("calibration: 3 images"))
        // The ops the quantizer folded into the int8 sampling and the dynamic layers are named on their lines.
        #expect(inspect.standardOutput.contains("(locations from reference points and offsets; softmax of the weights)"))
        #expect(inspect.standardOutput.contains("(x + addend, summed row by row)"))
        let detect = try CLI.edgedetr(["detect", "--model", file, "--threshold", "0", "--top-k", "5", CLI.image])
        #expect(detect.status == 0 && detect.standardOutput.split(separator: "\n").count == 5)
        let compare = try CLI.edgedetr(["compare", "--float", CLI.fixture, "--images", Self.images, "--input-size", "96x128",
                                        "--rows", "5", "--threads", "1"])
        #expect(compare.status == 0 && compare.standardOutput.contains("SQNR") && compare.standardOutput.contains("final: max score drift"))
        // The written file, paired with the checkpoint by layer name, measures exactly what quantizing here does.
        let compareFile = try CLI.edgedetr(["compare", "--float", CLI.fixture, "--int8", file, "--images", Self.images,
                                            "--rows", "5", "--threads", "1"])
        func layerTable(_ output: String) -> Substring {
            // Quantizing here may print the precision search's table first.
            guard let header = output.range(of: "layer ", options: .backwards) else { return "" }
            return output[header.lowerBound...]
        }
        #expect(compareFile.status == 0, "\(compareFile.standardError)")
        #expect(layerTable(compareFile.standardOutput) == layerTable(compare.standardOutput) && !layerTable(compare.standardOutput).isEmpty)
        let other = CLI.repository.appendingPathComponent("Tests/Fixtures/models/dab_detr").path
        CLI.expectOneLineError(try CLI.edgedetr(["compare", "--float", other, "--int8", file, "--images", Self.images]),
                               contains: "do not match")
        // Quantizing twice gives the same bytes.
        let again = file + ".again"
        _ = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--input-size", "96x128", "--threads", "2", "-o", again])
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(contentsOf: URL(fileURLWithPath: again)))
    }

    /// `bench`'s int8 report on a model file: the int8 share of the multiply-accumulates is the graph's
    /// (int8-kernel MACs over all a run does, without the constant subgraphs the executor runs once at
    /// load), the arena is the file's plan, and the shares, rates and peak RSS are in range.
    static func expectBenchReport(_ output: String, file: String) throws {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("summary: ") })
        var fields: [String: Double] = [:]
        for pair in line.dropFirst("summary: ".count).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1]) { fields[String(parts[0])] = value }
        }
        let model = try ModelFile(path: file)
        let folded = Set(try GraphExecutor(graph: model.graph, plan: model.plan).foldedNodes)
        let costs = model.graph.nodes.indices.filter { !folded.contains($0) }.map {
            (model.graph.multiplyAccumulates(of: model.graph.nodes[$0]), model.graph.int8MultiplyAccumulates(of: model.graph.nodes[$0]))
        }
        let total = costs.reduce(0) { $0 + $1.0 }, int8 = costs.reduce(0) { $0 + $1.1 }
        #expect(int8 > 0 && int8 < total)
        #expect(abs(try #require(fields["int8_mac_share"]) - Double(int8) / Double(total)) < 1e-4, "\(line)")
        #expect(fields["arena_bytes"] == Double(model.plan.size), "\(line)")
        #expect(try #require(fields["working_bytes"]) >= Double(model.plan.size))
        #expect((0...1).contains(try #require(fields["outside_int8_share"])), "\(line)")
        #expect(try #require(fields["gmacs"]) > 0 && fields["int8_peak_gmacs"]! > fields["gmacs"]!, "\(line)")
        #expect(try #require(fields["peak_rss_kib"]) > 1000, "\(line)")
        #expect(output.contains("of the run outside them") && output.contains("measured int8 peak"))
    }

    /// `--target` picks the stored weight layout; every layout detects the same, `inspect` says how this
    /// CPU gets the weights, and `bench` times the file.
    @Test func targetLayoutsDetectTheSameAndBenchRunsTheFile() throws {
        let directory = try CLI.temporaryDirectory()
        var outputs: [String] = []
        // The layout each target stores; the host's is AVX2's or, with AVX-VNNI, the dot-product panels rpi5's files hold.
        let layouts: [String: Int8WeightLayout] = ["host": .native, "rpi4": .neon, "rpi5": .dotProduct, "x86-64": .avx2,
                                                   "x86-64-vnni": .dotProduct]
        for target in ["raw", "host", "rpi4", "rpi5", "x86-64", "x86-64-vnni"] {
            let file = directory.appendingPathComponent("\(target).edq").path
            let quantize = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--input-size", "96x128",
                                             "--threads", "1", "--no-auto-precision", "--target", target, "-o", file])
            #expect(quantize.status == 0, "\(quantize.standardError)")
            let placement = try CLI.edgedetr(["inspect", file]).standardOutput.split(separator: "\n")
                .first { $0.hasPrefix("int8 weights on this CPU") } ?? ""
            switch target {
            case "raw": #expect(placement.contains(": 0 bytes used in place, 0 repacked") && !placement.contains(" 0 packed at load"), "\(placement)")
            case _ where layouts[target] != .native:
                #expect(placement.contains(": 0 bytes used in place") && !placement.contains(" 0 repacked"), "\(placement)")
            default: #expect(!placement.contains(": 0 bytes used in place") && placement.contains(" 0 repacked at load") && placement.contains(" 0 packed at load"), "\(placement)")
            }
            outputs.append(try CLI.edgedetr(["detect", "--model", file, "--threshold", "0", "--top-k", "10", CLI.image]).standardOutput)
        }
        #expect(Set(outputs).count == 1 && !outputs[0].isEmpty)
        let bench = try CLI.edgedetr(["bench", "--model", directory.appendingPathComponent("host.edq").path, "--threads", "1",
                                      "--runs", "1", "--warmup", "0"])
        #expect(bench.status == 0, "\(bench.standardError)")
        #expect(bench.standardOutput.contains("model file") && bench.standardOutput.contains("| quantizedConv2d |")
                && bench.standardOutput.contains("summary: median_s="))
        try Self.expectBenchReport(bench.standardOutput, file: directory.appendingPathComponent("host.edq").path)
        // --estimate prints a board's estimate, labelled as one, without running the model.
        let estimate = try CLI.edgedetr(["bench", "--model", directory.appendingPathComponent("rpi4.edq").path, "--estimate", "rpi4"])
        #expect(estimate.status == 0, "\(estimate.standardError)")
        #expect(estimate.standardOutput.contains("ESTIMATE for Raspberry Pi 4") && estimate.standardOutput.contains("not a measurement")
                && estimate.standardOutput.contains("| int8 GEMM/conv |") && estimate.standardOutput.contains("summary: estimate_board=rpi4 estimate_threads=4 estimate_s="))
        #expect(!estimate.standardOutput.contains("median_s"))
        let badBoard = try CLI.edgedetr(["bench", "--model", directory.appendingPathComponent("rpi4.edq").path, "--estimate", "rpi3"])
        #expect(badBoard.status != 0 && badBoard.status < 128 && badBoard.standardError.contains("--estimate: no board 'rpi3' and no such file"))
        let badTarget = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--target", "rpi3",
                                          "-o", directory.appendingPathComponent("x.edq").path])
        #expect(badTarget.status != 0 && badTarget.status < 128 && badTarget.standardError.contains("--target must be one of"))
    }

    /// `bench --estimate FILE`: a board described in a file (the committed description of the machine that
    /// checks the method), every key checked, one-line errors naming the line or the key.
    @Test func boardDescriptionFiles() throws {
        let directory = try CLI.temporaryDirectory()
        let board = CLI.repository.appendingPathComponent("Calibration/bench/boards/xeon-2core.board").path
        let estimate = try CLI.edgedetr(["bench", "--model", CLI.fixture, "--size", "96", "--estimate", board, "--threads", "2"])
        #expect(estimate.status == 0, "\(estimate.standardError)")
        #expect(estimate.standardOutput.contains("ESTIMATE for this 2-core AVX-512 VNNI Xeon VM")
                && estimate.standardOutput.contains("summary: estimate_board=xeon-2core estimate_threads=2"))
        let good = try String(contentsOfFile: board, encoding: .utf8)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "cores = 2", with: "cores = 0"), "cores must be an integer in 1...1024, got '0'"),
            (good.replacingOccurrences(of: "cores = 2", with: "cores = 2\ncores = 4"), "'cores' given twice"),
            (good.replacingOccurrences(of: "int8_tile = 8x16", with: "int8_tile = 8"), "int8_tile must be ROWSxCOLUMNS"),
            (good.replacingOccurrences(of: "clock_hz = 2.95e9", with: "clock_hz = fast"), "clock_hz must be a number"),
            (good.replacingOccurrences(of: "clock_hz = 2.95e9", with: "clock_hz = nan"), "clock_hz must be a number"),
            (good.replacingOccurrences(of: "vector_bytes = 32", with: "vector_bytes = 30"), "vector_bytes must be a multiple of 4"),
            (good.replacingOccurrences(of: "vector_bytes = 32", with: ""), "'vector_bytes' is missing"),
            (good + "\nturbo = yes\n", "unknown key 'turbo'"),
            (good + "\njust words\n", "expected 'key = value'"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let file = directory.appendingPathComponent("bad\(index).board").path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            CLI.expectOneLineError(try CLI.edgedetr(["bench", "--model", CLI.fixture, "--size", "96", "--estimate", file]), contains: message)
        }
    }

    @Test func badCalibrationInputs() throws {
        let directory = try CLI.temporaryDirectory()
        CLI.expectOneLineError(try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", directory.path, "-o", directory.path + "/m.edq"]),
                               contains: "no images found")
        let method = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--method", "magic", "-o", directory.path + "/m.edq"])
        #expect(method.status != 0 && method.status < 128 && method.standardError.contains("--method"))
        let images = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--search-images", "0",
                                       "-o", directory.path + "/m.edq"])
        #expect(images.status != 0 && images.status < 128 && images.standardError.contains("--search-images"))
        let target = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--auto-precision",
                                       "--target-box-drift", "-1", "-o", directory.path + "/m.edq"])
        #expect(target.status != 0 && target.status < 128 && target.standardError.contains("--target-box-drift"))
    }

    /// `--auto-precision` prints the sensitivity table and records the chosen float32 layers in the file.
    @Test func automaticPrecision() throws {
        let file = try CLI.temporaryDirectory().appendingPathComponent("auto.edq").path
        let quantize = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", Self.images, "--input-size", "96x128",
                                         "--threads", "1", "--method", "mse", "--auto-precision", "--target-score-drift", "0",
                                         "--max-float-fraction", "0.05", "-o", file])
        #expect(quantize.status == 0, "\(quantize.standardError)")
        #expect(quantize.standardOutput.contains("layer sensitivity") && quantize.standardOutput.contains("target not met"))
        let inspect = try CLI.edgedetr(["inspect", file])
        #expect(inspect.standardOutput.contains("kept float (automatic,") && inspect.standardOutput.contains("calibration: 3 images, mse"))
    }
}

/// `dataset synth`, then `eval` of a model, and of float vs int8 side by side.
@Suite struct EvalCommandTests {
    typealias CLI = DetectCommandTests

    @Test func evaluateModelsOnASyntheticSplit() throws {
        let directory = try CLI.temporaryDirectory()
        let synth = try CLI.edgedetr(["dataset", "synth", "--seed", "5", "--count", "4", "--size", "96", "--split", "val",
                                      "-o", directory.path])
        #expect(synth.status == 0, "\(synth.standardError)")
        let dataset = directory.appendingPathComponent("val.json").path
        let single = try CLI.edgedetr(["eval", "--model", CLI.fixture, "--dataset", dataset, "--threads", "1"])
        #expect(single.status == 0, "\(single.standardError)")
        #expect(single.standardOutput.contains("Average Precision") && single.standardOutput.contains("latency"))
        let model = directory.appendingPathComponent("int8.edq").path
        let quantize = try CLI.edgedetr(["quantize", "--model", CLI.fixture, "--calib", directory.appendingPathComponent("val").path,
                                         "--input-size", "96x96", "-o", model, "--threads", "1"])
        #expect(quantize.status == 0, "\(quantize.standardError)")
        let both = try CLI.edgedetr(["eval", "--float", CLI.fixture, "--int8", model, "--dataset", dataset, "--threads", "1"])
        #expect(both.status == 0, "\(both.standardError)")
        #expect(both.standardOutput.contains("int8-float") && both.standardOutput.contains("latency: float"))
        let conflicting = try CLI.edgedetr(["eval", "--model", CLI.fixture, "--float", CLI.fixture, "--dataset", dataset])
        #expect(conflicting.status != 0 && conflicting.status < 128)
    }
}
