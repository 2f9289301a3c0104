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
rm -rf "$OUT"; mkdir -p "$OUT"/{png,jpeg,ppm,modelfile,modelfile-raw,checkpoint,coco,stream}

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
    # RT-DETR fixtures need more than 32x32 (four stride-32 pixels per level, or their anchor_image_size):
    # those that cannot be built there are left out.
    "$CLI" quantize --model "$model" --calib $F/images --input-size 32x32 --limit 1 --no-auto-precision \
        -o "$OUT/modelfile-raw/$name.edq" >/dev/null 2>&1 \
        || echo "make-seeds: $name does not build at 32x32; not a modelfile-raw seed" >&2
done
"$BIN/edgedetr-fuzz" seeds "$OUT"

# Checkpoint seeds: every fixture family and backbone layout shrunk to 45-200 KB (the fixtures are
# 0.5-1.1 MB, and input size is what sets a checkpoint execution's speed): one or two transformer
# layers, 1-2 heads, 4 queries, FFN 8, backbone widths 4-8, HF ResNet depths [1,1,1,1] where the
# layout has them (timm ResNet-18/34/50 keep their depths). Without python3, the fixtures themselves.
# RT-DETR keeps its backbone widths (its vd shortcuts change structure with them, and the shrinker can
# only fix shapes, not add tensors) and shrinks d_model and encoder_hidden_dim to 8: about 250 KB.
default_widths='{"8":4,"12":4,"16":4,"24":4,"32":4,"48":8,"64":8,"96":8,"128":8,"192":8,"256":8,"512":8,"1024":8,"2048":8}'
shrink() {  # FIXTURE CONFIG_CHANGES [BACKBONE_WIDTHS]
    local model=$F/models/$1 tiny="$OUT/tiny-$1"
    if command -v python3 >/dev/null && python3 Fuzz/shrink_checkpoint.py "$model" "$tiny" "$2" "${3:-$default_widths}" \
        "$CLI" $F/images/oracle_rgb_64x48.png >&2; then
        model="$tiny"
    fi
    local preprocessor=""; [ -f "$model/preprocessor_config.json" ] && preprocessor="$model/preprocessor_config.json"
    join_parts "$model/config.json" "$preprocessor" "$model/model.safetensors" > "$OUT/checkpoint/$1"
    rm -rf "$tiny"
}
small='"encoder_ffn_dim":8,"decoder_ffn_dim":8,"num_queries":4,"encoder_layers":1'
one_head='"encoder_attention_heads":1,"decoder_attention_heads":1'
two_heads='"encoder_attention_heads":2,"decoder_attention_heads":2'
shrink conditional_detr "{$small,$two_heads,\"d_model\":8,\"decoder_layers\":1}"
shrink conditional_detr_aux_gelu "{$small,$two_heads,\"d_model\":8,\"backbone_config\":{\"depths\":[1,1,1,1]}}"
shrink dab_detr "{$small,$two_heads,\"hidden_size\":8,\"decoder_layers\":1}"
shrink dab_detr_patterns "{$small,$two_heads,\"hidden_size\":8,\"backbone_config\":{\"depths\":[1,1,1,1]}}"
# Deformable DETR's GroupNorm needs d_model a multiple of 32.
shrink deformable_base "{$small,$one_head,\"decoder_layers\":1,\"encoder_n_points\":1,\"decoder_n_points\":1}"
shrink deformable_one_level "{$small,$one_head,\"decoder_layers\":1,\"encoder_n_points\":2,\"decoder_n_points\":2,\"backbone_config\":{\"depths\":[1,1,1,1]}}"
shrink deformable_refine_two_stage "{$small,$one_head,\"encoder_n_points\":1,\"decoder_n_points\":1,\"two_stage_num_proposals\":4}"
shrink deformable_two_level_silu "{$small,$one_head}"
rt_small='"encoder_ffn_dim":8,"decoder_ffn_dim":8,"num_queries":4,"decoder_layers":1,"decoder_n_points":1,"d_model":8,"encoder_hidden_dim":8,"decoder_in_channels":[8,8,8],"backbone_config":{"depths":[1,1,1,1]}'
shrink rt_detr_r18vd "{$rt_small,$one_head}" '{}'
shrink rt_detr_v2_discrete "{$rt_small,$one_head}" '{}'

for case in $F/coco/*/; do
    [ -f "$case/ground_truth.json" ] && [ -f "$case/detections.json" ] || continue
    join_parts "$case/ground_truth.json" "$case/detections.json" > "$OUT/coco/$(basename "$case")"
done
for target in "$OUT"/*/; do echo "$(basename "$target"): $(ls "$target" | wc -l) seeds, $(du -sh "$target" | cut -f1)"; done
