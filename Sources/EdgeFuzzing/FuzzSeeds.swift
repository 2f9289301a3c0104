import EdgeRuntime
import Foundation
import Kernels
import Quantize

/// Seeds that are not fixture files: a model of a few kilobytes that uses every op of the IR, as a
/// float file, an int8 file packed for each kernel layout and a raw int8 file. The fixture models
/// (hundreds of kilobytes, mostly weights) make slow fuzz inputs; these reach the same parsers and
/// kernels at thousands of executions per second.
public enum FuzzSeeds {
    public static func generated() throws -> [(name: String, bytes: Data)] {
        let float = try everyOpGraph()
        let metadata = ModelMetadata(
            family: "deformable_detr", inputHeight: 16, inputWidth: 16,
            preprocess: PreprocessConfig(resize: .fixed(height: 16, width: 16), rescaleFactor: 1 / 255,
                                         mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225]),
            labelIDs: [0, 1, 2, 5], labelNames: ["a", "b", "c", "f"], topK: 10, notes: ["fuzz seed"])
        var seeds: [(String, Data)] = [("modelfile/every-op-float.edq", Data(ModelFileWriter.encode(graph: float, plan: ArenaPlanner.plan(float), metadata: metadata)))]
        var generator = SplitMix64(seed: 7)
        let images = (0..<2).map { _ in (0..<(16 * 16 * 3)).map { _ in Float(generator.unit()) * 4 - 2 } }
        let statistics = try ActivationStatistics.collect(graph: float, inputs: images, method: .minMax, threads: 1)
        var options = QuantizationOptions()
        options.keepFloat = ["offsets"]
        let int8 = try GraphQuantizer.quantize(float, statistics: statistics, options: options).graph
        let plan = ArenaPlanner.plan(int8)
        seeds.append(("modelfile/every-op-int8-raw.edq", Data(ModelFileWriter.encode(graph: int8, plan: plan, metadata: metadata))))
        for layout in Int8WeightLayout.allCases {
            seeds.append(("modelfile/every-op-int8-\(layout).edq",
                          Data(ModelFileWriter.encode(graph: int8, plan: plan, metadata: metadata, weightLayout: layout))))
        }
        for (name, bytes) in seeds where name.hasPrefix("modelfile/") {
            seeds.append(("modelfile-raw/" + name.dropFirst("modelfile/".count), bytes))
        }
        for (name, dataset, results) in cocoPairs {
            seeds.append(("coco/\(name)", COCOFuzzing.seed(dataset: Data(dataset.utf8), results: Data(results.utf8))))
        }
        seeds += streamSeeds
        return seeds
    }

    /// Frame streams (`StreamFuzzing`'s first byte: even Y4M, odd raw; bit 1 gray8): Y4M in each chroma
    /// layout the reader takes, with and without frame parameters, and raw rgb24 and gray8 frames.
    static var streamSeeds: [(String, Data)] {
        func y4m(_ header: String, frames: Int, frameBytes: Int) -> Data {
            var bytes: [UInt8] = [0] + Array((header + "\n").utf8)
            for frame in 0..<frames {
                bytes += Array((frame == 1 ? "FRAME Ixyz\n" : "FRAME\n").utf8)
                bytes += (0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ frame) }
            }
            return Data(bytes)
        }
        func raw(mode: UInt8, width: UInt8, height: UInt8, frames: Int, bytesPerPixel: Int) -> Data {
            let count = frames * (Int(width) + 1) * (Int(height) + 1) * bytesPerPixel
            return Data([mode, width, height] + (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 11) })
        }
        return [
            ("stream/y4m-420jpeg.y4m", y4m("YUV4MPEG2 W4 H4 F25:1 Ip A1:1 C420jpeg", frames: 2, frameBytes: 16 + 2 * 4)),
            ("stream/y4m-420-odd.y4m", y4m("YUV4MPEG2 W5 H3 F30000:1001 C420mpeg2 XYSCSS=420MPEG2", frames: 2, frameBytes: 15 + 2 * 6)),
            ("stream/y4m-444-full.y4m", y4m("YUV4MPEG2 W3 H2 C444 XCOLORRANGE=FULL", frames: 3, frameBytes: 3 * 6)),
            ("stream/y4m-mono.y4m", y4m("YUV4MPEG2 W6 H2 Cmono", frames: 2, frameBytes: 12)),
            ("stream/y4m-422.y4m", y4m("YUV4MPEG2 W4 H2 C422", frames: 1, frameBytes: 8 + 2 * 4)),
            ("stream/raw-rgb24.bin", raw(mode: 1, width: 3, height: 2, frames: 2, bytesPerPixel: 3)),
            ("stream/raw-gray8.bin", raw(mode: 3, width: 4, height: 1, frames: 3, bytesPerPixel: 1)),
        ]
    }

    /// Small datasets and results (the fixtures' are 10-40 KB: slow to parse at every execution):
    /// crowd, area ranges, ties, a missing category, detections on images without annotations.
    static let cocoPairs: [(String, String, String)] = [
        ("two-images",
         #"{"images":[{"id":1,"file_name":"a.png","width":64,"height":48},{"id":2,"file_name":"b.png","width":32,"height":32}],"categories":[{"id":1,"name":"square"},{"id":3,"name":"disc","supercategory":"shape"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[4,5,20,10],"area":200,"iscrowd":0},{"id":2,"image_id":1,"category_id":3,"bbox":[30,10,30,30],"area":900,"iscrowd":1},{"id":3,"image_id":2,"category_id":1,"bbox":[0,0,31.5,31.5],"area":992.25,"iscrowd":0}]}"#,
         #"[{"image_id":1,"category_id":1,"bbox":[4,5,20,10],"score":0.9},{"image_id":1,"category_id":3,"bbox":[28,12,30,28],"score":0.9},{"image_id":2,"category_id":1,"bbox":[1,1,30,30],"score":0.5},{"image_id":2,"category_id":3,"bbox":[1,1,3,3],"score":0.25}]"#),
        ("empty-results",
         #"{"images":[{"id":7,"file_name":"c.jpg","width":640,"height":480}],"categories":[{"id":2,"name":"x"}],"annotations":[{"id":9,"image_id":7,"category_id":2,"bbox":[100,100,300,200],"area":60000,"iscrowd":0}]}"#,
         #"[]"#),
        ("no-annotations",
         #"{"images":[{"id":1,"file_name":"a.png","width":10,"height":10}],"categories":[{"id":1,"name":"a"}],"annotations":[]}"#,
         #"[{"image_id":1,"category_id":1,"bbox":[0,0,5,5],"score":1}]"#),
    ]

    /// input [16, 16, 3] -> conv, padding, depthwise conv, clamp, max-pool, nearest upsampling and max-pool back,
    /// average pool, group norm, conv with residual (the backbones' ops) -> tokens [16, 8] -> linear, layer norm,
    /// attention, deformable sampling with per-level points, sine embedding, top rows, concatenations, slices,
    /// head interleaving, every unary and binary op, D-FINE's top values, group weighted sum and distance to
    /// box -> logits [4, 4] and boxes [4, 4].
    static func everyOpGraph() throws -> Graph {
        var generator = SplitMix64(seed: 1)
        let graph = Graph()
        func weights(_ name: String, _ shape: [Int], scale: Float = 0.3) throws -> ValueID {
            let count = shape.reduce(1, *)
            return try graph.constant(name, shape: shape, values: (0..<count).map { _ in (Float(generator.unit()) * 2 - 1) * scale })
        }
        func op(_ name: String, _ operation: GraphOperation, _ inputs: [ValueID]) throws -> ValueID {
            try graph.add(operation, inputs, name: name)
        }
        let x = graph.input("pixel_values", shape: [16, 16, 3])
        let c1 = try op("stem", .conv2d(stride: 2, padding: 1, activation: .relu), [x, try weights("stem.weight", [8, 3, 3, 3]), try weights("stem.bias", [8])])
        let padded = try op("pad", .pad2d(top: 0, left: 0, bottom: 1, right: 1), [c1])
        let depthwise = try op("dw", .depthwiseConv2d(stride: 1, padding: 1, activation: .relu),
                               [padded, try weights("dw.weight", [3, 3, 8]), try weights("dw.bias", [8])])
        let clamped = try op("clamp", .clamp(minimum: -1, maximum: 1), [depthwise])
        let pooled = try op("pool", .maxPool2d(kernel: 2, stride: 1, padding: 0), [clamped])
        let upsampled = try op("up", .upsampleNearest(factor: 2), [pooled])
        let downsampled = try op("down", .maxPool2d(kernel: 2, stride: 2, padding: 0), [upsampled])
        let averaged = try op("avg", .averagePool2d(kernel: 3, stride: 1, padding: 1, ceilMode: true), [downsampled])
        let normed = try op("gn", .groupNorm(groups: 2, epsilon: 1e-5), [averaged, try weights("gn.weight", [8]), try weights("gn.bias", [8])])
        let c2 = try op("block", .conv2d(stride: 1, padding: 0, activation: .relu),
                        [normed, try weights("block.weight", [8, 8, 1, 1]), try weights("block.bias", [8]), c1])
        let tokens = try op("tokens", .reshape([64, 8]), [c2])
        let projected = try op("proj", .linear(activation: .none), [tokens, try weights("proj.weight", [8, 8]), try weights("proj.bias", [8])])
        let gelu = try op("gelu", .unary(.gelu), [projected])
        let silu = try op("silu", .unary(.silu), [gelu])
        let prelu = try op("prelu", .unary(.prelu), [silu, try weights("prelu.alpha", [8])])
        let ln = try op("ln", .layerNorm(epsilon: 1e-5), [prelu, try weights("ln.weight", [8]), try weights("ln.bias", [8]), tokens])
        let queries = try weights("queries", [4, 8])
        let attended = try op("attn", .attention(heads: 2, scale: 0.5), [queries, ln, ln])
        let reference = try op("ref", .unary(.sigmoid), [try op("ref.logits", .sliceColumns(start: 0, count: 2), [attended])])
        let levels = [LevelShape(height: 4, width: 4), LevelShape(height: 4, width: 4), LevelShape(height: 8, width: 12)]
        let selfAttended = try op("self_attn", .dynamicQuantizedAttention(heads: 2, scale: 0.5), [ln, ln, ln])
        // An int8 value map (the projection writes int8 for the sampling), so the int8 seeds carry the sampling that
        // computes its own locations and weights' softmax; the offsets read an add of the queries and a
        // position, which their dynamic int8 layer sums row by row (the seeds keep "offsets" float by name).
        let value = try op("value_proj", .linear(activation: .none), [try op("value", .concatenateRows, [selfAttended, ln]),
                                                                      try weights("value_proj.weight", [8, 8]), try weights("value_proj.bias", [8])])
        let query = try op("query", .binary(.add), [attended, try weights("query_pos", [4, 8])])
        let offsets = try op("offsets", .linear(activation: .none), [query, try weights("offsets.weight", [2 * 3 * 2 * 2, 8]), try weights("offsets.bias", [24])])
        let locations = try op("locations", .deformableLocations(levels: levels, heads: 2, points: [2, 1, 3]), [reference, offsets])
        let attentionWeights = try op("aw", .softmax(groupSize: 6),
                                      [try op("aw.logits", .linear(activation: .none), [attended, try weights("aw.weight", [12, 8]), try weights("aw.bias", [12])])])
        let sampled = try op("sampled", .deformableSampling(levels: levels, heads: 2, points: [2, 1, 3], method: .bilinear), [value, locations, attentionWeights])
        let sine = try op("sine", .sineEmbedding(features: 4, temperature: 20, scale: 6.2831855, order: [1, 0]), [reference])
        let mixed = try op("mixed", .interleaveHeads(heads: 2), [sine, sampled])
        let hidden = try op("hidden", .linear(activation: .relu), [mixed, try weights("hidden.weight", [8, 16]), try weights("hidden.bias", [8])])
        let scores = try op("scores", .linear(activation: .none), [hidden, try weights("class.weight", [4, 8]), try weights("class.bias", [4])])
        let ranked = try op("ranked", .topRows(count: 4, score: .column(1)), [scores, hidden])
        let difference = try op("difference", .binary(.subtract), [ranked, hidden])
        let product = try op("product", .binary(.multiply), [difference, try weights("gain", [8])])
        let quotient = try op("quotient", .binary(.divide), [product, try graph.constant("two", shape: [1], values: [2])])
        let summed = try op("summed", .binary(.add), [quotient, try op("col", .sliceColumns(start: 0, count: 1), [hidden])])
        let statistics = try op("stats", .topValuesWithMean(groupSize: 4, count: 2), [summed])
        let logits = try op("logits", .linear(activation: .none), [try op("logits.input", .concatenateColumns, [summed, statistics]),
                                                                   try weights("logits.weight", [4, 14]), try weights("logits.bias", [4])])
        let boxLogits = try op("box.logits", .concatenateColumns, [try op("box.a", .sliceColumns(start: 0, count: 2), [summed]), try op("box.b", .inverseSigmoid(epsilon: 1e-5), [try op("box.sig", .unary(.sigmoid), [try op("box.c", .sliceColumns(start: 2, count: 2), [summed])])])])
        let coarse = try op("box.coarse", .unary(.sigmoid), [try op("box.relu", .unary(.relu), [boxLogits])])
        let distances = try op("box.distances", .groupWeightedSum(groupSize: 2), [summed, try graph.constant("box.project", shape: [2], values: [-0.5, 0.5])])
        let boxes = try op("pred_boxes", .distanceToBox(regScale: 4), [coarse, distances])
        graph.markOutput(DetectorOutput.logits, logits)
        graph.markOutput(DetectorOutput.boxes, boxes)
        return graph
    }
}
