import ArgumentParser
import EdgeRuntime
import Foundation
import Kernels
import Quantize

/// `edgedetr bench`: latency of one checkpoint (float engine) or model file (int8, as `detect` runs
/// it) on a fixed-size random input, with the time spent in each kind of graph operation. Not a test: numbers depend on the machine and its load;
/// compare ratios measured in one run (Calibration/bench/float_bench.sh, docs/PERFORMANCE.md).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a checkpoint (float) or a model file (int8) on a random input.",
        discussion: """
            Builds the graph of a checkpoint for a --size x --size input, or loads a model file (its own input \
            size), feeds random pixel values (no preprocessing), runs it --warmup times, then --runs timed \
            times, and prints median/min/max latency, the CPU time per run, the mean time per operation kind \
            with its multiply-accumulates and GFLOP/s (GOP/s for int8), and the weight bytes. For int8 files: \
            the int8 share of the multiply-accumulates, the share of the run spent outside the int8 kernels \
            (float ops, quantize/dequantize boundaries, layout ops), and the GMAC/s end to end and in the \
            int8 kernels against this machine's measured int8 peak (register-only loop, per core times \
            --threads); then the arena and kernel scratch bytes and the process's peak resident memory. \
            EDGEDETR_KERNELS=scalar|simd|avx2|avxvnni|avx512vnni picks the kernel level (default: the best \
            this CPU has).
            """
    )

    @Option(name: .long, help: "A Hugging Face checkpoint folder (config.json + model.safetensors), or a model file (.edq).")
    var model: String

    @Option(name: .long, help: "Input height and width in pixels (32 to 2048; a model file has its own).")
    var size: Int = 512

    @Option(name: .long, help: "Worker threads (1 to 64; default 2, or the board's cores with --estimate).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Print an estimate of the latency on a board instead of timing this machine: \(BoardModel.all.map(\.name).joined(separator: " or ")), or a board description file (docs/PERFORMANCE.md).",
        valueName: "board"))
    var estimate: String?

    @Option(name: .long, help: "Timed runs (1 to 100).")
    var runs: Int = 3

    @Option(name: .long, help: "Untimed runs first (0 to 100).")
    var warmup: Int = 1

    @Option(name: .long, help: "Also list the N slowest nodes, with their shapes and GFLOP/s (0 to 1000).")
    var topNodes: Int = 0

    func validate() throws {
        guard (32...2048).contains(size) else { throw ValidationError("--size must be from 32 to 2048, got \(size)") }
        if let threads, !(1...64).contains(threads) { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
        if let estimate, BoardModel.named(estimate) == nil, !FileManager.default.fileExists(atPath: estimate) {
            throw ValidationError("--estimate: no board '\(estimate)' and no such file; boards: \(BoardModel.all.map(\.name).joined(separator: ", "))")
        }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be from 1 to 100, got \(runs)") }
        guard (0...100).contains(warmup) else { throw ValidationError("--warmup must be from 0 to 100, got \(warmup)") }
        guard (0...1000).contains(topNodes) else { throw ValidationError("--top-nodes must be from 0 to 1000, got \(topNodes)") }
    }

    func run() throws {
        let start = monotonicSeconds()
        let graph: Graph
        let plan: ArenaPlan?
        let description: String
        let weightBytes: Int
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), !isDirectory.boolValue {
            let file: ModelFile
            do { file = try ModelFile(path: model) } catch { throw CLIError("\(model): \(error.description)") }
            graph = file.graph
            plan = file.plan
            weightBytes = file.constantBytes
            let int8 = graph.nodes.filter { $0.operation.kindName.hasPrefix("quantized") }.count
            description = "\(file.metadata.family) model file, \(int8) of \(graph.nodes.count) ops int8, input "
                + "\(file.metadata.inputHeight)x\(file.metadata.inputWidth)"
        } else {
            let checkpoint: CheckpointFolder
            do { checkpoint = try CheckpointFolder(path: model) } catch { throw CLIError(error.description) }
            do { graph = try DetectorGraph.build(checkpoint, height: size, width: size) } catch { throw CLIError(error.description) }
            plan = nil
            weightBytes = graph.constantElementCount * MemoryLayout<Float>.size
            description = "\(checkpoint.config.family), float32, input \(size)x\(size)"
        }
        if let estimate {
            let board = try BoardModel.named(estimate) ?? BoardFile.read(path: estimate)
            printEstimate(graph: graph, board: board, threads: threads ?? board.cores, description: description)
            return
        }
        let threads = self.threads ?? 2
        let built = monotonicSeconds()
        let executor: GraphExecutor
        do { executor = try GraphExecutor(graph: graph, plan: plan, threads: threads) } catch { throw CLIError(error.description) }
        let packed = monotonicSeconds()

        guard let inputID = graph.inputs.first else { throw CLIError("\(model): the graph has no input") }
        var generator = SplitMix64(seed: 2024)
        let input = (0..<graph.values[inputID.index].elementCount).map { _ in Float.random(in: -2...2, using: &generator) }

        let kinds = graph.nodes.map { $0.operation.kindName }
        let kindNames = Array(Set(kinds)).sorted()
        // The MACs every run does: the constant subgraphs ran once, at prepare.
        let folded = Set(executor.foldedNodes)
        let costs = graph.nodes.indices.map { folded.contains($0) ? 0 : graph.multiplyAccumulates(of: graph.nodes[$0]) }
        var latencies: [Double] = []
        var cpuSeconds = 0.0
        var kindSeconds: [String: Double] = [:]
        var meanNodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
        for iteration in 0..<(warmup + runs) {
            let timed = iteration >= warmup
            var nodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
            let cpuStart = processCPUSeconds()
            let runStart = monotonicSeconds()
            var last = runStart
            do {
                _ = try executor.run(input: input, afterNode: { index in
                    let now = monotonicSeconds()
                    nodeSeconds[index] = now - last
                    last = now
                })
            } catch { throw CLIError(error.description) }
            let runSeconds = monotonicSeconds() - runStart
            if timed {
                latencies.append(runSeconds)
                cpuSeconds += (processCPUSeconds() - cpuStart) / Double(runs)
                for (index, seconds) in nodeSeconds.enumerated() {
                    kindSeconds[kinds[index], default: 0] += seconds / Double(runs)
                    meanNodeSeconds[index] += seconds / Double(runs)
                }
            }
        }

        let sorted = latencies.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        print("model: \(model) (\(description)), \(threads) threads, kernels \(KernelDispatch.current.name), int8 GEMM \(Int8GEMMKernel.choose(for: .native).name)")
        print(String(format: "graph: %d nodes (%d of constant inputs run once at prepare), weights %.1f MB (%d bytes); build or load %.2f s, prepare %.2f s",
                     graph.nodes.count, executor.foldedNodes.count, Double(weightBytes) / 1e6, weightBytes, built - start, packed - built))
        print(String(format: "latency: median %.3f s, min %.3f s, max %.3f s over %d runs after %d warm-up; CPU time %.3f s per run",
                     median, sorted.first!, sorted.last!, runs, warmup, cpuSeconds))
        print("")
        print("| operation | nodes | mean time | share | GMAC | GFLOP/s |")
        print("|---|---|---|---|---|---|")
        let mean = latencies.reduce(0, +) / Double(latencies.count)
        for name in kindNames.sorted(by: { kindSeconds[$0, default: 0] > kindSeconds[$1, default: 0] }) {
            let seconds = kindSeconds[name, default: 0]
            let macs = zip(kinds, costs).filter { $0.0 == name }.reduce(0) { $0 + $1.1 }
            let rate = macs > 0 && seconds > 0 ? String(format: "%.1f", 2 * Double(macs) / seconds / 1e9) : "-"
            print(String(format: "| %@ | %d | %.1f ms | %.1f%% | %@ | %@ |", name, kinds.filter { $0 == name }.count,
                         seconds * 1e3, 100 * seconds / mean, macs > 0 ? String(format: "%.2f", Double(macs) / 1e9) : "-", rate))
        }
        if topNodes > 0 {
            print("\n| node | operation | input -> output | mean time | share | GFLOP/s |")
            print("|---|---|---|---|---|---|")
            for index in meanNodeSeconds.indices.sorted(by: { meanNodeSeconds[$0] > meanNodeSeconds[$1] }).prefix(topNodes) {
                let node = graph.nodes[index]
                let seconds = meanNodeSeconds[index]
                let rate = costs[index] > 0 && seconds > 0 ? String(format: "%.1f", 2 * Double(costs[index]) / seconds / 1e9) : "-"
                let shapes = "\(graph.shape(of: node.x)) -> \(graph.shape(of: node.output))"
                print(String(format: "| %@ | %@ | %@ | %.2f ms | %.1f%% | %@ |", node.name, kinds[index], shapes, seconds * 1e3,
                             100 * seconds / mean, rate))
            }
        }
        let totalMACs = costs.reduce(0, +)
        // Where an int8 model's time goes: nodes that run an int8 compute kernel (`dynamicQuantizedAttention`
        // among them: both its products run on the int8 tiles, its softmax between them), and everything else.
        let int8MACs = graph.nodes.indices.reduce(0) { $0 + (costs[$1] > 0 ? graph.int8MultiplyAccumulates(of: graph.nodes[$1]) : 0) }
        let int8Kernel = graph.nodes.map { graph.runsInt8Kernel($0) }
        let kernelMACs = zip(int8Kernel, costs).filter { $0.0 }.reduce(0) { $0 + $1.1 }
        let int8Seconds = zip(int8Kernel, meanNodeSeconds).filter { $0.0 }.reduce(0) { $0 + $1.1 }
        let nodeSeconds = meanNodeSeconds.reduce(0, +)
        let int8MACShare = totalMACs > 0 ? Double(int8MACs) / Double(totalMACs) : 0
        let outsideShare = nodeSeconds > 0 ? 1 - int8Seconds / nodeSeconds : 1
        let peak = Double(threads) * oneCorePeakGMACs(macsPerIteration: Int8PeakLoops.int8MACsPerIteration) {
            _ = Int8PeakLoops.int8(iterations: $0, seed: 3)
        }
        let endToEnd = Double(totalMACs) / median / 1e9
        let inKernels = int8Seconds > 0 ? Double(kernelMACs) / int8Seconds / 1e9 : 0
        print("")
        if int8MACs > 0 {
            print(String(format: "int8: %.1f%% of %.2f GMAC in int8 kernels (float %.1f%%); %.1f%% of the run outside them",
                         100 * int8MACShare, Double(totalMACs) / 1e9, 100 * (1 - int8MACShare), 100 * outsideShare))
            print(String(format: "speed: %.1f GMAC/s end to end, %.1f in the int8 kernels; measured int8 peak %.1f GMAC/s (%d thread%@): %.0f%%, %.0f%%",
                         endToEnd, inKernels, peak, threads, threads > 1 ? "s" : "", 100 * endToEnd / peak, 100 * inKernels / peak))
        }
        let residentKiB = peakResidentKiB()
        print("memory: arena \(executor.plan.size) bytes planned, working \(executor.workingBytes) bytes with kernel scratch, "
              + "weights \(weightBytes) bytes, peak RSS \(residentKiB) KiB")
        print(String(format: "\nsummary: median_s=%.4f min_s=%.4f max_s=%.4f cpu_s=%.4f gmac=%.2f weight_bytes=%d kernels=%@"
                         + " int8_mac_share=%.4f outside_int8_share=%.4f gmacs=%.2f int8_peak_gmacs=%.2f arena_bytes=%d"
                         + " working_bytes=%d peak_rss_kib=%d",
                     median, sorted.first!, sorted.last!, cpuSeconds, Double(totalMACs) / 1e9, weightBytes, "\(KernelDispatch.current.name)",
                     int8MACShare, outsideShare, endToEnd, peak, executor.plan.size, executor.workingBytes, residentKiB))
    }
}

