"""Golden COCO-evaluation fixtures for EdgeDETR's Swift evaluator (Sources/Quantize/Evaluation).

Writes small ground-truth and results files and what pycocotools' COCOeval(iouType='bbox') makes of
them to Tests/Fixtures/coco/<case>/{ground_truth.json, detections.json, expected.json}, and the
evaluation thresholds to Tests/Fixtures/coco/parameters.json. Environment: Calibration/oracle/
requirements.txt (pycocotools 2.0.11, numpy). Run from the repository root:

    .venv-ref/bin/python Calibration/coco/make_coco_fixtures.py

expected.json holds, all float64 written with repr (exact):
  stats                 COCOeval.stats (12 numbers)
  per_category          [{id, ap, ap50}] with ap = mean(precision[:, :, k, 0, -1] > -1) (-1 if none),
                        ap50 the same at IoU 0.5
  recall                eval['recall'] [T, K, A, M] nested lists
  precision_mean        eval['precision'].mean(axis=1) [T, K, A, M] (mean over the 101 recall points)
  summary               the 12 lines summarize() prints
"""

import contextlib
import io
import json
import os
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "coco")


def random_box(rng, size_class, width, height):
    """A box [x, y, w, h] with area in COCO's small / medium / large range, mostly inside the image."""
    area = {"small": rng.uniform(16, 1000), "medium": rng.uniform(1100, 9000), "large": rng.uniform(9400, 60000)}[size_class]
    aspect = rng.uniform(0.5, 2.0)
    w = min(float(np.sqrt(area * aspect)), width - 1)
    h = min(float(area / w), height - 1)
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]


def jitter(rng, box, amount):
    x, y, w, h = box
    dx, dy = rng.normal(0, amount * w), rng.normal(0, amount * h)
    sw, sh = np.exp(rng.normal(0, amount)), np.exp(rng.normal(0, amount))
    return [round(x + dx, 2), round(y + dy, 2), round(max(w * sw, 0.5), 2), round(max(h * sh, 0.5), 2)]


def make_case(seed, images=30, categories=4, crowd_rate=0.0, empty_rate=0.1, miss_rate=0.2,
              false_positives=2.0, jitter_amount=0.1, score_decimals=None, area_from_box=False,
              duplicate_rate=0.0, wrong_category_rate=0.0, many_detections_image=None, width=320, height=240):
    rng = np.random.default_rng(seed)
    image_list = [{"id": int(i), "file_name": f"{i:06d}.png", "width": width, "height": height}
                  for i in rng.permutation(np.arange(1, images + 1) * 3)]  # ids not in file order
    category_list = [{"id": int(c), "name": f"class{c}"} for c in (np.arange(categories) * 2 + 1)]
    annotations, detections = [], []

    def score():
        value = float(rng.uniform(0.01, 1.0))
        return round(value, score_decimals if score_decimals is not None else 6)

    for image in image_list:
        if rng.uniform() < empty_rate:
            count = 0
        else:
            count = int(rng.integers(1, 8))
        for _ in range(count):
            category = category_list[int(rng.integers(0, categories))]["id"]
            size_class = rng.choice(["small", "medium", "large"], p=[0.4, 0.35, 0.25])
            box = random_box(rng, size_class, width, height)
            crowd = int(rng.uniform() < crowd_rate)
            area = box[2] * box[3] if area_from_box else round(box[2] * box[3] * rng.uniform(0.5, 0.95), 2)
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": category,
                                "bbox": box, "area": area, "iscrowd": crowd})
            if rng.uniform() >= miss_rate:
                for _ in range(1 + int(crowd) * int(rng.integers(0, 3))):
                    target = box if not crowd else [box[0] + box[2] * rng.uniform(0, 0.6), box[1] + box[3] * rng.uniform(0, 0.6),
                                                    box[2] * 0.3, box[3] * 0.3]
                    detected_category = category
                    if rng.uniform() < wrong_category_rate:
                        detected_category = category_list[int(rng.integers(0, categories))]["id"]
                    detections.append({"image_id": image["id"], "category_id": detected_category,
                                       "bbox": jitter(rng, target, jitter_amount), "score": score()})
                    if rng.uniform() < duplicate_rate:
                        detections.append(dict(detections[-1]))
        for _ in range(int(rng.poisson(false_positives))):
            category = category_list[int(rng.integers(0, categories))]["id"]
            size_class = rng.choice(["small", "medium", "large"])
            detections.append({"image_id": image["id"], "category_id": category,
                               "bbox": random_box(rng, size_class, width, height), "score": score()})
    if many_detections_image is not None:
        image = image_list[many_detections_image]
        truths = [a for a in annotations if a["image_id"] == image["id"]]
        for index in range(130):
            if truths and index % 3 == 0:
                truth = truths[index % len(truths)]
                box, category = jitter(rng, truth["bbox"], 0.05), truth["category_id"]
            else:
                box, category = random_box(rng, "small", width, height), category_list[index % categories]["id"]
            detections.append({"image_id": image["id"], "category_id": category, "bbox": box, "score": score()})
    order = rng.permutation(len(detections))
    detections = [detections[i] for i in order]
    return {"images": image_list, "annotations": annotations, "categories": category_list}, detections


