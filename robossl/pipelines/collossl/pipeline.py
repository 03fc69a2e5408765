"""The online ColloSSL activity pipeline: one object the ROS ``har_node`` (and any other host) drives.

It owns the :class:`~robossl.pipelines.collossl.online.ColloSSLOnlineLearner` and its
:class:`~robossl.online.trainer.BackgroundTrainer`, the same runtime shape as the stereo -> mono and terrain
pipelines: start/stop learning, save/load through the trainer's lock, :meth:`ColloSSLPipeline.status`::

    pipeline = ColloSSLPipeline(OnlineLearnerConfig(device_names=("wrist", "hip"), anchor_device="wrist",
                                                    channels=6, num_classes=3))
    pipeline.start_learning()
    pipeline.add_samples("wrist", stamps_s, samples)   # (N,), (N, 6)
    prediction = pipeline.predict_at(stamp_s)          # the last window_s of anchor samples, or None

Lock-step budget (``TrainerConfig.steps_per_input`` > 0): every aligned window that forms grants that many
training steps, and :meth:`ColloSSLPipeline.add_samples` returns only after they are trained, so a caller
that feeds inputs in order learns exactly that much per window on any machine.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robossl.online.trainer import BackgroundTrainer, TrainerConfig
from robossl.pipelines.collossl.online import ColloSSLOnlineLearner, OnlineLearnerConfig


@dataclass
class ActivityPrediction:
    """One prediction of the anchor device's activity."""

    embedding: np.ndarray  # (F,) float32 encoder embedding
    scores: np.ndarray  # (K,) float32 class probabilities; (0,) without a classifier
    class_id: int  # argmax of scores; -1 without a classifier


