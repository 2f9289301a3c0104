#!/usr/bin/env bash
# The board estimate's error where it can be measured: this machine. For each model file, `edgedetr bench`
# (measured, THREADS threads, median of RUNS) beside `edgedetr bench --estimate BOARD` with the same threads,
# where BOARD describes this machine the way rpi4/rpi5 are described (default
# Calibration/bench/boards/xeon-2core.board: llvm-mca's cycles of the x86 tiles, the clock and bandwidths
# measured here). Prints one table: measured and estimated seconds, estimate / measured, and the same per
# estimate class where the measured per-operation table maps onto it. Run on an otherwise idle machine:
#
#   Calibration/bench/estimate_check.sh /tmp/s10/deformable_detr.edq /tmp/s10/dab_detr.edq ...
#
# Environment: EDGEDETR (default .build/release/edgedetr), BOARD, THREADS (2), RUNS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
edgedetr=${EDGEDETR:-.build/release/edgedetr}
board=${BOARD:-Calibration/bench/boards/xeon-2core.board}
threads=${THREADS:-2}
runs=${RUNS:-5}
[ $# -ge 1 ] || { echo "usage: estimate_check.sh MODEL.edq ..." >&2; exit 64; }
logs=$(mktemp -d /tmp/estimate_check.XXXXXX)

echo "| model | measured wall / CPU s | estimate s | estimate / measured wall | int8 GEMM/conv: measured, estimate ms | everything else: measured, estimate ms |"
echo "|---|---|---|---|---|---|"
for model in "$@"; do
    name=$(basename "$model" .edq)
    "$edgedetr" bench --model "$model" --threads "$threads" --runs "$runs" > "$logs/$name.measured.txt"
    "$edgedetr" bench --model "$model" --threads "$threads" --estimate "$board" > "$logs/$name.estimate.txt"
    measured=$(sed -n 's/^summary: median_s=\([0-9.]*\) .*cpu_s=\([0-9.]*\) .*/\1 \2/p' "$logs/$name.measured.txt")
    estimate=$(sed -n 's/^summary: .*estimate_s=\([0-9.]*\).*/\1/p' "$logs/$name.estimate.txt")
    # Measured int8 GEMM time: the quantizedConv2d and quantizedLinear rows; estimated: the int8 GEMM/conv row.
    int8_measured=$(awk -F'|' '$2 ~ /^ quantized(Conv2d|Linear) $/ { sub(/ ms/, "", $4); total += $4 } END { print total + 0 }' "$logs/$name.measured.txt")
    int8_estimate=$(awk -F'|' '$2 ~ /^ int8 GEMM\/conv $/ { sub(/ ms/, "", $4); print $4 + 0 }' "$logs/$name.estimate.txt")
    read -r wall cpu <<< "$measured"
    awk -v n="$name" -v w="$wall" -v c="$cpu" -v e="$estimate" -v im="$int8_measured" -v ie="$int8_estimate" 'BEGIN {
        printf "| %s | %.3f / %.3f | %.3f | %.2f | %.1f, %.1f | %.1f, %.1f |\n", n, w, c, e, e / w, im, ie, w * 1e3 - im, e * 1e3 - ie }'
done
echo
echo "(logs: $logs)"
