"""Edge deployment benchmark: size, batch-1 latency on one thread and accuracy of every deployable model as
torch eager, ONNX Runtime fp32 and ONNX Runtime int8 (static, calibrated on a calibration split of the logged
data; dynamic int8 reported beside it).

    python bench/edge.py                                   # all models
    python bench/edge.py --models mono_depth har_classifier

Training and exporting run unlocked; the latency measurements of each model run under the shared bench
lock (/tmp/robossl-bench.lock), taken here, so that no other timing benchmark runs at the same time. Run
under ``flock /tmp/robossl-bench.lock`` the script notices its parent holds the lock and does not re-take it.

Every model goes the deployment path: trained briefly with its pipeline's public API (tiny budgets; a
checkpoint given with --checkpoint-dir/<model>.pt is used instead), saved with save_checkpoint, rebuilt by
the export kind registry, exported with ``export_onnx`` and quantised. Latency is measured interleaved
(torch, fp32, int8 static, int8 dynamic in turn, every round) so that load from other processes on the
shared machine hits all variants alike. Targets (issue #10), compared in the same run: ORT fp32 >= 1.5x
faster than torch eager on the mono depth model; int8 accuracy drop <= 1 point (<= 0.02 AbsRel).

Writes bench/results/edge.json: {"results": {"<model>": {"torch_p50_ms", "ort_fp32_p50_ms",
"ort_int8_p50_ms", "metric_fp32", "metric_int8", ...}}}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Target, bench_lock, print_table, print_targets, write_results  # noqa: E402

from robossl.export.complexity import count_macs_onnx, count_parameters  # noqa: E402
from robossl.export.kinds import Deployable, load_deployable  # noqa: E402
from robossl.export.onnx_export import export_onnx  # noqa: E402
from robossl.export.quantize import StaticQuantConfig, quantize_dynamic_int8, quantize_static_int8  # noqa: E402
from robossl.export.runtime import OnnxModel  # noqa: E402
from robossl.online.checkpoint import save_checkpoint  # noqa: E402

Predict = Callable[[np.ndarray], np.ndarray]
# Convolutions carry almost all MACs; quantising the small fully connected heads too cost the terrain
# embedding 1.4 points of 1-NN accuracy (measured: 40.6 fp32, 39.2 all ops int8, 40.8 conv-only int8).
INT8_CONFIG = StaticQuantConfig(op_types=("Conv",))


@dataclass
class Case:
    """One deployable model with its data and metric."""

    name: str  # result key
    checkpoint: Path  # robossl checkpoint the deployment path starts from
    calibration: list[np.ndarray]  # batch-1 normalised inputs from the calibration split
    eval_inputs: np.ndarray  # (N, ...) normalised held-out inputs
    metric: Callable[[Predict], float]  # metric of a predictor (batch -> first output)
    metric_name: str  # e.g. "AbsRel vs stereo (lower is better)"
    higher_is_better: bool
    notes: list[str] = field(default_factory=list)  # data, budget, caveats


# -- models ---------------------------------------------------------------------------------------------


def mono_depth_case(folder: Path, steps: int) -> Case:
    """Stereo -> mono student trained on EuRoC frames 0-69 with the SGBM teacher; evaluated on 70-94."""
    import cv2

    from robossl.data.datasets.euroc import EurocSequence
    from robossl.data.locate import require_data
    from robossl.pipelines.stereo_mono import StereoCalibration, StereoMonoConfig, StereoMonoPipeline, absrel
    from robossl.pipelines.stereo_mono.learner import make_sample

    seq = EurocSequence(require_data("stereo/euroc_v1_01_easy_micro"))
    config = StereoMonoConfig.from_dict({"rectified_width": 320, "trainer": {"batch_size": 8}})
    pipeline = StereoMonoPipeline(config, StereoCalibration.from_euroc(seq.left_sensor, seq.right_sensor))
    split = 70
    for index in range(split):
        frame = seq[index]
        pipeline.process(frame.left, frame.right, frame.stamp_ns * 1e-9)
    pipeline.train_steps(steps)
    ckpt = folder / "mono_depth.pt"
    pipeline.save(ckpt, include_replay=False)

    size = pipeline.student_size
    calibration: list[np.ndarray] = []  # training-split frames: the "logged data" static int8 calibrates on
    images, depths, masks = [], [], []
    for index in range(len(seq)):
        frame = seq[index]
        left, right = pipeline.rectifier.rectify(frame.left, frame.right)
        if index < split:
            if index % 3 == 0:
                small = cv2.resize(left, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                calibration.append((small[None, None] / 255.0).astype(np.float32))
            continue
        stereo = pipeline.teacher(left, right)
        confidence = np.where(stereo.confidence >= config.confidence_threshold, stereo.confidence, 0.0)
        sample = make_sample(left, stereo.depth, confidence.astype(np.float32), size)
        images.append(sample["image"])
        depths.append(sample["depth"].astype(np.float32))
        masks.append(sample["confidence"].astype(np.float32) > 0)
    eval_inputs = (np.stack(images)[:, None] / 255.0).astype(np.float32)
    depth_gt, mask_gt = np.stack(depths), np.stack(masks)

    def metric(predict: Predict) -> float:
        pred = np.concatenate([predict(eval_inputs[i : i + 8]) for i in range(0, len(eval_inputs), 8)])[:, 0]
        return float(np.nanmean([absrel(p, d, m) for p, d, m in zip(pred, depth_gt, mask_gt)]))

    return Case(
        "mono_depth",
        ckpt,
        calibration,
        eval_inputs,
        metric,
        "AbsRel vs confident SGBM stereo depth on held-out EuRoC frames 70-94 (lower is better)",
        higher_is_better=False,
        notes=[
            f"EuRoC V1_01 micro: {split} frames for training / calibration, {len(eval_inputs)} held out "
            "(the last 1.25 s of the same 4.75 s flight: views close to the training frames, so the AbsRel "
            "is optimistic as a generalisation figure; it serves to compare fp32 and int8)",
            f"StereoMonoPipeline defaults (student {size[1]}x{size[0]}, width 1.0), {steps} synchronous steps",
        ],
    )


def har_case(folder: Path, steps: int) -> Case:
    """ActRecTut gesture, right-hand IMU: classifier trained on subject 1, macro-F1 on subject 2."""
    from robossl.backbones.imu import ImuConvEncoder
    from robossl.data.datasets.actrectut import load_actrectut
    from robossl.pipelines.collossl.evaluation import ClassifierConfig, macro_f1, predict, train_classifier
    from robossl.pipelines.collossl.windows import DeviceNormalizer, WindowConfig, window_recording

    task = "gesture"
    windows = [window_recording(load_actrectut(subject=s, task=task), WindowConfig()) for s in (1, 2)]
    device = windows[0].device_names[0]
    normalizer = DeviceNormalizer().fit(windows[0])
    train = normalizer.transform(windows[0])
    test = normalizer.transform(windows[1])
    x_train, y_train = train.windows[device], train.labels
    x_test, y_test = test.windows[device], test.labels
    class_names = list(load_actrectut(subject=1, task=task).class_names)
    torch.manual_seed(0)
    encoder = ImuConvEncoder(x_train.shape[2])
    classifier = train_classifier(
        encoder, x_train, y_train, len(class_names), ClassifierConfig(steps=steps, batch_size=64)
    )
    ckpt = folder / "har_classifier.pt"
    save_checkpoint(
        ckpt,
        {
            "classifier": classifier.state_dict(),
            "class_names": class_names,
            "normalizer": normalizer.state_dict(),
            "device": device,
            "window_length": int(x_train.shape[1]),
        },
    )
    rng = np.random.default_rng(0)
    calibration = [x_train[i : i + 1] for i in rng.choice(len(x_train), 64, replace=False)]
    del predict  # the metric uses the deployed outputs directly

    def metric(run: Predict) -> float:
        logits = np.concatenate([run(x_test[i : i + 256]) for i in range(0, len(x_test), 256)])
        return 100.0 * macro_f1(y_test, logits.argmax(1))

    return Case(
        "har_classifier",
        ckpt,
        calibration,
        x_test,
        metric,
        "macro-F1 % on ActRecTut gesture subject 2 (higher is better)",
        higher_is_better=True,
        notes=[
            f"device {device}, 1 s windows; supervised training on subject 1 ({len(x_train)} windows, "
            f"{steps} steps, random init: the ColloSSL-pretrained encoder would be loaded the same way)",
        ],
    )


def terrain_embedding_case(folder: Path, steps: int) -> Case:
    """BorealTC vibration spectrograms; embedder trained with batch-hard triplets over temporal groups
    (self-supervised: same run and same 10 s stretch = positive); metric: 1-NN terrain accuracy of the
    embeddings on held-out runs (labels only for scoring)."""
    from robossl.data.datasets.borealtc import load_borealtc, make_windows, split_by_run
    from robossl.pipelines.terrain.embedding import EmbeddingConfig, TripletEmbeddingLearner
    from robossl.pipelines.terrain.features import VIBRATION_SPECTROGRAM, vibration_spectrogram
    from robossl.pipelines.terrain.mining import temporal_groups

    windows = make_windows(load_borealtc())
    train_mask, test_mask = split_by_run(windows)
    train_w, test_w = windows.subset(train_mask), windows.subset(test_mask)
    spec_train = vibration_spectrogram(train_w.imu, train_w.pro).float()
    spec_test = vibration_spectrogram(test_w.imu, test_w.pro).float()
    groups = torch.from_numpy(temporal_groups(train_w.run_ids, train_w.start_times, 10.0))
    learner = TripletEmbeddingLearner(EmbeddingConfig(in_channels=spec_train.shape[1]), seed=0)
    learner.model.set_normalization(spec_train)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(spec_train), (128,), generator=generator)
        learner.step_groups(spec_train[index], groups[index])
    ckpt = folder / "terrain_embedding.pt"
    state = learner.state_dict()
    state["input_shape"] = list(spec_train.shape[1:])
    state["spectrogram"] = {
        k: getattr(VIBRATION_SPECTROGRAM, k) for k in ("sample_rate", "n_fft", "hop_length")
    }
    save_checkpoint(ckpt, state)
    x_train, x_test = spec_train.numpy(), spec_test.numpy()
    y_train, y_test = train_w.labels, test_w.labels
    rng = np.random.default_rng(0)
    calibration = [x_train[i : i + 1] for i in rng.choice(len(x_train), 64, replace=False)]

    def metric(run: Predict) -> float:
        def embed(x: np.ndarray) -> np.ndarray:
            return np.concatenate([run(x[i : i + 256]) for i in range(0, len(x), 256)])

        reference, query = embed(x_train), embed(x_test)
        nearest = np.argmax(query @ reference.T, axis=1)
        return 100.0 * float(np.mean(y_train[nearest] == y_test))

    return Case(
        "terrain_embedding",
        ckpt,
        calibration,
        x_test,
        metric,
        "1-NN terrain accuracy % of embeddings on held-out BorealTC runs (higher is better)",
        higher_is_better=True,
        notes=[
            f"BorealTC IMU + wheel odometry, {spec_train.shape[1]}-channel STFT {tuple(spec_train.shape[2:])}; "
            f"{steps} batch-hard triplet steps on temporal groups (no labels in training)",
        ],
    )


def terrain_segmentation_case(folder: Path, steps: int) -> Case:
    """Rover world (MuJoCo, sim/robossl_sim): segmentation trained on training-map drives, mIoU on a
    held-out map against the renderer's ground-truth terrain masks."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from robossl.pipelines.terrain.projection import IGNORE_INDEX
    from robossl.pipelines.terrain.segmentation import SegmentationConfig, SegmentationLearner, mean_iou
    from robossl_sim.worlds.rover import RoverConfig, RoverWorld, record_drive

    config = RoverConfig()
    rng = np.random.default_rng(0)
    drives = {}
    for split, seed, seconds in (("train", 1, 40.0), ("heldout", 2, 20.0)):
        with RoverWorld(seed, split, config) as world:
            drives[split] = record_drive(world, seconds, rng, image_period_s=0.25)
    train_images = drives["train"].images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    train_masks = drives["train"].terrain_masks.astype(np.int64)
    learner = SegmentationLearner(SegmentationConfig(num_classes=config.num_terrains), seed=0)
    learner.set_class_weights(train_masks)
    images_t, masks_t = torch.from_numpy(train_images), torch.from_numpy(train_masks)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(images_t), (8,), generator=generator)
        learner.step(images_t[index], masks_t[index])
    ckpt = folder / "terrain_segmentation.pt"
    state = {"segmenter": learner.state_dict(), "segmenter_classes": config.num_terrains}
    state["input_shape"] = [3, config.image_height, config.image_width]
    save_checkpoint(ckpt, state)
    eval_inputs = drives["heldout"].images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    eval_masks = drives["heldout"].terrain_masks.astype(np.int64)
    calibration = [train_images[i : i + 1] for i in range(0, len(train_images), 3)]

    def metric(run: Predict) -> float:
        logits = np.concatenate([run(eval_inputs[i : i + 16]) for i in range(0, len(eval_inputs), 16)])
        return 100.0 * mean_iou(logits.argmax(1), eval_masks, config.num_terrains, IGNORE_INDEX)[0]

    return Case(
        "terrain_segmentation",
        ckpt,
        calibration,
        eval_inputs,
        metric,
        "mIoU % vs rendered ground truth on a held-out rover map (higher is better)",
        higher_is_better=True,
        notes=[
            f"MuJoCo rover world {config.image_width}x{config.image_height}, {len(train_images)} training frames "
            f"(map seed 1), {len(eval_inputs)} held-out frames (map seed 2, split heldout)",
            f"{steps} steps supervised by the renderer's terrain masks as a stand-in for the pipeline's "
            "track-projected cluster labels (same network, same checkpoint -> export path)",
        ],
    )


