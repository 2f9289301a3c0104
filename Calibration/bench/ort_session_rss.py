"""Peak resident memory of ONNX Runtime running one .onnx model, in a fresh process that imports only
numpy and onnxruntime: the peer column of Calibration/bench/int8_bench.sh's memory table (EdgeDETR's is
`edgedetr bench`'s peak_rss_kib, its whole process).

    .venv-ref/bin/python Calibration/bench/ort_session_rss.py MODEL.onnx --size 512 --threads 2 --runs 3

Creates the session as ort_int8_latency.py does (all graph optimizations, `--threads` intra-op threads,
spinning off), runs `--warmup` + `--runs` inferences on one random input and prints one JSON line:
`peak_rss_kib` (getrusage ru_maxrss of the whole process: interpreter, imports, session, runs) and
`imports_rss_kib` (VmRSS after the imports, before the session), so the session's own share is their
difference.
"""

from __future__ import annotations

import argparse
import json
import resource

import numpy as np
import onnxruntime as ort


def resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an .onnx file with a pixel_values input [1, 3, size, size]")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    imports = resident_kib()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2024).uniform(-2, 2, (1, 3, args.size, args.size)).astype(np.float32)
    for _ in range(args.warmup + args.runs):
        session.run(None, {"pixel_values": x})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"model": args.model, "peak_rss_kib": peak, "imports_rss_kib": imports, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
