"""ONNX Runtime latency, fp32 and static int8, of one hub-layout checkpoint at a fixed input size: the peer
column of Calibration/bench/int8_bench.sh (which runs EdgeDETR's int8 and float right before it).

    HF_HUB_OFFLINE=1 .venv-ref/bin/python Calibration/bench/ort_int8_latency.py \
        --model /tmp/edgedetr-bench/deformable_detr --size 512 --calib Tests/Fixtures/images --limit-calib 2 \
        --threads 2 --runs 3 --json /tmp/ort_int8_latency.json

The model is exported and quantized exactly as Calibration/onnx/ort_int8_eval.py does it (TorchScript
export, opset 17, the float64 GridSample fix; quant_pre_process; quantize_static QDQ, per-channel int8
weights, int8 activations, MinMax on the calibration images), then both sessions (all graph optimizations,
`--threads` intra-op threads, spinning off) run `--warmup` untimed and `--runs` timed inferences on one random input.
Reported per session: median, min and max wall time and the process CPU time per run (user + system of
all threads, as `edgedetr bench` reports it). Calibration images are resized to the input size with
PIL bilinear and normalized with ImageNet mean/std (benchmark checkpoints have no preprocessor config);
only the activation ranges depend on them, not the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationMethod, QuantType
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
from ort_int8_eval import RT_DETR, count_quantized_ops, export_onnx, load_hub_model, quantize, versions  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def calibration_inputs(folder: str, limit: int, size: int, normalize: bool = True) -> list[np.ndarray]:
    """The first `limit` images resized to size x size, rescaled 1/255, ImageNet-normalized unless the
    family's processor does not normalize (RT-DETR)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))[:limit]
    inputs = []
    for name in names:
        image = Image.open(os.path.join(folder, name)).convert("RGB").resize((size, size), Image.BILINEAR)
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
        inputs.append(((x - MEAN) / STD if normalize else x).astype(np.float32))
    return inputs


def session(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads sleep (as EdgeDETR's pool does) instead of spinning, so the CPU time per run
    # counts work, not waiting; on a shared machine spinning also takes cores from everyone else.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def time_session(sess: ort.InferenceSession, x: np.ndarray, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        sess.run(None, {"pixel_values": x})
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        sess.run(None, {"pixel_values": x})
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    walls.sort()
    return {"median_s": float(np.median(walls)), "min_s": walls[0], "max_s": walls[-1],
            "cpu_s": float(np.mean(cpus)), "runs": runs, "warmup": warmup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="hub-layout checkpoint folder")
    parser.add_argument("--size", type=int, default=512, help="square input size (default 512)")
    parser.add_argument("--calib", required=True, help="folder of calibration images")
    parser.add_argument("--limit-calib", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--work-dir", help="keep the .onnx files here (default: a temporary folder)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, family = load_hub_model(args.model)
    report = {"model": args.model, "family": family, "size": args.size, "threads": args.threads,
              "versions": versions(), "command": " ".join([sys.executable] + sys.argv)}
    rng = np.random.default_rng(2024)
    x = rng.uniform(-2, 2, (1, 3, args.size, args.size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        os.makedirs(work, exist_ok=True)
        fp32 = os.path.join(work, f"{family}_{args.size}_fp32.onnx")
        prepared = os.path.join(work, f"{family}_{args.size}_prepared.onnx")
        int8 = os.path.join(work, f"{family}_{args.size}_int8_minmax.onnx")
        start = time.perf_counter()
        casts = export_onnx(model, (args.size, args.size), fp32)
        log(f"exported {fp32} ({casts} GridSample casts) in {time.perf_counter() - start:.0f}s")
        start = time.perf_counter()
        quant_pre_process(fp32, prepared)
        calibration = calibration_inputs(args.calib, args.limit_calib, args.size, normalize=family not in RT_DETR)
        quantize(prepared, int8, calibration, CalibrationMethod.MinMax, QuantType.QInt8)
        log(f"quantized {int8} in {time.perf_counter() - start:.0f}s; quantized ops {count_quantized_ops(int8)}")
        report["quantized_ops"] = count_quantized_ops(int8)
        for name, path in (("ort_fp32", fp32), ("ort_int8", int8)):
            report[name] = time_session(session(path, args.threads), x, args.warmup, args.runs)
            log(f"{name}: {report[name]}")
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
