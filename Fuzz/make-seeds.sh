#!/usr/bin/env bash
# Seed corpora for the libFuzzer harnesses (docs/FUZZING.md), made from the bundled fixtures and by
# `edgedetr-fuzz seeds`: images of every codec; model files of a few KB that use every op (float,
# int8 packed for each kernel layout, raw) plus model files quantized from every fixture family at a
# small input size; checkpoint folders joined into one input; COCO dataset + results pairs.
# Usage: Fuzz/make-seeds.sh [OUT]   (default .build-fuzz/seeds; builds the CLI and the tool in debug)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-.build-fuzz/seeds}"
BIN="$(swift build --show-bin-path)"
swift build --product edgedetr >&2
swift build --product edgedetr-fuzz >&2
CLI="$BIN/edgedetr"
rm -rf "$OUT"; mkdir -p "$OUT"/{png,jpeg,ppm,modelfile,modelfile-raw,checkpoint,coco}

F=Tests/Fixtures
cp $F/images/*.png $F/images-codec/png/*.png "$OUT/png/"
for f in $F/images-codec/corrupt/*.png; do [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$OUT/png/corrupt-$(basename "$f")"; done
cp $F/images-codec/jpeg/*.jpg "$OUT/jpeg/"
cp $F/images-codec/ppm/*.p?m "$OUT/ppm/" 2>/dev/null || true

# A join of parts with the separator the harnesses split at ("\n--8<--\n").
join_parts() { local first=1; for part in "$@"; do [ $first = 1 ] || printf '\n--8<--\n'; first=0; [ -n "$part" ] && cat "$part"; done; }

for model in $F/models/*/; do
    name=$(basename "$model")
    # The real families' graphs, int8 at 32x32: 160-400 KB, 10x slower inputs than the generated
    # ones, so they seed only the raw-checksum harness (which spends its time in the reader).
    "$CLI" quantize --model "$model" --calib $F/images --input-size 32x32 --limit 1 --no-auto-precision \
        -o "$OUT/modelfile-raw/$name.edq" >/dev/null
    preprocessor=""; [ -f "$model/preprocessor_config.json" ] && preprocessor="$model/preprocessor_config.json"
    join_parts "$model/config.json" "$preprocessor" "$model/model.safetensors" > "$OUT/checkpoint/$name"
done
"$BIN/edgedetr-fuzz" seeds "$OUT"

# A checkpoint of 125 KB (the fixtures are 0.7-1.1 MB) for faster checkpoint executions.
if command -v python3 >/dev/null; then
    tiny="$OUT/tiny-deformable"
    python3 Fuzz/shrink_checkpoint.py $F/models/deformable_two_level_silu "$tiny" \
        '{"encoder_ffn_dim":8,"decoder_ffn_dim":8,"encoder_attention_heads":1,"decoder_attention_heads":1,"num_queries":4}' \
        '{"8":4,"16":4,"32":4,"64":8}' "$CLI" $F/images/oracle_rgb_64x48.png >&2
    join_parts "$tiny/config.json" "$tiny/preprocessor_config.json" "$tiny/model.safetensors" > "$OUT/checkpoint/tiny-deformable"
    rm -rf "$tiny"
fi

for case in $F/coco/*/; do
    [ -f "$case/ground_truth.json" ] && [ -f "$case/detections.json" ] || continue
    join_parts "$case/ground_truth.json" "$case/detections.json" > "$OUT/coco/$(basename "$case")"
done
for target in "$OUT"/*/; do echo "$(basename "$target"): $(ls "$target" | wc -l) seeds, $(du -sh "$target" | cut -f1)"; done
