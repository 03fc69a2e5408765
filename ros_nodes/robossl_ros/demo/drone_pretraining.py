"""The drone stage's offline half: record stereo flights in training rooms as a log, pretrain the student
from that log through the replay path.

:func:`record_training_flights` flies stereo-only in ``DroneRoom(seed, "train")`` rooms (never the held-out
rooms the live stage flies) and writes the stereo pairs and CameraInfos to a rosbag2 (mcap), as a robot's
logger would. :func:`pretrain_from_log` reads that bag back (:mod:`robossl.pipelines.stereo_mono.log_training`:
the pairs go through the same pipeline the node runs, so the SGBM labels are the node's) and trains the
student offline; the result is saved in ``stereo_mono_node``'s checkpoint format.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics, calibration_from_log, label_log
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

LOG_TOPICS = StereoLogTopics(
    "/drone/left/image_raw", "/drone/right/image_raw", "/drone/left/camera_info", "/drone/right/camera_info"
)
FRAME_IDS = ("drone_left", "drone_right")
LOG_START_NS = 1_000_000_000  # stamp of the log's first frame
ROOM_GAP_S = 10.0  # stamps of consecutive rooms' flights are this far apart, seconds


@dataclass
class DronePretrainConfig:
    """Offline pretraining of the student before the live stage (training rooms only)."""

    # Measured on held-out rooms 0-5 with the pretrained student frozen (mean share of frames on mono /
    # AbsRel against ground truth): 24 rooms x 1000 steps 0.50 / 0.274, 48 x 1000 0.50 / 0.266,
    # 48 x 2000 0.60 / 0.227. The steps matter; recording rooms is cheap (about a second per room).
    rooms: int = 48  # training rooms flown on stereo and recorded: DroneRoom(0 .. rooms - 1, "train")
    seconds_per_room: float = 20.0  # simulated seconds flown per room
    steps: int = 2000  # optimisation steps on the recorded log
    # AdamW learning rate at the first step, cosine-decayed to ~0 at the last (a lower held-out error than
    # the constant online rate for the same steps); the checkpoint keeps the learner's own online rate
    peak_learning_rate: float = 2e-3
    seed: int = 0  # seed of the student's initialisation


@dataclass
class PretrainReport:
    """What :func:`pretrain_from_log` did."""

    pairs: int  # stereo pairs read back from the log
    labelled: int  # of them, frames with enough confident stereo pixels to learn from
    steps: int  # optimisation steps
    losses: list[float] = field(default_factory=list)  # loss of every step
    label_s: float = 0.0  # wall seconds reading and labelling the log
    train_s: float = 0.0  # wall seconds training


def camera_infos(store: Any, calibration: StereoCalibration, stamp_ns: int) -> tuple[Any, Any]:
    """Left and right ``sensor_msgs/CameraInfo`` (rosbags) as a calibrated ROS stereo driver publishes them:
    raw K and D, R and P from ``cv2.stereoRectify`` (right ``P[0, 3] = -fx * baseline``), exactly as the
    live stage's ``robossl_ros.conversions.stereo_camera_infos`` does."""
    from robossl.data.bags.message_builders import build_camera_info

    c = calibration
    R1, R2, P1, P2, *_ = cv2.stereoRectify(
        c.K_left, c.D_left, c.K_right, c.D_right, c.image_size, c.R, np.reshape(c.T, (3, 1)),
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=0,
    )  # fmt: skip
    return tuple(  # type: ignore[return-value]
        build_camera_info(store, stamp_ns, frame, c.image_size, K, list(D), "plumb_bob", R, P)
        for K, D, R, P, frame in ((c.K_left, c.D_left, R1, P1, FRAME_IDS[0]), (c.K_right, c.D_right, R2, P2, FRAME_IDS[1]))
    )  # fmt: skip


