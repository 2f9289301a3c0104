"""pycocotools' COCOeval(iouType='bbox') on any ground-truth and results file, printed in the JSON
layout of `edgedetr eval --json` (stats, stats_array, per_category), for spot checks of the Swift
evaluator on real data:

    .venv-ref/bin/python Calibration/coco/pycocotools_eval.py val.json results.json > py.json
    edgedetr eval --dataset val.json --detections results.json --json > swift.json
    .venv-ref/bin/python Calibration/coco/pycocotools_eval.py --compare py.json swift.json

With --noise SEED it instead writes a results file: the ground truth jittered, some boxes dropped,
false positives added (for exercising the evaluator on a synthetic dataset without a model).
"""

import argparse
import contextlib
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def evaluate(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_path)
        coco_dt = coco_gt.loadRes(dt_path)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]
    per_category = []
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = []
        for p in (precision[:, :, k, 0, -1], precision[0, :, k, 0, -1]):
            p = p[p > -1]
            values.append(float(np.mean(p)) if p.size else -1.0)
        per_category.append({"id": int(cat_id), "name": coco_gt.cats[cat_id]["name"], "AP": values[0], "AP50": values[1]})
    stats = [float(s) for s in evaluator.stats]
    return {"stats": dict(zip(NAMES, stats)), "stats_array": stats, "per_category": per_category}


def noisy_results(gt_path, seed):
    rng = np.random.default_rng(seed)
    with open(gt_path) as f:
        gt = json.load(f)
    categories = [c["id"] for c in gt["categories"]]
    results = []
    for ann in gt["annotations"]:
        if rng.uniform() < 0.15:
            continue
        x, y, w, h = ann["bbox"]
        scale = 0.08
        box = [x + rng.normal(0, scale * w), y + rng.normal(0, scale * h), w * np.exp(rng.normal(0, scale)), h * np.exp(rng.normal(0, scale))]
        category = ann["category_id"] if rng.uniform() > 0.1 else int(rng.choice(categories))
        results.append({"image_id": ann["image_id"], "category_id": category, "bbox": [round(float(v), 2) for v in box],
                        "score": round(float(rng.uniform(0.2, 1.0)), 3)})
    for image in gt["images"]:
        for _ in range(int(rng.poisson(3))):
            w, h = rng.uniform(4, image["width"] / 2), rng.uniform(4, image["height"] / 2)
            results.append({"image_id": image["id"], "category_id": int(rng.choice(categories)),
                            "bbox": [round(float(rng.uniform(0, image["width"] - w)), 2), round(float(rng.uniform(0, image["height"] - h)), 2),
                                     round(float(w), 2), round(float(h), 2)], "score": round(float(rng.uniform(0, 0.6)), 3)})
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("first")
    parser.add_argument("second", nargs="?")
    parser.add_argument("--noise", type=int, help="write jittered ground truth as results (seed)")
    parser.add_argument("--compare", action="store_true", help="compare two JSON reports, print the largest difference")
    args = parser.parse_args()
    if args.noise is not None:
        json.dump(noisy_results(args.first, args.noise), sys.stdout)
    elif args.compare:
        reports = [json.load(open(path)) for path in (args.first, args.second)]
        stats = max(abs(a - b) for a, b in zip(reports[0]["stats_array"], reports[1]["stats_array"]))
        categories = max(abs(a[key] - b[key]) for a, b in zip(reports[0]["per_category"], reports[1]["per_category"]) for key in ("AP", "AP50"))
        print(f"largest difference: stats {stats:.3g}, per-category AP/AP50 {categories:.3g}")
        return 0 if max(stats, categories) <= 1e-4 else 1
    else:
        json.dump(evaluate(args.first, args.second), sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
