"""Write full-size DETR-family checkpoints with random weights.

    HF_HUB_OFFLINE=1 .venv-ref/bin/python Calibration/oracle/make_benchmark_checkpoints.py [OUT_DIR [NAME ...]]

OUT_DIR defaults to /tmp/edgedetr-bench. Writes OUT_DIR/{deformable_detr,dab_detr,conditional_detr}/
{config.json, model.safetensors}: ResNet-50 in the hub (timm) key layout, default configs of each family
(Deformable: 4 levels, 6+6 layers, 300 queries; DAB-DETR and Conditional DETR: 6+6, 300 queries), 91
labels; and OUT_DIR/rt_detr_r18vd (save_pretrained, + preprocessor_config.json at 640x640): RT-DETR R18vd
as PekingU/rtdetr_r18vd configures it (ResNet-18-vd 64/128/256/512, hybrid encoder 256 wide with
hidden_expansion 0.5, 3 decoder layers, 300 queries, 80 labels); and OUT_DIR/d_fine_n (likewise): D-FINE-N as
ustc-community/dfine-nano-coco configures it (HGNetV2-B0 with learnable affine blocks returning stages 3-4,
encoder 128 wide with hidden_expansion 0.34 and depth_mult 0.5, two levels with 6 points each, 3 decoder
layers, 300 queries, 32 bins, 80 labels: about 3.7 M parameters). Not committed (15 to 160 MB each).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from safetensors.torch import save_file
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    DabDetrConfig,
    DabDetrForObjectDetection,
    DFineConfig,
    DFineForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    HGNetV2Config,
    ResNetConfig,
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import hf_resnet_to_hub, hub_config_dict, legacy_state_dict, randomize_  # noqa: E402

SEED = 1234

FAMILIES = {
    # name: (config class, model class, family key, timm out_indices, HF ResNet out_features)
    "deformable_detr": (DeformableDetrConfig, DeformableDetrForObjectDetection, "deformable_detr", [2, 3, 4],
                        ["stage2", "stage3", "stage4"]),
    "dab_detr": (DabDetrConfig, DabDetrForObjectDetection, "dab_detr", [1, 2, 3, 4],
                 ["stage1", "stage2", "stage3", "stage4"]),
    "conditional_detr": (ConditionalDetrConfig, ConditionalDetrForObjectDetection, "conditional_detr", [1, 2, 3, 4],
                         ["stage1", "stage2", "stage3", "stage4"]),
}


def resnet50_config(out_features):
    return ResNetConfig(
        embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3], layer_type="bottleneck",
        out_features=out_features,
    )


def coco_id2label():
    return {i: f"class_{i}" for i in range(91)}


def build(name):
    cfg_cls, model_cls, family, out_indices, out_features = FAMILIES[name]
    cfg = cfg_cls(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
        backbone_config=resnet50_config(out_features), id2label=coco_id2label(),
    )
    torch.manual_seed(SEED)
    model = model_cls(cfg).eval()
    randomize_(model, SEED)
    return model, family, out_indices


def write_rt_detr_r18vd(out_dir):
    backbone = RTDetrResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    cfg = RTDetrConfig(backbone_config=backbone, encoder_in_channels=[128, 256, 512], hidden_expansion=0.5,
                       decoder_layers=3, id2label={i: f"class_{i}" for i in range(80)})
    torch.manual_seed(SEED)
    model = RTDetrForObjectDetection(cfg).eval()
    randomize_(model, SEED)
    d = os.path.join(out_dir, "rt_detr_r18vd")
    model.save_pretrained(d)
    RTDetrImageProcessorPil(size={"height": 640, "width": 640}).save_pretrained(d)
    n = sum(p.numel() for p in model.parameters())
    print(f"rt_detr_r18vd: {n / 1e6:.1f} M parameters -> {d}")


def write_d_fine_n(out_dir):
    backbone = HGNetV2Config(stem_channels=[3, 16, 16], stage_in_channels=[16, 64, 256, 512],
                             stage_mid_channels=[16, 32, 64, 128], stage_out_channels=[64, 256, 512, 1024],
                             stage_num_blocks=[1, 1, 2, 1], stage_downsample=[False, True, True, True],
                             stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5],
                             stage_numb_of_layers=[3, 3, 3, 3], use_learnable_affine_block=True,
                             hidden_sizes=[64, 256, 512, 1024], depths=[1, 1, 2, 1], out_indices=[3, 4])
    cfg = DFineConfig(backbone_config=backbone, encoder_in_channels=[512, 1024], feat_strides=[16, 32],
                      encoder_hidden_dim=128, encode_proj_layers=[1], encoder_ffn_dim=512, hidden_expansion=0.34,
                      depth_mult=0.5, d_model=128, decoder_in_channels=[128, 128], num_feature_levels=2,
                      decoder_n_points=[6, 6], decoder_layers=3, decoder_ffn_dim=512,
                      id2label={i: f"class_{i}" for i in range(80)})
    torch.manual_seed(SEED)
    model = DFineForObjectDetection(cfg).eval()
    randomize_(model, SEED)
    with torch.no_grad():  # learnable affine blocks near their trained values (scale ~1, bias ~0)
        for name, p in model.named_parameters():
            if name.endswith("lab.scale"):
                p.fill_(1.0)
            elif name.endswith("lab.bias"):
                p.fill_(0.0)
    d = os.path.join(out_dir, "d_fine_n")
    model.save_pretrained(d)
    RTDetrImageProcessorPil(size={"height": 640, "width": 640}).save_pretrained(d)
    n = sum(p.numel() for p in model.parameters())
    print(f"d_fine_n: {n / 1e6:.1f} M parameters -> {d}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/edgedetr-bench"
    names = sys.argv[2:] or [*FAMILIES, "rt_detr_r18vd", "d_fine_n"]
    if "rt_detr_r18vd" in names:
        write_rt_detr_r18vd(out_dir)
    if "d_fine_n" in names:
        write_d_fine_n(out_dir)
    for name in (n for n in names if n in FAMILIES):
        model, family, out_indices = build(name)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        sd = hf_resnet_to_hub(legacy_state_dict(model), family)
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        cfg = hub_config_dict(model.config, backbone_name="resnet50", out_indices=out_indices,
                              architecture=type(model).__name__)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        n = sum(v.numel() for v in sd.values())
        print(f"{name}: {len(sd)} tensors, {n / 1e6:.1f} M values -> {d}")


if __name__ == "__main__":
    main()
