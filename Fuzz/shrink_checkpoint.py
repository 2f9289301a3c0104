#!/usr/bin/env python3
"""Shrinks a bundled checkpoint folder into a tiny one for the checkpoint fuzz harness's seeds.

The fixture checkpoints are about 1 MB, which makes every fuzz execution slow. This writes a copy
with smaller config sizes (CONFIG_CHANGES, JSON merged into config.json, nested objects such as
backbone_config merged too) and backbone widths (BACKBONE_WIDTHS, JSON map of old to new channel
counts), drops the tensors of encoder/decoder layers and HF ResNet blocks the new config no longer
has (encoder_layers, decoder_layers, backbone_config.depths), then lets EdgeDETR's own importer say what is still wrong: it runs
`edgedetr detect` on the copy and, while the error names a tensor with its expected shape, rewrites
that tensor with the expected shape (random values, deterministic). Stdlib only, no numpy or torch.

Usage: shrink_checkpoint.py SOURCE DEST CONFIG_CHANGES BACKBONE_WIDTHS CLI IMAGE
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys


def main() -> int:
    source, dest, config_changes, backbone_widths, cli, image = sys.argv[1:7]
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(source, "config.json")) as file:
        config = json.load(file)
    merge(config, json.loads(config_changes))
    with open(os.path.join(dest, "config.json"), "w") as file:
        json.dump(config, file, indent=1, sort_keys=True)
    preprocessor = os.path.join(source, "preprocessor_config.json")
    if os.path.exists(preprocessor):
        shutil.copy(preprocessor, dest)
    with open(os.path.join(source, "model.safetensors"), "rb") as file:
        raw = file.read()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])
    shapes = {name: entry["shape"] for name, entry in header.items() if name != "__metadata__"}
    for name in [name for name in shapes if dropped(name, config)]:
        del shapes[name]
    widths = {int(old): new for old, new in json.loads(backbone_widths).items()}
    for name, shape in shapes.items():
        if "backbone" in name:
            # Output and input channels only; 3 input channels (the image) stay.
            shapes[name] = [widths.get(size, size) if axis < 2 and not (axis == 1 and size == 3) else size
                            for axis, size in enumerate(shape)]
    pattern = re.compile(r"'([^']+)'[^\[]*\[([0-9, ]*)\][^\[]*expected \[([0-9, ]*)\]")
    for fixes in range(len(shapes) + 1):
        write(dest, shapes)
        run = subprocess.run([cli, "detect", "--model", dest, "--threshold", "0", image], capture_output=True, text=True)
        if run.returncode == 0:
            print(f"{dest}: {len(shapes)} tensors, {os.path.getsize(os.path.join(dest, 'model.safetensors'))} bytes "
                  f"after {fixes} shape fixes")
            return 0
        error = (run.stderr.strip().splitlines() or [""])[-1]
        match = pattern.search(error)
        name = match.group(1) if match else None
        if name not in shapes:
            candidates = [known for known in shapes if name and (known.endswith(name) or name.endswith(known))]
            name = candidates[0] if candidates else None
        if name is None:
            print(f"{dest}: cannot shrink further: {error}", file=sys.stderr)
            return 1
        shapes[name] = [int(size) for size in match.group(3).split(",") if size.strip()]
    print(f"{dest}: no convergence", file=sys.stderr)
    return 1


def merge(target: dict, changes: dict) -> None:
    """Merges `changes` into `target`, recursing into objects present in both."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def dropped(name: str, config: dict) -> bool:
    """Whether `name` belongs to a layer or backbone block beyond what `config` now declares."""
    for part in ("encoder", "decoder"):
        match = re.search(rf"(?:^|\.){part}\.layers\.(\d+)\.", name)
        if match and "backbone" not in name and int(match.group(1)) >= config.get(f"{part}_layers", 1 << 30):
            return True
    depths = (config.get("backbone_config") or {}).get("depths")
    match = re.search(r"stages\.(\d+)\.layers\.(\d+)\.", name)
    return bool(depths and match and int(match.group(2)) >= depths[int(match.group(1))])


def write(dest: str, shapes: dict) -> None:
    """model.safetensors with every tensor of `shapes`, F32, values from a fixed seed."""
    generator = random.Random(1)
    entries, data, offset = {}, bytearray(), 0
    for name in sorted(shapes):
        count = 1
        for size in shapes[name]:
            count *= size
        values = [generator.uniform(-0.3, 0.3) for _ in range(count)]
        if "running_var" in name:
            values = [abs(value) + 0.5 for value in values]
        blob = struct.pack(f"<{count}f", *values)
        entries[name] = {"dtype": "F32", "shape": shapes[name], "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        data += blob
    header = json.dumps(entries).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    with open(os.path.join(dest, "model.safetensors"), "wb") as file:
        file.write(struct.pack("<Q", len(header)) + header + data)


if __name__ == "__main__":
    sys.exit(main())
