# Sourced by the benchmark scripts: ensure_benchmark_checkpoints writes the random-weight R50
# checkpoints into $bench_dir (Calibration/oracle/make_benchmark_checkpoints.py, several minutes) when
# any of $models is missing there. Needs bench_dir, python and models set.
ensure_benchmark_checkpoints() {
    local name
    for name in $models; do
        if [ ! -f "$bench_dir/$name/model.safetensors" ]; then
            echo "== writing benchmark checkpoints into $bench_dir"
            "$python" Calibration/oracle/make_benchmark_checkpoints.py "$bench_dir"
            return
        fi
    done
}
