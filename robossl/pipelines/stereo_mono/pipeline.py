"""The stereo -> monocular depth pipeline: one object the ROS node, the log replayer and the simulator call.

Per frame (:meth:`StereoMonoPipeline.process`): rectify -> SGBM teacher (disparity, confidence, depth) ->
student inference on the left image (hot-swapped model) -> running mono-vs-stereo quality -> labelled
sample into the replay buffer -> switching policy -> active distance. Training runs in a background thread
(:meth:`start_learning`) or synchronously (:meth:`train_steps`, for simulations in simulated time).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from robossl.online.checkpoint import load_checkpoint, load_latest_good, save_checkpoint
from robossl.online.monitors import QualityEstimate
from robossl.online.replay import ReplayBuffer
from robossl.online.trainer import BackgroundTrainer
from robossl.pipelines.stereo_mono.calibration import Rectifier, StereoCalibration
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.learner import (
    MonoDepthLearner,
    image_tensor,
    make_sample,
    sample_descriptor,
)
from robossl.pipelines.stereo_mono.onnx_runtime import OnnxDepthRunner, export_student_onnx
from robossl.pipelines.stereo_mono.switching import FlightMode, SwitchingPolicy
from robossl.pipelines.stereo_mono.teacher import (
    StereoResult,
    StereoTeacher,
    _to_grey,
    corridor_distance,
    flight_distance,
)


@dataclass
class StereoMonoOutput:
    """Result of one frame. Images are at the rectified size (H, W)."""

    stamp: float  # frame time, seconds
    disparity: np.ndarray  # (H, W) float32 pixels, NaN where invalid
    confidence: np.ndarray  # (H, W) float32 in [0, 1]
    stereo_depth: np.ndarray  # (H, W) float32 metres, NaN where invalid
    mono_depth: np.ndarray | None  # (H, W) float32 metres (None when the student was not run)
    stereo_distance: float  # average distance ahead from stereo, metres (NaN = unknown)
    mono_distance: float  # average distance ahead from the student, metres (NaN when not run)
    active_distance: float  # the distance the controller should use, metres
    mode: FlightMode  # which cue is active
    mono_quality: float  # running AbsRel of mono vs confident stereo (NaN until measured)
    mono_absrel: float  # this frame's AbsRel of mono vs confident stereo (NaN when not measurable)
    model_version: int  # hot-swap version of the student used


@dataclass
class Perception:
    """The state-free part of one frame (:meth:`StereoMonoPipeline.perceive`), at the rectified size."""

    left_rect: np.ndarray  # (H, W) uint8 rectified left image
    stereo: StereoResult  # SGBM disparity, confidence, depth
    confident: np.ndarray  # (H, W) bool: stereo pixels used as labels
    stereo_distance: float  # distance ahead from stereo, metres (NaN = unknown)
    mono_depth: np.ndarray | None  # (H, W) float32 student depth, metres (None when not run)
    mono_distance: float  # distance ahead from the student, metres (NaN when not run)
    mono_absrel: float  # AbsRel of mono vs confident stereo (NaN when not measurable)
    model_version: int  # hot-swap version of the student used


def absrel(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean |pred - target| / target over ``mask`` (NaN when empty)."""
    usable = mask & (target > 0) & (target < np.inf) & np.isfinite(pred)  # comparisons are False for NaN
    truth = target[usable]
    if truth.size == 0:
        return float("nan")
    error = pred[usable]
    error -= truth
    np.abs(error, out=error)
    error /= truth
    return float(error.mean())


def rectified_size(calibration: StereoCalibration, width: int) -> tuple[int, int]:
    """(width, height) of the rectified images: ``width`` px wide (0 = raw width), the raw aspect kept."""
    raw_width, raw_height = calibration.image_size
    width = width or raw_width
    return width, int(round(raw_height * width / raw_width))


