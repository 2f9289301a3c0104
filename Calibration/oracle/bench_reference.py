"""Time transformers (PyTorch fp32) and ONNX Runtime fp32 on the benchmark checkpoints.

    HF_HUB_OFFLINE=1 nice -n 10 .venv-ref/bin/python Calibration/oracle/bench_reference.py [CKPT_DIR] [--only NAME ...]

CKPT_DIR defaults to /tmp/edgedetr-bench (written by make_benchmark_checkpoints.py). Input: one
512x512 image (random, seeded), pixel_mask all ones. torch.set_num_threads(2); ONNX Runtime
intra_op_num_threads=2, inter_op 1, ORT_ENABLE_ALL. Median of 3 timed runs after 1 warm-up.
ONNX export: torch.onnx.export opset 17 (TorchScript exporter); for Deformable DETR a Cast to float32
is inserted before every GridSample input that is float64 (ONNX Runtime's CPU GridSample has no
double kernel). Prints a markdown table and the exact command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper
from safetensors.torch import load_file, save_file
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    DabDetrConfig,
    DabDetrForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    ResNetConfig,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import hub_to_hf_resnet  # noqa: E402

CLASSES = {
    "deformable_detr": (DeformableDetrConfig, DeformableDetrForObjectDetection),
    "dab_detr": (DabDetrConfig, DabDetrForObjectDetection),
    "conditional_detr": (ConditionalDetrConfig, ConditionalDetrForObjectDetection),
}
HUB_ONLY_KEYS = ("use_timm_backbone", "backbone", "backbone_config", "use_pretrained_backbone", "backbone_kwargs")


def load_hub_checkpoint(name, ckpt_dir):
    """Load a hub-layout (timm ResNet-50) checkpoint into transformers with its HF ResNet-50 backbone."""
    cfg_cls, model_cls = CLASSES[name]
    d = os.path.join(ckpt_dir, name)
    with open(os.path.join(d, "config.json")) as f:
        hub = json.load(f)
    out_indices = hub["backbone_kwargs"]["out_indices"]
    cfg_dict = {k: v for k, v in hub.items() if k not in HUB_ONLY_KEYS}
    cfg_dict["backbone_config"] = ResNetConfig(
        embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3], layer_type="bottleneck",
        out_features=[f"stage{i}" for i in out_indices],
    ).to_dict()
    sd = hub_to_hf_resnet(load_file(os.path.join(d, "model.safetensors")), name)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = cfg_cls(use_timm_backbone=False, use_pretrained_backbone=False,
                      **{k: v for k, v in cfg_dict.items() if k not in ("model_type", "transformers_version")})
        cfg.save_pretrained(tmp)
        save_file(sd, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        model = model_cls.from_pretrained(tmp)
    return model.eval()


class Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, pixel_mask):
        out = self.model(pixel_values=pixel_values, pixel_mask=pixel_mask)
        return out.logits, out.pred_boxes


def fix_gridsample_double(model: onnx.ModelProto) -> int:
    """Insert Cast(to=float32) before GridSample inputs that are float64 (and Cast back after, if X was)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        types[init.name] = init.data_type
    graph = model.graph
    new_nodes, n_casts = [], 0
    for node in graph.node:
        if node.op_type == "GridSample":
            x_was_double = types.get(node.input[0]) == TensorProto.DOUBLE
            for i, name in enumerate(list(node.input[:2])):
                if types.get(name) == TensorProto.DOUBLE:
                    cast_out = f"{name}__f32_{n_casts}"
                    new_nodes.append(helper.make_node("Cast", [name], [cast_out], to=TensorProto.FLOAT,
                                                      name=f"cast_gs_{n_casts}"))
                    node.input[i] = cast_out
                    n_casts += 1
            if x_was_double:
                orig_out = node.output[0]
                f32_out = f"{orig_out}__f32"
                node.output[0] = f32_out
                new_nodes.append(node)
                new_nodes.append(helper.make_node("Cast", [f32_out], [orig_out], to=TensorProto.DOUBLE,
                                                  name=f"cast_gs_back_{n_casts}"))
                continue
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return n_casts


def time_it(fn, runs=3):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def bench(name, ckpt_dir, tmpdir, size=512):
    torch.set_num_threads(2)
    model = load_hub_checkpoint(name, ckpt_dir)
    g = torch.Generator().manual_seed(0)
    pv = torch.randn(1, 3, size, size, generator=g)
    pm = torch.ones(1, size, size, dtype=torch.long)
    wrapper = Wrapper(model).eval()
    row = {"model": name, "params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    with torch.no_grad():
        ref = wrapper(pv, pm)
        row["torch_s"], row["torch_runs"] = time_it(lambda: wrapper(pv, pm))
    print(f"[{name}] torch fp32 median {row['torch_s']:.3f}s runs {['%.3f' % t for t in row['torch_runs']]}",
          flush=True)

    onnx_path = os.path.join(tmpdir, f"{name}.onnx")
    t0 = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(wrapper, (pv, pm), onnx_path, opset_version=17, dynamo=False,
                          input_names=["pixel_values", "pixel_mask"], output_names=["logits", "pred_boxes"])
    row["export_s"] = time.perf_counter() - t0
    m = onnx.load(onnx_path)
    row["casts"] = fix_gridsample_double(m)
    onnx.save(m, onnx_path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    feeds = {"pixel_values": pv.numpy(), "pixel_mask": pm.numpy()}
    outs = sess.run(None, feeds)
    row["ort_maxdiff"] = max(float(np.abs(outs[0] - ref[0].numpy()).max()),
                             float(np.abs(outs[1] - ref[1].numpy()).max()))
    row["ort_s"], row["ort_runs"] = time_it(lambda: sess.run(None, feeds))
    print(f"[{name}] ORT fp32 median {row['ort_s']:.3f}s runs {['%.3f' % t for t in row['ort_runs']]} "
          f"(export {row['export_s']:.0f}s, {row['casts']} casts, max|diff| {row['ort_maxdiff']:.2e})", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt_dir", nargs="?", default="/tmp/edgedetr-bench")
    ap.add_argument("--only", nargs="*", default=list(CLASSES))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.only:
            try:
                rows.append(bench(name, args.ckpt_dir, tmpdir))
            except Exception as e:  # keep going: report what finished
                print(f"[{name}] FAILED: {type(e).__name__}: {e}", flush=True)
                rows.append({"model": name, "error": f"{type(e).__name__}: {e}"})
    cmd = "HF_HUB_OFFLINE=1 " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)
    print()
    print(f"Command: `{cmd}`")
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, onnx {onnx.__version__}; 512x512, 2 threads, "
          "median of 3 after 1 warm-up")
    print()
    print("| model | params | PyTorch fp32 | ONNX Runtime fp32 | ORT/PyTorch | ORT vs PyTorch max abs diff |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | - | {r.get('torch_s', '-')} | failed: {r['error'][:80]} | - | - |")
            continue
        print(f"| {r['model']} | {r['params_M']:.1f} M | {r['torch_s']:.2f} s | {r['ort_s']:.2f} s | "
              f"{r['ort_s'] / r['torch_s']:.2f} | {r['ort_maxdiff']:.1e} |")


if __name__ == "__main__":
    main()
