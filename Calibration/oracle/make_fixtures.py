"""Golden fixtures for EdgeDETR's float engine, produced by Hugging Face transformers.

    HF_HUB_OFFLINE=1 nice -n 10 .venv-ref/bin/python Calibration/oracle/make_fixtures.py [--only NAME ...]

Writes Tests/Fixtures/images/oracle_*.png (3 images) and Tests/Fixtures/models/<name>/ with
config.json, model.safetensors, preprocessor_config.json, golden.safetensors, oracle.json.
Deterministic: fixed seeds, CPU, float32, model.eval(), torch.no_grad(). See Calibration/oracle/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    ConditionalDetrImageProcessorPil,
    DabDetrConfig,
    DabDetrForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    DeformableDetrImageProcessorPil,
    ResNetConfig,
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from oracle_common import (  # noqa: E402
    TimmNamedResNet,
    hf_resnet_to_hub,
    hub_backbone_prefix,
    hub_config_dict,
    hub_to_hf_resnet,
    legacy_state_dict,
    randomize_,
)

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
IMAGES_DIR = os.path.join(REPO, "Tests", "Fixtures", "images")
MODELS_DIR = os.path.join(REPO, "Tests", "Fixtures", "models")

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

# ----------------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------------

IMAGES = [
    # file, (width, height), PIL mode
    ("oracle_rgb_64x48.png", (64, 48), "RGB"),
    ("oracle_rgba_50x90.png", (50, 90), "RGBA"),
    ("oracle_gray_70x70.png", (70, 70), "L"),
]


def make_image(size, mode, seed):
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (xx / max(w - 1, 1) * 0.6 + yy / max(h - 1, 1) * 0.4)[..., None]
    base = (c0 * (1 - t) + c1 * t).round().clip(0, 255).astype(np.uint8)
    img = Image.fromarray(base, "RGB").convert("RGBA")
    draw = ImageDraw.Draw(img)
    for k in range(4):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        x1, y1 = min(w - 1, x0 + int(rng.integers(6, max(8, w // 2)))), min(h - 1, y0 + int(rng.integers(6, max(8, h // 2))))
        color = tuple(int(c) for c in rng.integers(0, 256, 3)) + (int(rng.integers(120, 256)),)
        if k % 2 == 0:
            draw.rectangle([x0, y0, x1, y1], fill=color)
        else:
            draw.ellipse([x0, y0, x1, y1], fill=color)
    if mode == "RGBA":
        a = np.array(img)
        a[..., 3] = (255 - (np.arange(w)[None, :] * 2 % 200)).astype(np.uint8)  # non-trivial alpha
        return Image.fromarray(a, "RGBA")
    return img.convert(mode)


def write_images():
    os.makedirs(IMAGES_DIR, exist_ok=True)
    paths = []
    for i, (name, size, mode) in enumerate(IMAGES):
        p = os.path.join(IMAGES_DIR, name)
        make_image(size, mode, seed=100 + i).save(p, format="PNG", optimize=False)
        paths.append(p)
    return paths


# ----------------------------------------------------------------------------------------------------
# Fixture specs
# ----------------------------------------------------------------------------------------------------

SHAPES = ["square", "circle", "triangle", "star", "cross", "ring", "diamond", "hexagon"]


def id2label(n):
    return {i: SHAPES[i] for i in range(n)}


def resnet(kind, depths, stem, widths, out_features):
    return ResNetConfig(embedding_size=stem, hidden_sizes=widths, depths=depths, layer_type=kind,
                        out_features=out_features)


SIZE_SHORT_LONG = {"shortest_edge": 96, "longest_edge": 128}
SIZE_FIXED = {"height": 80, "width": 112}

FIXTURES = {
    "deformable_base": dict(
        family="deformable_detr", seed=11, layout="hub", timm_name="resnet50", out_indices=[2, 3, 4],
        backbone=dict(kind="bottleneck", depths=[3, 4, 6, 3], stem=16, widths=[16, 32, 64, 128]),
        config=dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=20,
                    num_feature_levels=4, encoder_n_points=4, decoder_n_points=4),
        num_labels=6, size=SIZE_SHORT_LONG,
        notes="Deformable DETR base: 4 levels (C3,C4,C5 + stride-2 3x3 conv on C5), no refine, no two-stage; "
              "narrow bottleneck ResNet-50 depths [3,4,6,3].",
    ),
    "deformable_refine_two_stage": dict(
        family="deformable_detr", seed=12, layout="hub", timm_name="resnet18", out_indices=[2, 3, 4],
        backbone=dict(kind="basic", depths=[2, 2, 2, 2], stem=8, widths=[8, 16, 24, 48]),
        config=dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=15,
                    two_stage_num_proposals=15, num_feature_levels=3, encoder_n_points=2, decoder_n_points=3,
                    with_box_refine=True, two_stage=True),
        num_labels=5, size=SIZE_SHORT_LONG, box_wh_bias=0.8,
        notes="Deformable DETR ++ two-stage: with_box_refine, two_stage, 3 levels (C3,C4,C5, no extra conv), "
              "encoder 2 points, decoder 3 points, narrow basic ResNet-18.",
    ),
    "deformable_one_level": dict(
        family="deformable_detr", seed=13, layout="hf", timm_name=None, out_indices=[4],
        backbone=dict(kind="basic", depths=[2, 2, 2, 2], stem=8, widths=[8, 16, 32, 64]),
        config=dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=8,
                    decoder_attention_heads=8, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=12,
                    num_feature_levels=1, encoder_n_points=4, decoder_n_points=4),
        num_labels=7, size=SIZE_SHORT_LONG,
        notes="Deformable DETR single-scale: num_feature_levels=1 -> backbone out_features ['stage4'] "
              "(timm would use out_indices [4]); input_proj is one Conv1x1+GroupNorm on C5. HF ResNet keys.",
    ),
    "dab_detr": dict(
        family="dab_detr", seed=21, layout="hub", timm_name="resnet18", out_indices=[1, 2, 3, 4],
        backbone=dict(kind="basic", depths=[2, 2, 2, 2], stem=8, widths=[8, 16, 32, 64]),
        config=dict(hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96, num_queries=20),
        num_labels=6, size=SIZE_SHORT_LONG,
        notes="DAB-DETR defaults (PReLU, keep_query_pos False, num_patterns 0, temperatures 20/20); "
              "narrow basic ResNet-18; timm keys under model.backbone.conv_encoder.model._backbone.",
    ),
    "dab_detr_patterns": dict(
        family="dab_detr", seed=22, layout="hf", timm_name=None, out_indices=[4],
        backbone=dict(kind="basic", depths=[2, 2, 2, 2], stem=8, widths=[8, 16, 32, 64]),
        config=dict(hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10,
                    num_patterns=3, keep_query_pos=True, temperature_height=10, temperature_width=30),
        num_labels=5, size=SIZE_FIXED,
        notes="DAB-DETR with 3 patterns (30 decoder queries = 10 anchors x 3 patterns, pattern-major), "
              "keep_query_pos True, temperature_height 10, temperature_width 30; fixed 80x112 resize; "
              "HF ResNet keys, backbone out_features ['stage4'].",
    ),
    "conditional_detr": dict(
        family="conditional_detr", seed=31, layout="hub", timm_name="resnet34", out_indices=[1, 2, 3, 4],
        backbone=dict(kind="basic", depths=[3, 4, 6, 3], stem=8, widths=[8, 16, 24, 48]),
        config=dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96, num_queries=25),
        num_labels=8, size=SIZE_SHORT_LONG,
        notes="Conditional DETR defaults; narrow basic ResNet-34 depths [3,4,6,3].",
    ),
    "conditional_detr_aux_gelu": dict(
        family="conditional_detr", seed=32, layout="hf", timm_name=None, out_indices=[4],
        backbone=dict(kind="basic", depths=[2, 2, 2, 2], stem=8, widths=[8, 16, 24, 48]),
        config=dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=12,
                    activation_function="gelu", auxiliary_loss=True),
        num_labels=5, size=SIZE_SHORT_LONG,
        notes="Conditional DETR with GELU and auxiliary_loss=True (transformers then feeds the layer-normed "
              "decoder state to the next layer); HF ResNet keys.",
    ),
    "deformable_two_level_silu": dict(
        family="deformable_detr", seed=14, layout="hf", timm_name=None, out_indices=[3, 4],
        backbone=dict(kind="basic", depths=[1, 1, 1, 1], stem=8, widths=[8, 16, 32, 64]),
        config=dict(d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10,
                    num_feature_levels=2, encoder_n_points=3, decoder_n_points=1, with_box_refine=True,
                    activation_function="silu"),
        num_labels=4, size=SIZE_SHORT_LONG,
        notes="Deformable DETR with 2 levels (C4, C5), SiLU, box refinement without two-stage (2-d initial "
              "references), 1 decoder point; HF ResNet keys.",
    ),
}

FAMILY = {
    "deformable_detr": (DeformableDetrConfig, DeformableDetrForObjectDetection, DeformableDetrImageProcessorPil),
    # transformers has no DAB-DETR image processor; hub DAB checkpoints use ConditionalDetrImageProcessor.
    "dab_detr": (DabDetrConfig, DabDetrForObjectDetection, ConditionalDetrImageProcessorPil),
    "conditional_detr": (ConditionalDetrConfig, ConditionalDetrForObjectDetection, ConditionalDetrImageProcessorPil),
}
TOP_K = 100  # post_process_object_detection default of both processor classes used here


def build_model(spec):
    cfg_cls, model_cls, _ = FAMILY[spec["family"]]
    bb = spec["backbone"]
    out_features = [f"stage{i}" for i in spec["out_indices"]]
    cfg = cfg_cls(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
        backbone_config=resnet(bb["kind"], bb["depths"], bb["stem"], bb["widths"], out_features),
        id2label=id2label(spec["num_labels"]), **spec["config"],
    )
    torch.manual_seed(spec["seed"])
    model = model_cls(cfg)
    randomize_(model, spec["seed"])
    if spec.get("box_wh_bias"):
        # two-stage proposals start tiny (0.05 * 2^level): push the predicted w/h logits up so boxes stay
        # inside (0.02, 0.98), and halve the box deltas. model.decoder.bbox_embed is tied to bbox_embed, so this changes both.
        with torch.no_grad():
            for head in model.bbox_embed:
                head.layers[-1].weight.mul_(0.5)
                head.layers[-1].bias[2:] += spec["box_wh_bias"]
    return model.eval()


# ----------------------------------------------------------------------------------------------------
# Running the oracle
# ----------------------------------------------------------------------------------------------------

def decoder_layers(model):
    return model.model.decoder.layers


def run_model(model, pixel_values, pixel_mask):
    """Forward with a hook on decoder layer 0; returns (outputs, layer0_output)."""
    captured = {}

    def hook(_m, _inp, out):
        captured["layer0"] = (out[0] if isinstance(out, tuple) else out).detach().clone()

    h = decoder_layers(model)[0].register_forward_hook(hook)
    try:
        with torch.no_grad():
            out = model(pixel_values=pixel_values, pixel_mask=pixel_mask, output_hidden_states=True)
    finally:
        h.remove()
    return out, captured["layer0"]


def describe_decoder_state(family, out, layer0):
    """Which HF-exposed tensor equals the hooked decoder-layer-0 output (checked, not assumed)."""
    found = []
    dhs = getattr(out, "decoder_hidden_states", None)
    if dhs is not None:
        for i, t in enumerate(dhs):
            if t.shape == layer0.shape and torch.equal(t, layer0):
                found.append(f"decoder_hidden_states[{i}]")
    ihs = getattr(out, "intermediate_hidden_states", None)
    if ihs is not None and family == "deformable_detr" and torch.equal(ihs[:, 0], layer0):
        found.append("intermediate_hidden_states[:, 0]")
    return found


def check_informative(name, logits, boxes, box_range=(0.02, 0.98)):
    p = logits.sigmoid()
    frac_sat = float(((p < 1e-3) | (p > 1 - 1e-3)).float().mean())
    bmin, bmax = float(boxes.min()), float(boxes.max())
    ok = torch.isfinite(logits).all() and torch.isfinite(boxes).all()
    msg = (f"  {name}: sigmoid(logits) in [{float(p.min()):.3f}, {float(p.max()):.3f}] (saturated {frac_sat:.1%}), "
           f"boxes in [{bmin:.3f}, {bmax:.3f}], cx std {float(boxes[..., 0].std()):.3f}, "
           f"w mean {float(boxes[..., 2].mean()):.3f}")
    print(msg)
    assert ok, f"{name}: non-finite output"
    assert frac_sat < 0.05, f"{name}: logits saturated"
    assert box_range[0] < bmin and bmax < box_range[1], f"{name}: boxes outside {box_range}"


def nonzero_paths_check(model, pixel_values, pixel_mask, family):
    """Make sure sampling offsets / attention weights / refpoints are genuinely non-trivial."""
    if family == "deformable_detr":
        for n, mod in model.named_modules():
            if type(mod).__name__.endswith("MultiscaleDeformableAttention"):
                assert mod.sampling_offsets.weight.abs().sum() > 0 and mod.attention_weights.weight.abs().sum() > 0, n
    if family == "dab_detr":
        ref = model.model.query_refpoint_embeddings.weight.detach().sigmoid()
        assert float(ref[:, :2].std()) > 0.1 and float(ref[:, 2:].std()) > 0.02


def write_fixture(name, spec, image_paths):
    family = spec["family"]
    _, model_cls, proc_cls = FAMILY[family]
    out_dir = os.path.join(MODELS_DIR, name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    model = build_model(spec)

    # ---- preprocessing
    processor = proc_cls(size=spec["size"], do_pad=True)
    processor.save_pretrained(out_dir)
    pil_images = [Image.open(p).convert("RGB") for p in image_paths]

    golden = {}
    summary = []
    decoder_state_where = None
    for i, img in enumerate(pil_images):
        enc = processor(images=img, return_tensors="pt")
        pv, pm = enc["pixel_values"], enc["pixel_mask"]
        out, layer0 = run_model(model, pv, pm)
        check_informative(f"{name}/image{i}", out.logits[0], out.pred_boxes[0])
        where = describe_decoder_state(family, out, layer0)
        decoder_state_where = decoder_state_where or where
        g = {
            "pixel_values": pv[0],
            "pixel_mask": pm[0].to(torch.float32),
            "logits": out.logits[0],
            "pred_boxes": out.pred_boxes[0],
            "encoder_last_hidden_state": out.encoder_last_hidden_state[0],
            "decoder_layer0": layer0[0],
        }
        if family in ("dab_detr", "conditional_detr"):
            g["decoder_layer0_layernorm"] = model.model.decoder.layernorm(layer0)[0].detach()
        if family == "deformable_detr" and spec["config"].get("two_stage"):
            g["enc_outputs_class"] = out.enc_outputs_class[0]
            g["enc_outputs_coord_logits"] = out.enc_outputs_coord_logits[0]
        orig_h, orig_w = img.height, img.width
        det = processor.post_process_object_detection(out, threshold=0.0, target_sizes=[(orig_h, orig_w)],
                                                      top_k=TOP_K)[0]
        g["scores"], g["labels"], g["boxes"] = det["scores"], det["labels"].to(torch.float32), det["boxes"]
        for k, v in g.items():
            golden[f"image{i}.{k}"] = v.detach().to(torch.float32).contiguous()
        summary.append(dict(index=i, file=os.path.relpath(image_paths[i], REPO), orig_size_hw=[orig_h, orig_w],
                            processed_size_hw=list(pv.shape[-2:]), tokens=int(out.encoder_last_hidden_state.shape[1])))
        nonzero_paths_check(model, pv, pm, family)

    # ---- batch of all three images (zero padding bottom/right + pixel_mask): exercises the mask paths
    enc = processor(images=pil_images, return_tensors="pt")
    pv, pm = enc["pixel_values"], enc["pixel_mask"]
    for i in range(3):  # padded batch = each single-image tensor zero-padded bottom/right
        single = golden[f"image{i}.pixel_values"]
        h, w = single.shape[-2:]
        assert torch.equal(pv[i, :, :h, :w], single) and float(pv[i, :, h:, :].abs().sum() + pv[i, :, :, w:].abs().sum()) == 0
        assert int(pm[i].sum()) == h * w and int(pm[i, :h, :w].sum()) == h * w
    out, layer0 = run_model(model, pv, pm)
    # boxes of a padded batch are relative to the padded canvas: only require them strictly inside (0, 1)
    check_informative(f"{name}/batch", out.logits, out.pred_boxes, box_range=(0.005, 0.995))
    golden["batch.pixel_mask"] = pm.to(torch.float32).contiguous()
    golden["batch.logits"] = out.logits.contiguous()
    golden["batch.pred_boxes"] = out.pred_boxes.contiguous()
    golden["batch.encoder_last_hidden_state"] = out.encoder_last_hidden_state.contiguous()
    golden["batch.decoder_layer0"] = layer0.contiguous()
    if family == "deformable_detr" and spec["config"].get("two_stage"):
        golden["batch.enc_outputs_class"] = out.enc_outputs_class.contiguous()
        golden["batch.enc_outputs_coord_logits"] = out.enc_outputs_coord_logits.contiguous()
    save_file(golden, os.path.join(out_dir, "golden.safetensors"), metadata={"format": "pt"})

    # ---- weights + config
    if spec["layout"] == "hf":
        model.save_pretrained(out_dir)
        weights_note = ("save_pretrained as is: HF ResNet backbone keys under model.backbone.conv_encoder.model.; "
                        "tied duplicates are NOT written (transformers 5 drops them on save)")
    else:
        sd = hf_resnet_to_hub(legacy_state_dict(model), family)
        save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        cfg = hub_config_dict(model.config, backbone_name=spec["timm_name"], out_indices=spec["out_indices"],
                              architecture=model_cls.__name__)
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        weights_note = (f"hub (timm) layout: backbone keys under {hub_backbone_prefix(family)} "
                        "(conv1, bn1, layerN.B.convK/bnK, layerN.B.downsample.{0,1}); all tied duplicates written")
    verify_weights(name, spec, model, out_dir, golden)

    # ---- oracle.json
    sd_written = load_file(os.path.join(out_dir, "model.safetensors"))
    nbytes = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    oracle = {
        "fixture": name,
        "family": family,
        "model_class": model_cls.__name__,
        "image_processor_class": proc_cls.__name__,
        "variant_notes": spec["notes"],
        "key_layout": spec["layout"],
        "key_layout_notes": weights_note,
        "backbone": {"timm_name": spec["timm_name"], "block": spec["backbone"]["kind"],
                     "depths": spec["backbone"]["depths"], "stem_width": spec["backbone"]["stem"],
                     "stage_widths": spec["backbone"]["widths"], "out_indices": spec["out_indices"]},
        "num_tensors_in_model_safetensors": len(sd_written),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "seed": spec["seed"],
        "randomization": "oracle_common.randomize_: Linear/Conv N(0, 1/fan_in); norms w~U(0.8,1.2) b~U(-0.1,0.1); "
                         "BatchNorm w~U(0.5,1.2) b,mean~U(-0.2,0.2) var~U(0.5,2); embeddings N(0,1); PReLU U(0.1,0.4); "
                         "deformable offsets = HF direction grid + noise, non-zero weights; DAB refpoint logits "
                         "xy~U(-1.6,1.6) wh~U(-2.4,-0.6)"
                         + (f"; then bbox_embed[*].layers[-1].weight *= 0.5, .bias[2:] += {spec['box_wh_bias']}"
                            if spec.get("box_wh_bias") else ""),
        "images": summary,
        "preprocessing": {"size": spec["size"], "do_pad": True, "per_image": "each image processed alone "
                          "(batch of 1, no padding, pixel_mask all ones); PIL .convert('RGB') first"},
        "golden": {
            "dtype": "float32; batch dims dropped for image{i}.*",
            "image{i}.decoder_layer0": "output of model.model.decoder.layers[0] (forward hook) = "
                                       + " = ".join(decoder_state_where or ["(no HF output equal)"])
                                       + ("; BEFORE the decoder's final LayerNorm (decoder.layernorm)"
                                          if family != "deformable_detr" else
                                          "; Deformable DETR's decoder has no final LayerNorm"),
            **({"image{i}.decoder_layer0_layernorm": "decoder.layernorm(decoder_layer0): what the heads would see "
                                                    "for layer 0 (HF applies the same LayerNorm to every layer "
                                                    "output before the heads)"}
               if family != "deformable_detr" else {}),
            "image{i}.encoder_last_hidden_state": "[T, D], tokens level-major then row-major (y, x)",
            **({"image{i}.enc_outputs_class": "[T, C] two-stage proposal logits (class_embed[-1] on enc_output)",
                "image{i}.enc_outputs_coord_logits": "[T, 4] proposal box logits (cx,cy,w,h, pre-sigmoid); "
                                                     "+inf where the proposal is invalid/padded"}
               if spec["config"].get("two_stage") else {}),
            "image{i}.scores/labels/boxes": f"processor.post_process_object_detection(threshold=0.0, "
                                            f"target_sizes=[(orig_h, orig_w)], top_k={TOP_K}); boxes xyxy in "
                                            "original-image pixels; labels stored as float",
            "batch.*": "all three images processed together: pixel_values = each image{i}.pixel_values "
                       "zero-padded bottom/right to the batch max (not stored), batch.pixel_mask [3,H,W]",
        },
        "post_processing_top_k": TOP_K,
        "fixture_bytes": nbytes,
    }
    with open(os.path.join(out_dir, "oracle.json"), "w") as f:
        json.dump(oracle, f, indent=2)
        f.write("\n")
    print(f"  {name}: {nbytes / 1e6:.2f} MB, decoder_layer0 == {decoder_state_where}")
    return oracle


def verify_weights(name, spec, model, out_dir, golden):
    """Reload what was written and reproduce the golden logits exactly."""
    family = spec["family"]
    cfg_cls, model_cls, _ = FAMILY[family]
    written = load_file(os.path.join(out_dir, "model.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        if spec["layout"] == "hf":
            reloaded = model_cls.from_pretrained(out_dir).eval()
        else:
            # hub -> HF ResNet names, load with the HF ResNet config
            model.config.save_pretrained(tmp)
            save_file(hub_to_hf_resnet(written, family), os.path.join(tmp, "model.safetensors"),
                      metadata={"format": "pt"})
            reloaded = model_cls.from_pretrained(tmp).eval()
            # prove the timm names/semantics: a timm-named ResNet fed from the hub keys matches HF's backbone
            bb = spec["backbone"]
            tv = TimmNamedResNet(bb["stem"], bb["widths"], bb["depths"], bb["kind"] == "bottleneck")
            prefix = hub_backbone_prefix(family)
            tv_sd = {k[len(prefix):]: v for k, v in written.items() if k.startswith(prefix)}
            tv.load_state_dict(tv_sd, strict=True)
            pv = golden["image0.pixel_values"][None]
            hf_bb = model.model.backbone.conv_encoder if family == "dab_detr" else model.model.backbone
            with torch.no_grad():
                hf_maps = hf_bb.model(pv).feature_maps
                tv_maps = tv(pv)
            for idx, fm in zip(spec["out_indices"], hf_maps):
                d = float((tv_maps[idx - 1] - fm).abs().max())
                assert d < 1e-4, f"{name}: timm-named ResNet stage {idx} differs by {d}"
    pv = golden["image0.pixel_values"][None]
    pm = golden["image0.pixel_mask"][None].long()
    with torch.no_grad():
        out = reloaded(pixel_values=pv, pixel_mask=pm)
    d = float((out.logits[0] - golden["image0.logits"]).abs().max())
    # bit-exact for the hub path; from_pretrained of a save_pretrained folder can differ by ~1e-6
    # (same state dict and attention implementation; float summation order)
    assert d < 1e-5, f"{name}: reloaded model differs from golden by {d}"
    print(f"  {name}: reloaded model.safetensors reproduces image0.logits, max |diff| {d:.1e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=list(FIXTURES))
    args = ap.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    image_paths = write_images()
    for name in args.only:
        print(f"[{name}]")
        write_fixture(name, FIXTURES[name], image_paths)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(MODELS_DIR) for f in fs)
    print(f"total Tests/Fixtures/models: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
