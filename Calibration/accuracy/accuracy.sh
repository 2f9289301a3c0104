#!/usr/bin/env bash
# Reproduces docs/ACCURACY.md: for every trained model in Tests/Fixtures/trained, COCO AP (x100) on the
# synthetic val split of the float model, of EdgeDETR int8 with the default options and with each
# observer / precision choice, and (when the oracle venv exists) of ONNX Runtime's static int8.
#
#   Calibration/accuracy/accuracy.sh [out-dir]        # default out-dir: /tmp/edgedetr-accuracy
#
# Data: the val split is regenerated deterministically (200 images, seed 1, 128 px, --difficulty easy:
# the split the models were validated on while training); calibration uses the 16 bundled calib
# images (Tests/Fixtures/datasets/synth128-easy/calib, the first 16 of `--split calib`), for EdgeDETR
# and ONNX Runtime alike. `edgedetr demo` prints the default row of the same table.
# Environment: EDGEDETR (CLI binary; default: builds .build/release/edgedetr), PYTHON (default
# .venv-ref/bin/python; ONNX Runtime rows are skipped without it), THREADS (default 2), VAL_COUNT (val
# images, default 200: the split the models were validated on; the first 200 of a larger count are
# the same images, so a larger split only adds images and lowers the noise of the AP differences),
# MODELS (names under Tests/Fixtures/trained, default all of them).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/edgedetr-accuracy}
THREADS=${THREADS:-2}
VAL_COUNT=${VAL_COUNT:-200}
PYTHON=${PYTHON:-.venv-ref/bin/python}
if [ -z "${EDGEDETR:-}" ]; then
    swift build -c release --product edgedetr >&2
    EDGEDETR=.build/release/edgedetr
fi
CALIB=Tests/Fixtures/datasets/synth128-easy/calib
models=()
for name in ${MODELS:-$(ls Tests/Fixtures/trained)}; do
    [ -d "Tests/Fixtures/trained/$name" ] && models+=("Tests/Fixtures/trained/$name")
done
mkdir -p "$OUT"
if [ ! -f "$OUT/data/val.json" ]; then
    "$EDGEDETR" dataset synth --seed 1 --count "$VAL_COUNT" --size 128 --split val --difficulty easy -o "$OUT/data" >&2
fi
VAL="$OUT/data/val.json"

# name|quantize options
VARIANTS=(
    "default|"
    "names only|--no-auto-precision"
    "float heads|--no-dynamic-int8"
    "float attention|--no-dynamic-attention"
    "minmax|--method minmax"
    "entropy|--method entropy"
    "mse|--method mse"
    "search only|--no-default-float"
    "all int8|--no-default-float --no-auto-precision"
)

for model in "${models[@]}"; do
    model=${model%/}
    name=$(basename "$model")
    echo "== $name: EdgeDETR" >&2
    for entry in "${VARIANTS[@]}"; do
        variant=${entry%%|*}
        options=${entry#*|}
        tag=$(echo "$variant" | tr -c 'a-z0-9-\n' '_')
        # shellcheck disable=SC2086
        "$EDGEDETR" quantize --model "$model" --calib "$CALIB" --threads "$THREADS" $options \
            -o "$OUT/$name.$tag.edq" > "$OUT/$name.$tag.quantize.txt" 2>&1
        "$EDGEDETR" eval --dataset "$VAL" --float "$model" --int8 "$OUT/$name.$tag.edq" --threads "$THREADS" --json \
            > "$OUT/$name.$tag.eval.json"
        echo "   $variant" >&2
    done
done
# ONNX Runtime: one process per model, single-threaded each (its Entropy search is a Python loop of
# several minutes per model).
if [ -x "$PYTHON" ]; then
    for model in "${models[@]}"; do
        model=${model%/}
        name=$(basename "$model")
        if [ -s "$OUT/$name.ort.json" ] && [ "$OUT/$name.ort.json" -nt "$model/model.safetensors" ]; then
            echo "== $name: ONNX Runtime: kept $OUT/$name.ort.json (delete it to redo)" >&2
            continue
        fi
        echo "== $name: ONNX Runtime (background; log $OUT/$name.ort.txt)" >&2
        HF_HUB_OFFLINE=1 "$PYTHON" Calibration/onnx/ort_int8_eval.py --model "$model" --calib "$CALIB" --val "$VAL" \
            --json "$OUT/$name.ort.json" > "$OUT/$name.ort.txt" 2>&1 &
    done
    wait
else
    echo "no $PYTHON: ONNX Runtime rows skipped (python3 -m venv .venv-ref && .venv-ref/bin/pip install -r Calibration/oracle/requirements.txt)" >&2
fi

python3 - "$OUT" "${VARIANTS[@]}" <<'PY'
import glob, json, os, sys
out, variants = sys.argv[1], [v.split("|")[0] for v in sys.argv[2:]]
def tag(v): return "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789-" else "_" for c in v)
print("| model | variant | float AP | int8 AP | loss | float AP50 | int8 AP50 | file MB |")
print("|---|---|---|---|---|---|---|---|")
for model in sorted(glob.glob("Tests/Fixtures/trained/*/")):
    name = os.path.basename(model.rstrip("/"))
    for v in variants:
        path = f"{out}/{name}.{tag(v)}.eval.json"
        if not os.path.exists(path): continue
        r = json.load(open(path))
        f, q = r["float"]["stats"], r["int8"]["stats"]
        size = os.path.getsize(f"{out}/{name}.{tag(v)}.edq") / 1e6
        print(f"| {name} | EdgeDETR {v} | {f['AP']*100:.1f} | {q['AP']*100:.1f} | {(f['AP']-q['AP'])*100:+.2f} | "
              f"{f['AP50']*100:.1f} | {q['AP50']*100:.1f} | {size:.2f} |")
    path = f"{out}/{name}.ort.json"
    if os.path.exists(path):
        rows = json.load(open(path))["rows"]
        base = next(x for x in rows if x["variant"] == "PyTorch fp32")["stats"]
        for x in rows:
            if not x["variant"].startswith("ORT int8"): continue
            q = x["stats"]
            print(f"| {name} | ONNX Runtime {x['variant'][4:]} | {base['AP']*100:.1f} | {q['AP']*100:.1f} | "
                  f"{(base['AP']-q['AP'])*100:+.2f} | {base['AP50']*100:.1f} | {q['AP50']*100:.1f} | |")
PY
