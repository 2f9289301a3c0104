"""PyTorch AvgPool2d goldens for EdgeDETR's averagePool2d op (Tests/Fixtures/pool/average_pool.json).

RT-DETR's ResNet-vd shortcut is `nn.AvgPool2d(2, 2, 0, ceil_mode=True)` (count_include_pad=True, the
default). Each case pools one random float32 map (HWC, values in [-2, 2)) with PyTorch and stores the
input and output in HWC order; float32 values are written as their exact decimal (a float64 holding the
float32). Cases cover ceil and floor mode, odd sizes, padding (whose zeros count in the divisor) and
stride 1. Run with the pinned venv:
    .venv-ref/bin/python Calibration/oracle/make_pool_fixtures.py
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "pool"
CASES = [  # (height, width, channels, kernel, stride, padding, ceil_mode)
    (5, 3, 2, 2, 2, 0, True),
    (6, 7, 3, 2, 2, 0, True),
    (7, 5, 9, 3, 2, 1, True),
    (5, 3, 2, 2, 2, 0, False),
    (5, 4, 3, 3, 1, 1, False),
    (9, 11, 17, 3, 2, 1, False),
    (1, 1, 4, 2, 2, 0, True),
]


def main() -> None:
    torch.manual_seed(5)
    cases = []
    for height, width, channels, kernel, stride, padding, ceil_mode in CASES:
        hwc = torch.rand(height, width, channels, dtype=torch.float32) * 4 - 2
        pooled = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)(hwc.permute(2, 0, 1)[None])
        output = pooled[0].permute(1, 2, 0).contiguous()
        cases.append({
            "kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
            "input_shape": [height, width, channels], "input": [float(v) for v in hwc.reshape(-1)],
            "output_shape": list(output.shape), "output": [float(v) for v in output.reshape(-1)],
        })
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "average_pool.json").write_text(json.dumps({"torch": torch.__version__, "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
