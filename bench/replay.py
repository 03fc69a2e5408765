"""Replay speed of the converted EuRoC bag through the stereo -> mono pipeline, in multiples of real time.

Converts ``stereo/euroc_v1_01_easy_micro`` (95 stereo pairs at 20 Hz, 752x480) to an mcap rosbag2 with
``robossl convert``'s converter, then replays its image topics in-process at maximum speed
(:class:`robossl_sim.replay.Replayer`, ``rate=None``): bag read + CDR decode + stereo pairing + the
pipeline's rectification to 376x240, SGBM teacher and monocular student inference, every frame. The
calibration comes from the bag's CameraInfo (no dataset folder needed at replay time).

Modes (each run ``--repeats`` times after one warm-up pass; the median is reported):
- ``decode_only``: replay + decode + pairing, no pipeline (the replay engine's own ceiling);
- ``inference``: the pipeline per frame, no learning;
- ``learning``: the same with the background trainer running (its default CPU budget).

x real time = (frames x frame period) / wall time. Target (issue #9): >= 10x for decode + SGBM + mono
inference at 376x240 on 2 cores.

Run: ``flock /tmp/robossl-bench.lock python bench/replay.py``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Target, print_table, print_targets, write_results  # noqa: E402

TARGET_X_REALTIME = 10.0
LEFT, RIGHT = "/cam0/image_raw", "/cam1/image_raw"
INFOS = ("/cam0/camera_info", "/cam1/camera_info")


BACKEND = "onnxruntime"  # student inference backend (set by --backend); the ROS node's default


def make_pipeline(bag: Path):
    from robossl.data.bags import BagReader
    from robossl.pipelines.stereo_mono.calibration import StereoCalibration
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

    with BagReader(bag) as reader:
        infos = {}
        for message in reader.messages(INFOS):
            infos.setdefault(message.topic, message.msg)
            if len(infos) == 2:
                break
    calibration = StereoCalibration.from_camera_info(infos[INFOS[0]], infos[INFOS[1]])
    return StereoMonoPipeline(StereoMonoConfig(rectified_width=376, inference_backend=BACKEND), calibration)


def replay_once(bag: Path, pipeline, workers: int) -> tuple[int, float, float, float]:
    """One max-speed replay with ``workers`` frames perceived at once; returns (stereo pairs, wall seconds,
    frame period seconds, process CPU seconds)."""
    from robossl.data.bags.messages import decode_image
    from robossl.pipelines.stereo_mono.parallel import ParallelFrames
    from robossl_sim.replay import ReplayConfig, Replayer

    pending: dict[str, dict[int, np.ndarray]] = {LEFT: {}, RIGHT: {}}
    stamps: list[int] = []
    outputs: list = []
    frames = ParallelFrames(pipeline, workers=workers) if pipeline is not None else None

    def on_image(message) -> None:
        stamp, image = decode_image(message.msg)
        other = RIGHT if message.topic == LEFT else LEFT
        partner = pending[other].pop(stamp, None)
        if partner is None:
            pending[message.topic][stamp] = image
            return
        left, right = (image, partner) if message.topic == LEFT else (partner, image)
        stamps.append(stamp)
        if frames is not None:
            outputs.extend(frames.submit(left, right, stamp * 1e-9))

    replayer = Replayer(bag, ReplayConfig(rate=None, topics=[LEFT, RIGHT]))
    begin, cpu_begin = time.perf_counter(), time.process_time()
    replayer.run(on_image)
    if frames is not None:
        outputs.extend(frames.flush())
    wall, cpu = time.perf_counter() - begin, time.process_time() - cpu_begin
    if frames is not None:
        frames.close()
        if len(outputs) != len(stamps):
            raise RuntimeError(
                f"{len(stamps) - len(outputs)} of {len(stamps)} frames were dropped: {frames.last_error}"
            )
    period = float(np.median(np.diff(stamps))) * 1e-9
    return len(stamps), wall, period, cpu


class StageTimer:
    """Wraps pipeline stages (instance attributes) to accumulate their wall time, for the breakdown."""

    def __init__(self, pipeline) -> None:
        self.seconds = {"rectify": 0.0, "sgbm_teacher": 0.0, "mono_inference": 0.0}
        self.calls = {name: 0 for name in self.seconds}
        self._wrap(pipeline.rectifier, "rectify", "rectify")
        self._wrap(pipeline, "teacher", "sgbm_teacher")
        self._wrap(pipeline, "predict_mono", "mono_inference")

    def _wrap(self, owner, attribute: str, name: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - begin
                self.calls[name] += 1

        setattr(owner, attribute, timed)

    def reset(self) -> None:
        for name in self.seconds:
            self.seconds[name], self.calls[name] = 0.0, 0

    def ms_per_call(self) -> dict[str, float]:
        return {f"{k}_ms": self.seconds[k] / max(1, self.calls[k]) * 1e3 for k in self.seconds}


def measure(bag: Path, mode: str, repeats: int, workers: int) -> dict[str, float]:
    pipeline = None if mode == "decode_only" else make_pipeline(bag)
    timer = StageTimer(pipeline) if pipeline is not None else None
    if pipeline is not None and mode == "learning":
        pipeline.start_learning()
    try:
        replay_once(bag, pipeline, workers)  # warm-up: first-call costs of torch / OpenCV / page cache
        if timer is not None:
            timer.reset()
        runs = [replay_once(bag, pipeline, workers) for _ in range(repeats)]
    finally:
        if pipeline is not None and mode == "learning":
            pipeline.stop_learning()
    frames, _, period, _ = runs[0]
    x_values = [n * period / wall for n, wall, _, _ in runs]
    row = {
        "mode": mode,
        "frame_period_s": period,
        "frames": frames,
        "x_realtime": statistics.median(x_values),
        "x_min": min(x_values),
        "x_max": max(x_values),
        "ms_per_frame": statistics.median(wall / n * 1e3 for n, wall, _, _ in runs),
        # CPU seconds of all this process's threads per frame: what the work costs without waiting for the
        # other processes on a shared machine (the learner thread's CPU is included in "learning")
        "cpu_ms_per_frame": statistics.median(cpu / n * 1e3 for n, _, _, cpu in runs),
    }
    if timer is not None:
        row.update(timer.ms_per_call())
    if pipeline is not None and mode == "learning":
        row["train_steps"] = float(pipeline.trainer.steps)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed replays per mode")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for inference (1: the second core is left to OpenCV and the learner)",
    )
    parser.add_argument(
        "--backend", choices=("onnxruntime", "torch"), default="onnxruntime", help="student inference backend"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="frames perceived concurrently (robossl.pipelines.stereo_mono.parallel.ParallelFrames); "
        "1 = frame by frame like the ROS node",
    )
    args = parser.parse_args()
    global BACKEND
    BACKEND = args.backend
    import cv2

    # frame-level parallelism already fills the cores: OpenCV's own worker threads would only compete
    cv2.setNumThreads(1 if args.workers > 1 else 0)

    from robossl.data.convert.euroc import convert_euroc
    from robossl.data.locate import require_data

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    source = require_data("stereo/euroc_v1_01_easy_micro")
    with tempfile.TemporaryDirectory(prefix="robossl_bench_replay_") as tmp:
        bag = Path(tmp) / "euroc"
        convert_euroc(source, bag, storage="mcap")
        modes = ("decode_only", "inference", "learning")
        rows = [measure(bag, mode, args.repeats, args.workers) for mode in modes]
        if (
            args.workers > 1
        ):  # the same pipeline frame by frame, as a ROS node runs it: what ParallelFrames adds
            cv2.setNumThreads(0)  # OpenCV's default (all cores), as in the node
            sequential = measure(bag, "inference", args.repeats, workers=1)
            cv2.setNumThreads(1)
            sequential["mode"] = "inference_sequential"
            rows.append(sequential)
    load_after = os.getloadavg()
    print_table(
        rows,
        [
            "mode",
            "frames",
            "x_realtime",
            "x_min",
            "x_max",
            "ms_per_frame",
            "cpu_ms_per_frame",
        ],
    )
    stages = ["rectify_ms", "sgbm_teacher_ms", "mono_inference_ms"]
    print_table([{"mode": r["mode"], **{k: r[k] for k in stages}} for r in rows if "rectify_ms" in r])
    print(
        f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores"
    )
    by_mode = {row["mode"]: row for row in rows}
    frame_period_s = by_mode["inference"]["frame_period_s"]
    results = {
        "inference_x_realtime": round(by_mode["inference"]["x_realtime"], 2),
        "learning_x_realtime": round(by_mode["learning"]["x_realtime"], 2),
        "decode_only_x_realtime": round(by_mode["decode_only"]["x_realtime"], 2),
        "inference_sequential_x_realtime": round(
            by_mode.get("inference_sequential", by_mode["inference"])["x_realtime"], 2
        ),
        "inference_ms_per_frame": round(by_mode["inference"]["ms_per_frame"], 2),
        "inference_cpu_ms_per_frame": round(by_mode["inference"]["cpu_ms_per_frame"], 2),
        # frame period / CPU time per frame: the real-time multiple this work allows when it does not wait
        # for other processes (an estimate for an idle machine; threads' CPU time is summed)
        "inference_cpu_bound_x_realtime": round(
            frame_period_s / (by_mode["inference"]["cpu_ms_per_frame"] * 1e-3), 2
        ),
        "learning_ms_per_frame": round(by_mode["learning"]["ms_per_frame"], 2),
        "learning_train_steps": by_mode["learning"].get("train_steps", 0.0),
        "inference_stage_ms": {k: round(by_mode["inference"][k], 2) for k in stages},
    }
    targets = [
        Target(
            "inference x real time (decode + SGBM + mono)",
            results["inference_x_realtime"],
            ">=",
            TARGET_X_REALTIME,
            "issue #9 acceptance",
        )
    ]
    print_targets(targets)
    path = write_results(
        "replay",
        results,
        targets=targets,
        setup={
            "bag": "euroc_v1_01_easy_micro converted to mcap (95 stereo pairs, 20 Hz, 752x480 mono8)",
            "rectified_size": "376x240",
            "torch_threads": args.threads,
            "student_backend": args.backend,
            "workers": args.workers,
            "repeats": args.repeats,
            "rows": rows,
            "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
