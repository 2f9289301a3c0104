import EdgeRuntime
import Foundation
import Quantize
import Testing

/// The float engine against transformers: every fixture, every image, outputs and intermediates.
/// Tolerances from the float-foundation issue: logits 1e-4 * max(1, |HF|), boxes 1e-5 absolute; where a
/// fixture holds transformers' float64 answer (RT-DETR's), against it, with at least four times PyTorch's
/// own float32 error.
@Suite struct FloatGoldenTests {
    static let fixtures = [
        "deformable_base", "deformable_refine_two_stage", "deformable_one_level",
        "deformable_two_level_silu", "dab_detr", "dab_detr_patterns", "conditional_detr", "conditional_detr_aux_gelu",
        "rt_detr_r18vd", "rt_detr_r50vd", "rt_detr_prenorm", "rt_detr_v2_r18vd", "rt_detr_v2_discrete", "d_fine_n", "d_fine_s", "deimv2_n", "deimv2_lite",
    ]

    @Test(arguments: fixtures)
    func matchesTransformers(_ name: String) throws {
        let fixture = try GoldenFixture(name)
        let checkpoint = try CheckpointFolder(path: fixture.folder)
        #expect(fixture.imageCount >= 1)
        for image in 0..<fixture.imageCount {
            let input = try fixture.pixelValues(image: image)
            let graph = try DetectorGraph.build(checkpoint, height: input.height, width: input.width)
            let outputs = try GraphExecutor(graph: graph).run(input: input.values)
            func output(_ name: String) throws -> [Float] {
                guard let tensor = outputs.first(where: { $0.name == name }) else { throw FixtureError("no output \(name)") }
                return tensor.values
            }
            let checks: [(String, String, Float, Float)] = [
                ("logits", "logits", 1e-4, 1e-4),
                ("pred_boxes", "pred_boxes", 1e-5, 0),
                ("encoder_last_hidden_state", "encoder_last_hidden_state", 1e-4, 1e-4),
                ("decoder_layer0", "decoder_layer0", 1e-4, 1e-4),
                ("enc_outputs_class", "enc_outputs_class", 1e-4, 1e-4),
                ("enc_outputs_coord_logits", "enc_outputs_coord_logits", 1e-4, 1e-4),
            ]
            for (outputName, goldenName, absolute, relative) in checks {
                let key = "image\(image).\(goldenName)"
                guard fixture.has(key) else { continue }
                let got = try output(outputName)
                // RT-DETR fixtures also hold the float64 answer and PyTorch's own float32 error from it: deep
                // random convolution stacks drift past 1e-4. There the engine must be as close to the exact
                // answer as the tolerance, or as four times PyTorch's float32 error if that is larger.
                if fixture.has("\(key).float64") {
                    let noise = try fixture.tensor("\(key).float32_noise").values[0]
                    let exact = Comparison(got: got, want: try fixture.tensor("\(key).float64").values,
                                           absolute: max(absolute, 4 * noise), relative: relative)
                    #expect(exact.passes, "\(name) image \(image) \(outputName) vs float64: \(exact) (PyTorch float32: \(noise))")
                    print("golden \(name) image \(image) \(outputName) vs float64: \(exact) (PyTorch float32: \(noise))")
                    continue
                }
                let comparison = Comparison(got: got, want: try fixture.tensor(key).values,
                                            absolute: absolute, relative: relative)
                #expect(comparison.passes, "\(name) image \(image) \(outputName): \(comparison)")
                print("golden \(name) image \(image) \(outputName): \(comparison)")
            }
        }
    }
}
