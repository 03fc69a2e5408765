"""Online ColloSSL: learn from live, time-synchronised body-worn IMU streams on the robot / wearable hub.

The ROS ``har_node`` and the serial bridge feed :class:`ColloSSLOnlineLearner`::

    learner = ColloSSLOnlineLearner(OnlineLearnerConfig(device_names=("wrist", "hip"), anchor_device="wrist",
                                                        channels=6, num_classes=6))
    learner.add_samples("wrist", stamps_s, samples)      # (N,), (N, 6); any chunk size, any device order
    learner.add_labels(stamps_s, labels)                 # optional sparse activity labels
    metrics = learner.train_step()                       # periodic; {"trained": 1.0, "loss": ...} or reason
    class_id, embedding = learner.predict(window)        # (L, 6) raw anchor-device window

Each device's samples are kept in a bounded per-device stream; whenever every device covers the next
window span, the span is resampled onto one grid (linear interpolation) and the aligned window
``(D, L, C)`` enters a bounded reservoir replay buffer (the windowing is
:class:`robossl.pipelines.collossl.live_windows.LiveWindows`; the settings
:class:`robossl.pipelines.collossl.online_config.OnlineLearnerConfig`, re-exported here). ``train_step`` draws a batch of aligned windows and
takes one optimiser step of the ColloSSL loss (MMD device selection per batch, time-aligned positives,
other-time-step negatives), plus cross-entropy on the anchor device for windows that have labels.

Bad input handling (each tested):

- unknown device id, wrong shapes or channel count: ``ValueError`` saying what was expected;
- timestamps not sorted within one call: ``ValueError`` (sort before sending);
- samples not newer than the device's last sample (late / duplicate packets): dropped, counted in
  ``stats["late"]``;
- NaN / inf rows: dropped, counted in ``stats["nan"]``; windows whose span has a hole longer than
  ``max_gap_s`` in some device are not formed (counted in ``stats["gap_windows"]``);
- a missing or lagging device: no aligned windows form; ``train_step`` returns ``{"trained": 0.0}`` and
  ``waiting_reason()`` names the device; streams of unequal length simply wait for the slowest device
  (each stream keeps at most ``stream_horizon_s`` seconds, so memory stays bounded).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones.imu import ImuConvEncoder
from robossl.losses.collossl import ColloSSLObjective, ColloSSLObjectiveConfig
from robossl.online.replay import ReplayBuffer
from robossl.pipelines.collossl.live_windows import UNLABELLED, LiveWindows
from robossl.pipelines.collossl.online_config import OnlineLearnerConfig

__all__ = ["UNLABELLED", "ColloSSLOnlineLearner", "OnlineActivityModel", "OnlineLearnerConfig"]


class OnlineActivityModel(nn.Module):
    """What inference needs: the encoder and (optionally) the classifier; ``(B, L, C) -> (embedding, logits)``."""

    def __init__(self, encoder: ImuConvEncoder, classifier: nn.Module | None) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embeddings ``(B, F)`` and logits ``(B, K)`` (``None`` without a classifier) of normalised windows."""
        embedding = self.encoder(x)
        return embedding, None if self.classifier is None else self.classifier(embedding)


