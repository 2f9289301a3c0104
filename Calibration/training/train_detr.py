"""Train a small DETR-family detector from scratch on EdgeDETR's synthetic shapes.

    nohup nice -n 5 .venv-ref/bin/python Calibration/training/train_detr.py --family deformable_detr \
        --train /tmp/edgedetr-easy/train --val /tmp/edgedetr-easy/val --minutes 40 \
        --out Tests/Fixtures/trained/deformable_detr_easy128 > /tmp/train.log 2>&1 &

Each dataset folder is what `edgedetr dataset synth -o DIR --split NAME` writes: DIR/NAME.json (COCO) and
DIR/NAME/NNNNNN.png. Every model uses an HF ResNet backbone while training (use_timm_backbone=False): a
narrow ResNet-18 layout (basic blocks, depths [2,2,2,2], widths 32/64/96/128), d_model 128, 4 heads,
FFN 256, 30 queries:
- deformable_detr: DeformableDetrForObjectDetection, 3 feature levels (strides 8/16/32), 4 points,
  with_box_refine, 2+2 layers (about 1.8 M parameters);
- dab_detr / conditional_detr: DabDetrForObjectDetection / ConditionalDetrForObjectDetection, single scale
  on layer3 (stride 16: a 128 px image gives an 8x8 map; stride 32 would leave 4x4), 2 encoder + 3 decoder
  layers. layer4 is never run, so it is not saved (a timm features_only backbone with out_indices [3]
  has no layer4 either).

Training details:
- The backbone's BatchNorms are trained as ordinary BatchNorm2d (HF swaps them for frozen ones; a
  from-scratch backbone without normalisation trains badly). Their affine parameters and running
  statistics are copied back into the frozen BatchNorm buffers before evaluation and saving, so the
  saved model is exactly what HF (and EdgeDETR) run at inference.
- HF loss (Hungarian matching, focal loss, L1 + GIoU) with auxiliary decoder losses; AdamW lr 2e-4
  (backbone too), weight decay 1e-4, gradient clipping 0.1, lr x0.1 for the last 20% of the time budget;
  random horizontal flips.
- Preprocessing: rescale 1/255 and ImageNet mean/std, no resize (the dataset is already at the model's
  input size); preprocessor_config.json is written by DeformableDetrImageProcessorPil with size fixed to
  the dataset size, and the script checks that the processor gives the same pixel values.
- After --minutes of training: COCO box AP on the val split with pycocotools (post_process_object_detection
  threshold 0, top_k 100), then saves config.json + model.safetensors in the hub (timm backbone) key
  layout (Calibration/oracle/oracle_common.py), preprocessor_config.json and train_log.txt.

Deterministic seeds (torch, numpy, python); with 2 threads on CPU the run is repeatable up to the wall-clock
budget (the number of steps done in --minutes depends on the machine).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from transformers import (
    ConditionalDetrConfig,
    Deimv2Config,
    Deimv2ForObjectDetection,
    DFineConfig,
    DFineForObjectDetection,
    HGNetV2Config,
    ConditionalDetrForObjectDetection,
    DabDetrConfig,
    DabDetrForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    ResNetConfig,
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
)
from transformers.models.conditional_detr.image_processing_pil_conditional_detr import ConditionalDetrImageProcessorPil
from transformers.models.deformable_detr.image_processing_pil_deformable_detr import DeformableDetrImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
from oracle_common import hf_resnet_to_hub, hub_config_dict, legacy_state_dict  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def log(msg, fh=None):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


def load_split(folder):
    """Returns (coco dict, uint8 images [N,H,W,3], per-image targets, json path)."""
    split = os.path.basename(os.path.normpath(folder))
    json_path = os.path.join(os.path.dirname(os.path.normpath(folder)), f"{split}.json")
    if not os.path.exists(json_path):
        json_path = os.path.join(folder, f"{split}.json")
    with open(json_path) as f:
        coco = json.load(f)
    images = coco["images"]
    by_image = {im["id"]: [] for im in images}
    for a in coco["annotations"]:
        by_image[a["image_id"]].append(a)
    arrays, targets = [], []
    for im in images:
        path = os.path.join(os.path.dirname(json_path), im["file_name"])
        if not os.path.exists(path):
            path = os.path.join(folder, os.path.basename(im["file_name"]))
        arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        arrays.append(arr)
        h, w = arr.shape[:2]
        boxes, labels = [], []
        for a in by_image[im["id"]]:
            x, y, bw, bh = a["bbox"]
            boxes.append([(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h])
            labels.append(a["category_id"])
        targets.append((torch.tensor(labels, dtype=torch.long),
                        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)))
    return coco, np.stack(arrays), targets, json_path


def normalize(batch_u8, family="deformable_detr"):
    x = torch.from_numpy(batch_u8).permute(0, 3, 1, 2).float() / 255.0
    # RT-DETR's processor (D-FINE uses it too) only rescales (do_normalize False).
    return x if family in REALTIME else (x - MEAN) / STD


FAMILIES = ("deformable_detr", "dab_detr", "conditional_detr", "rt_detr", "d_fine", "deimv2")
# The families saved with save_pretrained and post-processed over queries x classes.
REALTIME = ("rt_detr", "d_fine", "deimv2")
# Backbone stages each family reads (HF numbering: 1..4 = layer1..layer4) and its hub timm name.
OUT_INDICES = {"deformable_detr": [2, 3, 4], "dab_detr": [3], "conditional_detr": [3], "rt_detr": [2, 3, 4],
               "d_fine": [2, 3, 4], "deimv2": [2, 3, 4]}
# transformers has no DAB-DETR image processor; hub DAB checkpoints use ConditionalDetrImageProcessor.
PROCESSOR = {"deformable_detr": DeformableDetrImageProcessorPil, "dab_detr": ConditionalDetrImageProcessorPil,
             "conditional_detr": ConditionalDetrImageProcessorPil, "rt_detr": RTDetrImageProcessorPil}


def build_rt_detr(num_labels, id2label, seed):
    """RT-DETR at the same scale as the others: an R18vd-style ResNet (basic blocks, depths [2,2,2,2], widths
    32/64/96/128), hybrid encoder and decoder 128 wide, 4 heads, FFN 256, 30 queries, 3 decoder layers, 30
    denoising queries. Its backbone BatchNorms train as ordinary BatchNorm2d (freeze_backbone_batch_norms
    False), which inference computes exactly as the frozen ones."""
    backbone = RTDetrResNetConfig(embedding_size=32, hidden_sizes=[32, 64, 96, 128], depths=[2, 2, 2, 2],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    cfg = RTDetrConfig(
        backbone_config=backbone, freeze_backbone_batch_norms=False, encoder_in_channels=[64, 96, 128],
        encoder_hidden_dim=128, d_model=128, decoder_in_channels=[128, 128, 128], encoder_layers=1,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256,
        decoder_layers=3, num_queries=30, num_denoising=30, num_labels=num_labels, id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    torch.manual_seed(seed)
    return RTDetrForObjectDetection(cfg)


def narrow_hgnetv2():
    """The narrow HGNetV2-B0 layout both D-FINE and DEIMv2 train with here."""
    return HGNetV2Config(stem_channels=[3, 16, 16], stage_in_channels=[16, 32, 64, 96],
                         stage_mid_channels=[16, 24, 32, 48], stage_out_channels=[32, 64, 96, 128],
                         stage_num_blocks=[1, 1, 2, 1], stage_downsample=[False, True, True, True],
                         stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5],
                         stage_numb_of_layers=[3, 3, 3, 3], use_learnable_affine_block=True,
                         hidden_sizes=[32, 64, 96, 128], depths=[1, 1, 2, 1], out_indices=[2, 3, 4])


def refinement_settings(num_labels, id2label):
    """What the D-FINE and DEIMv2 yardsticks share: the narrow HGNetV2, D-FINE-N's encoder settings 128 wide
    (hidden_expansion 0.34, depth_mult 0.5), three levels with [3, 6, 3] points, 4 heads, FFN 256, 30
    queries, 3 decoder layers, 30 denoising queries."""
    return dict(
        backbone_config=narrow_hgnetv2(), freeze_backbone_batch_norms=False, encoder_in_channels=[64, 96, 128],
        encoder_hidden_dim=128, d_model=128, decoder_in_channels=[128, 128, 128], encoder_layers=1,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256,
        decoder_layers=3, decoder_n_points=[3, 6, 3], hidden_expansion=0.34, depth_mult=0.5, num_queries=30,
        num_denoising=30, num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )


def build_deimv2(num_labels, id2label, seed):
    """DEIMv2 with `refinement_settings` (the N size's hybrid encoder: sum fusion, ELAN5 blocks), decoder
    layers with RMSNorm, the gate and a SwiGLU FFN (hidden 128)."""
    cfg = Deimv2Config(**refinement_settings(num_labels, id2label))
    torch.manual_seed(seed)
    return Deimv2ForObjectDetection(cfg)


def build_d_fine(num_labels, id2label, seed):
    """D-FINE at the same scale as the others: `refinement_settings` (a narrow HGNetV2-B0 layout with light
    blocks, 5x5 depthwise convolutions in stages 3-4 and learnable affine blocks), 32 bins."""
    cfg = DFineConfig(**refinement_settings(num_labels, id2label))
    torch.manual_seed(seed)
    return DFineForObjectDetection(cfg)


def build_model(family, num_labels, id2label, seed, two_stage=False):
    if family == "rt_detr":
        return build_rt_detr(num_labels, id2label, seed)
    if family == "d_fine":
        return build_d_fine(num_labels, id2label, seed)
    if family == "deimv2":
        return build_deimv2(num_labels, id2label, seed)
    out_indices = OUT_INDICES[family]
    backbone = ResNetConfig(
        embedding_size=32, hidden_sizes=[32, 64, 96, 128], depths=[2, 2, 2, 2], layer_type="basic",
        out_features=[f"stage{i}" for i in out_indices],
    )
    common = dict(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone=None, backbone_config=backbone,
        encoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=256, decoder_ffn_dim=256, num_queries=30, auxiliary_loss=True,
        num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    if family == "deformable_detr":
        cfg = DeformableDetrConfig(d_model=128, decoder_layers=2, num_feature_levels=3, encoder_n_points=4,
                                   decoder_n_points=4, with_box_refine=True, two_stage=two_stage,
                                   two_stage_num_proposals=30, **common)
        cls = DeformableDetrForObjectDetection
    elif family == "dab_detr":
        cfg = DabDetrConfig(hidden_size=128, decoder_layers=3, **common)
        cls = DabDetrForObjectDetection
    else:
        cfg = ConditionalDetrConfig(d_model=128, decoder_layers=3, **common)
        cls = ConditionalDetrForObjectDetection
    torch.manual_seed(seed)
    return cls(cfg)


class EncoderProposalLoss:
    """Two-stage Deformable DETR's encoder loss, which transformers' loss leaves out.

    The paper (and its reference code) trains the encoder's proposals as a class-agnostic detector: every
    target becomes class 0, matched with the same Hungarian costs and weighted like a decoder layer. Without
    it the encoder head that picks the top-k proposals by its class-0 logit gets no gradient at all (the
    top-k is not differentiable and the decoder reads the proposals' boxes detached), so the queries would be
    chosen by an untrained layer.
    """

    def __init__(self, config):
        from transformers.loss.loss_deformable_detr import DeformableDetrHungarianMatcher, DeformableDetrImageLoss
        matcher = DeformableDetrHungarianMatcher(class_cost=config.class_cost, bbox_cost=config.bbox_cost,
                                                 giou_cost=config.giou_cost)
        self.criterion = DeformableDetrImageLoss(matcher=matcher, num_classes=config.num_labels,
                                                 focal_alpha=config.focal_alpha, losses=["labels", "boxes"])
        self.weights = {"loss_ce": 1.0, "loss_bbox": config.bbox_loss_coefficient,
                        "loss_giou": config.giou_loss_coefficient}

    def __call__(self, out, labels):
        binary = [{"class_labels": torch.zeros_like(t["class_labels"]), "boxes": t["boxes"]} for t in labels]
        outputs = {"logits": out.enc_outputs_class, "pred_boxes": out.enc_outputs_coord_logits.sigmoid()}
        losses = self.criterion(outputs, binary)
        return sum(losses[k] * w for k, w in self.weights.items())


def drop_unused_stages(sd, family):
    """Remove backbone stages after the last one the family reads (never run, so never trained)."""
    last = max(OUT_INDICES[family])
    prefix = "model.backbone.conv_encoder.model.encoder.stages."
    return {k: v for k, v in sd.items()
            if not (k.startswith(prefix) and int(k[len(prefix):].split(".")[0]) + 1 > last)}


@torch.no_grad()
def load_hub_checkpoint(model, path, family):
    """Load a model.safetensors this script saved (hub layout) into a freshly built model: tag every
    tensor of the in-memory state dict with its index, push it through the same renaming as saving, and
    read the hub name -> in-memory name pairs off the tags."""
    from safetensors.torch import load_file

    hub = load_file(path)
    sd = model.state_dict()
    names = list(sd.keys())
    for i, k in enumerate(names):
        if sd[k].is_floating_point():
            sd[k].fill_(float(i))
    tagged = hf_resnet_to_hub(drop_unused_stages(legacy_state_dict(model), family), family)
    loaded = set()
    for hk, t in tagged.items():
        if hk.endswith("num_batches_tracked"):
            continue
        k = names[int(t.flatten()[0].item())]
        sd[k].copy_(hub[hk])
        loaded.add(hk)
    missing = set(hub) - loaded
    assert not missing, sorted(missing)[:5]
    return len(loaded)


class TrainBN(nn.BatchNorm2d):
    """A trainable BatchNorm2d standing in for a frozen one during training."""


def swap_frozen_bn(model, to_trainable: bool):
    """Frozen BN <-> trainable BN in the backbone, copying weight/bias/running stats across."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            cls = type(child).__name__
            if to_trainable and cls.endswith("FrozenBatchNorm2d"):
                bn = TrainBN(child.weight.numel(), eps=1e-5, momentum=0.1)
                with torch.no_grad():
                    bn.weight.copy_(child.weight); bn.bias.copy_(child.bias)
                    bn.running_mean.copy_(child.running_mean); bn.running_var.copy_(child.running_var)
                object.__setattr__(bn, "_frozen", child)  # not a submodule: keeps the state dict names
                setattr(parent, name, bn)
            elif not to_trainable and isinstance(child, TrainBN):
                frozen = child._frozen
                with torch.no_grad():
                    frozen.weight.copy_(child.weight); frozen.bias.copy_(child.bias)
                    frozen.running_mean.copy_(child.running_mean); frozen.running_var.copy_(child.running_var)
                setattr(parent, name, frozen)


def sync_frozen_bn(model):
    """Copy the trainable BNs' state into their frozen twins without swapping (for mid-run saves)."""
    for m in model.modules():
        if isinstance(m, TrainBN):
            with torch.no_grad():
                f = m._frozen
                f.weight.copy_(m.weight); f.bias.copy_(m.bias)
                f.running_mean.copy_(m.running_mean); f.running_var.copy_(m.running_var)


@torch.no_grad()
def evaluate(model, processor, images, coco, json_path, batch=32, family="deformable_detr"):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model.eval()
    results = []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        pixel_values = normalize(chunk, family)
        out = model(pixel_values=pixel_values, pixel_mask=torch.ones(pixel_values.shape[0], *pixel_values.shape[2:], dtype=torch.long))
        sizes = [(im.shape[0], im.shape[1]) for im in chunk]
        if family in REALTIME:  # keeps num_queries detections; no top_k argument
            dets = processor.post_process_object_detection(out, threshold=0.0, target_sizes=sizes)
        else:
            dets = processor.post_process_object_detection(out, threshold=0.0, target_sizes=sizes, top_k=100)
        for j, d in enumerate(dets):
            image_id = coco["images"][i + j]["id"]
            for s, l, b in zip(d["scores"].tolist(), d["labels"].tolist(), d["boxes"].tolist()):
                x0, y0, x1, y1 = b
                results.append({"image_id": image_id, "category_id": int(l), "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "score": float(s)})
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gt = COCO(json_path)
        dt = gt.loadRes(results) if results else None
        if dt is None:
            return [0.0] * 12, "", results
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return [float(s) for s in ev.stats], buf.getvalue(), results


def save(model, out_dir, processor, family):
    os.makedirs(out_dir, exist_ok=True)
    if family in REALTIME:
        # RT-DETR and D-FINE have one key layout: what save_pretrained writes (the hub's too).
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        return sum(p.numel() for p in model.parameters())
    sd = hf_resnet_to_hub(drop_unused_stages(legacy_state_dict(model), family), family)
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    cfg = hub_config_dict(model.config, backbone_name="resnet18", out_indices=OUT_INDICES[family],
                          architecture=type(model).__name__)
    # Inference ignores auxiliary_loss except in Conditional DETR, where it makes every decoder layer feed
    # the layer-normed state to the next one: keep what the model was trained with there.
    if family != "conditional_detr":
        cfg["auxiliary_loss"] = False
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    processor.save_pretrained(out_dir)
    return sum(v.numel() for v in sd.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=FAMILIES, default="deformable_detr")
    ap.add_argument("--train", default="/tmp/edgedetr-easy/train")
    ap.add_argument("--val", default="/tmp/edgedetr-easy/val")
    ap.add_argument("--out", default="Tests/Fixtures/trained/deformable_detr_easy128")
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", default=None, help="COCO results file of the final val evaluation")
    ap.add_argument("--init", default=None, help="continue from a checkpoint folder this script wrote")
    ap.add_argument("--save-every-min", type=float, default=10.0)
    ap.add_argument("--two-stage", action="store_true",
                    help="deformable_detr only: encoder proposals choose the queries (two_stage, 30 proposals), "
                         "trained with the paper's class-agnostic encoder loss")
    args = ap.parse_args()
    if args.two_stage and args.family != "deformable_detr":
        ap.error("--two-stage applies to --family deformable_detr only")

    torch.set_num_threads(args.threads)
    random.seed(args.seed); np.random.seed(args.seed); torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train_log.txt"), "w")
    log(f"args: {vars(args)}; torch {torch.__version__}", logf)

    t_load = time.time()
    train_coco, train_imgs, train_targets, _ = load_split(args.train)
    val_coco, val_imgs, _, val_json = load_split(args.val)
    h, w = train_imgs.shape[1:3]
    log(f"train {len(train_imgs)} images, {len(train_coco['annotations'])} objects; val {len(val_imgs)} images, "
        f"{len(val_coco['annotations'])} objects; {w}x{h}; loaded in {time.time() - t_load:.0f}s", logf)

    cats = sorted(train_coco["categories"], key=lambda c: c["id"])
    assert [c["id"] for c in cats] == list(range(len(cats))), "category ids must be 0..C-1"
    id2label = {c["id"]: c["name"] for c in cats}
    model = build_model(args.family, len(cats), id2label, args.seed, two_stage=args.two_stage)
    encoder_loss = EncoderProposalLoss(model.config) if args.two_stage else None
    # ResNet-style init for the from-scratch backbone convolutions (HF's DETR init uses std 0.02).
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and "backbone" in name:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if args.init and args.family in REALTIME:
        model = {"rt_detr": RTDetrForObjectDetection, "d_fine": DFineForObjectDetection,
                 "deimv2": Deimv2ForObjectDetection}[args.family].from_pretrained(args.init)
        log(f"initialised from {args.init}", logf)
    elif args.init:
        n = load_hub_checkpoint(model, os.path.join(args.init, "model.safetensors"), args.family)
        log(f"initialised from {args.init} ({n} tensors)", logf)
    swap_frozen_bn(model, to_trainable=True)
    n_params = sum(v.numel() for v in drop_unused_stages(dict(model.named_parameters()), args.family).values())
    log(f"model: {n_params / 1e6:.2f} M trainable parameters", logf)

    if args.family in REALTIME:
        processor = RTDetrImageProcessorPil(size={"height": h, "width": w})
    else:
        processor = PROCESSOR[args.family](size={"height": h, "width": w}, do_pad=False)
    # The processor must give exactly the tensors this script feeds.
    pv = processor(images=[Image.fromarray(val_imgs[0])], return_tensors="pt")["pixel_values"]
    diff = (pv - normalize(val_imgs[:1], args.family)).abs().max().item()
    log(f"processor vs script normalisation: max |diff| {diff:.2e}", logf)
    assert diff < 1e-5, diff

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim == 1 or n.endswith("level_embed") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)

    budget = args.minutes * 60.0
    t0 = time.time()
    last_save = t0
    step, epoch = 0, 0
    gen = np.random.default_rng(args.seed)
    ema = None
    lr_dropped = False
    done = False
    while not done:
        epoch += 1
        order = gen.permutation(len(train_imgs))
        for b in range(0, len(order) - args.batch + 1, args.batch):
            elapsed = time.time() - t0
            if elapsed > budget:
                done = True
                break
            if not lr_dropped and elapsed > 0.8 * budget:
                for g in opt.param_groups:
                    g["lr"] = args.lr * 0.1
                lr_dropped = True
                log(f"step {step}: lr -> {args.lr * 0.1:g}", logf)
            idx = order[b:b + args.batch]
            batch = train_imgs[idx].copy()
            labels = []
            flips = gen.uniform(size=len(idx)) < 0.5
            for k, i in enumerate(idx):
                cls, boxes = train_targets[i]
                boxes = boxes.clone()
                if flips[k]:
                    batch[k] = batch[k][:, ::-1]
                    boxes[:, 0] = 1.0 - boxes[:, 0]
                labels.append({"class_labels": cls, "boxes": boxes})
            model.train()
            pixel_values = normalize(batch, args.family)
            out = model(pixel_values=pixel_values, labels=labels)
            loss = out.loss
            if encoder_loss is not None:
                loss = loss + encoder_loss(out, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            step += 1
            lv = loss.item()
            ema = lv if ema is None else 0.98 * ema + 0.02 * lv
            if step % 50 == 0:
                ld = out.loss_dict
                parts = " ".join(f"{k}={float(ld[k]):.3f}" for k in ("loss_ce", "loss_vfl", "loss_bbox", "loss_giou") if k in ld)
                log(f"epoch {epoch} step {step} t={elapsed / 60:.1f}min loss {lv:.3f} ema {ema:.3f} {parts}", logf)
            if time.time() - last_save > args.save_every_min * 60:
                sync_frozen_bn(model)
                save(model, args.out, processor, args.family)
                last_save = time.time()
                log(f"step {step}: checkpoint saved", logf)

    log(f"training stopped after {step} steps ({epoch} epochs started, {(time.time() - t0) / 60:.1f} min)", logf)
    swap_frozen_bn(model, to_trainable=False)
    model.eval()
    n = save(model, args.out, processor, args.family)
    log(f"saved {n / 1e6:.2f} M values to {args.out}", logf)
    stats, summary, results = evaluate(model, processor, val_imgs, val_coco, val_json, family=args.family)
    kept = "num_queries" if args.family in REALTIME else "top_k=100"
    log(f"pycocotools COCOeval(bbox) on val, post_process_object_detection(threshold=0, {kept}):\n" + summary, logf)
    log(f"FINAL val AP {stats[0] * 100:.1f} AP50 {stats[1] * 100:.1f} AP75 {stats[2] * 100:.1f}", logf)
    results_path = args.results or f"/tmp/{os.path.basename(os.path.normpath(args.out))}_val_results.json"
    with open(results_path, "w") as f:
        json.dump([dict(r, bbox=[round(v, 2) for v in r["bbox"]], score=round(r["score"], 5)) for r in results], f)
    logf.close()


if __name__ == "__main__":
    main()
