"""Time transformers' PyTorch multi-scale deformable attention core on the shapes of
`edgedetr bench-kernels`, so the ratio to EdgeDETR's int8 and float cores can be quoted.

    nice -n 10 .venv-ref/bin/python Calibration/bench/int8_deformable_reference.py [--threads 1] [--runs 5]

Shapes: 5440 queries x 8 heads x 4 levels x 4 points, head dim 32, levels 64x64, 32x32, 16x16,
8x8 (value rows 5440), batch 1, fp32. The core is transformers' own
`MultiScaleDeformableAttention.forward` (grid_sample per level with align_corners=False, zero padding,
then the attention-weighted sum), the CPU path of DeformableDetrMultiscaleDeformableAttention.
torch.set_num_threads(--threads) to match `edgedetr bench-kernels --threads`. Prints the median
of --runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from transformers.models.deformable_detr.modeling_deformable_detr import MultiScaleDeformableAttention

_core = MultiScaleDeformableAttention()


def multi_scale_deformable_attention(value, shapes, locations, weights):
    """transformers' pure-PyTorch core (the CPU path): grid_sample per level, then the weighted sum."""
    shapes_list = [(int(h), int(w)) for h, w in shapes.tolist()]
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    return _core.forward(value, shapes, shapes_list, starts, locations, weights, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    queries, heads, levels, points, head_dim = 5440, 8, 4, 4, 32
    shapes = torch.tensor([[64, 64], [32, 32], [16, 16], [8, 8]], dtype=torch.long)
    rows = int((shapes[:, 0] * shapes[:, 1]).sum())
    value = torch.randn(1, rows, heads, head_dim)
    locations = torch.rand(1, queries, heads, levels, points, 2) * 1.1 - 0.05
    weights = torch.softmax(torch.randn(1, queries, heads, levels * points), -1).view(1, queries, heads, levels, points)
    with torch.inference_mode():
        multi_scale_deformable_attention(value, shapes, locations, weights)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            multi_scale_deformable_attention(value, shapes, locations, weights)
            times.append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, threads {args.threads}: deformable core {queries}q x {heads}h x {levels}l x {points}p, "
          f"d={head_dim}: median {statistics.median(times) * 1e3:.2f} ms over {args.runs} runs")
    print(f"command: python Calibration/bench/int8_deformable_reference.py --threads {args.threads} --runs {args.runs}")


if __name__ == "__main__":
    main()
