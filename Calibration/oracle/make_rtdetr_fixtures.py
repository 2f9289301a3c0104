"""Golden fixtures for EdgeDETR's RT-DETR, RT-DETRv2 and D-FINE import, produced by Hugging Face transformers.

    HF_HUB_OFFLINE=1 nice -n 10 .venv-ref/bin/python Calibration/oracle/make_rtdetr_fixtures.py [--only NAME ...]

Writes Tests/Fixtures/models/<name>/ with config.json, model.safetensors (save_pretrained: RT-DETR has one
key layout), preprocessor_config.json (RTDetrImageProcessorPil, fixed-size resize, 1/255, no normalization),
golden.safetensors and oracle.json, for the three oracle images that make_fixtures.py writes. Random
weights (oracle_common.randomize_), CPU, float32, eval, no_grad. See Calibration/oracle/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (
    Deimv2Config,
    Deimv2ForObjectDetection,
    DFineConfig,
    DFineForObjectDetection,
    HGNetV2Config,
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
    RTDetrV2Config,
    RTDetrV2ForObjectDetection,
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import MODELS_DIR, REPO, check_informative, id2label, write_images  # noqa: E402
from oracle_common import _frozen_bn_like, randomize_  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

FIXTURES = {
    "rt_detr_r18vd": dict(
        family="rt_detr", seed=41, size={"height": 96, "width": 128},
        backbone=dict(layer_type="basic", depths=[2, 2, 2, 2], embedding_size=8, hidden_sizes=[8, 16, 24, 32]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=64,
                    decoder_ffn_dim=64, num_queries=20, encoder_layers=1, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, decoder_n_points=4,
                    anchor_image_size=[96, 128]),
        num_labels=6,
        notes="RT-DETR with an R18vd-style ResNet (basic blocks, depths [2,2,2,2], narrow), defaults otherwise "
              "(3 levels, AIFI on stride 32, GELU encoder FFN, SiLU CSP, ReLU decoder FFN); non-square 96x128 input; "
              "anchor_image_size [96, 128] (anchors from the config, equal to those of the input).",
    ),
    "rt_detr_r50vd": dict(
        family="rt_detr", seed=42, size={"height": 96, "width": 96},
        backbone=dict(layer_type="bottleneck", depths=[1, 2, 1, 1], embedding_size=16, hidden_sizes=[16, 32, 48, 64]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=48,
                    decoder_ffn_dim=48, num_queries=24, encoder_layers=1, decoder_layers=3,
                    encoder_attention_heads=8, decoder_attention_heads=4, decoder_n_points=2,
                    hidden_expansion=0.5, num_feature_levels=4, decoder_activation_function="gelu",
                    eval_size=96),
        num_labels=5,
        notes="RT-DETR with an R50vd-style ResNet (bottleneck blocks, depths [1,2,1,1], narrow); hidden_expansion "
              "0.5 (CSP conv3 present, RepVGG at 16 channels); 4 decoder levels (a 3x3 stride-2 conv on the last "
              "PAN map); 2 decoder points; GELU decoder FFN; eval_size set (transformers "
              "then skips AIFI's position embedding in eval).",
    ),
    "rt_detr_prenorm": dict(
        family="rt_detr", seed=43, size={"height": 64, "width": 64},
        backbone=dict(layer_type="bottleneck", depths=[1, 1, 1, 1], embedding_size=16, hidden_sizes=[16, 32, 48, 64],
                      downsample_in_bottleneck=True),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=48,
                    decoder_ffn_dim=48, num_queries=10, encoder_layers=2, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, decoder_n_points=3,
                    normalize_before=True, activation_function="relu",
                    encoder_activation_function="silu", positional_encoding_temperature=100),
        num_labels=4,
        notes="RT-DETR variants: pre-norm AIFI (normalize_before) with two layers, SiLU AIFI FFN, temperature 100, "
              "ReLU convolutions (fused into the convolution), "
              "bottleneck backbone striding its first 1x1 (downsample_in_bottleneck); 64x64 input.",
    ),
    "rt_detr_v2_r18vd": dict(
        family="rt_detr_v2", seed=51, size={"height": 64, "width": 96},
        backbone=dict(layer_type="basic", depths=[1, 1, 1, 1], embedding_size=8, hidden_sizes=[8, 16, 24, 32]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=64,
                    decoder_ffn_dim=64, num_queries=16, encoder_layers=1, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, decoder_n_points=3,
                    decoder_method="default", decoder_offset_scale=0.7),
        num_labels=5,
        notes="RT-DETRv2, bilinear ('default') sampling, decoder_offset_scale 0.7, 3 points; basic backbone; 64x96.",
    ),
    "rt_detr_v2_discrete": dict(
        family="rt_detr_v2", seed=52, size={"height": 96, "width": 64},
        backbone=dict(layer_type="basic", depths=[1, 1, 1, 1], embedding_size=8, hidden_sizes=[8, 16, 24, 32]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=64,
                    decoder_ffn_dim=64, num_queries=16, encoder_layers=1, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, decoder_n_points=4,
                    decoder_method="discrete"),
        num_labels=5,
        notes="RT-DETRv2 with 'discrete' sampling (one pixel per point, no interpolation), default offset scale; 96x64.",
    ),
    # D-FINE-N's layout (HGNetV2-B0: light blocks with 5x5 depthwise convolutions, learnable affine blocks;
    # two levels at strides 16 and 32; 6 points per level), narrow.
    "d_fine_n": dict(
        family="d_fine", seed=61, size={"height": 96, "width": 128},
        backbone=dict(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 24, 32], stage_mid_channels=[8, 8, 16, 16],
                      stage_out_channels=[16, 24, 32, 48], stage_num_blocks=[1, 1, 2, 1],
                      stage_downsample=[False, True, True, True], stage_light_block=[False, False, True, True],
                      stage_kernel_size=[3, 3, 5, 5], stage_numb_of_layers=[3, 3, 3, 3],
                      use_learnable_affine_block=True, out_indices=[3, 4]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32], feat_strides=[16, 32],
                    encode_proj_layers=[1], num_feature_levels=2, decoder_n_points=[6, 6], encoder_ffn_dim=64,
                    decoder_ffn_dim=64, num_queries=20, encoder_layers=1, decoder_layers=3,
                    encoder_attention_heads=4, decoder_attention_heads=4, hidden_expansion=0.34, depth_mult=0.5,
                    max_num_bins=8, lqe_hidden_dim=16, anchor_image_size=[96, 128]),
        num_labels=6,
        notes="D-FINE-N layout: HGNetV2-B0-style backbone (light blocks, 5x5 depthwise, learnable affine blocks, "
              "out_indices [3, 4]), two levels at strides 16/32, [6, 6] points, hidden_expansion 0.34, depth_mult "
              "0.5 (two RepVGG blocks per CSP), 8 bins; non-square 96x128; anchors from anchor_image_size.",
    ),
    # D-FINE-S's layout (HGNetV2-B0 returning three maps, [3, 6, 3] points), with d_model != encoder width
    # (1x1 decoder_input_proj) and non-square input.
    "d_fine_s": dict(
        family="d_fine", seed=62, size={"height": 64, "width": 96},
        backbone=dict(stem_channels=[3, 8, 16], stage_in_channels=[16, 24, 32, 40], stage_mid_channels=[8, 16, 16, 24],
                      stage_out_channels=[24, 32, 40, 48], stage_num_blocks=[1, 1, 1, 1],
                      stage_downsample=[False, True, True, True], stage_light_block=[False, False, True, True],
                      stage_kernel_size=[3, 3, 3, 5], stage_numb_of_layers=[2, 2, 3, 2],
                      use_learnable_affine_block=False, out_indices=[2, 3, 4]),
        config=dict(encoder_hidden_dim=32, d_model=48, decoder_in_channels=[32, 32, 32], encoder_ffn_dim=64,
                    decoder_ffn_dim=96, num_queries=16, encoder_layers=1, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, decoder_n_points=[3, 6, 3],
                    hidden_expansion=0.5, depth_mult=0.34, max_num_bins=16, reg_scale=4.0, up=0.5),
        num_labels=5,
        notes="D-FINE-S layout: three levels, [3, 6, 3] points, d_model 48 over a 32-wide encoder (1x1 "
              "decoder_input_proj + BatchNorm), hidden_expansion 0.5, depth_mult 0.34 (one RepVGG block), "
              "16 bins; no affine blocks; 64x96.",
    ),
    # DEIMv2 on HGNetV2 (the N size's layout): hybrid encoder with sum fusion, ELAN5 blocks, RMSNorm and
    # SwiGLU decoder layers with the gate.
    "deimv2_n": dict(
        family="deimv2", seed=71, size={"height": 64, "width": 96},
        backbone=dict(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 24, 32], stage_mid_channels=[8, 8, 16, 16],
                      stage_out_channels=[16, 24, 32, 48], stage_num_blocks=[1, 1, 2, 1],
                      stage_downsample=[False, True, True, True], stage_light_block=[False, False, True, True],
                      stage_kernel_size=[3, 3, 5, 5], stage_numb_of_layers=[3, 3, 3, 3],
                      use_learnable_affine_block=True, out_indices=[3, 4]),
        config=dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32], feat_strides=[16, 32],
                    encode_proj_layers=[1], num_feature_levels=2, decoder_n_points=[6, 6], encoder_ffn_dim=64,
                    decoder_ffn_dim=64, num_queries=20, encoder_layers=1, decoder_layers=3,
                    encoder_attention_heads=4, decoder_attention_heads=4, hidden_expansion=0.34, depth_mult=0.67,
                    max_num_bins=8, lqe_hidden_dim=16),
        num_labels=6,
        notes="DEIMv2-N layout: HGNetV2 backbone returning stages 3-4, hybrid encoder (AIFI, sum fusion, "
              "RepNCSPELAN5 with trailing 3x3 CSP convolutions, SCDown), decoder layers with RMSNorm, SwiGLU FFN "
              "and the gate, 3-layer query position head; depth_mult 0.67 (two RepVGG blocks); 64x96.",
    ),
    # DEIMv2's lite sizes (Atto/Femto/Pico layout): one backbone map, the LiteEncoder (average-pooled
    # extra level, global-average fusion), no gate (RMSNorm residual). Not share_bbox_head: transformers 5.23
    # saves the shared head under the last layer's name and reloads it from the first's (random) one.
    "deimv2_lite": dict(
        family="deimv2", seed=72, size={"height": 96, "width": 64},
        backbone=dict(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 24], stage_mid_channels=[8, 8, 16],
                      stage_out_channels=[16, 24, 40], stage_num_blocks=[1, 1, 1],
                      stage_downsample=[False, True, True], stage_light_block=[False, False, True],
                      stage_kernel_size=[3, 3, 5], stage_numb_of_layers=[3, 3, 3],
                      use_learnable_affine_block=True, out_indices=[3]),
        config=dict(encoder_type="lite", encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32],
                    feat_strides=[16], num_feature_levels=2, decoder_n_points=[4, 2], decoder_ffn_dim=48,
                    num_queries=12, decoder_layers=2, decoder_attention_heads=4, hidden_expansion=0.34,
                    depth_mult=0.5, max_num_bins=8, lqe_hidden_dim=16, use_gateway=False, decoder_activation_function="silu"),
        num_labels=5,
        notes="DEIMv2 lite layout (Atto/Femto/Pico): HGNetV2 returning stage 3 only, LiteEncoder (1x1 "
              "projection, 3x3 stride-2 average pool for the stride-32 level, global-average fusion, "
              "RepNCSPELAN5 FPN/PAN blocks), [4, 2] points, no gate (RMSNorm residual), SiLU decoder "
              "activations; 96x64.",
    ),
}

FAMILY = {
    "rt_detr": (RTDetrConfig, RTDetrForObjectDetection),
    "rt_detr_v2": (RTDetrV2Config, RTDetrV2ForObjectDetection),
    "d_fine": (DFineConfig, DFineForObjectDetection),
    "deimv2": (Deimv2Config, Deimv2ForObjectDetection),
}


def build_model(spec):
    cfg_cls, model_cls = FAMILY[spec["family"]]
    if spec["family"] in ("d_fine", "deimv2"):
        # HGNetV2Backbone reports hidden_sizes as its maps' widths: they must be the stages' outputs.
        backbone = HGNetV2Config(hidden_sizes=spec["backbone"]["stage_out_channels"],
                                 depths=spec["backbone"]["stage_num_blocks"], **spec["backbone"])
        in_channels = [spec["backbone"]["stage_out_channels"][i - 1] for i in spec["backbone"]["out_indices"]]
    else:
        backbone = RTDetrResNetConfig(out_features=["stage2", "stage3", "stage4"], **spec["backbone"])
        in_channels = spec["backbone"]["hidden_sizes"][1:]
    cfg = cfg_cls(backbone_config=backbone, encoder_in_channels=in_channels,
                  id2label=id2label(spec["num_labels"]), **spec["config"])
    torch.manual_seed(spec["seed"])
    model = model_cls(cfg)
    if spec["family"] == "deimv2":
        # The heads transformers ties on load (_tied_weights_keys) are separate copies in a fresh model; make
        # them one module, so that the file reloads into the model that gave the goldens.
        model.bbox_embed = model.model.decoder.bbox_embed
        model.class_embed = model.model.decoder.class_embed
    randomize_(model, spec["seed"])
    g = torch.Generator().manual_seed(spec["seed"] + 1000)
    # Anchors start small (0.05 * 2^level); random box heads then push widths to ~0.01, where each
    # refinement's inverse sigmoid amplifies float32 rounding ~80x and even PyTorch's float32 drifts
    # from its float64 past the tolerances. Damp the box deltas and grow the sizes, as training would.
    with torch.no_grad():
        if spec["family"] in ("d_fine", "deimv2"):
            # D-FINE refines edge distributions (bbox_embed: 4 x (bins + 1) logits); keep them soft.
            for head in model.model.decoder.bbox_embed:
                head.layers[-1].weight.mul_(0.3)
            heads = [model.model.enc_bbox_head, model.model.decoder.pre_bbox_head]
            for name, p in model.named_parameters():  # learnable affine blocks: scale and bias around 1 and 0
                if name.endswith("lab.scale"):
                    p.copy_(torch.rand(p.shape, generator=g) * 0.6 + 0.7)
                elif name.endswith("lab.bias"):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        else:
            heads = [*model.model.decoder.bbox_embed, model.model.enc_bbox_head]
        for head in heads:
            head.layers[-1].weight.mul_(0.3)
            head.layers[-1].bias[2:] += 1.0
    return model.eval()


def calibrate_batch_norms(model, pixel_values, seed):
    """Set every BatchNorm's running statistics to those of its input on `pixel_values` (times a little noise),
    in one forward pass, as training would: with random statistics a deep random network forgets its input
    (every image gives nearly the same outputs), and the goldens would hardly test the backbone."""
    g = torch.Generator().manual_seed(seed)

    def hook(module, inputs):
        x = inputs[0]
        channels = x.shape[1]
        module.running_mean.copy_(x.mean((0, 2, 3)) + torch.randn(channels, generator=g) * 0.05)
        variance = x.var((0, 2, 3)) * (0.8 + 0.4 * torch.rand(channels, generator=g))
        # Nearly dead channels would otherwise be scaled up ~100x, and float32 rounding with them.
        module.running_var.copy_(torch.maximum(variance, 0.1 * variance.mean()) + 1e-4)

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d) or _frozen_bn_like(m)]
    try:
        with torch.no_grad():
            model(pixel_values=pixel_values)
    finally:
        for handle in handles:
            handle.remove()


def run(model, pixel_values):
    """Forward with a hook on decoder layer 0; returns (outputs, layer0 output)."""
    captured = {}

    def hook(_module, _inputs, output):
        captured["layer0"] = (output[0] if isinstance(output, tuple) else output).detach().clone()

    handle = model.model.decoder.layers[0].register_forward_hook(hook)
    try:
        with torch.no_grad():
            out = model(pixel_values=pixel_values)
    finally:
        handle.remove()
    return out, captured["layer0"]


def decoder_memory(model, out):
    """What the decoder reads: decoder_input_proj of each PAN map (extra levels from the last map), flattened
    level-major then row-major, [T, D]; the engine marks it as `encoder_last_hidden_state`."""
    maps = list(out.encoder_last_hidden_state)
    projections = model.model.decoder_input_proj
    with torch.no_grad():
        sources = [projections[level](m) for level, m in enumerate(maps)]
        for level in range(len(maps), len(projections)):
            sources.append(projections[level](maps[-1]))
    return torch.cat([s.flatten(2).transpose(1, 2) for s in sources], 1)[0]


def outputs(model, out, layer0):
    """The golden tensors of one forward pass, batch dimension dropped."""
    return {
        "logits": out.logits[0],
        "pred_boxes": out.pred_boxes[0],
        "encoder_last_hidden_state": decoder_memory(model, out),
        "decoder_layer0": layer0[0],
        "enc_outputs_class": out.enc_outputs_class[0],
        "enc_outputs_coord_logits": out.enc_outputs_coord_logits[0],
    }


def write_fixture(name, spec, image_paths):
    _, model_cls = FAMILY[spec["family"]]
    out_dir = os.path.join(MODELS_DIR, name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    model = build_model(spec)
    processor = RTDetrImageProcessorPil(size=spec["size"])
    calibration = processor(images=[Image.open(p).convert("RGB") for p in image_paths], return_tensors="pt")
    calibrate_batch_norms(model, calibration["pixel_values"], spec["seed"])
    processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)

    golden, summary = {}, []
    for i, path in enumerate(image_paths):
        image = Image.open(path).convert("RGB")
        pixel_values = processor(images=image, return_tensors="pt")["pixel_values"]
        out, layer0 = run(model, pixel_values)
        check_informative(f"{name}/image{i}", out.logits[0], out.pred_boxes[0])
        g = outputs(model, out, layer0)
        # PyTorch's own float32 rounding: the same model in float64. Deep random convolution stacks
        # drift ~1e-4 from exact; the tests allow a few times this floor where it exceeds their tolerance.
        out64, layer0_64 = run(model.double(), pixel_values.double())
        exact = outputs(model, out64, layer0_64)
        model.float()
        for key in list(g):
            finite = exact[key].abs() < 1e30  # invalid anchors hold the dtype's maximum
            g[f"{key}.float32_noise"] = (g[key].double() - exact[key])[finite].abs().max().reshape(1)
            g[f"{key}.float64"] = exact[key]
        g["pixel_values"] = pixel_values[0]
        detections = processor.post_process_object_detection(out, threshold=0.0,
                                                              target_sizes=[(image.height, image.width)])[0]
        g["scores"], g["labels"], g["boxes"] = (detections["scores"], detections["labels"].to(torch.float32),
                                                detections["boxes"])
        for key, value in g.items():
            golden[f"image{i}.{key}"] = value.detach().to(torch.float32).contiguous()
        summary.append(dict(index=i, file=os.path.relpath(path, REPO), orig_size_hw=[image.height, image.width],
                            processed_size_hw=list(pixel_values.shape[-2:]),
                            tokens=int(out.enc_outputs_class.shape[1])))
    save_file(golden, os.path.join(out_dir, "golden.safetensors"), metadata={"format": "pt"})

    # The written folder reloads into transformers and reproduces the golden logits.
    reloaded = model_cls.from_pretrained(out_dir).eval()
    with torch.no_grad():
        again = reloaded(pixel_values=golden["image0.pixel_values"][None])
    difference = float((again.logits[0] - golden["image0.logits"]).abs().max())
    assert difference < 1e-5, f"{name}: reloaded model differs from golden by {difference}"

    written = load_file(os.path.join(out_dir, "model.safetensors"))
    nbytes = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    oracle = {
        "fixture": name,
        "family": spec["family"],
        "model_class": model_cls.__name__,
        "image_processor_class": RTDetrImageProcessorPil.__name__,
        "variant_notes": spec["notes"],
        "backbone": spec["backbone"],
        "config": spec["config"],
        "num_tensors_in_model_safetensors": len(written),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "seed": spec["seed"],
        "randomization": "oracle_common.randomize_ (Linear/Conv N(0, 1/fan_in), norms uniform, deformable "
                         "offsets = HF direction grid + noise); box heads' last layer weight x 0.3, size bias + 1; "
                         "then calibrate_batch_norms: every BatchNorm's "
                         "running mean/var = its input's on the three images (x noise), as after training",
        "images": summary,
        "preprocessing": {"size": spec["size"], "per_image": "PIL .convert('RGB'), RTDetrImageProcessorPil"},
        "golden": {
            "dtype": "float32, batch dims dropped",
            "image{i}.encoder_last_hidden_state": "[T, D]: decoder_input_proj of each encoder (PAN) map, extra "
                                                  "levels from the last map, flattened level-major then (y, x): "
                                                  "the decoder's value source",
            "image{i}.decoder_layer0": "output of model.model.decoder.layers[0] (forward hook)",
            "image{i}.<name>.float64": "that tensor when transformers runs the same model in float64 (stored "
                                       "rounded to float32): the exact answer float32 engines approximate",
            "image{i}.<name>.float32_noise": "[1]: max |float32 - float64| of that tensor: PyTorch's own rounding",
            "image{i}.enc_outputs_class": "[T, C] enc_score_head logits of every token",
            "image{i}.enc_outputs_coord_logits": "[T, 4] enc_bbox_head + anchors (float32 max where invalid)",
            "image{i}.scores/labels/boxes": "processor.post_process_object_detection(threshold=0.0, target_sizes="
                                            "[(orig_h, orig_w)]): sigmoid, top num_queries over queries x classes; "
                                            "boxes xyxy in original-image pixels; labels stored as float",
        },
        "fixture_bytes": nbytes,
    }
    with open(os.path.join(out_dir, "oracle.json"), "w") as f:
        json.dump(oracle, f, indent=2)
        f.write("\n")
    print(f"  {name}: {nbytes / 1e6:.2f} MB, {len(written)} tensors, reload max |diff| {difference:.1e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=list(FIXTURES))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    image_paths = write_images()
    for name in args.only:
        print(f"[{name}]")
        write_fixture(name, FIXTURES[name], image_paths)


if __name__ == "__main__":
    main()
