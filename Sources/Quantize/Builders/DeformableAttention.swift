import EdgeRuntime

extension GraphBuilder {
    /// MSDeformAttn at `prefix` (Deformable DETR's and RT-DETR's): value, offset and weight projections,
    /// softmax over each head's levels x points, sampling, output projection fused with the residual add.
    func deformableAttention(query: ValueID, value input: ValueID, reference: ValueID, prefix: String,
                             levels: [LevelShape], heads: Int, points: Int, width d: Int,
                             residual: ValueID) throws(BuildError) -> ValueID {
        let samples = try product(heads, levels.count, points, of: "\(prefix) samples per query")
        let value = try linear(input, "\(prefix).value_proj", outputs: d)
        let offsets = try linear(query, "\(prefix).sampling_offsets",
                                 outputs: try product(samples, 2, of: "\(prefix).sampling_offsets"))
        let logits = try linear(query, "\(prefix).attention_weights", outputs: samples)
        let weights = try add(.softmax(groupSize: levels.count * points), [logits], name: "\(prefix).softmax")
        let locations = try add(.deformableLocations(levels: levels, heads: heads, points: points),
                                [reference, offsets], name: "\(prefix).sampling_locations")
        let sampled = try add(.deformableSampling(levels: levels, heads: heads, points: points),
                              [value, locations, weights], name: "\(prefix).sampling")
        return try linear(sampled, "\(prefix).output_proj", outputs: d, residual: residual)
    }
}
