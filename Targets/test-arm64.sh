#!/usr/bin/env bash
# The device build's test: builds edgedetr-run and edgedetr-selftest for the Pi 4 and Pi 5 profiles,
# runs the kernel self-test under qemu as a Cortex-A72 (no dot product) and a Cortex-A76 (dot
# product), and checks that the runner's one-line errors for corrupt images are, byte for byte, the
# host CLI's (`edgedetr detect`). Usage:
#
#   Targets/test-arm64.sh [--no-host-cli]
#
# The host CLI is $EDGEDETR_HOST_CLI when set, else built with `swift build --product edgedetr`
# (the debug build `swift test` reuses); --no-host-cli compares with the x86-64 expectations only.
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/.."
host_cli=1
[ "${1:-}" = --no-host-cli ] && host_cli=0
command -v qemu-aarch64-static >/dev/null || { echo "test-arm64: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2; exit 1; }
sysroot=/usr/aarch64-linux-gnu
failures=0
fail() {
    echo "test-arm64: FAIL $*" >&2
    failures=$((failures + 1))
}

Targets/build.sh rpi4 --self-test
Targets/build.sh rpi5 --self-test
rpi4=.build-arm64/rpi4
rpi5=.build-arm64/rpi5

# The rpi4 binary must run on both cores (and take the dot-product int8 path on the A76); the rpi5
# binary is compiled for the A76 and is only run there.
for run in "rpi4 cortex-a72" "rpi4 cortex-a76" "rpi5 cortex-a76"; do
    set -- $run
    echo "test-arm64: self-test, $1 build on qemu -cpu $2"
    if ! qemu-aarch64-static -L "$sysroot" -cpu "$2" ".build-arm64/$1/edgedetr-selftest"; then
        fail "self-test of the $1 build on $2"
    fi
done

# Corrupt and unreadable images: same stderr line as the host CLI, exit status 1.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
good=Tests/Fixtures/images/oracle_rgb_64x48.png
: > "$work/empty.png"
head -c 60 "$good" > "$work/truncated.png"
# Byte 20 lies in IHDR's data (the height): a CRC mismatch.
{ head -c 20 "$good"; printf '\x07'; tail -c +22 "$good"; } > "$work/crc.png"
printf 'hello, not an image\n' > "$work/text.png"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00' > "$work/truncated.jpg"
printf 'P6\n4 4\n255\n\x01\x02\x03' > "$work/short.ppm"
printf 'P3\n1 1\n255\n0 0 0\n' > "$work/ascii.ppm"
images=("$work/empty.png" "$work/truncated.png" "$work/crc.png" "$work/text.png" "$work/truncated.jpg"
        "$work/short.ppm" "$work/ascii.ppm" "$work/missing.png" "$work")

host=
if [ "$host_cli" = 1 ]; then
    if [ -n "${EDGEDETR_HOST_CLI:-}" ]; then
        host=$EDGEDETR_HOST_CLI
    else
        echo "test-arm64: building the host CLI (swift build --product edgedetr)"
        nice swift build --product edgedetr
        host="$(swift build --show-bin-path)/edgedetr"
    fi
fi
model=Tests/Fixtures/models/deformable_base
for image in "${images[@]}"; do
    status=0
    qemu-aarch64-static -L "$sysroot" -cpu cortex-a72 "$rpi4/edgedetr-run" model.edq "$image" \
        > "$work/out" 2> "$work/err" || status=$?
    line=$(cat "$work/err")
    if [ "$status" != 1 ] || [ "$(wc -l < "$work/err")" != 1 ] || [[ "$line" != "Error: $image: "* ]]; then
        fail "edgedetr-run on $image: status $status, stderr: $line"
        continue
    fi
    if [ -n "$host" ]; then
        expected=$("$host" detect --model "$model" "$image" 2>&1 >/dev/null || true)
        if [ "$line" != "$expected" ]; then
            fail "edgedetr-run and the host CLI disagree on $image:"$'\n'"  device: $line"$'\n'"  host:   $expected"
            continue
        fi
    fi
    echo "test-arm64: same error ${host:+as the host CLI }for $(basename "$image"): ${line#Error: $image: }"
done

# The model end to end. Until the int8 model file reader exists the runner refuses every model
# file with status 2 (RunnerModel.swift); once it does, run a converted fixture here and compare
# its detections with the host's.
for build in "$rpi4 cortex-a72" "$rpi5 cortex-a76"; do
    set -- $build
    status=0
    qemu-aarch64-static -L "$sysroot" -cpu "$2" "$1/edgedetr-run" model.edq "$good" --bench 3 > "$work/out" 2> "$work/err" || status=$?
    if [ "$status" = 2 ] && grep -q 'model files are not supported yet' "$work/err" && grep -q '^bench decode: 3 runs' "$work/out"; then
        echo "test-arm64: $1 on $2 decodes $(basename "$good") and refuses the model (no model runner yet)"
    else
        fail "$1/edgedetr-run on $2: status $status, stdout: $(cat "$work/out"), stderr: $(cat "$work/err")"
    fi
done

for build in "$rpi4" "$rpi5"; do
    echo "test-arm64: $build/edgedetr-run $(stat -c %s "$build/edgedetr-run") bytes, $build/edgedetr-selftest $(stat -c %s "$build/edgedetr-selftest") bytes"
done
if [ "$failures" -gt 0 ]; then
    echo "test-arm64: $failures failures" >&2
    exit 1
fi
echo "test-arm64: all passed"
