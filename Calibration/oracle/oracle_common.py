"""Shared helpers for the EdgeDETR Python oracle (fixtures and benchmark checkpoints).

- `randomize_`: deterministic re-randomisation of every parameter and frozen-BatchNorm buffer so that no
  path of a DETR-family model is trivially zero (HF's own init zeroes deformable sampling offsets and
  attention weights, DAB's last box layer, ...).
- `legacy_state_dict`: the state dict with the key names `save_pretrained` writes (transformers 5 renames
  some modules in memory, e.g. `mlp.fc1`, `o_proj`, `model.backbone.model`, and reverts them on save),
  *including* tied duplicates that `save_pretrained` drops.
- `hf_resnet_to_hub` / `hub_to_hf_resnet`: HF-ResNet backbone keys <-> timm/torchvision keys (the layout
  of hub checkpoints made with `use_timm_backbone=True`).
- `hub_config_dict`: a config.json dict as a timm-backbone hub checkpoint carries it.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

# transformers 5 still reverts its in-memory renames when saving; use the same code path.
from transformers.core_model_loading import revert_weight_conversion


# ----------------------------------------------------------------------------------------------------
# Re-randomisation
# ----------------------------------------------------------------------------------------------------

def _frozen_bn_like(module: nn.Module) -> bool:
    names = {n for n, _ in module.named_buffers(recurse=False)}
    return {"weight", "bias", "running_mean", "running_var"} <= names and not any(
        True for _ in module.parameters(recurse=False)
    )


@torch.no_grad()
def randomize_(model: nn.Module, seed: int, *, refpoints: bool = True) -> None:
    """Re-randomise all parameters and BatchNorm buffers of `model` in place, deterministically.

    Tied (shared) parameters are visited once (named_modules de-duplicates), so ties are kept.
    """
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            normal(module.weight, 1.0 / math.sqrt(fan_in))
            if module.bias is not None:
                uniform(module.bias, -0.1, 0.1)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            uniform(module.weight, 0.8, 1.2)
            uniform(module.bias, -0.1, 0.1)
        elif isinstance(module, nn.BatchNorm2d) or _frozen_bn_like(module):
            uniform(module.weight, 0.5, 1.2)
            uniform(module.bias, -0.2, 0.2)
            uniform(module.running_mean, -0.2, 0.2)
            uniform(module.running_var, 0.5, 2.0)
        elif isinstance(module, nn.PReLU):
            uniform(module.weight, 0.1, 0.4)
        elif isinstance(module, nn.Embedding):
            normal(module.weight, 1.0)

    # Parameters that live directly on a module (not in Linear/Conv/Norm/Embedding)
    for name, p in model.named_parameters():
        if name.endswith("level_embed"):
            normal(p, 1.0)

    # Model-specific touches
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls.endswith("MultiscaleDeformableAttention"):
            # keep HF's directional bias grid (pixels at the level), add random, non-zero weights
            n_heads, n_levels, n_points = module.n_heads, module.n_levels, module.n_points
            thetas = torch.arange(n_heads, dtype=torch.float32) * (2.0 * math.pi / n_heads)
            grid = torch.stack([thetas.cos(), thetas.sin()], -1)
            grid = grid / grid.abs().max(-1, keepdim=True)[0]
            if isinstance(n_points, int):
                grid = grid.view(n_heads, 1, 1, 2).repeat(1, n_levels, n_points, 1)
                for i in range(n_points):
                    grid[:, :, i, :] *= i + 1
            else:  # D-FINE's per-level point counts: (heads, sum(points), 2), point i of a level scaled by i + 1
                scaling = torch.cat([torch.arange(1, n + 1, dtype=torch.float32) for n in n_points])
                grid = grid.view(n_heads, 1, 2).repeat(1, len(scaling), 1) * scaling.view(1, -1, 1)
            module.sampling_offsets.bias.copy_(grid.view(-1) + torch.randn(grid.numel(), generator=g) * 0.3)
            fan_in = module.sampling_offsets.weight.shape[1]
            normal(module.sampling_offsets.weight, 0.7 / math.sqrt(fan_in))
            normal(module.attention_weights.weight, 1.5 / math.sqrt(fan_in))
            uniform(module.attention_weights.bias, -0.5, 0.5)
    if refpoints:
        for name, module in model.named_modules():
            if name.endswith("query_refpoint_embeddings"):
                w = module.weight
                uniform(w[:, :2], -1.6, 1.6)  # centres ~ 0.17 .. 0.83
                uniform(w[:, 2:], -2.4, -0.6)  # sizes ~ 0.08 .. 0.35


# ----------------------------------------------------------------------------------------------------
# Key layouts
# ----------------------------------------------------------------------------------------------------

def legacy_state_dict(model) -> dict[str, torch.Tensor]:
    """State dict with the names save_pretrained writes, tied duplicates kept, contiguous float32 clones."""
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    sd = revert_weight_conversion(model, sd)
    return {k: v.to(torch.float32).contiguous() for k, v in sd.items()}


_HF_BACKBONE_PREFIX = "model.backbone.conv_encoder.model."


def hub_backbone_prefix(family: str) -> str:
    # DAB-DETR wraps timm in TimmBackbone and keeps the wrapper: one more `_backbone.` level.
    return _HF_BACKBONE_PREFIX + ("_backbone." if family == "dab_detr" else "")


def _rename_resnet_key(rest: str) -> str:
    """HF ResNet (inside the backbone prefix) -> timm/torchvision ResNet name."""
    m = re.fullmatch(r"embedder\.embedder\.convolution\.(weight)", rest)
    if m:
        return "conv1.weight"
    m = re.fullmatch(r"embedder\.embedder\.normalization\.(\w+)", rest)
    if m:
        return f"bn1.{m.group(1)}"
    m = re.fullmatch(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.weight", rest)
    if m:
        s, b, i = map(int, m.groups())
        return f"layer{s + 1}.{b}.conv{i + 1}.weight"
    m = re.fullmatch(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.(\w+)", rest)
    if m:
        s, b, i = map(int, m.groups()[:3])
        return f"layer{s + 1}.{b}.bn{i + 1}.{m.group(4)}"
    m = re.fullmatch(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.weight", rest)
    if m:
        s, b = map(int, m.groups())
        return f"layer{s + 1}.{b}.downsample.0.weight"
    m = re.fullmatch(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(\w+)", rest)
    if m:
        s, b = map(int, m.groups()[:2])
        return f"layer{s + 1}.{b}.downsample.1.{m.group(3)}"
    raise KeyError(f"unmapped HF ResNet key: {rest}")


def _unrename_resnet_key(rest: str) -> str:
    if rest == "conv1.weight":
        return "embedder.embedder.convolution.weight"
    m = re.fullmatch(r"bn1\.(\w+)", rest)
    if m:
        return f"embedder.embedder.normalization.{m.group(1)}"
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.conv(\d+)\.weight", rest)
    if m:
        s, b, i = map(int, m.groups())
        return f"encoder.stages.{s - 1}.layers.{b}.layer.{i - 1}.convolution.weight"
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.bn(\d+)\.(\w+)", rest)
    if m:
        s, b, i = map(int, m.groups()[:3])
        return f"encoder.stages.{s - 1}.layers.{b}.layer.{i - 1}.normalization.{m.group(4)}"
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.downsample\.0\.weight", rest)
    if m:
        s, b = map(int, m.groups())
        return f"encoder.stages.{s - 1}.layers.{b}.shortcut.convolution.weight"
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.downsample\.1\.(\w+)", rest)
    if m:
        s, b = map(int, m.groups()[:2])
        return f"encoder.stages.{s - 1}.layers.{b}.shortcut.normalization.{m.group(3)}"
    raise KeyError(f"unmapped timm ResNet key: {rest}")


def hf_resnet_to_hub(sd: dict[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """Legacy (save_pretrained) names with an HF ResNet backbone -> hub names with a timm ResNet backbone."""
    out = {}
    hub_prefix = hub_backbone_prefix(family)
    for k, v in sd.items():
        if k.startswith(_HF_BACKBONE_PREFIX):
            out[hub_prefix + _rename_resnet_key(k[len(_HF_BACKBONE_PREFIX):])] = v
        else:
            out[k] = v
    return out


def hub_to_hf_resnet(sd: dict[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    out = {}
    hub_prefix = hub_backbone_prefix(family)
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.startswith(hub_prefix):
            out[_HF_BACKBONE_PREFIX + _unrename_resnet_key(k[len(hub_prefix):])] = v
        else:
            out[k] = v
    return out


def hub_config_dict(config, *, backbone_name: str, out_indices: list[int], architecture: str | None = None) -> dict:
    """config.json of a hub checkpoint that uses a timm backbone (the layout transformers 4.x wrote and
    that hub checkpoints such as SenseTime/deformable-detr carry)."""
    d = config.to_dict()
    d.pop("backbone_config", None)
    d.update(
        {
            "use_timm_backbone": True,
            "backbone": backbone_name,
            "backbone_config": None,
            "use_pretrained_backbone": False,
            "backbone_kwargs": {"out_indices": list(out_indices), "in_chans": 3},
            "dilation": False,
            "num_channels": 3,
        }
    )
    if architecture:
        d["architectures"] = [architecture]
    return dict(sorted(d.items()))


# ----------------------------------------------------------------------------------------------------
# A torchvision/timm-named ResNet, used only to prove the hub key names and semantics are right
# ----------------------------------------------------------------------------------------------------

class _FrozenBN(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        return x * scale[None, :, None, None] + (self.bias - self.running_mean * scale)[None, :, None, None]


class _Basic(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = _FrozenBN(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _FrozenBN(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), _FrozenBN(planes))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class _Bottleneck(nn.Module):
    def __init__(self, cin, out, stride):
        super().__init__()
        width = out // 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = _FrozenBN(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # stride on the 3x3 (torchvision v1.5 / timm)
        self.bn2 = _FrozenBN(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = _FrozenBN(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), _FrozenBN(out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class TimmNamedResNet(nn.Module):
    """ResNet with timm/torchvision parameter names (conv1, bn1, layer1..4); returns C1..C4 outputs."""

    def __init__(self, stem, widths, depths, bottleneck):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = _FrozenBN(stem)
        block = _Bottleneck if bottleneck else _Basic
        cin = stem
        for s, (w, d) in enumerate(zip(widths, depths)):
            blocks = []
            for b in range(d):
                blocks.append(block(cin, w, 2 if (b == 0 and s > 0) else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 3, 2, 1)
        outs = []
        for s in range(4):
            x = getattr(self, f"layer{s + 1}")(x)
            outs.append(x)
        return outs