def edge_case():
    """Hand-made corner cases on top of a random case."""
    gt, dt = make_case(7, images=12, categories=5, crowd_rate=0.15, score_decimals=1, duplicate_rate=0.2,
                       wrong_category_rate=0.2, many_detections_image=0)
    cats = [c["id"] for c in gt["categories"]]
    # Category cats[-1]: detections only, never ground truth (its AP is -1 everywhere).
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] != cats[-1]]
    # An image with no ground truth and only detections, one with ground truth and no detections.
    gt["images"].append({"id": 1000, "file_name": "empty.png", "width": 320, "height": 240})
    dt += [{"image_id": 1000, "category_id": cats[0], "bbox": [10, 10, 50, 40], "score": 0.9},
           {"image_id": 1000, "category_id": cats[-1], "bbox": [12, 10, 50, 40], "score": 0.5}]
    gt["images"].append({"id": 1001, "file_name": "missed.png", "width": 320, "height": 240})
    next_id = max(a["id"] for a in gt["annotations"]) + 1
    gt["annotations"] += [
        {"id": next_id, "image_id": 1001, "category_id": cats[1], "bbox": [5, 5, 100, 100], "area": 9000.0, "iscrowd": 0},
        {"id": next_id + 1, "image_id": 1001, "category_id": cats[2], "bbox": [50, 50, 20, 20], "area": 300, "iscrowd": 0},
    ]
    # Only crowd ground truth for one image and category, with detections inside it (ignored).
    gt["images"].append({"id": 1002, "file_name": "crowd.png", "width": 320, "height": 240})
    gt["annotations"].append({"id": next_id + 2, "image_id": 1002, "category_id": cats[3], "bbox": [0, 0, 200, 200],
                              "area": 30000, "iscrowd": 1})
    dt += [{"image_id": 1002, "category_id": cats[3], "bbox": [10 + 20 * i, 10, 30, 30], "score": 0.3 + 0.1 * i} for i in range(5)]
    # Annotation id 0: pycocotools records the matched id, so a match to it reads as no match.
    gt["annotations"].append({"id": 0, "image_id": 1001, "category_id": cats[0], "bbox": [200, 100, 60, 60], "area": 3600, "iscrowd": 0})
    dt.append({"image_id": 1001, "category_id": cats[0], "bbox": [201, 101, 60, 60], "score": 0.7})
    # Zero-size and boundary boxes; exact score ties across images; areas exactly on the range limits.
    gt["annotations"] += [
        {"id": next_id + 3, "image_id": 1001, "category_id": cats[0], "bbox": [0, 200, 32, 32], "area": 1024, "iscrowd": 0},
        {"id": next_id + 4, "image_id": 1001, "category_id": cats[0], "bbox": [100, 0, 96, 96], "area": 9216, "iscrowd": 0},
    ]
    dt += [{"image_id": 1001, "category_id": cats[0], "bbox": [0, 200, 32, 32], "score": 0.5},
           {"image_id": 1001, "category_id": cats[0], "bbox": [100, 0, 96, 96], "score": 0.5},
           {"image_id": 1000, "category_id": cats[0], "bbox": [100, 0, 0, 20], "score": 0.5},
           {"image_id": 1001, "category_id": cats[2], "bbox": [50, 50, 20, 20], "score": 1}]
    return gt, dt


CASES = {
    "basic": lambda: make_case(1),
    "crowd": lambda: make_case(2, images=40, categories=3, crowd_rate=0.25, false_positives=3.0),
    "ties": lambda: make_case(3, images=30, categories=4, score_decimals=1, duplicate_rate=0.3, jitter_amount=0.2),
    "many": lambda: make_case(4, images=20, categories=3, many_detections_image=2, false_positives=6.0,
                              wrong_category_rate=0.3),
    "perfect": lambda: make_case(5, images=20, categories=3, miss_rate=0.0, false_positives=0.0, jitter_amount=0.0,
                                 area_from_box=True),
    "edge": edge_case,
}


def evaluate(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_path)
        coco_dt = coco_gt.loadRes(dt_path)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        evaluator.summarize()
    precision = evaluator.eval["precision"]
    per_category = []
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = []
        for p in (precision[:, :, k, 0, -1], precision[0, :, k, 0, -1]):
            p = p[p > -1]
            values.append(float(np.mean(p)) if p.size else -1.0)
        per_category.append({"id": int(cat_id), "ap": values[0], "ap50": values[1]})
    return {
        "stats": [float(s) for s in evaluator.stats],
        "per_category": per_category,
        "recall": evaluator.eval["recall"].tolist(),
        "precision_mean": precision.mean(axis=1).tolist(),
        "summary": captured.getvalue().rstrip("\n").split("\n"),
    }


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, separators=(",", ":"))
        f.write("\n")


def main():
    os.makedirs(ROOT, exist_ok=True)
    from pycocotools.cocoeval import Params
    params = Params(iouType="bbox")
    write_json(os.path.join(ROOT, "parameters.json"),
               {"iou_thresholds": params.iouThrs.tolist(), "recall_thresholds": params.recThrs.tolist(),
                "area_ranges": params.areaRng, "max_dets": params.maxDets})
    for name, make in CASES.items():
        folder = os.path.join(ROOT, name)
        os.makedirs(folder, exist_ok=True)
        gt, dt = make()
        gt_path, dt_path = os.path.join(folder, "ground_truth.json"), os.path.join(folder, "detections.json")
        write_json(gt_path, gt)
        write_json(dt_path, dt)
        expected = evaluate(gt_path, dt_path)
        write_json(os.path.join(folder, "expected.json"), expected)
        per_image = {}
        for d in dt:
            per_image[d["image_id"]] = per_image.get(d["image_id"], 0) + 1
        print(f"{name}: {len(gt['images'])} images, {len(gt['annotations'])} annotations, {len(dt)} detections "
              f"(max {max(per_image.values())} on one image), AP {expected['stats'][0]:.4f} AP50 {expected['stats'][1]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
