# Sourced by the benchmark scripts: ensure_benchmark_checkpoints writes the random-weight benchmark
# checkpoints of $models missing from $bench_dir (Calibration/oracle/make_benchmark_checkpoints.py, minutes). Needs bench_dir, python and models set.
ensure_benchmark_checkpoints() {
    local name missing=()
    for name in $models; do
        [ -f "$bench_dir/$name/model.safetensors" ] || missing+=("$name")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== writing benchmark checkpoints ${missing[*]} into $bench_dir"
        "$python" Calibration/oracle/make_benchmark_checkpoints.py "$bench_dir" "${missing[@]}"
    fi
}
