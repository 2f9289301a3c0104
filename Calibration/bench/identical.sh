#!/usr/bin/env bash
# Byte-identity check for refactors that must not change behaviour (issue 12's "no behaviour change"):
# writes into OUT every artefact the user-facing paths produce from the bundled data, with the
# release CLI of the current tree:
#   - per fixture checkpoint (Tests/Fixtures/models): float `detect --json` of the bundled images,
#     the int8 model file for each packing target (host, x86-64, rpi4, rpi5, raw), its `inspect`,
#     its `detect --json` and `compare` output;
#   - per trained detector (Tests/Fixtures/trained): the default `quantize` (auto-precision search
#     included) on 16 calibration images, `detect --json` of float and int8 on them.
# Run it at the old and the new commit and compare:  cmp -r OLD NEW  (or diff -r for the text files).
# Usage: Calibration/bench/identical.sh OUT   (builds release into SCRATCH, default .build)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: identical.sh OUT}"
scratch=${SCRATCH:-.build}
swift build -c release --scratch-path "$scratch" --product edgedetr >/dev/null
cli="$(cd "$scratch/release" && pwd)/edgedetr"
mkdir -p "$out"
images=(Tests/Fixtures/images/*.png)
calib=Tests/Fixtures/datasets/synth128-easy/calib
for model in Tests/Fixtures/models/*/; do
    name=$(basename "$model")
    "$cli" detect --model "$model" --threshold 0 --json "$out/$name.float.json" "${images[@]}" >/dev/null
    for target in host x86-64 rpi4 rpi5 raw; do
        file="$out/$name.$target.edq"
        "$cli" quantize --model "$model" --calib Tests/Fixtures/images --target "$target" -o "$file" >/dev/null
        (cd "$out" && "$cli" inspect "$name.$target.edq") > "$out/$name.$target.inspect.txt"
        "$cli" detect --model "$file" --threshold 0 --json "$out/$name.$target.json" "${images[@]}" >/dev/null
    done
    "$cli" compare --float "$model" --int8 "$out/$name.host.edq" --images Tests/Fixtures/images > "$out/$name.compare.txt" 2>&1 || true
done
for model in Tests/Fixtures/trained/*/; do
    name=$(basename "$model")
    calib_images=($(ls "$calib"/*.png | head -16))
    "$cli" quantize --model "$model" --calib "$calib" --limit 16 -o "$out/$name.edq" >/dev/null
    "$cli" detect --model "$model" --threshold 0 --json "$out/$name.float.json" "${calib_images[@]}" >/dev/null
    "$cli" detect --model "$out/$name.edq" --threshold 0 --threads 2 --json "$out/$name.int8.json" "${calib_images[@]}" >/dev/null
done
ls "$out" | wc -l
