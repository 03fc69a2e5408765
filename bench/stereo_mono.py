"""Persistent stereo -> mono depth: closed-loop flight, real EuRoC frames, Middlebury, speed.

Run: ``python bench/stereo_mono.py`` (``--quick`` for a smoke run with short flights). The timing section
takes ``/tmp/robossl-bench.lock`` itself (the simulated flights are measured in simulated time and do not
need it), so do not wrap the whole script in ``flock``.

1. Middlebury motorcycle (scikit-image): SGBM bad-pixel rate at 3 px on pixels where both SGBM and the
   ground truth have a disparity (target <= 20 %), and the density of SGBM's valid pixels.
2. EuRoC V1_01 micro excerpt (95 real stereo pairs): rectify, SGBM, online learning with replay over the
   frames in order; mono-vs-stereo agreement on confident pixels is measured on each frame BEFORE training on
   it (prequential), and reported for the first and last 20 frames.
3. Speed on one core: SGBM at 376x240, student inference with ONNX Runtime at 128x160, and pipeline
   throughput on EuRoC with the background trainer running (must stay above the 20 Hz camera rate).
4. Closed loop in the MuJoCo drone room: a student pretrained offline on stereo flights in training rooms,
   then ``--seeds`` held-out rooms x {stereo_only, mono_only, persistent} x ``--minutes`` simulated minutes:
   collisions per 100 m, share of time on mono, mono AbsRel against simulator ground truth. Each collision
   is logged with the cue that was flying and both cues' distances in the frames before it. The comparison
   is paired by room (every condition flies the same rooms): per room, persistent minus stereo_only (and
   mono_only minus stereo_only) in collisions per 100 m and in collisions, with the mean over rooms and
   its 95 % interval (t over rooms = headline, and a paired bootstrap over rooms): a handful of collisions
   per condition is no evidence either way, the interval says whether the difference is.

Defaults: 10 held-out rooms x 6 simulated minutes. Ten rooms is the least the issue accepts (t with 9
degrees of freedom; the bootstrap is too narrow below ~10). The minutes follow from the wall-time budget of
about 40 minutes on the shared 2-core machine: 3 rooms x 3 conditions x 10 minutes (90 flight-minutes) took
10.9 minutes, about 4 of them fixed (pretraining, EuRoC, speed), so ~0.08 wall minutes per flight-minute;
10 x 3 x 6 = 180 flight-minutes is ~20 minutes on a quiet machine (the committed run took 65 under load
average 5-7 from other jobs: the learning flights' training steps slow down most). Longer flights would
make each room's count less noisy, more rooms sample the room-to-room spread: ``--seeds`` and ``--minutes``
trade them.

Sections 1, 2 and 4 run in ``--workers`` processes (one torch / OpenCV thread each): pretraining, EuRoC and
the stereo_only flights (which need no student) start together; the student's flights start when the
pretrained checkpoint exists.

Pictures go to bench/results/stereo_mono_*.png.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))

import numpy as np  # noqa: E402
from _common import RESULTS_DIR, print_table, write_results  # noqa: E402

from robossl.eval.intervals import PairedDifference, paired_difference  # noqa: E402

TARGETS = {
    "middlebury_bad3": 0.20,
    "sgbm_hz_376x240": 30.0,
    "student_onnx_hz_128x160": 60.0,
    "mono_time_fraction": 0.70,
    "absrel": 0.25,
}

SIM_SETTINGS: dict[str, Any] = {
    "sgbm": {"num_disparities": 48},
    "student": {"input_height": 64, "input_width": 96},
    "trainer": {"batch_size": 8, "publish_every_steps": 25},
    "inference_backend": "onnxruntime",
}


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


def pretrain_job(job: tuple[int, float, int, str, float]) -> dict[str, Any]:
    """Offline pretraining (runs in a worker process)."""
    rooms, seconds, steps, checkpoint, camera_hz = job
    one_thread_worker()
    return pretrain(rooms, seconds, steps, Path(checkpoint), camera_hz)


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
        "target_bad3": TARGETS["middlebury_bad3"],
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


@contextlib.contextmanager
def bench_lock(path: str = "/tmp/robossl-bench.lock") -> Iterator[None]:
    """Hold the shared benchmark lock (``flock``) so no other timing benchmark runs meanwhile."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


