import EdgeRuntime
import Foundation
import Kernels
import Quantize
import Testing

/// Int8 weights stored pre-packed in the model file (encoding 3): every layout runs bit-identically
/// to the raw file, the CPU's own layout is used in place (nothing repacked, nothing copied), another
/// CPU's is repacked at load, and corrupt panels are refused with a typed error naming the tensor.
@Suite struct PackedWeightFileTests {
    /// The int8 deformable_base fixture (quantized once for the whole suite) and one input.
    nonisolated(unsafe) static let model: (graph: Graph, plan: ArenaPlan, metadata: ModelMetadata, input: [Float]) = {
        let q = try! QuantizationTests.quantized("deformable_base")
        let input = try! q.quantizer.inputs([try! QuantizationTests.images()[0]])[0]
        return (q.graph, q.plan, q.metadata, input)
    }()

    static func bytes(_ layout: Int8WeightLayout?) -> [UInt8] {
        ModelFileWriter.encode(graph: model.graph, plan: model.plan, metadata: model.metadata, weightLayout: layout)
    }

    static func quantizedWeights(_ graph: Graph) -> [(node: Node, value: Int)] {
        graph.nodes.compactMap { node in
            switch node.operation {
            case .quantizedLinear, .quantizedConv2d: return (node, node.inputs[1].index)
            default: return nil
            }
        }
    }

