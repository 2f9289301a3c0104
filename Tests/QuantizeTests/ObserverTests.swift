import EdgeRuntime
import Foundation
import Kernels
@testable import Quantize
import Testing

/// The calibration observers on histograms whose best range is known, and the automatic precision
/// search on a fixture model.
@Suite struct ObserverTests {
    /// 2048 bins over [minimum, maximum] filled by `density(centre)`.
    static func histogram(minimum: Float, maximum: Float, bins: Int = 2048, _ density: (Float) -> Double) -> HistogramRange {
        let width = (maximum - minimum) / Float(bins)
        let counts = (0..<bins).map { UInt64((density(minimum + (Float($0) + 0.5) * width) * 1e6).rounded()) }
        return HistogramRange(counts: counts, minimum: minimum, maximum: maximum)!
    }

    /// Uniform values: every clip costs more than it saves, so entropy and MSE keep the full range.
    @Test func uniformValuesKeepTheFullRange() {
        let h = Self.histogram(minimum: -1, maximum: 3) { _ in 1 }
        for range in [h.minimumDivergence(), h.minimumSquaredError()] {
            #expect(range.low == -1 && range.high == 3, "\(range)")
        }
    }

    /// A Laplacian bulk with one far outlier bin (a millionth of the mass, at 40x the scale): min-max
    /// would spend most of the 256 levels on empty space, so both searches clip hard (to about a
    /// quarter of the range), and MSE's grid has a smaller expected error than min-max's.
    @Test func heavyTailsAreClipped() {
        let h = Self.histogram(minimum: -40, maximum: 40) { x in
            abs(x) > 39.9 ? 1e-5 : exp(-Double(abs(x)))
        }
        let entropy = h.minimumDivergence(), mse = h.minimumSquaredError()
        // Both measure +-10 (a quarter of the range): clipping the bulk's own tail at +-5 would cost more
        // (2 e^-5 per unit mass) than the coarser steps save.
        #expect(entropy.high <= 12 && entropy.low >= -12, "entropy \(entropy)")
        #expect(mse.high <= 12 && mse.low >= -12, "mse \(mse)")
        #expect(entropy.high >= 5 && mse.high >= 5, "at least the 1/8 floor: \(entropy) \(mse)")
        func expectedError(_ range: (low: Float, high: Float)) -> Double {
            let grid = Int8Quantization.covering(minimum: range.low, maximum: range.high)
            var sum = 0.0
            for i in 0..<h.counts.count {
                let centre = h.minimum + (Float(i) + 0.5) * h.binWidth
                let e = Double(centre - grid.dequantize(grid.quantize(centre)))
                sum += Double(h.counts[i]) * e * e
            }
            return sum
        }
        #expect(expectedError(mse) < expectedError((-40, 40)))
    }

    /// One-sided (post-ReLU) values: the range starts at 0 and only the top is searched.
    @Test func oneSidedValuesKeepZeroAtTheBottom() {
        let h = Self.histogram(minimum: 0, maximum: 16) { x in exp(-Double(x)) }
        for range in [h.minimumDivergence(), h.minimumSquaredError()] {
            #expect(range.low == 0 && range.high < 16 && range.high >= 2, "\(range)")
        }
    }

    /// Percentile clips exactly the requested tail mass.
    @Test func percentileClipsTheTails() {
        let h = Self.histogram(minimum: -1, maximum: 1, bins: 100) { _ in 1 }
        let range = h.percentile(tail: 0.05)
        #expect(abs(range.low - -0.9) < 1e-5 && abs(range.high - 0.9) < 1e-5, "\(range)")
        #expect(h.percentile(tail: 0) == (-1, 1))
    }