class ColloSSLPipeline:
    """Online ColloSSL learner + background trainer + hot-swapped inference on the anchor device.

    Args:
        config: learner settings (devices, windows, replay, model).
        trainer: trainer settings; default: batches of ``config.batch_size``, training from
            ``config.min_windows`` windows on.
    """

    def __init__(self, config: OnlineLearnerConfig, trainer: TrainerConfig | None = None) -> None:
        self.config = config
        self.learner = ColloSSLOnlineLearner(config)
        trainer = trainer or TrainerConfig(batch_size=config.batch_size, min_samples=config.min_windows)
        self.trainer = BackgroundTrainer(self.learner, self.learner.replay, config=trainer)
        # raw anchor samples of the last two windows, for predict_at()
        horizon = int(2 * config.window_s * max(config.sample_rate_hz, 1.0)) + 16
        self._anchor_stamps: deque[float] = deque(maxlen=horizon)
        self._anchor_samples: deque[np.ndarray] = deque(maxlen=horizon)

    # -- inputs ----------------------------------------------------------------------------------------
    def add_samples(self, device: str, stamps: np.ndarray, samples: np.ndarray) -> int:
        """Feed ``(N,)`` stamps [s] and ``(N, channels)`` raw samples of one device; returns the aligned
        windows that formed. Lock-step: returns after their granted training steps are trained.

        Raises:
            ValueError: unknown device, wrong shapes or unsorted stamps (see ``ColloSSLOnlineLearner``).
        """
        windows = self.learner.add_samples(device, stamps, samples)
        if windows and self.trainer.lockstep:
            self.trainer.grant(windows)
            self.trainer.wait_until_trained()
        if device == self.config.anchor_device:
            self._anchor_stamps.extend(np.asarray(stamps, dtype=np.float64).reshape(-1).tolist())
            self._anchor_samples.extend(np.asarray(samples, dtype=np.float32).reshape(len(stamps), -1))
        return windows

    def add_labels(self, stamps: np.ndarray, labels: np.ndarray) -> None:
        """Activity class ids ``(N,)`` that hold from ``stamps`` ``(N,)`` [s] (see ``add_labels`` of the
        learner)."""
        self.learner.add_labels(stamps, labels)

    # -- inference -------------------------------------------------------------------------------------
    def predict_at(self, stamp_s: float) -> ActivityPrediction | None:
        """Classify the ``window_s`` of anchor samples ending at ``stamp_s`` with the hot-swapped model.

        The samples are resampled onto the window grid (linear interpolation) and normalised with the
        learner's running statistics. Returns None while the anchor samples do not cover the window.
        """
        if not self._anchor_stamps or self._anchor_stamps[0] > stamp_s - self.config.window_s:
            return None
        rate, length = self.config.sample_rate_hz, self.config.window_samples
        grid = stamp_s - (length - 1) / rate + np.arange(length) / rate
        stamps = np.fromiter(self._anchor_stamps, dtype=np.float64)
        samples = np.stack(self._anchor_samples)
        window = np.stack([np.interp(grid, stamps, samples[:, c]) for c in range(samples.shape[1])], axis=1)
        x = self.learner.normalise(self.config.anchor_device, window)
        model, _ = self.trainer.slot.get()
        with self.trainer.inference.frame(), torch.inference_mode():  # inference first (robossl.online)
            embedding, logits = model(torch.from_numpy(x)[None])
        scores = torch.softmax(logits[0], 0).numpy() if logits is not None else np.zeros(0, np.float32)
        class_id = int(scores.argmax()) if scores.size else -1
        return ActivityPrediction(embedding[0].numpy(), scores, class_id)

    # -- learning --------------------------------------------------------------------------------------
    def start_learning(self) -> None:
        """Start the background trainer (CPU budget or lock-step from the trainer config)."""
        self.trainer.start()

    def stop_learning(self) -> None:
        """Stop the background trainer and publish its latest weights."""
        self.trainer.stop()

    @property
    def learning(self) -> bool:
        return self.trainer.running

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Atomic checkpoint of the learner (weights, replay, streams, normalisation) and trainer counters,
        taken between two training steps."""
        self.trainer.save(os.fspath(path))
        return Path(path)

    def load(self, path: str | os.PathLike[str], fall_back: bool = False) -> Path:
        """Restore :meth:`save`'s checkpoint through the trainer's lock (a step in progress finishes first)
        and hot-swap the model; with ``fall_back`` a corrupt file gives way to its newest good older copy.

        Raises:
            ValueError: the checkpoint's learner config differs from this one.
        """
        return self.trainer.load(os.fspath(path), fall_back=fall_back)

    def stall_cause(self, new_gap_windows: int = 0) -> tuple[str, str]:
        """(kind, explanation) of why the trainer makes no step, as far as learning can tell: a stopped
        trainer, ``new_gap_windows`` windows rejected for gaps since the last step, too few windows yet.
        The explanation names the parameters to look at."""
        trainer, learner, config = self.trainer, self.learner, self.config
        if not trainer.running:
            return "stopped", f"the trainer stopped ({trainer.last_error or 'not running'})"
        if new_gap_windows > 0:
            return (
                "gaps",
                f"{new_gap_windows} windows rejected for gaps longer than max_gap_s={config.max_gap_s} s in "
                f"some device (a device streams slower than sample_rate_hz={config.sample_rate_hz} Hz or "
                "loses samples)",
            )
        if len(learner.replay) < config.min_windows:
            waiting = learner.waiting_reason() if learner.stats["windows"] == 0 else ""
            return (
                "windows",
                f"{len(learner.replay)} of min_windows={config.min_windows} windows collected"
                + (f"; {waiting}" if waiting else ""),
            )
        return "unknown", f"the trainer runs with {len(learner.replay)} windows but made no step"

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Diagnostic values: replay fill, windows, training counters, last loss (JSON-friendly)."""
        trainer, learner = self.trainer, self.learner
        values: dict[str, Any] = {
            "buffer_fill": len(learner.replay) / learner.replay.capacity,
            "training_steps": trainer.steps,
            "model_version": trainer.slot.version,
            "windows": learner.stats["windows"],
            "gap_windows": learner.stats["gap_windows"],
            "labelled_windows": learner.stats["labelled_windows"],
            "mode": "learning" if trainer.running else "stopped",
        }
        if trainer.metrics:
            values["loss"] = trainer.metrics[-1].get("loss", float("nan"))
        if learner.stats["windows"] == 0:
            values["waiting"] = learner.waiting_reason()
        if trainer.errors and not trainer.running:
            values["trainer_error"] = trainer.last_error
        return values