extension BenchCommand {
    /// `--estimate`: the board model's time per operation kind, per estimate class and in all, never a
    /// measurement (every line says so).
    func printEstimate(graph: Graph, board: BoardModel, threads: Int, description: String) {
        let estimates = graph.estimatedLatency(on: board, threads: threads)
        let total = estimates.reduce(0) { $0 + $1.seconds }
        let macs = graph.nodes.reduce(0) { $0 + graph.multiplyAccumulates(of: $1) }
        print("model: \(model) (\(description))")
        print("ESTIMATE for \(board.description), \(min(threads, board.cores)) threads: not a measurement "
              + "(model and its error: docs/PERFORMANCE.md, \"Estimating a board\")")
        print(String(format: "estimated latency: %.3f s (%.1f frames/s), %.2f GMAC", total, 1 / max(total, 1e-9), Double(macs) / 1e9))
        print("")
        print("| estimate class | nodes | estimated time | share | bound by |")
        print("|---|---|---|---|---|")
        for kind in EstimateClass.allCases {
            let members = estimates.filter { $0.estimateClass == kind }
            guard !members.isEmpty, kind != .free else { continue }
            let seconds = members.reduce(0) { $0 + $1.seconds }
            let memoryBound = members.filter { $0.memorySeconds > $0.computeSeconds }.count
            print(String(format: "| %@ | %d | %.1f ms | %.1f%% | %@ |", kind.rawValue, members.count, seconds * 1e3,
                         100 * seconds / max(total, 1e-12), memoryBound * 2 > members.count ? "memory" : "compute"))
        }
        if topNodes > 0 {
            print("\n| node | operation | input -> output | estimated time | share |")
            print("|---|---|---|---|---|")
            for index in estimates.indices.sorted(by: { estimates[$0].seconds > estimates[$1].seconds }).prefix(topNodes) {
                let node = graph.nodes[index]
                print(String(format: "| %@ | %@ | %@ -> %@ | %.2f ms | %.1f%% |", node.name, node.operation.kindName,
                             "\(graph.shape(of: node.x))", "\(graph.shape(of: node.output))", estimates[index].seconds * 1e3,
                             100 * estimates[index].seconds / max(total, 1e-12)))
            }
        }
        print(String(format: "\nsummary: estimate_board=%@ estimate_threads=%d estimate_s=%.4f gmac=%.2f", board.name,
                     min(threads, board.cores), total, Double(macs) / 1e9))
    }
}

/// User + system CPU time of the whole process: on a shared machine, wall time includes waiting for a core.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}
