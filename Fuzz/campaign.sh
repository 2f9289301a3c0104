#!/usr/bin/env bash
# The long campaign of docs/FUZZING.md: every harness (or those named) to RUNS executions, one after
# the other, each capped at MAX_SECONDS; prints one table row per harness from libFuzzer's final
# statistics (executions, seconds, edges covered, features, corpus size, peak RSS, result); exits 1
# when any harness found a crash, a timeout or an out-of-memory input.
# Usage: Fuzz/campaign.sh RUNS [TARGET...]    (MAX_SECONDS default 3600; logs in .build-fuzz/logs)
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:?usage: Fuzz/campaign.sh RUNS [TARGET...]}"; shift
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(png jpeg ppm coco stream modelfile modelfile-raw checkpoint)
MAX_SECONDS="${MAX_SECONDS:-3600}"
mkdir -p .build-fuzz/logs
[ "${FUZZ_SKIP_BUILD:-0}" = 1 ] || Fuzz/run.sh png 1 -runs=0 >/dev/null 2>&1   # builds the fuzzer and the seeds
failed=0
echo "| harness | executions | seconds | exec/s | edges (cov) | features | corpus | peak RSS MB | result |"
echo "|---|---|---|---|---|---|---|---|---|"
for target in "${TARGETS[@]}"; do
    log=".build-fuzz/logs/$target.log"
    extra=()
    # Small inputs: the harness's seeds are small, bigger mutations only slow it down.
    case "$target" in coco|stream) extra=(-max_len=4096) ;; checkpoint) extra=(-max_len=262144) ;; esac
    start=$(date +%s)
    FUZZ_SKIP_BUILD=1 Fuzz/run.sh "$target" "$MAX_SECONDS" -runs="$RUNS" "${extra[@]}" >"$log" 2>&1
    status=$?
    seconds=$(( $(date +%s) - start ))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    runs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9A-Za-z]*' | cut -d' ' -f2)
    rss=$(grep -o 'peak_rss_mb: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    result="no crash, no timeout, no OOM"
    [ $status -eq 0 ] || failed=1
    [ $status -eq 0 ] || result="FAILED ($(grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z -]+|deadly signal|timeout|out-of-memory|Fatal error[^\n]{0,80}' "$log" | head -1); see $log)"
    echo "| $target | ${runs:-?} | $seconds | $(( ${runs:-0} / (seconds > 0 ? seconds : 1) )) | ${cov:-?} | ${ft:-?} | ${corp:-?} | ${rss:-?} | $result |"
done
exit $failed
