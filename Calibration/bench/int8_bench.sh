#!/usr/bin/env bash
# End-to-end latency of EdgeDETR int8 against ONNX Runtime int8 (and both fp32) on the R50 benchmark
# checkpoints, in one run, each pair measured back to back:
#
#   nohup Calibration/bench/int8_bench.sh > /tmp/int8_bench.log 2>&1 &
#
# Per model: `edgedetr quantize` (minmax on 2 bundled images, the docs/FORMAT.md "Sizes" command, weights
# packed for this CPU), `edgedetr bench` of the float checkpoint and of the int8 file (random input,
# 1 warm-up + RUNS timed), then Calibration/bench/ort_int8_latency.py (ONNX Runtime fp32 and QDQ static
# int8, per-channel, MinMax on the same 2 images; same warm-up and runs). Prints one table: median wall
# time and CPU time per run (user + system of all threads) of each engine, and EdgeDETR int8 / ORT int8
# (< 1: EdgeDETR is faster). On a shared machine quote the CPU-time ratio; wall time includes waiting for
# a core. A second table: EdgeDETR int8's share of multiply-accumulates in int8 kernels, share of the run
# outside them and GMAC/s against the measured int8 peak (all from `edgedetr bench`), and the peak
# resident memory of each int8 runtime in a process of its own (`edgedetr bench` of the model file;
# Calibration/bench/ort_session_rss.py on ONNX Runtime's int8 model: the whole process, and without the
# Python interpreter and imports). A third table: `edgedetr bench --estimate rpi4|rpi5` of the float checkpoint
# and of the int8 file, labelled as estimates (docs/PERFORMANCE.md, "Estimating a board"). Environment: BENCH_DIR (default /tmp/edgedetr-bench; Calibration/oracle/make_benchmark_checkpoints.py
# writes the checkpoints), PYTHON (default .venv-ref/bin/python), SCRATCH (default .build), SIZE (512),
# THREADS (2), RUNS (3), MODELS (default deformable_detr dab_detr conditional_detr).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_dir=${BENCH_DIR:-/tmp/edgedetr-bench}
python=${PYTHON:-.venv-ref/bin/python}
scratch=${SCRATCH:-.build}
size=${SIZE:-512}
threads=${THREADS:-2}
runs=${RUNS:-3}
models=${MODELS:-deformable_detr dab_detr conditional_detr}
export HF_HUB_OFFLINE=1
logs=$(mktemp -d /tmp/int8_bench.XXXXXX)

echo "== build (release, scratch $scratch)"
swift build -c release --scratch-path "$scratch" --product edgedetr > "$logs/build.log" 2>&1 || { tail -20 "$logs/build.log"; exit 1; }
cp "$scratch/release/edgedetr" "$logs/edgedetr"
edgedetr="$logs/edgedetr"
# shellcheck source=Calibration/bench/benchmark_checkpoints.sh
source Calibration/bench/benchmark_checkpoints.sh
ensure_benchmark_checkpoints

summary() {  # the `summary:` line of `edgedetr bench` -> "median_s cpu_s"
    sed -n 's/^summary: median_s=\([0-9.]*\) .*cpu_s=\([0-9.]*\) .*/\1 \2/p' "$1"
}