class ColloSSLOnlineLearner:
    """Bounded-memory online ColloSSL learner over synchronised device streams (see module docstring).

    Implements the :class:`robossl.online.learner.Learner` protocol (``step``, ``inference_model``,
    ``state_dict``, ``load_state_dict``) so the background trainer can drive it, and offers
    :meth:`train_step` for simple periodic use.
    """

    def __init__(self, config: OnlineLearnerConfig) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        self.encoder = ImuConvEncoder(config.channels)
        self.anchor_index = config.device_names.index(config.anchor_device)
        objective_config = ColloSSLObjectiveConfig(
            anchor=self.anchor_index,
            policy=config.policy,
            temperature=config.temperature,
            acc_channels=config.acc_channels,
        )
        self.objective = ColloSSLObjective(self.encoder, objective_config)
        self.classifier = (
            nn.Linear(self.encoder.out_dim, config.num_classes) if config.num_classes > 0 else None
        )
        self.model = OnlineActivityModel(self.encoder, self.classifier)
        self.modules = nn.ModuleDict({"objective": self.objective, "model": self.model})
        self.modules.eval()  # inference mode except inside step(), so inference_model() is usable at once
        self.optimizer = torch.optim.Adam(self.modules.parameters(), lr=config.learning_rate)
        self.replay = ReplayBuffer(config.buffer_windows, "reservoir", seed=config.seed)
        self._generator = torch.Generator().manual_seed(config.seed)
        self.windows = LiveWindows(config)  # device streams -> aligned windows, normalisation statistics
        self.steps = 0

    @property
    def stats(self) -> dict[str, int]:
        """Input counters: ``late``, ``nan``, ``windows``, ``gap_windows``, ``labelled_windows``."""
        return self.windows.stats

    # ---------------------------------------------------------------- input
    def add_samples(self, device_id: str, stamps: np.ndarray, samples: np.ndarray) -> int:
        """Append samples of one device and add every aligned window that became complete to the replay.

        Args:
            device_id: one of ``config.device_names``.
            stamps: ``(N,)`` timestamps in seconds on the clock shared by all devices, sorted.
            samples: ``(N, channels)`` raw sensor values.

        Returns:
            Number of new aligned windows added to the replay buffer.

        Raises:
            ValueError: unknown device, wrong shapes, or unsorted timestamps.
        """
        windows = self.windows.add_samples(device_id, stamps, samples)
        for window, label in windows:
            self.replay.add({"windows": window, "label": np.array([label], dtype=np.int64)})
        return len(windows)

    def add_labels(self, stamps: np.ndarray, labels: np.ndarray) -> None:
        """Record activity labels ``(N,)`` at ``stamps`` ``(N,)`` seconds (:meth:`LiveWindows.add_labels`)."""
        self.windows.add_labels(stamps, labels)

    def forget_inputs(self) -> None:
        """Forget the buffered inputs (device streams, replay windows, labels, the window grid and the input
        counters) and keep what was learnt (weights, optimiser, normalisation statistics, step count).

        For a model pretrained offline on logs that starts on a live stream: the logs' windows would
        otherwise fill the replay (a reservoir that has seen N logged windows admits a new one with
        probability capacity / N) and their stamps would define the window grid.
        """
        cfg = self.config
        # in place: a BackgroundTrainer holds this buffer
        self.replay.load_state_dict(ReplayBuffer(cfg.buffer_windows, "reservoir", seed=cfg.seed).state_dict())
        self.windows.clear()

    def waiting_reason(self) -> str:
        """Why no new window can form right now (empty string when windows are forming)."""
        return self.windows.waiting_reason()

    # ---------------------------------------------------------------- learning
    def normalise(self, device_id: str, samples: np.ndarray) -> np.ndarray:
        """Normalise raw ``(..., channels)`` samples of one device with its running statistics.

        This is what :meth:`predict` does before the encoder; callers that run the hot-swapped
        :meth:`inference_model` themselves (the ROS node) use it on their raw windows.
        """
        if device_id not in self.windows.normalisers:
            raise ValueError(
                f"unknown device {device_id!r}; configured devices are {self.config.device_names}"
            )
        return self.windows.normalisers[device_id].normalise(np.asarray(samples, dtype=np.float64))

    def _normalise(self, windows: np.ndarray) -> np.ndarray:
        """Normalise ``(B, D, L, C)`` raw windows per device with the running statistics."""
        out = np.empty_like(windows)
        for d, name in enumerate(self.config.device_names):
            out[:, d] = self.windows.normalisers[name].normalise(windows[:, d])
        return out

    def train_step(self) -> dict[str, float]:
        """Sample a batch from the replay buffer and take one step (see :meth:`step`).

        Returns:
            Metrics; ``{"trained": 0.0, "buffer": n}`` while fewer than ``min_windows`` windows exist
            (:meth:`waiting_reason` says which device is missing).
        """
        if len(self.replay) < self.config.min_windows:
            return {"trained": 0.0, "buffer": float(len(self.replay))}
        return self.step(self.replay.sample(self.config.batch_size))

    def step(self, batch: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """One optimiser step on replay samples ``{"windows": (D, L, C), "label": (1,)}`` (-1 = unlabelled).

        A sample drawn twice (the replay samples with replacement; a small replay gives many repeats) is
        used once: its copy would be a negative of itself, which says nothing and, with a few windows,
        dominates the loss.
        """
        batch = list({id(sample): sample for sample in batch}.values())
        if len(batch) < 2:
            raise ValueError(
                "a ColloSSL step needs at least 2 aligned windows (negatives come from other steps)"
            )
        raw = np.stack([np.asarray(sample["windows"]) for sample in batch])
        labels = torch.as_tensor(
            np.array([int(np.asarray(s["label"]).reshape(-1)[0]) for s in batch]), dtype=torch.int64
        )
        windows = torch.from_numpy(self._normalise(raw)).transpose(0, 1).contiguous()  # (D, B, L, C)
        # Dropout draws from the global RNG; seed it from the learner's own generator inside a fork so the
        # step is reproducible after a checkpoint round trip without disturbing the caller's RNG.
        dropout_seed = int(torch.randint(2**31 - 1, (1,), generator=self._generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(dropout_seed)
            self.modules.train()
            contrastive = self.objective(windows, self._generator)
            loss = contrastive
            supervised = torch.zeros(())
            labelled = labels != UNLABELLED
            if self.classifier is not None and bool(labelled.any()):
                logits = self.classifier(self.encoder(windows[self.anchor_index][labelled]))
                supervised = F.cross_entropy(logits, labels[labelled])
                loss = loss + self.config.supervised_weight * supervised
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.modules.eval()
        self.steps += 1
        selection = self.objective.last_selection
        metrics = {
            "trained": 1.0,
            "loss": loss.item(),
            "contrastive_loss": contrastive.item(),
            "supervised_loss": supervised.item(),
            "labelled": float(labelled.sum()),
            "buffer": float(len(self.replay)),
            "step": float(self.steps),
        }
        if selection is not None:
            metrics["positive_device"] = float(selection.positives[0])
        return metrics

    def inference_model(self) -> nn.Module:
        """The module used for inference (encoder + classifier), for hot swapping."""
        return self.model

    @torch.no_grad()
    def predict(self, window: np.ndarray) -> tuple[int, np.ndarray]:
        """Classify one raw anchor-device window.

        Args:
            window: ``(L, channels)`` raw samples of ``anchor_device`` at ``sample_rate_hz``.

        Returns:
            ``(class_id, embedding (out_dim,))``; ``class_id`` is ``-1`` without a classifier.
        """
        window = np.asarray(window, dtype=np.float32)
        if window.ndim != 2 or window.shape[1] != self.config.channels:
            raise ValueError(f"predict expects one (L, {self.config.channels}) window, got {window.shape}")
        if not np.isfinite(window).all():
            raise ValueError("predict got NaN/inf samples; drop or interpolate them before predicting")
        x = self.normalise(self.config.anchor_device, window)
        self.modules.eval()
        embedding, logits = self.model(torch.from_numpy(x)[None])
        class_id = UNLABELLED if logits is None else int(logits.argmax(1))
        return class_id, embedding[0].numpy()

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """ALL learner state: weights, optimiser, replay, streams, normalisation, labels, counters."""
        return {
            "config": asdict(self.config),
            "model": self.modules.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": self.replay.state_dict(),
            "generator": self._generator.get_state(),
            **self.windows.state_dict(),  # streams, running_stats, labels, next_start, counters
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the configs must describe the same devices and model."""
        saved = dict(state["config"])
        saved["device_names"] = tuple(saved["device_names"])
        saved["channel_names"] = tuple(saved.get("channel_names", ()))  # absent before channels had names
        if saved != asdict(self.config) | {"device_names": tuple(self.config.device_names)}:
            raise ValueError(f"checkpoint config {saved} differs from this learner's {asdict(self.config)}")
        self.modules.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.replay.load_state_dict(state["replay"])
        self._generator.set_state(state["generator"])
        self.windows.load_state_dict(state)
        self.steps = int(state["steps"])
