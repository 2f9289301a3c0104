#!/usr/bin/env bash
# Float latency of EdgeDETR against PyTorch and ONNX Runtime (fp32) on the three R50 benchmark checkpoints,
# 512x512, 2 threads, median of 3 timed runs after 1 warm-up, in one run:
#
#   nohup nice -n 10 Calibration/bench/float_bench.sh > /tmp/float_bench.log 2>&1 &
#
# Builds release, writes the random-weight checkpoints into $BENCH_DIR if they are missing
# (Calibration/oracle/make_benchmark_checkpoints.py, several minutes), then for each family runs
# Calibration/oracle/bench_reference.py (PyTorch + ONNX Runtime) and right after it `edgedetr bench`,
# so each pair is measured close in time, and prints one table of ratios (< 1: EdgeDETR is faster).
# The machine is shared: quote the ratios, not the seconds. Environment: BENCH_DIR (default
# /tmp/edgedetr-bench), PYTHON (default .venv-ref/bin/python), SCRATCH (SwiftPM scratch path, default .build),
# EDGEDETR_KERNELS (scalar|simd|avx2, default the best the CPU has), MODELS (default all three).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_dir=${BENCH_DIR:-/tmp/edgedetr-bench}
python=${PYTHON:-.venv-ref/bin/python}
scratch=${SCRATCH:-.build}
models=${MODELS:-deformable_detr dab_detr conditional_detr}
export HF_HUB_OFFLINE=1
logs=$(mktemp -d /tmp/float_bench.XXXXXX)

echo "== build (release, scratch $scratch)"
# Others may be mid-edit in a shared checkout: retry a failed build a few times.
for attempt in 1 2 3 4 5; do
    if swift build -c release --scratch-path "$scratch" > "$logs/build.log" 2>&1; then break; fi
    if [ "$attempt" = 5 ]; then tail -20 "$logs/build.log"; exit 1; fi
    echo "build failed (attempt $attempt), retrying in 60 s"; sleep 60
done
tail -1 "$logs/build.log"
# A private copy, so a rebuild during the (long) run cannot swap the binary between models.
cp "$scratch/release/edgedetr" "$logs/edgedetr"
edgedetr="$logs/edgedetr"

# shellcheck source=Calibration/bench/benchmark_checkpoints.sh
source Calibration/bench/benchmark_checkpoints.sh
ensure_benchmark_checkpoints

for name in $models; do
    echo "== $name: PyTorch and ONNX Runtime"
    "$python" Calibration/oracle/bench_reference.py "$bench_dir" --only "$name" 2>&1 | grep "^\[$name\]" | tee "$logs/$name.reference"
    echo "== $name: EdgeDETR"
    "$edgedetr" bench --model "$bench_dir/$name" --size 512 --threads 2 --runs 3 --warmup 1 | tee "$logs/$name.edgedetr"
done

seconds() { # file, pattern before "median": the number after "median "
    sed -n "s/.*$2 median \([0-9.]*\)s.*/\1/p" "$1" | head -1
}
echo
echo "Command: \`nice -n 10 Calibration/bench/float_bench.sh\` ($(date -u +%Y-%m-%d), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| model | EdgeDETR fp32 (kernels) | EdgeDETR CPU s/run | ONNX Runtime fp32 | PyTorch fp32 | EdgeDETR/ORT | EdgeDETR/PyTorch |"
echo "|---|---|---|---|---|---|---|"
for name in $models; do
    torch=$(seconds "$logs/$name.reference" "torch fp32")
    ort=$(seconds "$logs/$name.reference" "ORT fp32")
    summary=$(grep '^summary:' "$logs/$name.edgedetr" || true)
    ours=$(sed -n 's/.*median_s=\([0-9.]*\).*/\1/p' <<< "$summary")
    cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<< "$summary")
    kernels=$(sed -n 's/.*kernels=\([a-z0-9]*\).*/\1/p' <<< "$summary")
    awk -v n="$name" -v e="$ours" -v c="$cpu" -v k="$kernels" -v o="$ort" -v t="$torch" 'BEGIN {
        ratio_o = (e != "" && o != "") ? sprintf("%.2f", e / o) : "-"
        ratio_t = (e != "" && t != "") ? sprintf("%.2f", e / t) : "-"
        printf "| %s | %s s (%s) | %s | %s s | %s s | %s | %s |\n", n, e, k, c, o, t, ratio_o, ratio_t }'
done
echo
echo "Logs: $logs"