CASES: dict[str, tuple[Callable[[Path, int], Case], int]] = {
    "mono_depth": (mono_depth_case, 150),
    "har_classifier": (har_case, 300),
    "terrain_embedding": (terrain_embedding_case, 150),
    "terrain_segmentation": (terrain_segmentation_case, 150),
}


# -- measurement ----------------------------------------------------------------------------------------


def _torch_predict(deployable: Deployable) -> Predict:
    module = deployable.module.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(x))
        first = next(iter(out.values())) if isinstance(out, dict) else out
        return first.numpy()

    return run


def _ort_predict(path: Path) -> Predict:
    model = OnnxModel(path, threads=1)
    first = model.output_names[0]
    return lambda x: model.run({model.input_names[0]: x})[first]


def latency(
    predictors: dict[str, Predict], x: np.ndarray, rounds: int, warmup: int = 10
) -> dict[str, np.ndarray]:
    """Per-call wall times in ms, measured round-robin across the predictors."""
    for _ in range(warmup):
        for run in predictors.values():
            run(x)
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, run in predictors.items():
            start = time.perf_counter()
            run(x)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: np.asarray(t) for name, t in times.items()}


def bench_case(case: Case, folder: Path, rounds: int) -> dict[str, Any]:
    deployable = load_deployable(case.checkpoint)
    fp32 = folder / f"{case.name}.onnx"
    report = export_onnx(deployable.module, deployable.example_inputs, fp32, deployable.metadata)
    static = quantize_static_int8(
        fp32, folder / f"{case.name}.int8_static.onnx", case.calibration, INT8_CONFIG
    )
    dynamic = quantize_dynamic_int8(fp32, folder / f"{case.name}.int8_dynamic.onnx")
    predictors = {
        "torch": _torch_predict(deployable),
        "ort_fp32": _ort_predict(fp32),
        "ort_int8": _ort_predict(static),
        "ort_int8_dynamic": _ort_predict(dynamic),
    }
    # Parity on the real held-out inputs, every output.
    torch_out = predictors["torch"](case.eval_inputs[:16])
    parity = float(np.abs(predictors["ort_fp32"](case.eval_inputs[:16]) - torch_out).max())
    metrics = {name: case.metric(run) for name, run in predictors.items()}
    with bench_lock():
        times = latency(predictors, case.eval_inputs[:1], rounds)
    sign = 1.0 if case.higher_is_better else -1.0
    row: dict[str, Any] = {
        "parameters": count_parameters(deployable.module),
        "macs": count_macs_onnx(fp32).total,
        "input_shape": list(case.eval_inputs.shape[1:]),
        "parity_max_abs_diff_real": parity,
        "parity_max_abs_diff_example": report.max_abs_diff,
        "onnx_bytes": fp32.stat().st_size,
        "int8_bytes": static.stat().st_size,
    }
    for name, t in times.items():
        row[f"{name}_p50_ms"] = float(np.percentile(t, 50))
        row[f"{name}_p99_ms"] = float(np.percentile(t, 99))
    row["speedup_ort_fp32_vs_torch"] = row["torch_p50_ms"] / row["ort_fp32_p50_ms"]
    row["speedup_ort_int8_vs_fp32"] = row["ort_fp32_p50_ms"] / row["ort_int8_p50_ms"]
    row["metric"] = case.metric_name
    row["metric_torch"] = metrics["torch"]
    row["metric_fp32"] = metrics["ort_fp32"]
    row["metric_int8"] = metrics["ort_int8"]
    row["metric_int8_dynamic"] = metrics["ort_int8_dynamic"]
    # Positive = worse, in the metric's units (points for % metrics, AbsRel units for depth).
    row["int8_drop"] = sign * (metrics["ort_fp32"] - metrics["ort_int8"])
    row["int8_dynamic_drop"] = sign * (metrics["ort_fp32"] - metrics["ort_int8_dynamic"])
    row["int8_variant"] = (
        f"static QDQ, per-channel, {INT8_CONFIG.calibrate_method} over {len(case.calibration)} calibration-split "
        f"inputs; int8 ops {list(INT8_CONFIG.op_types)} (fully connected heads stay float)"
    )
    row["timing_rounds"] = rounds
    row["notes"] = case.notes
    return row