def cosine_rate(peak: float, step: int, steps: int, floor: float = 1e-5) -> float:
    """Learning rate of ``step`` (0-based) of ``steps``: ``peak`` cosine-decayed to ``floor``."""
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def offline_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` for a pipeline that runs in-process offline: PyTorch inference, so no ONNX model is
    exported at every weight update (the checkpoint is the same either way)."""
    return {**settings, "inference_backend": "torch"}


@contextlib.contextmanager
def one_torch_thread(seed: int) -> Iterator[None]:
    """One intra-op thread (the result does not depend on the core count) and a seeded torch RNG, both
    restored afterwards (the demo process goes on with its own settings)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)


def record_training_flights(
    bag: Path,
    settings: dict[str, Any],
    pretrain: DronePretrainConfig,
    camera_hz: float,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fly stereo-only in the training rooms and record the stereo pairs + CameraInfos to ``bag`` (mcap).

    Args:
        bag: rosbag2 folder to create.
        settings: :class:`StereoMonoConfig` dict of the flying pipeline (its stereo distance steers).
        pretrain: which rooms and how long.
        camera_hz: frames per simulated second.
        progress: called with (frames recorded, frames planned) after each frame.

    Returns:
        Stereo pairs recorded.
    """
    from robossl.data.bags.message_builders import build_image
    from robossl_sim.closed_loop import FlightConfig, fly
    from robossl_sim.recorder import Recorder
    from robossl_sim.worlds.drone_room import DroneRoom, StereoRender

    per_room = int(round(pretrain.seconds_per_room * camera_hz))
    planned, recorded = per_room * pretrain.rooms, 0
    flying = {
        **offline_settings(settings),
        "switching": {"policy": "stereo_only"},
        "run_mono_in_stereo_mode": False,
    }
    with Recorder(bag) as recorder:
        store = recorder.typestore
        for room_index in range(pretrain.rooms):
            offset_ns = LOG_START_NS + round(room_index * (pretrain.seconds_per_room + ROOM_GAP_S) * 1e9)
            with DroneRoom(room_index, "train") as room:
                calibration = room.calibration

                def write(t: float, render: StereoRender, offset_ns: int = offset_ns) -> None:
                    nonlocal recorded
                    stamp = offset_ns + round(t * 1e9)
                    left_info, right_info = camera_infos(store, room.calibration, stamp)
                    recorder.record(LOG_TOPICS.left_info, stamp, left_info)
                    recorder.record(LOG_TOPICS.right_info, stamp, right_info)
                    for topic, frame, image in (
                        (LOG_TOPICS.left_image, FRAME_IDS[0], render.left),
                        (LOG_TOPICS.right_image, FRAME_IDS[1], render.right),
                    ):
                        recorder.record(topic, stamp, build_image(store, stamp, frame, image, "rgb8"))
                    recorded += 1
                    if progress is not None:
                        progress(recorded, planned)

                pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(flying), calibration)
                flight = FlightConfig(
                    duration_s=pretrain.seconds_per_room, camera_hz=camera_hz, train_steps=0, seed=room_index
                )
                fly(room, pipeline, flight, on_render=write)
    return recorded


def pretrain_from_log(
    bag: Path,
    settings: dict[str, Any],
    pretrain: DronePretrainConfig,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[StereoMonoPipeline, PretrainReport]:
    """Label every stereo pair of ``bag`` with SGBM and train the student ``pretrain.steps`` steps.

    Args:
        bag: the recorded log (:data:`LOG_TOPICS`).
        settings: :class:`StereoMonoConfig` dict; the student and SGBM settings must be the node's.
        pretrain: steps and seed.
        progress: called with ("label", pairs done, 0) and ("train", steps done, steps planned).

    Returns:
        The pipeline holding the trained student (save it with ``include_replay=False``) and a report.
    """
    calibration = calibration_from_log(bag, LOG_TOPICS)
    started = time.monotonic()
    with one_torch_thread(pretrain.seed):
        labelling = {
            **offline_settings(settings),
            "switching": {"policy": "stereo_only"},
            "run_mono_in_stereo_mode": False,
            "replay_capacity": 100_000,  # every labelled frame of the log
        }
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(labelling), calibration)
        pairs = label_log(
            pipeline, bag, LOG_TOPICS, None if progress is None else lambda n: progress("label", n, 0)
        )
        labelled = time.monotonic()
        losses: list[float] = []
        groups = pipeline.learner.optimizer.param_groups
        for step in range(pretrain.steps):
            for group in groups:
                group["lr"] = cosine_rate(pretrain.peak_learning_rate, step, pretrain.steps)
            done = pipeline.train_steps(1)
            if not done:
                raise ValueError(
                    f"{os.fspath(bag)}: only {len(pipeline.replay)} labelled frames, fewer than a batch "
                    f"({pipeline.config.trainer.min_samples}); record longer flights"
                )
            losses.append(done[0]["loss"])
            if progress is not None and ((step + 1) % 25 == 0 or step + 1 == pretrain.steps):
                progress("train", step + 1, pretrain.steps)
        for group in groups:  # online learning goes on at the learner's own rate
            group["lr"] = pipeline.learner.config.learning_rate
    report = PretrainReport(
        pairs=pairs,
        labelled=pipeline.frames_labelled,
        steps=len(losses),
        losses=losses,
        label_s=labelled - started,
        train_s=time.monotonic() - labelled,
    )
    return pipeline, report
