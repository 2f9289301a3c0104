#!/usr/bin/env bash
# Runs one libFuzzer harness (docs/FUZZING.md) for SECONDS under AddressSanitizer.
# Usage: Fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#   TARGET: modelfile modelfile-raw png jpeg ppm checkpoint coco stream (or "regressions": replay
#   Fuzz/regressions/* under the sanitizers and exit).
# The corpus grows in .build-fuzz/corpus/TARGET (seeded from Fuzz/make-seeds.sh's output); crash,
# timeout and out-of-memory inputs land in .build-fuzz/artifacts/TARGET/: minimize them, then keep
# them under Fuzz/regressions/TARGET/ (replayed by `swift test`). Limits: 10 s per input, 1 GiB per
# allocation, 2 GiB resident.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${1:?usage: Fuzz/run.sh TARGET SECONDS [libFuzzer flags]}"
SECONDS_TO_RUN="${2:-60}"
shift $(( $# >= 2 ? 2 : $# ))
BUILD=.build-fuzz
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --build-path "$BUILD" --sanitize=fuzzer --sanitize=address -Xswiftc -DEDGEDETR_FUZZING \
        --product edgedetr-fuzz >&2
fi
FUZZER="$BUILD/release/edgedetr-fuzz"
# An incremental build once linked a fuzzer without coverage instrumentation (9 counters instead of
# ~29,000; libFuzzer then mutates blindly and finds nothing). Check, and rebuild from scratch once.
counters() {
    local n
    n=$(EDGEDETR_FUZZ_TARGET=png "$FUZZER" -runs=0 2>&1 | sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' | head -1)
    echo "${n:-0}"
}
# Session 6 saw two from-scratch builds in a row come out uninstrumented on a busy machine, then two good
# ones: retry up to three times.
for attempt in 1 2 3; do
    [ "${FUZZ_SKIP_BUILD:-0}" != 1 ] && [ "$(counters)" -lt 10000 ] || break
    echo "run.sh: $FUZZER is not instrumented; rebuilding it from scratch (attempt $attempt)" >&2
    rm -rf "$BUILD/release" "$BUILD"/*-linux-gnu/release
    swift build -c release --build-path "$BUILD" --sanitize=fuzzer --sanitize=address -Xswiftc -DEDGEDETR_FUZZING \
        --product edgedetr-fuzz >&2
done
# Replaying regression inputs needs the sanitizers, not coverage; a campaign without coverage mutates
# blindly, so it is refused unless FUZZ_ALLOW_UNINSTRUMENTED=1 (CI's 60-second smoke runs).
if [ "$(counters)" -lt 10000 ]; then
    if [ "$TARGET" = regressions ] || [ "${FUZZ_ALLOW_UNINSTRUMENTED:-0}" = 1 ]; then
        echo "run.sh: warning: $FUZZER has no coverage instrumentation (sanitizers only)" >&2
    else
        echo "run.sh: $FUZZER has no coverage instrumentation" >&2
        exit 2
    fi
fi
[ -d "$BUILD/seeds" ] || Fuzz/make-seeds.sh "$BUILD/seeds" >&2
FLAGS=(-timeout=10 -malloc_limit_mb=1024 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$TARGET" = regressions ]; then
    status=0
    for folder in Fuzz/regressions/*/; do
        inputs=("$folder"*)
        [ -e "${inputs[0]}" ] || continue
        echo "replaying $(basename "$folder"): ${#inputs[@]} inputs" >&2
        EDGEDETR_FUZZ_TARGET="$(basename "$folder")" "$FUZZER" "${FLAGS[@]}" "${inputs[@]}" >/dev/null 2>"$BUILD/regressions.log" \
            || { status=1; tail -30 "$BUILD/regressions.log" >&2; }
    done
    exit $status
fi
mkdir -p "$BUILD/corpus/$TARGET" "$BUILD/artifacts/$TARGET"
seeds="$BUILD/seeds/$TARGET"
[ -d "$seeds" ] || { echo "no seeds for '$TARGET' in $BUILD/seeds" >&2; exit 2; }
EDGEDETR_FUZZ_TARGET="$TARGET" exec "$FUZZER" "${FLAGS[@]}" -max_total_time="$SECONDS_TO_RUN" \
    -artifact_prefix="$BUILD/artifacts/$TARGET/" "$@" "$BUILD/corpus/$TARGET" "$seeds" \
    $( [ -d "Fuzz/regressions/$TARGET" ] && echo "Fuzz/regressions/$TARGET" )
