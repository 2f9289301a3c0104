import Kernels

/// The int8 weights of one quantized linear layer or convolution, and the one policy for where their
/// packed bytes come from.
///
/// The int8 GEMM reads weights packed in its kernel's panel layout with the layer's bias (input zero
/// point folded in) and scales beside them. A model file may store them three ways, and every reader
/// of a quantized layer (the model file writer and reader, the executor, `inspect`) asks this type
/// which one applies instead of deciding again:
/// - packed for this CPU's kernel (`Int8WeightLayout.native`): used in place from the mapping;
/// - packed for another CPU: repacked at load into memory the executor owns;
/// - raw (PyTorch layout, `[N, K]` or `[O, C, kH, kW]`): packed at load, with the bias and scales
///   of the graph. A raw weight is packed by the writer only when this layer is its only reader
///   (its panels fold this layer's bias and zero point).
public struct QuantizedLayerWeights {
    public let weight: ConstantStorage
    /// The int32 bias folded into the panels; nil for `dynamicQuantizedLinear`, whose float bias is added
    /// after the row scales (its panels fold no bias and input zero point 0).
    public let bias: ConstantStorage?
    public let scales: ConstantStorage
    /// `[N, K]` for a linear layer, `[O, C, kH, kW]` for a convolution.
    public let weightShape: [Int]
    public let inputZeroPoint: Int32
    /// The convolution's kernel shape, nil for a linear layer.
    public let convolution: Conv2DShape?

    public enum Placement: Equatable, Sendable {
        case inPlace, repacked, packedAtLoad
    }

    /// The layer's weights, or nil when `node` is not a quantized linear layer or convolution (or a
    /// dynamic one) with constant weight, bias and scales.
    public init?(node: Node, in graph: Graph) {
        let foldsBias: Bool
        switch node.operation {
        case .quantizedLinear, .quantizedConv2d: foldsBias = true
        case .dynamicQuantizedLinear: foldsBias = false
        default: return nil
        }
        func constant(_ operand: Operand) -> ConstantStorage? {
            guard let value = node[operand], case .constant(let c) = graph.values[value.index].source else { return nil }
            return graph.constants[c]
        }
        guard let weight = constant(.weight), let bias = constant(.bias), let scales = constant(.scales),
              let weightValue = node[.weight] else { return nil }
        self.weight = weight
        self.bias = foldsBias ? bias : nil
        self.scales = scales
        weightShape = graph.shape(of: weightValue)
        inputZeroPoint = graph.values[node.x.index].quantization?.zeroPoint ?? 0
        convolution = graph.convolutionShape(of: node)
    }

    /// The order of the depth (reduction) axis in packed panels: a linear layer's K, or a convolution's
    /// patch (kh, kw, c).
    public var depthOrder: PackedDepthOrder { convolution == nil ? .linear : .convolutionPatch }

    /// Where this CPU gets the packed weights from.
    public var placement: Placement {
        guard let packed = weight.packedWeights else { return .packedAtLoad }
        return packed.weights.layout == .native ? .inPlace : .repacked
    }

    /// Bytes of the stored weights (packed panels, or the raw int8 tensor).
    public var storedByteCount: Int { weight.packedWeights?.weights.byteCount ?? weight.byteCount }

    /// The weights packed from the raw tensor in `layout`, with this layer's bias, scales and input zero
    /// point folded in. Raw weights only (`placement == .packedAtLoad`).
    public func packedFromRaw(layout: Int8WeightLayout) -> PackedInt8Weights {
        if let convolution {
            return PackedInt8Conv2DWeights(weights: weight.int8Pointer, shape: convolution, bias: bias?.int32Pointer,
                                           scales: scales.pointer, inputZeroPoint: inputZeroPoint, layout: layout).packed
        }
        return PackedInt8Weights(weights: weight.int8Pointer, outputs: weightShape[0], inputs: weightShape[1],
                                 bias: bias?.int32Pointer, scales: scales.pointer, inputZeroPoint: inputZeroPoint, layout: layout)
    }

    /// The weights in this CPU's layout, following `placement`: the stored panels themselves, a repacked
    /// copy, or panels packed from the raw tensor.
    public func nativeWeights() -> PackedInt8Weights {
        guard let packed = weight.packedWeights else { return packedFromRaw(layout: .native) }
        return packed.weights.layout == .native ? packed.weights : PackedInt8Weights(repacking: packed.weights, layout: .native)
    }
}
