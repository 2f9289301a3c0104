"""Pillow bilinear resize goldens for EdgeDETR's preprocessing (Tests/Fixtures/resize).

One random 8-bit RGB source and Pillow's `Image.resize(size, BILINEAR)` of it at sizes that exercise
up- and downscaling on each axis and both of Pillow 13's pass orders (vertical first when the height
shrinks by more than twice as many pixels as the width). Run with the pinned venv:
    .venv-ref/bin/python Calibration/oracle/make_resize_fixtures.py
"""
import pathlib

import numpy as np
from PIL import Image

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "resize"
SOURCE_HW = (41, 29)
TARGETS_HW = [(80, 112), (20, 40), (13, 7), (96, 71), (41, 60), (17, 29), (100, 20), (30, 28), (9, 9)]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    source = rng.integers(0, 256, (*SOURCE_HW, 3), dtype=np.uint8)
    (OUT / f"source_{SOURCE_HW[0]}x{SOURCE_HW[1]}.rgb").write_bytes(source.tobytes())
    image = Image.fromarray(source, "RGB")
    for height, width in TARGETS_HW:
        resized = np.asarray(image.resize((width, height), Image.BILINEAR))
        (OUT / f"bilinear_{height}x{width}.rgb").write_bytes(resized.tobytes())
    print(f"wrote {len(TARGETS_HW) + 1} files to {OUT} with Pillow {Image.__version__}")


if __name__ == "__main__":
    main()