    /// Every observer gives a usable int8 model on a fixture, and files are deterministic per method.
    @Test(arguments: CalibrationMethod.allCases)
    func everyMethodQuantizesAFixture(_ method: CalibrationMethod) throws {
        var options = QuantizationOptions()
        options.method = method
        let first = try QuantizationTests.quantized("deformable_base", options: options)
        let second = try QuantizationTests.quantized("deformable_base", options: options)
        #expect(ModelFileWriter.encode(graph: first.graph, plan: first.plan, metadata: first.metadata)
                == ModelFileWriter.encode(graph: second.graph, plan: second.plan, metadata: second.metadata))
        let comparison = try LayerComparison.measure(float: first.quantizer.floatGraph, quantized: first.graph,
                                                     counterpart: first.counterpart,
                                                     inputs: try first.quantizer.inputs(try QuantizationTests.images()), threads: 1)
        // Bounds with margin over what each method measures on this random-weight fixture (mean score
        // drift / max box drift: minmax 0.013 / 0.055, percentile 0.011 / 0.031, mse 0.012 / 0.038,
        // entropy 0.063 / 0.23: KL clips post-ReLU activations hard, see docs/QUANTIZATION.md).
        let bounds: (score: Float, box: Float) = method == .entropy ? (0.1, 0.35) : (0.02, 0.08)
        #expect(comparison.meanScoreDrift < bounds.score && comparison.maxBoxDrift < bounds.box, "\(method): \(comparison.table(limit: 3))")
    }

    /// Layers fed by constants only (Conditional DETR's position projections) stay float32 by default
    /// and run int8 when the rule is off.
    @Test func constantSubgraphsStayFloat() throws {
        var options = QuantizationOptions()
        options.keepFloat = []
        let ruled = try QuantizationTests.quantized("conditional_detr", options: options)
        options.keepConstantSubgraphsFloat = false
        let plain = try QuantizationTests.quantized("conditional_detr", options: options)
        // An int8 layer with a float output and a residual is split into `<name>.int8` and an add.
        func runsInt8(_ graph: Graph, _ name: String) -> Bool {
            graph.nodes.contains { ($0.name == name || $0.name == name + ".int8") && $0.operation.kindName == "quantizedLinear" }
        }
        for layer in ["model.decoder.layers.0.ca_qpos_proj", "model.decoder.layers.1.ca_kpos_proj", "model.decoder.ref_point_head.layers.0"] {
            #expect(!runsInt8(ruled.graph, layer) && ruled.graph.nodes.contains { $0.name == layer && $0.operation.kindName == "linear" }, "\(layer)")
            #expect(runsInt8(plain.graph, layer), "\(layer)")
        }
        // Layers that see the image stay int8 either way.
        #expect(runsInt8(ruled.graph, "model.decoder.layers.0.ca_kcontent_proj"))
    }

    /// The search keeps nothing float when the target is loose, keeps layers in sensitivity order up
    /// to its limit when the target cannot be met, and the drift it reports is the model's.
    @Test func automaticPrecisionFollowsTheTarget() throws {
        let fixture = try GoldenFixture("conditional_detr")
        let quantizer = try Quantizer(folder: fixture.folder, height: 64, width: 96)
        let images = Array(try QuantizationTests.images().prefix(2))
        var options = QuantizationOptions()
        options.automaticPrecision = AutomaticPrecision(target: OutputDrift(score: 1, box: 1))
        let loose = try quantizer.quantize(images: images, options: options, threads: 1)
        let looseSearch = try #require(loose.search)
        // Met before searching: one run, no sensitivities measured.
        #expect(looseSearch.keptFloat.isEmpty && looseSearch.targetMet && looseSearch.sensitivities.isEmpty)

        options.automaticPrecision = AutomaticPrecision(target: OutputDrift(score: 0, box: 0), maximumFloatFraction: 0.1)
        let strict = try quantizer.quantize(images: images, options: options, threads: 1)
        let search = try #require(strict.search)
        // The candidates are the quantizable layers not already float32 by name.
        let named = GraphQuantizer(source: quantizer.floatGraph, statistics: ActivationStatistics(
            minimum: [], maximum: [], histograms: []), options: options)
        let candidates = PrecisionSearch.candidates(in: quantizer.floatGraph).filter { name in
            !quantizer.floatGraph.nodes.contains { $0.name == name && named.keepsFloat($0) }
        }
        #expect(search.sensitivities.map(\.layer).sorted() == candidates.sorted())
        #expect(candidates.count < PrecisionSearch.candidates(in: quantizer.floatGraph).count)
        // The target cannot be met: the answer is the best prefix of the sensitivity order up to the limit.
        let limit = Int(Double(search.sensitivities.count) * 0.1)
        #expect(!search.targetMet && search.keptFloat.count <= limit)
        #expect(search.keptFloat == search.sensitivities.prefix(search.keptFloat.count).map(\.layer))
        #expect(search.drift.combined <= search.allInt8Drift.combined)
        // The kept layers really are float32 in the written graph.
        for layer in search.keptFloat {
            let node = try #require(strict.graph.nodes.first { $0.name == layer })
            #expect(!node.operation.kindName.hasPrefix("quantized"), "\(layer) is \(node.operation.kindName)")
        }
        let reference = try DriftReference(float: quantizer.floatGraph, inputs: try quantizer.inputs(images), threads: 1)
        #expect(try reference.drift(of: strict.graph, plan: strict.plan, threads: 1) == search.drift)
    }
}
