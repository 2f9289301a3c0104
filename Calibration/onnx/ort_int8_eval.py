"""ONNX Runtime static int8 next to EdgeDETR int8: export a trained DETR-family checkpoint to ONNX, quantize it
with ONNX Runtime (QDQ, per-channel weights, MinMax and Entropy calibration on the calibration images
EdgeDETR uses) and measure COCO box AP of float and both int8 models on the same val split.

    HF_HUB_OFFLINE=1 nice -n 5 .venv-ref/bin/python Calibration/onnx/ort_int8_eval.py \
        --model Tests/Fixtures/trained/deformable_detr_easy128 \
        --calib Tests/Fixtures/datasets/synth128-easy/calib --val /tmp/edgedetr-easy/val.json --json /tmp/ort_deformable.json

    # export check only (ORT fp32 vs PyTorch), any hub-layout folder, no dataset needed:
    HF_HUB_OFFLINE=1 nice -n 5 .venv-ref/bin/python Calibration/onnx/ort_int8_eval.py \
        --model Tests/Fixtures/models/dab_detr --export-check-only

Steps (one function each, in this order):
1. Load: a hub-layout folder (config.json with `use_timm_backbone: true`, timm ResNet key names,
   model.safetensors, preprocessor_config.json) becomes a transformers model with an HF ResNet backbone;
   timm is never imported. Stem width, block type, per-stage widths and depths are read off the tensors; a
   checkpoint without layer4 (DAB/Conditional trained on stage 3 only) gets a 3-stage ResNet. Strict: the
   loaded model, renamed back to the hub layout, must give exactly the file's tensor names and values.
2. Export: torch.onnx.export (TorchScript exporter, opset 17) at the processor's fixed size, batch 1, input
   `pixel_values` only (the pixel mask is all ones, which the model builds itself), outputs `logits` and
   `pred_boxes`. Deformable DETR: the exported graph feeds GridSample a float64 grid, which ONNX Runtime's
   CPU GridSample rejects; the graph is patched after export with the onnx API (a Cast to float32 before
   each float64 GridSample input, Calibration/oracle/bench_reference.py). ORT fp32 is checked against
   PyTorch on the first val images (max |diff| of logits and boxes).
3. Quantize: onnxruntime.quantization.quant_pre_process (symbolic shape inference + ORT basic graph
   optimizations + ONNX shape inference), then quantize_static with QuantFormat.QDQ, per_channel=True,
   int8 activations (asymmetric) and int8 weights (symmetric), once with CalibrationMethod.MinMax and once
   with CalibrationMethod.Entropy, on the same calibration images. Entropy gets 2048 histogram bins and 255
   quantized bins (quantize_static's defaults, 128 and 128, make it return the MinMax ranges); its KL
   search is ORT's pure-Python loop, minutes for a few hundred tensors.
4. Evaluate: PyTorch fp32, ORT fp32, ORT int8 MinMax, ORT int8 Entropy on the val split; detections are
   the image processor's post_process_object_detection(threshold=0, top_k=100; 300 for DAB-DETR, as
   `edgedetr eval`) (sigmoid, top k over
   queries x classes, cxcywh -> xyxy at the original image size); pycocotools COCOeval(bbox). Prints a
   table and writes --json with the numbers, the settings and the pinned versions.

Preprocessing is the checkpoint's own image processor (rescale 1/255, ImageNet mean/std, resize to the
model's fixed size; the synthetic 128 px images are already at size). Everything runs on CPU with one
thread (torch and ONNX Runtime), so it can share a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization import calibrate as ort_calibrate
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    ConditionalDetrImageProcessorPil,
    DabDetrConfig,
    DabDetrForObjectDetection,
    Deimv2ForObjectDetection,
    DFineForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    DeformableDetrImageProcessorPil,
    ResNetConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrV2ForObjectDetection,
)

transformers.utils.logging.disable_progress_bar()
# The TorchScript exporter's deprecation notice and its tracer's notes on shape-dependent Python branches
# (all static here: one fixed input size) would bury the output.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
from bench_reference import fix_gridsample_double  # noqa: E402
from oracle_common import hf_resnet_to_hub, hub_backbone_prefix, hub_to_hf_resnet, legacy_state_dict  # noqa: E402

FAMILIES = {
    "deformable_detr": (DeformableDetrConfig, DeformableDetrForObjectDetection),
    "dab_detr": (DabDetrConfig, DabDetrForObjectDetection),
    "conditional_detr": (ConditionalDetrConfig, ConditionalDetrForObjectDetection),
}
# preprocessor_config.json's image_processor_type -> the PIL implementation (the default "fast" classes
# need torchvision, which this environment must not have).
PROCESSORS = {
    "DeformableDetrImageProcessor": DeformableDetrImageProcessorPil,
    "ConditionalDetrImageProcessor": ConditionalDetrImageProcessorPil,
    "RTDetrImageProcessor": RTDetrImageProcessorPil,
}
# RT-DETR and D-FINE have one key layout (save_pretrained's) and no timm backbone: loaded as they are.
RT_DETR = {"rt_detr": RTDetrForObjectDetection, "rt_detr_v2": RTDetrV2ForObjectDetection, "d_fine": DFineForObjectDetection,
           "deimv2": Deimv2ForObjectDetection}
# config.json keys that describe the timm backbone; replaced by an HF ResNetConfig.
HUB_BACKBONE_KEYS = ("use_timm_backbone", "backbone", "backbone_config", "use_pretrained_backbone",
                     "backbone_kwargs", "dilation")
METADATA_KEYS = ("model_type", "transformers_version", "architectures", "_name_or_path")
# Detections kept per image before COCO evaluation: the official repositories' choice, which `edgedetr
# detect` and `edgedetr eval` default to (300 for DAB-DETR, 100 otherwise), so both runtimes' float AP
# are the same number.
TOP_K = {"dab_detr": 300}
DEFAULT_TOP_K = 100
THREADS = 1
OPSET = 17
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------------------------------
# 1. Load a hub-layout checkpoint without timm
# ----------------------------------------------------------------------------------------------------

def resnet_config_from_tensors(hub: dict[str, torch.Tensor], family: str, out_indices: list[int]) -> ResNetConfig:
    """The HF ResNetConfig whose modules have exactly the shapes of the timm-named backbone tensors."""
    prefix = hub_backbone_prefix(family)
    names = {k[len(prefix):] for k in hub if k.startswith(prefix)}
    if "conv1.weight" not in names:
        raise KeyError(f"no backbone stem '{prefix}conv1.weight' in model.safetensors")
    bottleneck = "layer1.0.conv3.weight" in names
    depths, widths = [], []
    for stage in range(1, 5):
        blocks = {int(n.split(".")[1]) for n in names if n.startswith(f"layer{stage}.")}
        if not blocks:
            break
        assert blocks == set(range(len(blocks))), f"layer{stage}: blocks {sorted(blocks)} are not 0..n-1"
        depths.append(len(blocks))
        last_conv = "conv3" if bottleneck else "conv2"
        widths.append(int(hub[f"{prefix}layer{stage}.0.{last_conv}.weight"].shape[0]))
    if max(out_indices) > len(depths):
        raise ValueError(f"backbone_kwargs.out_indices {out_indices} read stage {max(out_indices)}, "
                         f"but model.safetensors has only layer1..layer{len(depths)}")
    return ResNetConfig(
        embedding_size=int(hub[prefix + "conv1.weight"].shape[0]), hidden_sizes=widths, depths=depths,
        layer_type="bottleneck" if bottleneck else "basic", out_features=[f"stage{i}" for i in out_indices],
    )


def load_hub_model(folder: str):
    """(model in eval mode, family) from a hub-layout folder; strict: every tensor is used, none is missing."""
    with open(os.path.join(folder, "config.json")) as f:
        hub_config = json.load(f)
    family = hub_config["model_type"].replace("-", "_")
    if family in RT_DETR:
        return RT_DETR[family].from_pretrained(folder).eval(), family
    if family not in FAMILIES:
        raise ValueError(f"{folder}/config.json: model_type '{hub_config['model_type']}' is not one of {list(FAMILIES)}")
    if not hub_config.get("use_timm_backbone"):
        raise ValueError(f"{folder}/config.json: expected the hub layout (use_timm_backbone: true)")
    hub = load_file(os.path.join(folder, "model.safetensors"))
    out_indices = hub_config["backbone_kwargs"]["out_indices"]
    config_class, model_class = FAMILIES[family]
    kwargs = {k: v for k, v in hub_config.items() if k not in HUB_BACKBONE_KEYS + METADATA_KEYS}
    config = config_class(use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                          backbone_config=resnet_config_from_tensors(hub, family, out_indices), **kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        config.save_pretrained(tmp)
        save_file(hub_to_hf_resnet(hub, family), os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        model = model_class.from_pretrained(tmp)
    check_loaded_exactly(model, hub, family, folder)
    return model.eval(), family


def check_loaded_exactly(model, hub: dict[str, torch.Tensor], family: str, folder: str) -> None:
    """The loaded model, renamed back to the hub layout, must be the file: same names, equal values."""
    reloaded = {k: v for k, v in hf_resnet_to_hub(legacy_state_dict(model), family).items()
                if not k.endswith("num_batches_tracked")}
    unused = sorted(set(hub) - set(reloaded))
    missing = sorted(set(reloaded) - set(hub))
    if unused or missing:
        raise ValueError(f"{folder}/model.safetensors: {len(unused)} tensors unused (e.g. {unused[:3]}), "
                         f"{len(missing)} model tensors missing (e.g. {missing[:3]})")
    differ = [k for k in hub if not torch.equal(hub[k].to(torch.float32), reloaded[k])]
    if differ:
        raise ValueError(f"{folder}/model.safetensors: {len(differ)} tensors loaded with other values, e.g. {differ[:3]}")
    log(f"loaded {len(hub)} tensors strictly ({family}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters)")


def load_processor(folder: str, size: tuple[int, int] | None, *, any_size: bool = False):
    """The checkpoint's image processor, resizing to one fixed (height, width) without padding.

    Without --size the size is preprocessor_config.json's {height, width}; with `any_size` (the export
    check) a {shortest_edge, longest_edge} processor gives (shortest_edge, longest_edge), a landscape input.
    """
    with open(os.path.join(folder, "preprocessor_config.json")) as f:
        kind = json.load(f)["image_processor_type"]
    processor = PROCESSORS[kind.removesuffix("Fast").removesuffix("Pil")].from_pretrained(folder)
    if size is None:
        fixed = processor.size.get("height") is not None and not processor.do_pad
        if fixed:
            size = (processor.size["height"], processor.size["width"])
        elif any_size and processor.size.get("shortest_edge") is not None:
            size = (processor.size["shortest_edge"], processor.size["longest_edge"])
        else:
            raise ValueError(f"{folder}/preprocessor_config.json: size {dict(processor.size)} with do_pad "
                             f"{processor.do_pad} is not one fixed input size; pass --size HxW")
    processor.size = {"height": size[0], "width": size[1]}
    processor.do_pad = False
    return processor, size


# ----------------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------------

def load_coco_images(json_path: str, images_dir: str | None, limit: int | None):
    """(COCO dict, [(image id, RGB PIL image)]) for the first `limit` images of a COCO file."""
    with open(json_path) as f:
        coco = json.load(f)
    root = images_dir or os.path.dirname(os.path.abspath(json_path))
    images = []
    for entry in coco["images"][:limit]:
        path = os.path.join(root, entry["file_name"])
        if not os.path.exists(path):  # --val-images pointing at the split folder itself
            path = os.path.join(root, os.path.basename(entry["file_name"]))
        images.append((entry["id"], Image.open(path).convert("RGB")))
    return coco, images


def load_calibration_images(path: str, limit: int | None) -> list[Image.Image]:
    """Calibration images: a folder (every .png/.jpg, sorted by name) or a COCO json (its images, in order)."""
    if path.endswith(".json"):
        return [image for _, image in load_coco_images(path, None, limit)[1]]
    names = sorted(n for n in os.listdir(path) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    return [Image.open(os.path.join(path, n)).convert("RGB") for n in names[:limit]]


def pixel_values(processor, image: Image.Image) -> np.ndarray:
    return processor(images=[image], return_tensors="np")["pixel_values"].astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# 2. Export
# ----------------------------------------------------------------------------------------------------

class LogitsAndBoxes(torch.nn.Module):
    """pixel_values -> (logits, pred_boxes); the model builds its all-ones pixel mask itself."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        return out.logits, out.pred_boxes