# -- 4. Closed loop ----------------------------------------------------------------------------------------
def pretrain(rooms: int, seconds: float, steps: int, checkpoint: Path, camera_hz: float) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, pretrain_student
    from robossl_sim.worlds.drone_room import DroneRoom

    torch.manual_seed(0)
    settings = {
        **SIM_SETTINGS,
        "switching": {"policy": "stereo_only"},
        "run_mono_in_stereo_mode": False,
        "replay_capacity": 2000,
    }
    with DroneRoom(0) as room:
        calibration = room.calibration
    pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), calibration)
    start = time.perf_counter()
    with tqdm(total=steps, desc="pretraining student", mininterval=30) as bar:
        losses = pretrain_student(
            pipeline,
            list(range(rooms)),
            seconds,
            steps,
            flight=FlightConfig(camera_hz=camera_hz),
            progress=lambda _: bar.update(),
        )
    pipeline.save(checkpoint, include_replay=False)
    return {
        "rooms": rooms,
        "seconds_per_room": seconds,
        "labelled_frames": pipeline.frames_labelled,
        "steps": steps,
        "losses": losses,
        "wall_s": time.perf_counter() - start,
    }


def run_condition(job: tuple[str, int, float, str, float, int]) -> dict[str, Any]:
    """One flight (runs in a worker process)."""
    condition, seed, minutes, checkpoint, camera_hz, steps_per_second = job
    one_thread_worker()
    import torch

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.closed_loop import FlightConfig, fly
    from robossl_sim.worlds.drone_room import DroneRoom

    torch.manual_seed(seed)
    policy = condition
    settings = {
        **SIM_SETTINGS,
        # the training wheels take over frame by frame whenever stereo's avoidance would react and mono's
        # would not, so the quality gate only has to catch a student that is bad overall
        "switching": {
            "policy": policy,
            "min_learning_frames": 25,
            "min_quality_count": 10,
            "quality_enter": 0.3,
            "quality_exit": 0.4,
        },
        "run_mono_in_stereo_mode": condition != "stereo_only",
    }
    start = time.perf_counter()
    with DroneRoom(seed, "heldout") as room:
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        if condition != "stereo_only":
            pipeline.load(checkpoint)
        learning = condition == "persistent"
        flight = FlightConfig(
            duration_s=60.0 * minutes,
            camera_hz=camera_hz,
            train_steps=steps_per_second if learning else 0,
            train_every_frames=max(1, int(round(camera_hz))),  # steps_per_second steps every simulated second
            seed=seed,
        )
        log = fly(room, pipeline, flight)
        layout = room.layout
    summary = log.summary()
    return {
        "condition": condition,
        "seed": seed,
        "summary": summary,
        "log": log,
        "layout": layout,
        "wall_s": time.perf_counter() - start,
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for condition in ("stereo_only", "mono_only", "persistent"):
        mine = [r for r in runs if r["condition"] == condition]
        collisions = sum(r["summary"]["collisions"] for r in mine)
        distance = sum(r["summary"]["distance_m"] for r in mine)
        mono = float(np.mean([r["summary"]["mono_time_fraction"] for r in mine]))
        mono_absrel = float(np.nanmean([r["summary"]["mono_absrel"] for r in mine]))
        stereo_absrel = float(np.nanmean([r["summary"]["stereo_absrel"] for r in mine]))
        results[condition] = {
            "collisions_per_100m": 100.0 * collisions / max(distance, 1e-6),
            "mono_time_fraction": mono,
            # stereo_only never runs the student: its depth error is the stereo teacher's (confident pixels)
            "absrel": stereo_absrel if condition == "stereo_only" else mono_absrel,
            "absrel_of": "stereo (confident pixels)" if condition == "stereo_only" else "mono (all pixels)",
            "stereo_absrel_confident": stereo_absrel,
            "collisions": collisions,
            "distance_m": distance,
            "transitions": float(sum(r["summary"]["transitions"] for r in mine)),
            # diagnosis: collisions while mono flew, and those that stereo saw coming (< avoid distance)
            "collisions_on_mono": float(sum(r["summary"]["collisions_on_mono"] for r in mine)),
            "collisions_stereo_warned": float(sum(r["summary"]["collisions_stereo_warned"] for r in mine)),
            "per_seed": [
                {
                    "seed": r["seed"],
                    "wall_s": r["wall_s"],
                    **{k: v for k, v in r["summary"].items() if k != "transitions"},
                }
                for r in mine
            ],
        }
    return results


def verdict(difference: PairedDifference, treatment: str, control: str) -> dict[str, str]:
    """Which of: significantly fewer, no detectable difference, significantly more (per interval)."""
    words = {
        -1: f"{treatment} significantly fewer",
        0: "no detectable difference",
        1: f"{treatment} significantly more",
    }
    return {"verdict": words[difference.t.sign()], "bootstrap_verdict": words[difference.bootstrap.sign()]}


def paired_by_room(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-room collisions of every condition, and each condition minus stereo_only paired by room."""
    summary = {(r["condition"], r["seed"]): r["summary"] for r in runs}
    rooms = sorted({r["seed"] for r in runs})
    table = []
    for room in rooms:
        row: dict[str, Any] = {"room": room}
        for condition in ("stereo_only", "mono_only", "persistent"):
            s = summary[(condition, room)]
            row[f"{condition}_collisions"] = int(s["collisions"])
            row[f"{condition}_per_100m"] = s["collisions_per_100m"]
        row["persistent_mono_fraction"] = summary[("persistent", room)]["mono_time_fraction"]
        table.append(row)
    paired: dict[str, Any] = {"rooms": rooms}
    for treatment in ("persistent", "mono_only"):
        for metric in ("collisions_per_100m", "collisions"):
            difference = paired_difference(
                [summary[(treatment, room)][metric] for room in rooms],
                [summary[("stereo_only", room)][metric] for room in rooms],
            )
            paired[f"{treatment}_minus_stereo_only/{metric}"] = {
                **difference.as_dict(),
                **verdict(difference, treatment, "stereo_only"),
            }
    return table, paired


def target_row(check: str, value: float, target: float, higher: bool) -> dict[str, Any]:
    met = value >= target if higher else value <= target
    return {"check": check, "value": value, "target": target, "ratio": value / target if target else None, "met": met}  # fmt: skip


# -- pictures ----------------------------------------------------------------------------------------------
def depth_picture(checkpoint: Path, euroc_example: Any, path: Path) -> None:
    import cv2
    import matplotlib.pyplot as plt

    from robossl.pipelines.stereo_mono import StereoMonoConfig, StereoMonoPipeline
    from robossl_sim.worlds.drone_room import DroneRoom

    with DroneRoom(0, "heldout") as room:
        settings = {**SIM_SETTINGS, "switching": {"policy": "stereo_only"}}
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
        pipeline.load(checkpoint)
        x, y, yaw = room.layout.start
        room.reset((x, y, yaw + 1.0))
        render = room.render()
        out = pipeline.process(render.left, render.right, 0.0)
    grey = cv2.cvtColor(render.left, cv2.COLOR_RGB2GRAY)
    figure, axes = plt.subplots(2, 4, figsize=(12, 5))
    vmax = float(np.nanpercentile(render.left_depth, 95))
    panels = [
        (render.left, "held-out room: left image", None),
        (np.where(out.confidence >= 0.3, out.stereo_depth, np.nan), "stereo depth (confident)", vmax),
        (out.mono_depth, "mono depth (pretrained student)", vmax),
        (render.left_depth, "simulator ground truth", vmax),
    ]
    del grey
    for axis, (image, title, top) in zip(axes[0], panels):
        if top is None:
            axis.imshow(image)
        else:
            axis.imshow(image, cmap="magma_r", vmin=0, vmax=top)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    if euroc_example is not None:
        left, euroc_out = euroc_example
        vmax_e = float(np.nanpercentile(euroc_out.stereo_depth, 95))
        rect = cv2.resize(left, (euroc_out.disparity.shape[1], euroc_out.disparity.shape[0]))
        for axis, (image, title, top) in zip(
            axes[1],
            [
                (rect, "EuRoC V1_01 (last frame, raw)", None),
                (
                    np.where(euroc_out.confidence >= 0.3, euroc_out.stereo_depth, np.nan),
                    "stereo depth",
                    vmax_e,
                ),
                (euroc_out.mono_depth, "mono depth (online, 95 frames)", vmax_e),
                (euroc_out.confidence, "stereo confidence", 1.0),
            ],
        ):
            if top is None:
                axis.imshow(image, cmap="gray")
            elif title == "stereo confidence":
                axis.imshow(image, cmap="viridis", vmin=0, vmax=1)
            else:
                axis.imshow(image, cmap="magma_r", vmin=0, vmax=top)
            axis.set_title(title, fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def learning_picture(
    pretrain_info: dict[str, Any], runs: list[dict[str, Any]], euroc_rows: list, path: Path
) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    losses = np.asarray(pretrain_info["losses"])
    if len(losses):
        window = max(1, len(losses) // 50)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axes[0].plot(losses, color="0.8", lw=0.5)
        axes[0].plot(np.arange(len(smooth)) + window // 2, smooth, color="tab:blue")
    axes[0].set(title="offline pretraining (training rooms)", xlabel="step", ylabel="scale-aware log loss")
    for run in runs:
        if run["condition"] != "persistent" or not run["log"].quality:
            continue
        quality = np.asarray(run["log"].quality)
        # one colour per room, one legend entry per line style
        labels = ("running vs stereo", "vs ground truth") if run["seed"] == 0 else (None, None)
        color = plt.get_cmap("tab10")(run["seed"] % 10)
        axes[1].plot(quality[:, 0] / 60, quality[:, 1], lw=1, color=color, label=labels[0])
        axes[1].plot(quality[:, 0] / 60, quality[:, 2], lw=0.6, ls=":", color=color, label=labels[1])
    axes[1].axhline(TARGETS["absrel"], color="k", lw=0.5, ls="--")
    axes[1].set(title="persistent flight, held-out rooms", xlabel="simulated minutes", ylabel="mono AbsRel")
    axes[1].legend(fontsize=6)
    frames = [r["frame"] for r in euroc_rows]
    axes[2].plot(frames, [r["absrel"] for r in euroc_rows], label="AbsRel mono vs stereo")
    axes[2].plot(frames, [r["distance_relerr"] for r in euroc_rows], label="distance-ahead rel. error")
    axes[2].set(title="EuRoC V1_01: online learning (prequential)", xlabel="frame", ylim=(0, 1.0))
    axes[2].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def paths_picture(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    from robossl_sim.flight_plot import draw_flight

    seeds = sorted({r["seed"] for r in runs})
    conditions = ("stereo_only", "mono_only", "persistent")
    figure, axes = plt.subplots(len(seeds), 3, figsize=(9, 3.0 * len(seeds)), squeeze=False)
    for row, seed in enumerate(seeds):
        for col, condition in enumerate(conditions):
            run = next(r for r in runs if r["seed"] == seed and r["condition"] == condition)
            draw_flight(axes[row][col], run["layout"], run["log"], f"{condition}, held-out room {seed}")
    figure.tight_layout()
    figure.savefig(path, dpi=110 if len(seeds) <= 3 else 70)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short flights and little training (smoke run)")
    parser.add_argument("--minutes", type=float, default=6.0, help="simulated minutes per flight")
    parser.add_argument("--seeds", type=int, default=10, help="held-out rooms (>= 2 for the paired interval)")
    parser.add_argument("--pretrain-rooms", type=int, default=24)
    parser.add_argument(
        "--pretrain-seconds", type=float, default=40.0, help="simulated seconds per training room"
    )
    parser.add_argument("--pretrain-steps", type=int, default=1600)
    parser.add_argument("--euroc-steps", type=int, default=2, help="training steps per EuRoC frame")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for pretraining, EuRoC and the flights"
    )
    parser.add_argument(
        "--camera-hz", type=float, default=4.0, help="frames and control updates per simulated second"
    )
    parser.add_argument("--speed-seconds", type=float, default=3.0)
    parser.add_argument(
        "--persistent-steps-per-second",
        type=int,
        default=3,
        help="online training steps per simulated second",
    )
    parser.add_argument(
        "--name", help="results name (default stereo_mono, or stereo_mono_quick with --quick)"
    )
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.seeds, args.pretrain_rooms, args.pretrain_steps = 0.5, 2, 2, 30
        args.pretrain_seconds, args.speed_seconds = 10.0, 0.5
    if args.seeds < 2:
        parser.error(f"--seeds {args.seeds}: the paired interval over rooms needs at least 2 held-out rooms")
    quiet()
    begin = time.perf_counter()
    name = args.name or ("stereo_mono_quick" if args.quick else "stereo_mono")
    checkpoint = RESULTS_DIR / f".{name}_student_{os.getpid()}.pt"

    context = multiprocessing.get_context("spawn")
    runs: list[dict[str, Any]] = []

    def report(run: dict[str, Any]) -> None:
        s = run["summary"]
        print(
            f"  {run['condition']:>11} room {run['seed']}: {s['collisions']:.0f} collisions / {s['distance_m']:.0f} m, "
            f"mono {100 * s['mono_time_fraction']:.0f} %, mono AbsRel {s['mono_absrel']:.3f} ({run['wall_s']:.0f} s)",
            flush=True,
        )
        runs.append(run)

    def flight(condition: str, seed: int) -> tuple[str, int, float, str, float, int]:
        return (
            condition,
            seed,
            args.minutes,
            str(checkpoint),
            args.camera_hz,
            args.persistent_steps_per_second,
        )

    print(
        f"== pretraining, EuRoC/Middlebury and {3 * args.seeds} flights of {args.minutes} simulated minutes "
        f"in {args.workers} worker processes",
        flush=True,
    )
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        # the critical path is pretraining -> the learning flights: pretraining goes first
        pretraining = pool.submit(
            pretrain_job,
            (
                args.pretrain_rooms,
                args.pretrain_seconds,
                args.pretrain_steps,
                str(checkpoint),
                args.camera_hz,
            ),
        )
        offline = pool.submit(offline_job, args.euroc_steps)
        pending = {pool.submit(run_condition, flight("stereo_only", seed)) for seed in range(args.seeds)}
        pending |= {pretraining, offline}
        while pending:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future is pretraining:
                    pre = future.result()
                    print(f"  pretraining done ({pre['wall_s']:.0f} s)", flush=True)
                    # the learning flights are the longest: queue them first
                    pending |= {
                        pool.submit(run_condition, flight(condition, seed))
                        for condition in ("persistent", "mono_only")
                        for seed in range(args.seeds)
                    }
                elif future is offline:
                    mb, eu, eu_detail = future.result()
                else:
                    report(future.result())
    print("== Middlebury motorcycle")
    print_table([{k: v for k, v in mb.items() if not isinstance(v, str)}])
    print("== EuRoC V1_01 micro: online learning over 95 frames")
    print_table([{k: v for k, v in eu.items() if isinstance(v, float)}])
    runs.sort(key=lambda r: (r["seed"], r["condition"]))
    results = aggregate(runs)
    table = [
        {
            "condition": c,
            "collisions_per_100m": r["collisions_per_100m"],
            "mono_time_fraction": r["mono_time_fraction"],
            "absrel": r["absrel"],
            "absrel_of": r["absrel_of"],
        }
        for c, r in results.items()
    ]
    print_table(table)
    rooms_table, paired = paired_by_room(runs)
    print(f"== paired by held-out room ({args.minutes} simulated minutes each)")
    print_table(rooms_table)
    for key, value in paired.items():
        if key != "rooms":
            t, boot = value["t"], value["bootstrap"]
            print(
                f"  {key}: {t['mean']:+.3f}, 95 % t [{t['low']:+.3f}, {t['high']:+.3f}], "
                f"bootstrap [{boot['low']:+.3f}, {boot['high']:+.3f}] -> {value['verdict']}"
            )

    print("== speed (one core; waiting for the benchmark lock)", flush=True)
    with bench_lock():
        sp = speed(args.speed_seconds)
    print_table([{k: v for k, v in sp.items() if isinstance(v, (int, float))}])

    persistent, t = results["persistent"], paired["persistent_minus_stereo_only/collisions_per_100m"]["t"]
    checks = [
        ("persistent collisions/100m <= stereo_only", persistent["collisions_per_100m"], results["stereo_only"]["collisions_per_100m"], False),
        ("persistent - stereo_only collisions/100m: 95 % t upper bound <= 0 (no worse)", t["high"], 0.0, False),
        ("persistent mono time >= 0.70", persistent["mono_time_fraction"], TARGETS["mono_time_fraction"], True),
        ("mono_only mono AbsRel <= 0.25", results["mono_only"]["absrel"], TARGETS["absrel"], False),
        ("persistent mono AbsRel <= 0.25", persistent["absrel"], TARGETS["absrel"], False),
        ("SGBM 376x240 Hz >= 30", sp["sgbm_hz_376x240"], TARGETS["sgbm_hz_376x240"], True),
        ("student ONNX 128x160 Hz >= 60", sp["student_onnx_hz_128x160"], TARGETS["student_onnx_hz_128x160"], True),
        ("pipeline Hz while training >= camera Hz", sp["pipeline_hz_376x240_while_training"], sp["camera_hz"], True),
        ("Middlebury bad3 <= 0.20", mb["bad3_valid"], TARGETS["middlebury_bad3"], False),
    ]  # fmt: skip
    anchors = [target_row(*check) for check in checks]
    # the paired interval, and which of fewer / no detectable difference / more it shows
    anchors[1]["interval"] = f"{t['mean']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}] over {t['units']} rooms"
    anchors[1]["verdict"] = paired["persistent_minus_stereo_only/collisions_per_100m"]["verdict"]
    print("== against the issue's targets")
    print_table(anchors, ["check", "value", "target", "met", "interval", "verdict"])

    prefix = RESULTS_DIR / name
    depth_picture(checkpoint, eu_detail["example"], Path(f"{prefix}_depth.png"))
    learning_picture(pre, runs, eu_detail["rows"], Path(f"{prefix}_learning.png"))
    paths_picture(runs, Path(f"{prefix}_paths.png"))
    transitions = {
        f"{r['condition']}_room{r['seed']}": r["log"].transitions[:50] for r in runs if r["log"].transitions
    }
    path = write_results(
        name,
        results,
        speed=sp,
        middlebury=mb,
        euroc=eu,
        targets=anchors,
        closed_loop={
            "minutes_per_flight": args.minutes,
            "heldout_rooms": args.seeds,
            "per_room": rooms_table,
            "paired_by_room": paired,
            "camera_hz": args.camera_hz,
            "student_input": "64x96 grey",
            "pretraining": {k: v for k, v in pre.items() if k != "losses"},
            "pretraining_final_loss": float(np.mean(pre["losses"][-50:])) if pre["losses"] else float("nan"),
            "persistent_starts_from": "the offline-pretrained student, keeps learning and switches",
            "persistent_steps_per_second": args.persistent_steps_per_second,
            "mono_only": "the offline-pretrained student, frozen, no stereo take-over",
            "transitions": transitions,
            "collision_context": {
                f"{r['condition']}_room{r['seed']}": r["log"].collision_context for r in runs
            },
        },
        pictures=[f"{name}_depth.png", f"{name}_learning.png", f"{name}_paths.png"],
        wall_s=time.perf_counter() - begin,
    )
    checkpoint.unlink(missing_ok=True)
    print(f"wrote {path} in {time.perf_counter() - begin:.0f} s")
    print(
        json.dumps(
            {
                c: {k: r[k] for k in ("collisions_per_100m", "mono_time_fraction", "absrel")}
                for c, r in results.items()
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