rows=()
memory_rows=()
estimate_rows=()
for name in $models; do
    echo "== $name"
    "$edgedetr" quantize --model "$bench_dir/$name" --calib Tests/Fixtures/images --input-size "${size}x${size}" \
        --method minmax --limit 2 -o "$logs/$name.edq" > "$logs/$name.quantize.txt" 2>&1
    "$edgedetr" bench --model "$bench_dir/$name" --size "$size" --threads "$threads" --runs "$runs" > "$logs/$name.float.txt"
    "$edgedetr" bench --model "$logs/$name.edq" --threads "$threads" --runs "$runs" > "$logs/$name.int8.txt"
    "$python" Calibration/bench/ort_int8_latency.py --model "$bench_dir/$name" --size "$size" --calib Tests/Fixtures/images \
        --limit-calib 2 --threads "$threads" --runs "$runs" --json "$logs/$name.ort.json" --work-dir "$logs/onnx-$name" \
        > "$logs/$name.ort.txt" 2>&1
    "$python" Calibration/bench/ort_session_rss.py "$(ls "$logs/onnx-$name"/*_int8_minmax.onnx)" --size "$size" \
        --threads "$threads" --runs "$runs" > "$logs/$name.ort-rss.json"
    read -r float_wall float_cpu < <(summary "$logs/$name.float.txt")
    read -r int8_wall int8_cpu < <(summary "$logs/$name.int8.txt")
    read -r ort_fp32_wall ort_fp32_cpu ort_int8_wall ort_int8_cpu < <("$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["ort_fp32"]["median_s"], r["ort_fp32"]["cpu_s"], r["ort_int8"]["median_s"], r["ort_int8"]["cpu_s"])' "$logs/$name.ort.json")
    rows+=("$name $float_wall $float_cpu $int8_wall $int8_cpu $ort_fp32_wall $ort_fp32_cpu $ort_int8_wall $ort_int8_cpu")
    field() { sed -n "s/^summary: .* $1=\([0-9.]*\).*/\1/p" "$logs/$name.int8.txt"; }
    read -r ort_peak ort_imports < <("$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["peak_rss_kib"], r["imports_rss_kib"])' "$logs/$name.ort-rss.json")
    # The board estimate of the same int8 file and of the float checkpoint (not measurements).
    estimates=""
    for board in rpi4 rpi5; do
        "$edgedetr" bench --model "$bench_dir/$name" --size "$size" --estimate "$board" > "$logs/$name.float.$board.txt"
        "$edgedetr" bench --model "$logs/$name.edq" --estimate "$board" > "$logs/$name.int8.$board.txt"
        for kind in float int8; do
            estimates+=" $(sed -n 's/^summary: .*estimate_s=\([0-9.]*\).*/\1/p' "$logs/$name.$kind.$board.txt")"
        done
    done
    estimate_rows+=("$name$estimates")
    memory_rows+=("$name $(field int8_mac_share) $(field outside_int8_share) $(field gmacs) $(field int8_peak_gmacs) $(field peak_rss_kib) $ort_peak $ort_imports")
    cat "$logs/$name.int8.txt"
done

echo
echo "${size}x${size}, $threads threads, median of $runs runs after 1 warm-up; wall s / CPU s per run (logs: $logs)"
echo
echo "| model | EdgeDETR fp32 | EdgeDETR int8 | ORT fp32 | ORT int8 | EdgeDETR int8 / ORT int8 (wall, CPU) | EdgeDETR int8 / fp32 (CPU) |"
echo "|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    set -- $row
    awk -v n="$1" -v fw="$2" -v fc="$3" -v iw="$4" -v ic="$5" -v ofw="$6" -v ofc="$7" -v oiw="$8" -v oic="$9" 'BEGIN {
        printf "| %s | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.2f, %.2f | %.2f |\n",
            n, fw, fc, iw, ic, ofw, ofc, oiw, oic, iw / oiw, ic / oic, ic / fc }'
done
echo
echo "EdgeDETR int8 at work, and peak resident memory of each int8 runtime (KiB; ORT: whole Python process, and without the interpreter and imports)"
echo
echo "| model | int8 MAC share | run outside int8 kernels | GMAC/s (of measured int8 peak) | EdgeDETR int8 peak RSS | ORT int8 peak RSS | ORT int8 peak RSS less imports | EdgeDETR / ORT (whole, less imports) |"
echo "|---|---|---|---|---|---|---|---|"
for row in "${memory_rows[@]}"; do
    set -- $row
    awk -v n="$1" -v share="$2" -v outside="$3" -v g="$4" -v peak="$5" -v e="$6" -v o="$7" -v imports="$8" 'BEGIN {
        printf "| %s | %.1f%% | %.1f%% | %.1f (%.0f%% of %.0f) | %d | %d | %d | %.2f, %.2f |\n",
            n, 100 * share, 100 * outside, g, 100 * g / peak, peak, e, o, o - imports, e / o, e / (o - imports) }'
done
echo
echo "ESTIMATES, not measurements: \`edgedetr bench --estimate rpi4|rpi5\` (4 threads) of the float checkpoint and the same int8 file"
echo "(the model and its error: docs/PERFORMANCE.md, \"Estimating a board\")"
echo
echo "| model | Pi 4 fp32 (estimate) | Pi 4 int8 (estimate) | Pi 5 fp32 (estimate) | Pi 5 int8 (estimate) |"
echo "|---|---|---|---|---|"
for row in "${estimate_rows[@]}"; do
    set -- $row
    awk -v n="$1" -v f4="$2" -v i4="$3" -v f5="$4" -v i5="$5" 'BEGIN {
        printf "| %s | %.2f s | %.2f s (%.2fx) | %.2f s | %.2f s (%.2fx) |\n", n, f4, i4, i4 / f4, f5, i5, i5 / f5 }'
done