def export_onnx(model, size: tuple[int, int], path: str) -> int:
    """Export at batch 1 and the fixed size; returns how many float64->float32 Casts were inserted."""
    example = torch.zeros(1, 3, *size)
    with torch.no_grad():
        torch.onnx.export(LogitsAndBoxes(model).eval(), (example,), path, opset_version=OPSET, dynamo=False,
                          input_names=["pixel_values"], output_names=["logits", "pred_boxes"])
    graph = onnx.load(path)
    casts = fix_gridsample_double(graph)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)
    return casts


def ort_session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def torch_runner(model):
    def run(x: np.ndarray):
        with torch.no_grad():
            out = model(pixel_values=torch.from_numpy(x))
        return out.logits.numpy(), out.pred_boxes.numpy()
    return run


def ort_runner(session: ort.InferenceSession):
    def run(x: np.ndarray):
        logits, boxes = session.run(["logits", "pred_boxes"], {"pixel_values": x})
        return logits, boxes
    return run


def compare_with_torch(model, session, inputs: list[np.ndarray]) -> tuple[float, float]:
    """Max |ORT fp32 - PyTorch| over the inputs, for logits and for boxes."""
    run_torch, run_ort = torch_runner(model), ort_runner(session)
    logits_diff = boxes_diff = 0.0
    for x in inputs:
        (tl, tb), (ol, ob) = run_torch(x), run_ort(x)
        logits_diff = max(logits_diff, float(np.abs(tl - ol).max()))
        boxes_diff = max(boxes_diff, float(np.abs(tb - ob).max()))
    return logits_diff, boxes_diff


