import EdgeRuntime

extension GraphBuilder {
    /// MSDeformAttn at `prefix` (Deformable DETR's and RT-DETR's): value, offset and weight projections,
    /// softmax over each head's samples, sampling, output projection fused with the residual add.
    /// RT-DETRv2 adds its sampling `method` and `offsetScale` (4-d references only; 0.5 is v1's).
    func deformableAttention(query: ValueID, value input: ValueID, reference: ValueID, prefix: String,
                             levels: [LevelShape], heads: Int, points: [Int], width d: Int,
                             method: SamplingMethod = .bilinear, offsetScale: Float = 0.5,
                             residual: ValueID) throws(BuildError) -> ValueID {
        let value = try linear(input, "\(prefix).value_proj", outputs: d)
        let sampled = try deformableSampling(query: query, value: value, reference: reference, prefix: prefix, levels: levels,
                                             heads: heads, points: points, method: method, offsetScale: offsetScale)
        return try linear(sampled, "\(prefix).output_proj", outputs: d, residual: residual)
    }

    /// The core of MSDeformAttn at `prefix` without the value and output projections (D-FINE's decoder
    /// has none): the offset and weight projections of `query`, the softmax over each head's samples
    /// (`points[l]` at level l: D-FINE gives levels their own counts), the locations around `reference`
    /// and the sampling of `value`.
    func deformableSampling(query: ValueID, value: ValueID, reference: ValueID, prefix: String, levels: [LevelShape],
                            heads: Int, points: [Int], method: SamplingMethod = .bilinear,
                            offsetScale: Float = 0.5) throws(BuildError) -> ValueID {
        let samples = try product(heads, points.reduce(0, +), of: "\(prefix) samples per query")
        let offsetCount = try product(samples, 2, of: "\(prefix).sampling_offsets")
        let offsets: ValueID
        if offsetScale == 0.5 {
            offsets = try linear(query, "\(prefix).sampling_offsets", outputs: offsetCount)
        } else {
            // `deformableLocations` scales 4-d offsets by box size / points / 2 (Deformable DETR's 0.5);
            // RT-DETRv2's and D-FINE's decoder_offset_scale s is folded into the projection as a factor 2s.
            let factor = 2 * offsetScale
            let weight = try values("\(prefix).sampling_offsets.weight", shape: [offsetCount, columns(query)]).map { $0 * factor }
            let bias = try values("\(prefix).sampling_offsets.bias", shape: [offsetCount]).map { $0 * factor }
            let weightID = try constant("\(prefix).sampling_offsets.scaled_weight", shape: [offsetCount, columns(query)], values: weight)
            let biasID = try constant("\(prefix).sampling_offsets.scaled_bias", shape: [offsetCount], values: bias)
            offsets = try add(.linear(activation: .none), [query, weightID, biasID], name: "\(prefix).sampling_offsets")
        }
        let logits = try linear(query, "\(prefix).attention_weights", outputs: samples)
        let weights = try add(.softmax(groupSize: samples / heads), [logits], name: "\(prefix).softmax")
        let locations = try add(.deformableLocations(levels: levels, heads: heads, points: points),
                                [reference, offsets], name: "\(prefix).sampling_locations")
        return try add(.deformableSampling(levels: levels, heads: heads, points: points, method: method),
                       [value, locations, weights], name: "\(prefix).sampling")
    }
}
