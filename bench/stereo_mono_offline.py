"""Offline sections of the stereo -> mono bench (bench/stereo_mono.py): Middlebury, EuRoC, speed on one core.

1. Middlebury motorcycle (scikit-image): SGBM bad-pixel rate at 3 px on pixels where both SGBM and the
   ground truth have a disparity, and the density of SGBM's valid pixels.
2. EuRoC V1_01 micro excerpt (95 real stereo pairs): online learning with replay over the frames in order,
   mono-vs-stereo agreement scored on each frame before training on it (prequential).
3. Speed on one core: SGBM at 376x240, student inference with ONNX Runtime at 128x160, pipeline throughput
   on EuRoC with the background trainer running.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

MIDDLEBURY_BAD3 = 0.20  # target: share of SGBM's valid pixels more than 3 px off the ground truth


def quiet() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def one_thread_worker() -> None:
    """Worker processes: one thread each for torch and OpenCV (the workers share the machine's cores)."""
    import cv2

    quiet()
    cv2.setNumThreads(1)


def offline_job(euroc_steps: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Middlebury and EuRoC (runs in a worker process)."""
    one_thread_worker()
    mb = middlebury()
    eu, detail = euroc(euroc_steps)
    return mb, eu, detail


# -- 1. Middlebury -----------------------------------------------------------------------------------------
def middlebury() -> dict[str, Any]:
    from skimage import data

    from robossl.pipelines.stereo_mono import SGBMConfig, StereoTeacher

    left, right, truth = data.stereo_motorcycle()
    teacher = StereoTeacher(100.0, 1.0, SGBMConfig(num_disparities=64, block_size=5))
    result = teacher(left, right)
    gt_valid = np.isfinite(truth)
    both = result.valid & gt_valid
    error = np.abs(result.disparity[both] - truth[both])
    confident = both & (result.confidence >= 0.3)
    return {
        "image": f"{left.shape[1]}x{left.shape[0]}",
        "bad3_valid": float(np.mean(error > 3.0)),
        "bad1_valid": float(np.mean(error > 1.0)),
        "density": float(both.sum() / gt_valid.sum()),
        "bad3_confident": float(np.mean(np.abs(result.disparity - truth)[confident] > 3.0)),
        "confident_density": float(confident.sum() / gt_valid.sum()),
        "target_bad3": MIDDLEBURY_BAD3,
    }


# -- 2. EuRoC ----------------------------------------------------------------------------------------------
def euroc_pipeline(rectified_width: int = 376, backend: str = "torch"):
    from robossl.data.datasets.euroc import EurocSequence
    from robossl.data.locate import require_data
    from robossl.pipelines.stereo_mono import StereoCalibration, StereoMonoConfig, StereoMonoPipeline

    sequence = EurocSequence(require_data("stereo/euroc_v1_01_easy_micro"))
    calibration = StereoCalibration.from_euroc(sequence.left_sensor, sequence.right_sensor)
    config = StereoMonoConfig.from_dict(
        {
            "rectified_width": rectified_width,
            "sgbm": {"num_disparities": 48},
            "student": {"input_height": 64, "input_width": 96},
            "trainer": {"batch_size": 8},
            "replay_capacity": 95,
            "replay_policy": "diversity",
            "inference_backend": backend,
        }
    )
    return sequence, StereoMonoPipeline(config, calibration)


def delta_accuracy(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    usable = mask & np.isfinite(target) & (target > 0)
    if not usable.any():
        return float("nan")
    ratio = np.maximum(pred[usable] / target[usable], target[usable] / pred[usable])
    return float(np.mean(ratio < 1.25))


def euroc(steps_per_frame: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    torch.manual_seed(0)
    sequence, pipeline = euroc_pipeline()
    rows = []
    example = None
    for index, frame in enumerate(sequence):
        out = pipeline.process(frame.left, frame.right, frame.stamp_ns * 1e-9)
        confident = out.confidence >= pipeline.config.confidence_threshold
        assert out.mono_depth is not None
        rel_distance = abs(out.mono_distance - out.stereo_distance) / out.stereo_distance
        rows.append(
            {
                "frame": index,
                "absrel": out.mono_absrel,
                "delta125": delta_accuracy(out.mono_depth, out.stereo_depth, confident),
                "distance_relerr": rel_distance,
                "confident_fraction": float(confident.mean()),
            }
        )
        pipeline.train_steps(steps_per_frame, publish=True)
        if index == len(sequence) - 1:
            example = (frame.left, out)
    first, last = rows[:20], rows[-20:]

    def mean(part: list[dict[str, float]], key: str) -> float:
        return float(np.nanmean([r[key] for r in part]))

    summary = {
        "frames": len(rows),
        "train_steps": pipeline.trainer.steps,
        "steps_per_frame": steps_per_frame,
        "rectified": f"{pipeline.rectifier.output_size[0]}x{pipeline.rectifier.output_size[1]}",
        "baseline_m": pipeline.rectifier.baseline_m,
        "stereo_confident_fraction": mean(rows, "confident_fraction"),
        "mono_vs_stereo_absrel_first20": mean(first, "absrel"),
        "mono_vs_stereo_absrel_last20": mean(last, "absrel"),
        "mono_vs_stereo_delta125_first20": mean(first, "delta125"),
        "mono_vs_stereo_delta125_last20": mean(last, "delta125"),
        "distance_relerr_first20": mean(first, "distance_relerr"),
        "distance_relerr_last20": mean(last, "distance_relerr"),
        "note": "prequential: each frame is scored before the learner trains on it; no ground truth in the excerpt",
    }
    return summary, {"rows": rows, "example": example}


# -- 3. Speed ----------------------------------------------------------------------------------------------
def rate(function, seconds: float = 2.0) -> float:
    function()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def speed(seconds: float) -> dict[str, Any]:
    from robossl.pipelines.stereo_mono import MonoDepthNet, StudentConfig, count_parameters
    from robossl.pipelines.stereo_mono.onnx_runtime import OnnxDepthRunner, export_student_onnx

    sequence, pipeline = euroc_pipeline(backend="onnxruntime")
    frame = sequence[10]
    left, right = pipeline.rectifier.rectify(frame.left, frame.right)
    sgbm_hz = rate(lambda: pipeline.teacher(left, right), seconds)
    student = MonoDepthNet(StudentConfig())
    runner = OnnxDepthRunner(export_student_onnx(student, 128, 160), threads=1)
    image = (np.random.default_rng(0).random((128, 160)) * 255).astype(np.uint8)
    onnx_hz = rate(lambda: runner(image), seconds)

    # pipeline throughput on EuRoC while the background trainer runs (half a core budget)
    for index in range(0, 95, 3):
        f = sequence[index]
        pipeline.process(f.left, f.right, f.stamp_ns * 1e-9)
    frames = [sequence[i] for i in range(0, 95, 5)]
    idle_hz = rate(lambda: pipeline.process(frames[0].left, frames[0].right, 0.0), seconds)
    pipeline.config.trainer.cpu_fraction = 0.5
    pipeline.start_learning()
    counter = {"i": 0}

    def step() -> None:
        f = frames[counter["i"] % len(frames)]
        counter["i"] += 1
        pipeline.process(f.left, f.right, f.stamp_ns * 1e-9)

    try:
        training_hz = rate(step, 2 * seconds)
    finally:
        pipeline.stop_learning()
    return {
        "sgbm_hz_376x240": sgbm_hz,
        "sgbm_disparities": pipeline.config.sgbm.num_disparities,
        "student_params": count_parameters(student),
        "student_onnx_hz_128x160": onnx_hz,
        "pipeline_hz_376x240_idle": idle_hz,
        "pipeline_hz_376x240_while_training": training_hz,
        "train_steps_during_measurement": pipeline.trainer.steps,
        "camera_hz": sequence.left_sensor.rate_hz,
        "note": "one core: torch.set_num_threads(1), ONNX Runtime intra_op_num_threads=1; the machine is shared",
    }