# ----------------------------------------------------------------------------------------------------
# 3. Quantize
# ----------------------------------------------------------------------------------------------------

class CalibrationImages(CalibrationDataReader):
    def __init__(self, inputs: list[np.ndarray]):
        self.inputs = inputs
        self.next = 0

    def get_next(self):
        if self.next == len(self.inputs):
            return None
        self.next += 1
        return {"pixel_values": self.inputs[self.next - 1]}


def _single_threaded_calibration_session(self):
    """CalibraterBase.create_inference_session with THREADS intra-op threads (ORT's uses every core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    self.infer_session = ort.InferenceSession(self.augmented_model_path, sess_options=options,
                                              providers=self.execution_providers)


ort_calibrate.CalibraterBase.create_inference_session = _single_threaded_calibration_session


def entropy_bins(num_bins: int, num_quantized_bins: int) -> None:
    """Make quantize_static's Entropy calibrater use these histogram sizes.

    quantize_static forwards no extra option to them, and its defaults (128 histogram bins, 128 quantized
    bins) leave the KL search a single candidate, the full range clipped to [min, max]: the same ranges as
    MinMax. The histogram is of signed values, so 255 quantized bins match int8's 256 levels.
    """
    def create_calibrator(*args, extra_options=None, **kwargs):
        options = dict(extra_options or {}, num_bins=num_bins, num_quantized_bins=num_quantized_bins)
        return ort_calibrate.create_calibrator(*args, extra_options=options, **kwargs)

    # the module, not the package's function of the same name
    importlib.import_module("onnxruntime.quantization.quantize").create_calibrator = create_calibrator


def quantize(fp32_path: str, out_path: str, calibration: list[np.ndarray], method: CalibrationMethod,
             activation_type: QuantType) -> None:
    quantize_static(
        fp32_path, out_path, CalibrationImages(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
        reduce_range=False, activation_type=activation_type, weight_type=QuantType.QInt8,
        calibrate_method=method, extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )


def count_quantized_ops(path: str) -> dict[str, int]:
    """Op types that read a DequantizeLinear output (what the QDQ model quantizes), with counts."""
    graph = onnx.load(path).graph
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    counts: dict[str, int] = {}
    for n in graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(i in dq_outputs for i in n.input):
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return dict(sorted(counts.items()))


def activation_scales(path: str) -> dict[str, float]:
    """Tensor -> scale of every per-tensor QuantizeLinear (the activations) of a QDQ model."""
    graph = onnx.load(path).graph
    constants = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    return {n.input[0]: float(constants[n.input[1]]) for n in graph.node
            if n.op_type == "QuantizeLinear" and n.input[1] in constants and constants[n.input[1]].size == 1}


def compare_scales(minmax_path: str, entropy_path: str, smallest_candidate: float) -> dict[str, float]:
    """How much Entropy calibration narrowed the activation ranges MinMax chose; `smallest_candidate` is
    the narrowest range the KL search tries, as a fraction of the histogram (quantized bins / bins)."""
    minmax, entropy = activation_scales(minmax_path), activation_scales(entropy_path)
    ratios = np.array([entropy[k] / minmax[k] for k in minmax if k in entropy and minmax[k] > 0])
    return {"activations": int(ratios.size), "narrowed": int((ratios < 0.999).sum()),
            "at_smallest_candidate": int(((ratios < 0.999) & (ratios < 1.05 * smallest_candidate)).sum()),
            "median_ratio": float(np.median(ratios)), "min_ratio": float(ratios.min())}


# ----------------------------------------------------------------------------------------------------
# 4. Evaluate
# ----------------------------------------------------------------------------------------------------

def detect(run, processor, images, val_inputs, top_k: int) -> list[dict]:
    """COCO results for every image: HF post-processing, threshold 0, top `top_k`, original image size."""
    results = []
    for (image_id, image), x in zip(images, val_inputs):
        logits, boxes = run(x)
        outputs = SimpleNamespace(logits=torch.from_numpy(logits), pred_boxes=torch.from_numpy(boxes))
        # RT-DETR's post-processing keeps num_queries detections and takes no top_k.
        extra = {} if isinstance(processor, RTDetrImageProcessorPil) else {"top_k": top_k}
        detection = processor.post_process_object_detection(
            outputs, threshold=0.0, target_sizes=[(image.height, image.width)], **extra)[0]
        for score, label, (x0, y0, x1, y1) in zip(detection["scores"].tolist(), detection["labels"].tolist(),
                                                  detection["boxes"].tolist()):
            results.append({"image_id": image_id, "category_id": int(label),
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    return results


def coco_box_stats(val_json: str, image_ids: list[int], results: list[dict]) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO(val_json)
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(results), iouType="bbox")
        evaluator.params.imgIds = image_ids  # --limit-val: only the images that were run
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRICS, evaluator.stats)}


def print_table(rows: list[dict], reference: str) -> None:
    print()
    print(f"| variant | AP | AP50 | AP75 | AP loss vs {reference} (x100) |")
    print("|---|---|---|---|---|")
    for r in rows:
        s = r["stats"]
        print(f"| {r['variant']} | {s['AP'] * 100:.1f} | {s['AP50'] * 100:.1f} | {s['AP75'] * 100:.1f} | "
              f"{r['ap_loss_x100']:+.2f} |")
    print()


# ----------------------------------------------------------------------------------------------------

def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "numpy": np.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="hub-layout checkpoint folder")
    parser.add_argument("--calib", help="calibration images: a folder or a COCO json")
    parser.add_argument("--val", help="val split, COCO json (file_name relative to its folder)")
    parser.add_argument("--val-images", help="folder the val file_names are relative to (default: the json's)")
    parser.add_argument("--limit-val", type=int, help="evaluate the first N val images only")
    parser.add_argument("--limit-calib", type=int, help="calibrate on the first N images only")
    parser.add_argument("--size", type=parse_size, help="input HxW (default: preprocessor_config.json's fixed size)")
    parser.add_argument("--activation-type", choices=("int8", "uint8"), default="int8")
    parser.add_argument("--entropy-bins", type=int, default=2048, help="Entropy histogram bins (ORT default 128)")
    parser.add_argument("--entropy-quantized-bins", type=int, default=255,
                        help="Entropy quantized bins (ORT default 128)")
    parser.add_argument("--export-check-only", action="store_true",
                        help="export and compare ORT fp32 with PyTorch, then stop (no dataset needed)")
    parser.add_argument("--check-images", type=int, default=4, help="images for the ORT fp32 vs PyTorch check")
    parser.add_argument("--work-dir", help="keep the .onnx files here (default: a temporary folder)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if not args.export_check_only and not (args.calib and args.val):
        parser.error("--calib and --val are required unless --export-check-only")

    torch.set_num_threads(THREADS)
    timings: dict[str, float] = {}
    report: dict = {"command": "HF_HUB_OFFLINE=1 " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
                    "model": args.model, "versions": versions(), "timings_s": timings}

    start = time.perf_counter()
    model, family = load_hub_model(args.model)
    processor, size = load_processor(args.model, args.size, any_size=args.export_check_only)
    timings["load"] = time.perf_counter() - start
    report.update(family=family, input_size_hw=list(size))

    if args.val:
        coco, val_images = load_coco_images(args.val, args.val_images, args.limit_val)
        check_images = [image for _, image in val_images[:args.check_images]]
    else:  # export check without a dataset: seeded random images at the input size
        rng = np.random.default_rng(0)
        check_images = [Image.fromarray(rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8))
                        for _ in range(args.check_images)]

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        os.makedirs(work, exist_ok=True)
        fp32_path = os.path.join(work, f"{family}_fp32.onnx")

        start = time.perf_counter()
        casts = export_onnx(model, size, fp32_path)
        timings["export"] = time.perf_counter() - start
        logits_diff, boxes_diff = compare_with_torch(
            model, ort_session(fp32_path), [pixel_values(processor, image) for image in check_images])
        log(f"exported {fp32_path} (opset {OPSET}, {size[0]}x{size[1]}, {casts} float64->float32 Casts for "
            f"GridSample) in {timings['export']:.0f}s; ORT fp32 vs PyTorch on {len(check_images)} images: "
            f"max |diff| logits {logits_diff:.1e}, boxes {boxes_diff:.1e}")
        report["export"] = {"opset": OPSET, "gridsample_casts": casts, "check_images": len(check_images),
                            "max_abs_diff_logits": logits_diff, "max_abs_diff_boxes": boxes_diff}
        if args.export_check_only:
            write_json(args.json, report)
            return

        start = time.perf_counter()
        calibration = [pixel_values(processor, image) for image in load_calibration_images(args.calib, args.limit_calib)]
        val_inputs = [pixel_values(processor, image) for _, image in val_images]
        timings["preprocess"] = time.perf_counter() - start
        log(f"{len(calibration)} calibration images, {len(val_images)} val images")

        start = time.perf_counter()
        prepared_path = os.path.join(work, f"{family}_fp32_prepared.onnx")
        quant_pre_process(fp32_path, prepared_path)
        timings["quant_pre_process"] = time.perf_counter() - start

        entropy_bins(args.entropy_bins, args.entropy_quantized_bins)
        activation_type = QuantType.QInt8 if args.activation_type == "int8" else QuantType.QUInt8
        variants = [("PyTorch fp32", torch_runner(model)), ("ORT fp32", ort_runner(ort_session(fp32_path)))]
        quantized_ops = {}
        for method in (CalibrationMethod.MinMax, CalibrationMethod.Entropy):
            name = f"ORT int8 {method.name}"
            path = os.path.join(work, f"{family}_int8_{method.name.lower()}.onnx")
            start = time.perf_counter()
            quantize(prepared_path, path, calibration, method, activation_type)
            timings[f"quantize_{method.name.lower()}"] = time.perf_counter() - start
            quantized_ops[name] = count_quantized_ops(path)
            log(f"{name}: quantized in {timings[f'quantize_{method.name.lower()}']:.0f}s; "
                f"ops reading int8: {quantized_ops[name]}")
            variants.append((name, ort_runner(ort_session(path))))

        narrowing = compare_scales(*(os.path.join(work, f"{family}_int8_{m}.onnx") for m in ("minmax", "entropy")),
                                   args.entropy_quantized_bins / args.entropy_bins)
        log(f"Entropy vs MinMax activation scales: {narrowing['narrowed']} of {narrowing['activations']} narrower "
            f"({narrowing['at_smallest_candidate']} at the narrowest candidate), median ratio "
            f"{narrowing['median_ratio']:.3f}, min {narrowing['min_ratio']:.3f}")

        image_ids = [image_id for image_id, _ in val_images]
        rows = []
        for name, run in variants:
            start = time.perf_counter()
            stats = coco_box_stats(args.val, image_ids, detect(run, processor, val_images, val_inputs,
                                                                          TOP_K.get(family, DEFAULT_TOP_K)))
            timings[f"eval {name}"] = time.perf_counter() - start
            rows.append({"variant": name, "stats": stats})
            log(f"{name}: AP {stats['AP'] * 100:.1f} AP50 {stats['AP50'] * 100:.1f} AP75 {stats['AP75'] * 100:.1f} "
                f"({timings[f'eval {name}']:.0f}s)")

    reference = "PyTorch fp32"
    base = next(r for r in rows if r["variant"] == reference)["stats"]["AP"]
    for r in rows:
        r["ap_loss_x100"] = round((base - r["stats"]["AP"]) * 100, 4) + 0.0  # + 0.0: no "-0.00"
    print_table(rows, reference)
    report.update(
        val=args.val, val_images=len(val_images), calib=args.calib, calib_images=len(calibration),
        quantization={"format": "QDQ", "per_channel": True, "reduce_range": False,
                      "activation_type": activation_type.name, "weight_type": "QInt8",
                      "activation_symmetric": False, "weight_symmetric": True, "quant_pre_process": True,
                      "entropy_num_bins": args.entropy_bins,
                      "entropy_num_quantized_bins": args.entropy_quantized_bins,
                      "ops_reading_int8": quantized_ops, "entropy_vs_minmax_scales": narrowing},
        postprocess={"threshold": 0.0, "top_k": TOP_K.get(family, DEFAULT_TOP_K)}, reference=reference, rows=rows)
    write_json(args.json, report)
    print(f"command: {report['command']}")


def write_json(path: str | None, report: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
