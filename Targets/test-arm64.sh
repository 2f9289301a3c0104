#!/usr/bin/env bash
# The device build's test. Builds edgedetr-run and edgedetr-selftest for the Pi 4 and Pi 5 profiles
# and, under qemu as a Cortex-A72 (NEON) and a Cortex-A76 (NEON + dot product):
#   1. runs the kernel self-test;
#   2. quantizes bundled checkpoints with the host CLI (96x128, calibrated on Tests/Fixtures/images)
#      and requires the runner's detections, text and --json, to equal `edgedetr detect`'s byte for
#      byte on every fixture image: the int8 kernels are exact on every ISA, the float GEMM tiles
#      (AVX2+FMA on the host, NEON FMA on the boards) accumulate in the same order with fused
#      multiply-adds, and the other float ops are the same scalar Swift and libm calls, so the x86-64
#      host, the A72 and the A76 agree to the last bit. The host must have AVX2+FMA (an SSE2-only
#      host rounds the float GEMMs differently: no FMA);
#   3. checks the kernel path each CPU takes (--bench: SMLAL on the A72, SDOT on the A76);
#   4. requires the runner's one-line errors for corrupt images and corrupt model files to be the
#      host CLI's, byte for byte;
#   5. pipes an ffmpeg-decoded video stream into `edgedetr-run --raw` and requires the per-image
#      detections (skipped without ffmpeg; CI installs it), and runs a batch (a folder with a broken
#      file, then an image) with the host CLI's output and errors.
# Usage:
#
#   Targets/test-arm64.sh [--no-host-cli]
#
# The host CLI is $EDGEDETR_HOST_CLI when set, else built with `swift build -c release --product
# edgedetr` (scratch path $EDGEDETR_HOST_SCRATCH, default .build). --no-host-cli skips everything
# that needs it (2 and the comparisons of 4). Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and
# qemu-user-static. About 4 minutes on 2 cores from a clean clone, most of it compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
host_cli=1
[ "${1:-}" = --no-host-cli ] && host_cli=0
command -v qemu-aarch64-static >/dev/null || { echo "test-arm64: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2; exit 1; }
sysroot=/usr/aarch64-linux-gnu
started=$SECONDS
failures=0
fail() {
    echo "test-arm64: FAIL $*" >&2
    failures=$((failures + 1))
}
# Runs a binary of `build` (rpi4|rpi5) as `cpu` (cortex-a72|cortex-a76): emulate rpi4 cortex-a72 edgedetr-run ...
emulate() {
    local build=$1 cpu=$2 program=$3
    shift 3
    qemu-aarch64-static -L "$sysroot" -cpu "$cpu" ".build-arm64/$build/$program" "$@"
}

Targets/build.sh rpi4 --self-test
Targets/build.sh rpi5 --self-test
echo "test-arm64: device builds done ($((SECONDS - started)) s)"

# The rpi4 binary must run on both cores (and take the dot-product int8 path on the A76); the rpi5
# binary is compiled for the A76 and is only run there.
runs=("rpi4 cortex-a72" "rpi4 cortex-a76" "rpi5 cortex-a76")
for run in "${runs[@]}"; do
    set -- $run
    echo "test-arm64: self-test, $1 build on qemu -cpu $2"
    if ! emulate "$1" "$2" edgedetr-selftest; then
        fail "self-test of the $1 build on $2"
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host=
if [ "$host_cli" = 1 ]; then
    if [ -n "${EDGEDETR_HOST_CLI:-}" ]; then
        host=$EDGEDETR_HOST_CLI
    else
        scratch=${EDGEDETR_HOST_SCRATCH:-.build}
        echo "test-arm64: building the host CLI (swift build -c release --product edgedetr)"
        nice swift build -c release --product edgedetr --scratch-path "$scratch"
        host="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/edgedetr"
    fi
fi

# Models: each fixture checkpoint quantized the way the README does it, on the host.
models=(deformable_base conditional_detr rt_detr_r18vd rt_detr_v2_discrete d_fine_n d_fine_s deimv2_n deimv2_lite)
model_files=()
if [ -n "$host" ]; then
    for name in "${models[@]}"; do
        "$host" quantize --model "Tests/Fixtures/models/$name" --calib Tests/Fixtures/images --input-size 96x128 \
            -o "$work/$name.edq" > "$work/quantize.log"
        model_files+=("$work/$name.edq")
        echo "test-arm64: quantized $name: $(stat -c %s "$work/$name.edq") bytes"
    done
fi

# Detections: the host's bytes, then each board and CPU's. Every (query, class) pair of the top 20
# is printed (--threshold 0), so scores far below any real threshold are compared too.
for model in "${model_files[@]}"; do
    for image in Tests/Fixtures/images/*.png; do
        "$host" detect --model "$model" --threshold 0 --top-k 20 "$image" > "$work/host.txt"
        "$host" detect --model "$model" --threshold 0 --top-k 20 --json "$work/host.json" "$image" > /dev/null
        echo >> "$work/host.json"  # the runner ends its JSON with a newline
        [ -s "$work/host.txt" ] || fail "host detect printed nothing for $(basename "$model") on $image"
        label="$(basename "$model" .edq) on $(basename "$image")"
        for run in "${runs[@]}"; do
            set -- $run
            emulate "$1" "$2" edgedetr-run "$model" "$image" --threshold 0 --top-k 20 --threads 2 > "$work/device.txt" \
                || fail "edgedetr-run ($1, $2) exited $? for $label"
            emulate "$1" "$2" edgedetr-run "$model" "$image" --threshold 0 --top-k 20 --json > "$work/device.json" \
                || fail "edgedetr-run --json ($1, $2) exited $? for $label"
            if ! cmp -s "$work/host.txt" "$work/device.txt"; then
                fail "detections differ from the host's for $label ($1 build, $2):"$'\n'"$(diff "$work/host.txt" "$work/device.txt" | head -8)"
            elif ! cmp -s "$work/host.json" "$work/device.json"; then
                fail "JSON differs from the host's for $label ($1 build, $2):"$'\n'"$(diff "$work/host.json" "$work/device.json" | head -8)"
            fi
        done
        echo "test-arm64: $label: $(wc -l < "$work/host.txt") detections, text and JSON identical to the host's on A72 and A76"
    done
done
# The scalar references are the same code on every ISA: with EDGEDETR_KERNELS=scalar on both sides
# the host and the board agree to the last bit as well. (The SIMD float GEMM tiles agree with each
# other, AVX2+FMA and NEON FMA, but round differently from the scalar reference: FMA order.)
if [ ${#model_files[@]} -gt 0 ]; then
    image=Tests/Fixtures/images/oracle_rgb_64x48.png
    EDGEDETR_KERNELS=scalar "$host" detect --model "${model_files[0]}" --threshold 0 --top-k 20 --json "$work/host.json" "$image" > /dev/null
    echo >> "$work/host.json"
    EDGEDETR_KERNELS=scalar emulate rpi4 cortex-a76 edgedetr-run "${model_files[0]}" "$image" --threshold 0 --top-k 20 --json > "$work/device.json"
    if cmp -s "$work/host.json" "$work/device.json"; then
        echo "test-arm64: EDGEDETR_KERNELS=scalar: host and A76 JSON identical"
    else
        fail "EDGEDETR_KERNELS=scalar detections differ between the host and the A76:"$'\n'"$(diff "$work/host.json" "$work/device.json" | head -8)"
    fi
fi

# Weights packed for the boards (quantize --target): the same detections as the host's file (packed for
# the host, repacked at load above); on its own CPU a board uses the file's panels in place.
if [ ${#model_files[@]} -gt 0 ]; then
    image=Tests/Fixtures/images/oracle_rgb_64x48.png
    "$host" detect --model "${model_files[0]}" --threshold 0 --top-k 20 "$image" > "$work/host.txt"
    for target in rpi4 rpi5; do
        "$host" quantize --model "Tests/Fixtures/models/${models[0]}" --calib Tests/Fixtures/images --input-size 96x128 \
            --target "$target" -o "$work/$target.edq" > "$work/quantize.log"
        "$host" detect --model "$work/$target.edq" --threshold 0 --top-k 20 "$image" > "$work/device.txt"
        cmp -s "$work/host.txt" "$work/device.txt" || fail "host detections differ with --target $target"
        cpu=cortex-a72; [ "$target" = rpi5 ] && cpu=cortex-a76
        emulate "$target" "$cpu" edgedetr-run "$work/$target.edq" "$image" --threshold 0 --top-k 20 > "$work/device.txt" \
            || fail "edgedetr-run ($target, $cpu) exited $? on the --target $target file"
        cmp -s "$work/host.txt" "$work/device.txt" || fail "detections differ from the host's for the --target $target file on $cpu"
        emulate "$target" "$cpu" edgedetr-run "$work/$target.edq" "$image" --bench 1 > "$work/bench.txt" || fail "--bench on the --target $target file"
        if grep -q 'used in place, 0.0 MiB (0 bytes) repacked at load' "$work/bench.txt"; then
            echo "test-arm64: --target $target file on $cpu: detections identical to the host's; $(grep '^int8 weights:' "$work/bench.txt")"
        else
            fail "the --target $target file should be used in place on $cpu:"$'\n'"$(grep '^int8 weights:' "$work/bench.txt")"
        fi
    done
fi

# A video stream through ffmpeg (issue 16): PNG frames decoded by ffmpeg into raw rgb24 and piped into
# `edgedetr-run --raw 128x128 -` give, frame by frame, the host's per-image detections (text), and the
# host's `detect --raw` JSON Lines byte for byte. CI installs ffmpeg; without it this check is skipped.
if [ ${#model_files[@]} -gt 2 ] && command -v ffmpeg >/dev/null; then
    frames=Tests/Fixtures/datasets/synth128-easy/calib
    model=${model_files[2]}
    ffmpeg -loglevel error -i "$frames/%06d.png" -frames:v 8 -f rawvideo -pix_fmt rgb24 "$work/frames.rgb"
    index=0
    : > "$work/expected.txt"
    for image in $(ls "$frames"/*.png | head -8); do
        "$host" detect --model "$model" --threshold 0 --top-k 5 "$image" | sed "s|^$image"$'\t'"|frame $index"$'\t'"|" >> "$work/expected.txt"
        index=$((index + 1))
    done
    "$host" detect --model "$model" --threshold 0 --top-k 5 --raw 128x128 "$work/frames.rgb" > "$work/host-stream.txt" 2> /dev/null
    cmp -s "$work/expected.txt" "$work/host-stream.txt" || fail "the host's --raw stream differs from its per-image detections"
    "$host" detect --model "$model" --threshold 0 --top-k 5 --raw 128x128 --jsonl "$work/frames.rgb" > "$work/host.jsonl" 2> /dev/null
    for run in "${runs[@]}"; do
        set -- $run
        ffmpeg -loglevel error -i "$frames/%06d.png" -frames:v 8 -f rawvideo -pix_fmt rgb24 - \
            | emulate "$1" "$2" edgedetr-run "$model" --raw 128x128 --threshold 0 --top-k 5 - > "$work/device.txt" 2> "$work/report.txt" \
            || fail "edgedetr-run --raw ($1, $2) exited with an error: $(cat "$work/report.txt")"
        emulate "$1" "$2" edgedetr-run "$model" --raw 128x128 --threshold 0 --top-k 5 --jsonl - < "$work/frames.rgb" \
            > "$work/device.jsonl" 2> /dev/null || fail "edgedetr-run --raw --jsonl ($1, $2) failed"
        if ! cmp -s "$work/expected.txt" "$work/device.txt"; then
            fail "the ffmpeg stream's detections differ from the per-image ones ($1 build, $2):"$'\n'"$(diff "$work/expected.txt" "$work/device.txt" | head -8)"
        elif ! cmp -s "$work/host.jsonl" "$work/device.jsonl"; then
            fail "the stream's JSON Lines differ from the host's ($1 build, $2)"
        else
            echo "test-arm64: ffmpeg | edgedetr-run --raw 128x128 - ($1 build, $2): 8 frames, $(wc -l < "$work/device.txt") detections identical to per-image runs; $(cut -d';' -f1 "$work/report.txt")"
        fi
    done
    # --y4m: ffmpeg's Y4M (4:2:0, limited range) converted to RGB the same way on the board as on the host.
    ffmpeg -loglevel error -i "$frames/%06d.png" -frames:v 8 -f yuv4mpegpipe -pix_fmt yuv420p "$work/frames.y4m"
    "$host" detect --model "$model" --threshold 0 --top-k 5 --y4m --jsonl "$work/frames.y4m" > "$work/host-y4m.jsonl" 2> /dev/null
    emulate rpi4 cortex-a72 edgedetr-run "$model" --threshold 0 --top-k 5 --y4m --jsonl - < "$work/frames.y4m" \
        > "$work/device-y4m.jsonl" 2> /dev/null || fail "edgedetr-run --y4m failed"
    if cmp -s "$work/host-y4m.jsonl" "$work/device-y4m.jsonl" && [ "$(wc -l < "$work/device-y4m.jsonl")" = 8 ]; then
        echo "test-arm64: --y4m (ffmpeg yuv420p) on A72: 8 frames, JSON Lines identical to the host's"
    else
        fail "edgedetr-run --y4m differs from the host's"
    fi
    # --draw: the runner's drawn frames are the host's, byte for byte.
    "$host" detect --model "$model" --threshold 0.3 --raw 128x128 --draw "$work/host.rgb" "$work/frames.rgb" > /dev/null 2>&1
    emulate rpi4 cortex-a72 edgedetr-run "$model" --threshold 0.3 --raw 128x128 --draw "$work/device.rgb" "$work/frames.rgb" \
        > /dev/null 2>&1 || fail "edgedetr-run --draw failed"
    if cmp -s "$work/host.rgb" "$work/device.rgb" && [ "$(stat -c %s "$work/device.rgb")" = $((8 * 128 * 128 * 3)) ]; then
        echo "test-arm64: --draw on A72: 8 drawn rgb24 frames identical to the host's"
    else
        fail "edgedetr-run --draw frames differ from the host's"
    fi
    # --drop-late (a reader thread, Embedded Swift pthreads): the frames that run are in order, keep their
    # index and their detections, and the last one always runs.
    status=0
    emulate rpi4 cortex-a72 edgedetr-run "$model" --raw 128x128 --threshold 0 --top-k 5 --jsonl --drop-late "$work/frames.rgb" \
        > "$work/late.jsonl" 2> "$work/report.txt" || status=$?
    if [ "$status" = 0 ] && [ -s "$work/late.jsonl" ] && grep -q '"frame":7}$' <(tail -1 "$work/late.jsonl") \
        && [ "$(grep -cvxFf "$work/host.jsonl" "$work/late.jsonl")" = 0 ]; then
        echo "test-arm64: --drop-late on A72: $(wc -l < "$work/late.jsonl") of 8 frames run, each as in the full stream; $(grep -o 'dropped [0-9]* late frames' "$work/report.txt")"
    else
        fail "--drop-late on A72 (status $status): $(cat "$work/report.txt")"
    fi
elif [ ${#model_files[@]} -gt 2 ]; then
    echo "test-arm64: stream check skipped: ffmpeg not installed (apt-get install ffmpeg)"
fi

# A batch: a folder (three calibration pictures, a broken file, a text file) and an image after it. The
# runner reports the broken file and runs the rest, with the host CLI's output and error lines.
if [ ${#model_files[@]} -gt 0 ]; then
    mkdir -p "$work/batch"
    cp $(ls Tests/Fixtures/datasets/synth128-easy/calib/*.png | head -3) "$work/batch/"
    printf 'not an image' > "$work/batch/broken.jpg"
    printf 'notes' > "$work/batch/notes.txt"
    status=0
    emulate rpi4 cortex-a72 edgedetr-run "${model_files[0]}" "$work/batch" Tests/Fixtures/images/oracle_rgb_64x48.png \
        --threshold 0 --top-k 3 > "$work/device.txt" 2> "$work/device.err" || status=$?
    "$host" detect --model "${model_files[0]}" --threshold 0 --top-k 3 "$work/batch" Tests/Fixtures/images/oracle_rgb_64x48.png \
        > "$work/host.txt" 2> "$work/host.err" || true
    if [ "$status" = 1 ] && cmp -s "$work/host.txt" "$work/device.txt" && cmp -s "$work/host.err" "$work/device.err" \
        && [ "$(wc -l < "$work/device.txt")" = 12 ]; then
        echo "test-arm64: batch (folder of 3 images + broken file, then an image): same 12 lines and error as the host CLI, status 1"
    else
        fail "batch run differs from the host CLI (status $status):"$'\n'"$(diff "$work/host.txt" "$work/device.txt" | head -4)"$'\n'"$(cat "$work/device.err")"
    fi
fi

# Kernel paths and --bench: the A72 runs the SMLAL tile, the A76 the SDOT tile (rpi4 build
# included: it picks the dot product at run time from HWCAP).
for run in "${runs[@]}"; do
    set -- $run
    case "$2" in
        cortex-a72) expected="int8 GEMM neon (SMLAL 2x8)" ;;
        *) expected="int8 GEMM neonDot (SDOT 4x16)" ;;
    esac
    model=${model_files[0]:-}
    if [ -z "$model" ]; then break; fi
    if ! emulate "$1" "$2" edgedetr-run "$model" Tests/Fixtures/images/oracle_rgb_64x48.png --bench 2 --threads 2 > "$work/bench.txt"; then
        fail "edgedetr-run --bench on $1/$2"
        continue
    fi
    if grep -q "^kernels: $expected," "$work/bench.txt" && grep -q '^bench inference: 2 runs' "$work/bench.txt" \
        && grep -q '^memory: weights ' "$work/bench.txt" && grep -q '^peak RSS: ' "$work/bench.txt"; then
        echo "test-arm64: $1 build on $2: $(grep '^kernels:' "$work/bench.txt"); $(grep '^bench inference' "$work/bench.txt" | sed 's/^bench inference: //')"
    else
        fail "$1 build on $2 should report '$expected' and the bench lines:"$'\n'"$(cat "$work/bench.txt")"
    fi
done

# Corrupt and unreadable images: same stderr line as the host CLI, exit status 1.
good=Tests/Fixtures/images/oracle_rgb_64x48.png
: > "$work/empty.png"
head -c 60 "$good" > "$work/truncated.png"
# Byte 20 lies in IHDR's data (the height): a CRC mismatch.
{ head -c 20 "$good"; printf '\x07'; tail -c +22 "$good"; } > "$work/crc.png"
printf 'hello, not an image\n' > "$work/text.png"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00' > "$work/truncated.jpg"
printf 'P6\n4 4\n255\n\x01\x02\x03' > "$work/short.ppm"
printf 'P3\n1 1\n255\n0 0 0\n' > "$work/ascii.ppm"
mkdir "$work/folder.png"
images=("$work/empty.png" "$work/truncated.png" "$work/crc.png" "$work/text.png" "$work/truncated.jpg"
        "$work/short.ppm" "$work/ascii.ppm" "$work/missing.png" "$work/folder.png")
# Without a host CLI there is no model file to get past: the runner then stops at the model.
model=${model_files[0]:-}
for image in "${images[@]}"; do
    [ -n "$model" ] || break
    status=0
    emulate rpi4 cortex-a72 edgedetr-run "$model" "$image" > "$work/out" 2> "$work/err" || status=$?
    line=$(cat "$work/err")
    if [ "$status" != 1 ] || [ "$(wc -l < "$work/err")" != 1 ] || [[ "$line" != "Error: $image: "* ]]; then
        fail "edgedetr-run on $image: status $status, stderr: $line"
        continue
    fi
    expected=$("$host" detect --model "$model" "$image" 2>&1 >/dev/null || true)
    if [ "$line" != "$expected" ]; then
        fail "edgedetr-run and the host CLI disagree on $image:"$'\n'"  device: $line"$'\n'"  host:   $expected"
        continue
    fi
    echo "test-arm64: same error as the host CLI for image $(basename "$image"): ${line#Error: $image: }"
done

# Corrupt model files: same stderr line as the host CLI (whose exit status is 1), exit status 2.
source_model=${model_files[0]:-}
corrupt=()
if [ -n "$source_model" ]; then
    size=$(stat -c %s "$source_model")
    : > "$work/empty.edq"
    head -c 40 "$source_model" > "$work/short-header.edq"
    head -c $((size / 2)) "$source_model" > "$work/half.edq"
    { cat "$source_model"; printf '\0\0\0\0'; } > "$work/grown.edq"
    printf 'not a model, just text\n' > "$work/text.edq"
    # Byte 8 is the version; byte 40 the flags (header CRC mismatch); byte 200 lies in the first
    # section (its CRC).
    { head -c 8 "$source_model"; printf '\x09'; tail -c +10 "$source_model"; } > "$work/version.edq"
    { head -c 40 "$source_model"; printf '\x01'; tail -c +42 "$source_model"; } > "$work/header-crc.edq"
    { head -c 200 "$source_model"; printf '\xa5'; tail -c +202 "$source_model"; } > "$work/section.edq"
    corrupt=("$work/empty.edq" "$work/short-header.edq" "$work/half.edq" "$work/grown.edq" "$work/text.edq"
             "$work/version.edq" "$work/header-crc.edq" "$work/section.edq" "$work/missing.edq")
fi
for model in "${corrupt[@]}"; do
    for run in "rpi4 cortex-a72" "rpi5 cortex-a76"; do
        set -- $run
        status=0
        emulate "$1" "$2" edgedetr-run "$model" "$good" > "$work/out" 2> "$work/err" || status=$?
        line=$(cat "$work/err")
        host_status=0
        expected=$("$host" detect --model "$model" "$good" 2>&1 >/dev/null) || host_status=$?
        if [ "$status" != 2 ] || [ "$(wc -l < "$work/err")" != 1 ] || [ -s "$work/out" ]; then
            fail "edgedetr-run ($1, $2) on $model: status $status, stdout $(wc -c < "$work/out") bytes, stderr: $line"
        elif [ "$host_status" = 0 ] || [ "$line" != "$expected" ]; then
            fail "edgedetr-run and the host CLI (status $host_status) disagree on $model:"$'\n'"  device: $line"$'\n'"  host:   $expected"
        fi
    done
    echo "test-arm64: same error as the host CLI for model $(basename "$model"): ${line#Error: $model: }"
done

for build in rpi4 rpi5; do
    echo "test-arm64: .build-arm64/$build/edgedetr-run $(stat -c %s ".build-arm64/$build/edgedetr-run") bytes," \
        "edgedetr-selftest $(stat -c %s ".build-arm64/$build/edgedetr-selftest") bytes"
done
echo "test-arm64: $((SECONDS - started)) s"
if [ "$failures" -gt 0 ]; then
    echo "test-arm64: $failures failures" >&2
    exit 1
fi
echo "test-arm64: all passed"