class StereoMonoPipeline:
    """Persistent stereo -> mono learner and switching policy.

    Args:
        config: pipeline settings (``StereoMonoConfig()`` for defaults, ``StereoMonoConfig.from_dict``).
        calibration: the stereo calibration (raw images are rectified with it).
    """

    def __init__(self, config: StereoMonoConfig, calibration: StereoCalibration) -> None:
        self.config = config
        self.rectifier = Rectifier(calibration, rectified_size(calibration, config.rectified_width))
        self.teacher = StereoTeacher(self.rectifier.focal_px, self.rectifier.baseline_m, config.sgbm)
        self.learner = MonoDepthLearner(config.student, config.learner)
        self.replay = ReplayBuffer(config.replay_capacity, config.replay_policy, seed=config.learner.seed)
        self.trainer = BackgroundTrainer(self.learner, self.replay, config=config.trainer)
        self.quality = QualityEstimate(config.quality_smoothing)
        self.policy = SwitchingPolicy(config.switching)
        self.frames = 0  # frames processed
        self.frames_labelled = 0  # frames added to the replay buffer
        self.student_size = (config.student.input_height, config.student.input_width)
        if config.inference_backend == "onnxruntime":
            # the ONNX export runs in the thread that publishes weights (the trainer), never in inference
            self.trainer.slot.set_prepare(self._to_onnx)

    # -- geometry --------------------------------------------------------------------------------------
    @property
    def calibration(self) -> StereoCalibration:
        """The stereo calibration raw images are rectified with."""
        return self.rectifier.calibration

    @property
    def focal_px(self) -> float:
        """Focal length of the rectified images, pixels."""
        return self.rectifier.focal_px

    @property
    def baseline_m(self) -> float:
        """Stereo baseline, metres."""
        return self.rectifier.baseline_m

    def set_calibration(self, calibration: StereoCalibration) -> None:
        """Use a new calibration from the next frame on: rectification and stereo geometry are rebuilt, the
        learner, replay buffer, quality estimate and switching state are kept.

        Raises:
            ValueError: when the calibration cannot rectify (the message names the field); the previous
                calibration stays in use.
        """
        rectifier = Rectifier(calibration, rectified_size(calibration, self.config.rectified_width))
        teacher = StereoTeacher(rectifier.focal_px, rectifier.baseline_m, self.config.sgbm)
        # Call between frames, from the thread that processes them (perceive() reads both per frame).
        self.rectifier, self.teacher = rectifier, teacher

    def _to_onnx(self, model: torch.nn.Module) -> OnnxDepthRunner:
        height, width = self.student_size
        return OnnxDepthRunner(export_student_onnx(model, height, width), self.config.inference_threads)

    def _distance(self, depth: np.ndarray, valid: np.ndarray | None) -> float:
        c = self.config
        if c.flight_corridor_half_width_m > 0:
            projection = self.rectifier.P_left
            intrinsics = (projection[0, 0], projection[1, 1], projection[0, 2], projection[1, 2])
            return corridor_distance(
                depth,
                valid,
                intrinsics,
                c.flight_corridor_half_width_m,
                c.flight_corridor_half_height_m,
                percentile=c.distance_percentile,
                min_valid_fraction=c.min_confident_fraction,
                clear_m=c.sgbm.max_depth_m,
            )
        return flight_distance(depth, valid, c.flight_window, c.min_confident_fraction, c.distance_percentile)

    def _distance_mask(self, stereo: StereoResult) -> np.ndarray:
        """Stereo pixels that count for the distance ahead (see ``distance_confidence_threshold``)."""
        threshold = self.config.distance_confidence_threshold
        return stereo.confidence >= threshold if threshold > 0 else stereo.valid

    # -- inference -------------------------------------------------------------------------------------
    def predict_mono(self, left_grey: np.ndarray) -> tuple[np.ndarray, int]:
        """Student depth (H, W) metres for a rectified grey image, with the model version used."""
        height, width = self.student_size
        small = cv2.resize(left_grey, (width, height), interpolation=cv2.INTER_AREA)
        if self.config.inference_backend == "onnxruntime":
            runner, version = self.trainer.slot.get_prepared()
            depth = runner(small)
        else:
            model, version = self.trainer.slot.get()
            with torch.inference_mode():
                depth = model(image_tensor(small[None]))[0, 0].numpy()
        full = cv2.resize(depth, (left_grey.shape[1], left_grey.shape[0]), interpolation=cv2.INTER_LINEAR)
        return full.astype(np.float32), version

    def process(self, left: np.ndarray, right: np.ndarray, stamp: float) -> StereoMonoOutput:
        """Run one raw stereo pair through the pipeline (:meth:`perceive`, then :meth:`update`).

        Args:
            left: (H, W) uint8 grey or (H, W, 3) RGB raw left image, at the calibrated size.
            right: same for the right camera.
            stamp: capture time, seconds.

        Raises:
            ValueError: for mismatched sizes, wrong layouts or NaN pixels (the frame is not used).
        """
        with self.trainer.inference.frame():  # inference first: the trainer starts no step meanwhile
            return self.update(self.perceive(left, right), stamp)

    def perceive(self, left: np.ndarray, right: np.ndarray, run_mono: bool | None = None) -> Perception:
        """The per-frame work that reads no pipeline state: rectify, SGBM teacher, student inference.

        It only reads the published model, so several frames may be perceived at once in worker threads
        (OpenCV and ONNX Runtime release the GIL); :meth:`update` must then see them in capture order.

        Args:
            left: (H, W) uint8 grey or (H, W, 3) RGB raw left image, at the calibrated size.
            right: same for the right camera.
            run_mono: run the student; default: when ``config.run_mono_in_stereo_mode`` or flying on mono.

        Raises:
            ValueError: for mismatched sizes, wrong layouts or NaN pixels.
        """
        left_grey, right_grey = _to_grey(left, "left"), _to_grey(right, "right")
        if left_grey.shape != right_grey.shape:
            raise ValueError(
                f"stereo pair sizes differ: left {left_grey.shape[1]}x{left_grey.shape[0]}, right "
                f"{right_grey.shape[1]}x{right_grey.shape[0]}; rectify both with the same calibration"
            )
        left_rect, right_rect = self.rectifier.rectify(left_grey, right_grey)
        stereo = self.teacher(left_rect, right_rect)
        confident = stereo.confidence >= self.config.confidence_threshold
        stereo_distance = self._distance(stereo.depth, self._distance_mask(stereo))
        if run_mono is None:
            run_mono = self.config.run_mono_in_stereo_mode or self.policy.mode is FlightMode.MONO
        mono_depth, version, frame_absrel = None, self.trainer.slot.version, float("nan")
        mono_distance = float("nan")
        if run_mono:
            mono_depth, version = self.predict_mono(left_rect)
            mono_distance = self._distance(mono_depth, None)
            frame_absrel = absrel(mono_depth, stereo.depth, confident)
        return Perception(
            left_rect, stereo, confident, stereo_distance, mono_depth, mono_distance, frame_absrel, version
        )

    def update(self, perception: Perception, stamp: float) -> StereoMonoOutput:
        """The stateful rest of a frame, in capture order: quality estimate, replay buffer, switching."""
        p, stereo = perception, perception.stereo
        if p.mono_depth is not None:
            self.quality.update(p.mono_absrel)
        if (
            p.confident.mean() >= self.config.min_confident_fraction
            and self.frames % self.config.sample_every == 0
        ):
            confidence = np.where(p.confident, stereo.confidence, 0.0).astype(np.float32)
            sample = make_sample(p.left_rect, stereo.depth, confidence, self.student_size)
            self.replay.add(sample, sample_descriptor(sample) if self.replay.policy == "diversity" else None)
            self.frames_labelled += 1

        mode = self.policy.update(
            stamp,
            p.stereo_distance,
            self.quality.value,
            self.quality.count,
            self.frames_labelled,
            p.mono_distance if math.isfinite(p.mono_distance) else math.inf,
        )
        if mode is FlightMode.MONO and math.isfinite(p.mono_distance):
            active = p.mono_distance
        else:
            active = p.stereo_distance
            if not math.isfinite(active) and math.isfinite(p.mono_distance):
                active = p.mono_distance  # stereo sees nothing usable (e.g. a blank wall): fall back to mono
        self.frames += 1
        return StereoMonoOutput(
            stamp=stamp,
            disparity=stereo.disparity,
            confidence=stereo.confidence,
            stereo_depth=stereo.depth,
            mono_depth=p.mono_depth,
            stereo_distance=p.stereo_distance,
            mono_distance=p.mono_distance,
            active_distance=active,
            mode=mode,
            mono_quality=self.quality.value,
            mono_absrel=p.mono_absrel,
            model_version=p.model_version,
        )

    # -- learning --------------------------------------------------------------------------------------
    def start_learning(self) -> None:
        """Start the background trainer thread (CPU budget from ``config.trainer``)."""
        self.trainer.start()

    def stop_learning(self) -> None:
        """Stop the background trainer and publish its latest weights."""
        self.trainer.stop()

    def grant_steps(self) -> bool:
        """Lock-step learning (``config.trainer.steps_per_input`` > 0, trainer running): grant this frame's
        training steps and return True; False (nothing granted) otherwise."""
        if not (self.trainer.lockstep and self.trainer.running):
            return False
        self.trainer.grant()
        return True

    def train_steps(self, count: int, publish: bool = False) -> list[dict[str, float]]:
        """Train ``count`` steps synchronously and return each step's metrics.

        Weights reach inference every ``config.trainer.publish_every_steps`` steps, and at the end when
        ``publish`` is set.
        """
        metrics = self.trainer.train_steps(count)
        if metrics and publish:
            self.trainer.slot.publish(self.learner.inference_model())
        return metrics

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Diagnostic values: flight mode, mono quality, replay fill, training counters (JSON-friendly)."""
        trainer = self.trainer
        values: dict[str, Any] = {
            "mode": self.policy.mode.value,
            "mono_time_fraction": self.policy.mono_time_fraction,
            "mono_absrel": self.quality.value,
            "frames_learned": self.frames_labelled,
            "buffer_fill": len(self.replay) / self.replay.capacity,
            "training_steps": trainer.steps,
            "model_version": trainer.slot.version,
            "trainer_running": trainer.running,
            "training_errors": trainer.errors,
        }
        if trainer.lockstep:
            values["train_steps_per_input"] = trainer.config.steps_per_input
            values["forfeited_steps"] = trainer.forfeited_steps  # granted while the replay was too small
        if trainer.errors and not trainer.running:
            values["trainer_error"] = trainer.last_error
        return values

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], include_replay: bool = True) -> None:
        """Atomic checkpoint: learner (model, optimizer, counters), optionally replay, quality, policy mode."""
        state = self.trainer.state_dict(include_replay)
        state["quality"] = self.quality.state_dict()
        state["frames_labelled"] = self.frames_labelled
        state["student"] = {"input_height": self.student_size[0], "input_width": self.student_size[1]}
        save_checkpoint(path, state)

    def load(self, path: str | os.PathLike[str], fall_back: bool = False) -> Path:
        """Restore :meth:`save`'s checkpoint and hot-swap the model; returns the file loaded.

        With ``fall_back`` a corrupt ``path`` gives way to its newest good older copy (for start-up; see
        :func:`robossl.online.checkpoint.load_latest_good`).

        Raises:
            ValueError: when the checkpoint's student input size differs from this configuration.
        """
        if fall_back:
            state, used = load_latest_good(path)
        else:
            state, used = load_checkpoint(path), Path(path)
        size = (state["student"]["input_height"], state["student"]["input_width"])
        if size != self.student_size:
            raise ValueError(
                f"checkpoint student input {size} differs from the configured {self.student_size}"
            )
        # through the trainer's lock: a training step in progress finishes before the weights change
        self.trainer.load_state_dict(state)
        self.quality.load_state_dict(state["quality"])
        self.frames_labelled = int(state["frames_labelled"])
        return used