def targets(results: dict[str, Any]) -> list[Target]:
    """Issue #10: ORT fp32 >= 1.5x torch eager on mono depth; int8 drop <= 0.02 AbsRel (depth), <= 1 point."""
    declared = []
    if "mono_depth" in results:
        speedup = results["mono_depth"]["speedup_ort_fp32_vs_torch"]
        declared.append(Target("mono_depth ORT fp32 / torch speedup (x)", speedup, ">=", 1.5, "issue #10"))
    for name, r in results.items():
        limit = 0.02 if name == "mono_depth" else 1.0
        declared.append(Target(f"{name} int8 drop ({r['metric']})", r["int8_drop"], "<=", limit, "issue #10"))
    return declared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=200, help="timed batch-1 calls per variant")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every training budget")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="use <dir>/<model>.pt if present")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="robossl-edge-") as scratch:
        folder = Path(scratch)
        for name in args.models:
            make, steps = CASES[name]
            start = time.perf_counter()
            print(f"[{name}] training / loading ...", flush=True)
            case = make(folder, max(1, int(steps * args.steps_scale)))
            if args.checkpoint_dir and (args.checkpoint_dir / f"{name}.pt").is_file():
                case.checkpoint = args.checkpoint_dir / f"{name}.pt"
                case.notes.append(f"weights from {case.checkpoint}")
            print(f"[{name}] exporting, quantising, timing ...", flush=True)
            results[name] = bench_case(case, folder, args.rounds)
            results[name]["bench_seconds"] = round(time.perf_counter() - start, 1)
    rows = [
        {
            "model": name,
            "params": r["parameters"],
            "MMACs": r["macs"] / 1e6,
            "torch p50": r["torch_p50_ms"],
            "fp32 p50": r["ort_fp32_p50_ms"],
            "int8 p50": r["ort_int8_p50_ms"],
            "fp32/torch": r["speedup_ort_fp32_vs_torch"],
            "metric fp32": r["metric_fp32"],
            "metric int8": r["metric_int8"],
            "int8 drop": r["int8_drop"],
            "parity": r["parity_max_abs_diff_real"],
        }
        for name, r in results.items()
    ]
    print_table(rows)
    print_targets(targets(results))
    path = write_results("edge", results, targets=targets(results), threads=1)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