    @Test(arguments: Int8WeightLayout.allCases)
    func everyLayoutRunsLikeTheRawFile(_ layout: Int8WeightLayout) throws {
        let raw = try ModelFile(bytes: Self.bytes(nil))
        let packed = try ModelFile(bytes: Self.bytes(layout))
        let weights = Self.quantizedWeights(packed.graph)
        #expect(weights.count > 40)
        for (node, value) in weights {
            guard case .constant(let c) = packed.graph.values[value].source, case .constant(let r) = raw.graph.values[value].source,
                  let stored = packed.graph.constants[c].packedWeights else {
                Issue.record("\(node.name): weights not packed")
                continue
            }
            #expect(stored.weights.layout == layout)
            #expect(stored.depthOrder == (node.operation.kindName == "quantizedConv2d" ? .convolutionPatch : .linear))
            // Unpacked, the panels give back the raw file's int8 weights in PyTorch layout.
            let shape = packed.graph.values[value].shape
            #expect(packed.graph.constants[c].int8Values(shape: shape) == raw.graph.constants[r].int8Values(shape: shape),
                    "\(node.name)")
        }
        let expected = try GraphExecutor(graph: raw.graph, plan: raw.plan).run(input: Self.model.input)
        for threads in [1, 3] {
            let executor = try GraphExecutor(graph: packed.graph, plan: packed.plan, threads: threads)
            let got = try executor.run(input: Self.model.input)
            for (a, b) in zip(expected, got) {
                #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(layout) \(threads) threads: \(a.name) differs")
            }
            let placement = packed.int8WeightPlacement
            if layout == .native {
                #expect(executor.inPlaceWeightBytes == placement.inPlace && placement.inPlace > 0 && executor.repackedWeightBytes == 0)
            } else {
                #expect(executor.repackedWeightBytes == placement.repacked && placement.repacked > 0 && executor.inPlaceWeightBytes == 0)
            }
            #expect(placement.packedAtLoad == 0)
        }
    }

    /// The native layout is used in place: the kernels read the mapped file's bytes, not a copy.
    @Test func nativeLayoutIsUsedInPlace() throws {
        let bytes = Self.bytes(.native)
        let model = try ModelFile(bytes: bytes)
        let mapping = UnsafeRawBufferPointer(start: model.file.base, count: model.file.count)
        for (_, value) in Self.quantizedWeights(model.graph) {
            guard case .constant(let c) = model.graph.values[value].source, let packed = model.graph.constants[c].packedWeights else {
                Issue.record("value \(value) not packed")
                continue
            }
            let start = UnsafeRawPointer(packed.weights.bytes)
            #expect(start >= mapping.baseAddress! && start + packed.weights.byteCount <= mapping.baseAddress! + mapping.count)
            #expect(Int(bitPattern: start) % 64 == 0)
            #expect(!packed.weights.owned)
        }
        #expect(try ModelFile(bytes: Self.bytes(nil)).int8WeightPlacement.inPlace == 0)
    }

    @Test func writingPackedIsDeterministic() throws {
        #expect(Self.bytes(.neon) == Self.bytes(.neon))
        #expect(Self.bytes(.neon) != Self.bytes(.dotProduct))
    }

    // MARK: - Corrupt packed weights

    /// The first packed weight read by an op of `kind` whose output count satisfies `outputs`.
    static func target(_ bytes: [UInt8], kind: String, outputs: (Int) -> Bool = { _ in true }) throws
        -> (name: String, shape: [Int], record: Int, data: Int) {
        let model = try ModelFile(bytes: bytes)
        let (_, index) = try #require(quantizedWeights(model.graph).first {
            $0.node.operation.kindName == kind && outputs(model.graph.values[$0.value].shape[0])
        })
        return (model.graph.values[index].name, model.graph.values[index].shape,
                ModelFileTests.valueRecord(bytes, index), ModelFileTests.constantData(bytes, index))
    }

    static func corrupt(_ bytes: [UInt8], _ name: String, _ detail: String, sourceLocation: SourceLocation = #_sourceLocation,
                        _ change: (inout [UInt8]) -> Void) {
        var copy = bytes
        change(&copy)
        ModelFileTests.expectInvalid(copy, name, detail, sourceLocation: sourceLocation)
    }

    @Test func corruptPackedHeadersAndSizesAreRefused() throws {
        let bytes = Self.bytes(.avx2)
        let (name, shape, record, data) = try Self.target(bytes, kind: "quantizedLinear")
        #expect(bytes[record + 11] == ConstantCoding.Code.int8Packed.rawValue)
        func corrupt(_ detail: String, sourceLocation: SourceLocation = #_sourceLocation, _ change: (inout [UInt8]) -> Void) {
            Self.corrupt(bytes, name, detail, sourceLocation: sourceLocation, change)
        }
        corrupt("unknown packed weight layout 9") { ModelFileTests.put32(&$0, 9, at: data) }
        corrupt("unknown depth order 5") { ModelFileTests.put32(&$0, 5, at: data + 4) }
        corrupt("depth order 1 does not fit a weight of rank 2") { ModelFileTests.put32(&$0, 1, at: data + 4) }
        corrupt("input zero point 300 outside") { ModelFileTests.put32(&$0, 300, at: data + 8) }
        corrupt("header byte 12 is not zero") { ModelFileTests.put32(&$0, 1, at: data + 12) }
        corrupt("expected at least the 64-byte header") { $0.replaceSubrange(record + 48 ..< record + 56, with: [32, 0, 0, 0, 0, 0, 0, 0]) }
        // One panel fewer than the weights need.
        let stored = ModelFileTests.u64(bytes, at: record + 48)
        corrupt("panel bytes for \(shape[0]) x \(shape[1]) weights in the avx2 16x2 layout, expected \(stored - 64)") {
            ModelFileTests.put32(&$0, UInt32(stored - 64 - Int8WeightLayout.avx2.panelByteCount(inputs: shape[1])), at: record + 48)
        }
        corrupt("must be int8") { $0[record + 9] = ElementType.float32.rawValue }
        // The zero point must be the one of the layer's input.
        corrupt("packed for input zero point") {
            let zeroPoint = Int32(bitPattern: UInt32($0[data + 8]) | UInt32($0[data + 9]) << 8 | UInt32($0[data + 10]) << 16 | UInt32($0[data + 11]) << 24)
            ModelFileTests.put32(&$0, UInt32(bitPattern: zeroPoint == 0 ? 1 : 0), at: data + 8)
        }
        // The folded bias and scale must be what the layer's own bias, scales and zero point give.
        let panels = data + ConstantCoding.packedHeaderSize
        corrupt("output 0: folded bias") { $0[panels] ^= 1 }
        corrupt("output 0: requantization scale") { $0[panels + 64] ^= 1 }
        corrupt("is -128") { $0[panels + Int8WeightLayout.avx2.panelHeaderByteCount] = 0x80 }
    }

    @Test func nonZeroPaddingIsRefused() throws {
        let bytes = Self.bytes(.avx2)
        // A convolution with fewer outputs than a panel's 16 columns: column 15 is padding.
        let (name, shape, _, data) = try Self.target(bytes, kind: "quantizedConv2d") { $0 < 16 }
        let panels = data + ConstantCoding.packedHeaderSize
        Self.corrupt(bytes, name, "header padding word 15") { $0[panels + 4 * 15] = 1 }
        Self.corrupt(bytes, name, "header padding word 31") { $0[panels + 4 * 31] = 1 }
        Self.corrupt(bytes, name, "padding byte 30") { $0[panels + 128 + 15 * 2] = 1 }
        Self.corrupt(bytes, name, "depth order 0 does not fit a weight of rank 4") { ModelFileTests.put32(&$0, 0, at: data + 4) }
        #expect(shape.count == 4)
    }

    /// Byte offset of node `index`'s input list in the nodes section.
    static func nodeInputs(_ bytes: [UInt8], node index: Int) -> Int {
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        var offset = ModelFileTests.sections(bytes)[ModelFileFormat.SectionKind.nodes.rawValue]!.offset + 8
        for _ in 0..<index { offset += 24 + 4 * u32(offset + 12) + 8 * u32(offset + 16) }
        return offset + 24
    }

    /// Packed panels fold one layer's bias: a layer reading another bias beside them is refused.
    @Test func panelsMustMatchTheLayerThatReadsThem() throws {
        let bytes = Self.bytes(.avx2)
        let model = try ModelFile(bytes: bytes)
        let linears = Self.quantizedWeights(model.graph).filter { $0.node.operation.kindName == "quantizedLinear" }
        var pair: (earlier: Node, later: Node)? = nil
        for later in linears.reversed() where pair == nil {
            if let earlier = linears.first(where: { $0.node.inputs[2].index < later.node.output.index && $0.node.name != later.node.name
                && model.graph.shape(of: $0.node.inputs[2]) == model.graph.shape(of: later.node.inputs[2]) }) {
                pair = (earlier.node, later.node)
            }
        }
        let (earlier, later) = try #require(pair)
        let nodeIndex = try #require(model.graph.nodes.firstIndex { $0.name == later.name })
        let inputs = Self.nodeInputs(bytes, node: nodeIndex)
        #expect((0..<4).reduce(0) { $0 | Int(bytes[inputs + 8 + $1]) << (8 * $1) } == later.inputs[2].index)
        Self.corrupt(bytes, model.graph.values[later.inputs[1].index].name, "folded bias") {
            ModelFileTests.put32(&$0, UInt32(earlier.inputs[2].index), at: inputs + 8)
        }
    }
}
