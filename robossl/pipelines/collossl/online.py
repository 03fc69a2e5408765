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
``(D, L, C)`` enters a bounded reservoir replay buffer. ``train_step`` draws a batch of aligned windows and
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

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones.imu import ImuConvEncoder
from robossl.data.recording import ACCELEROMETER_CHANNELS, channel_indices
from robossl.losses.collossl import ColloSSLObjective, ColloSSLObjectiveConfig
from robossl.online.replay import ReplayBuffer

UNLABELLED = -1


@dataclass(frozen=True)
class OnlineLearnerConfig:
    """Settings of the online ColloSSL learner."""

    device_names: tuple[str, ...]  # every device that streams, in a fixed order (>= 2)
    anchor_device: str  # device the classifier and predict() use
    channels: int  # channels per device (e.g. 6: acc xyz + gyro xyz)
    num_classes: int = 0  # activity classes for the classifier head; 0 = embeddings only
    sample_rate_hz: float = 32.0  # grid rate of the aligned windows in Hz
    window_s: float = 1.0  # window length in seconds
    overlap_s: float = 0.5  # overlap between consecutive windows in seconds
    buffer_windows: int = 2048  # replay capacity in aligned windows (reservoir sampling)
    stream_horizon_s: float = 10.0  # raw samples kept per device while waiting for the others (seconds)
    max_gap_s: float = 0.1  # largest hole (seconds) in a device's samples inside a window
    min_windows: int = 16  # aligned windows needed before training starts
    batch_size: int = 64  # windows per training step
    learning_rate: float = 1e-3  # Adam learning rate
    temperature: float = 0.05  # ColloSSL temperature
    policy: str = "closest"  # device selection policy: closest | all | random
    supervised_weight: float = 1.0  # weight of the cross-entropy term on labelled windows
    seed: int = 0  # seed of initialisation, replay and batch randomness
    # names of a device's channels in column order; the accelerometer is found by name (acc_x, acc_y,
    # acc_z). Empty: the first 3 channels are the accelerometer (the har_node's order).
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        if self.channel_names and len(self.channel_names) != self.channels:
            raise ValueError(
                f"channel_names has {len(self.channel_names)} names for {self.channels} channels; "
                "name every channel in column order"
            )
        if self.channel_names:  # refuse a layout without an accelerometer now, naming the missing channel
            channel_indices(self.channel_names, ACCELEROMETER_CHANNELS, "OnlineLearnerConfig.channel_names")
        if len(self.device_names) < 2 or len(set(self.device_names)) != len(self.device_names):
            raise ValueError(f"device_names must name >= 2 distinct devices, got {self.device_names}")
        if self.anchor_device not in self.device_names:
            raise ValueError(f"anchor_device {self.anchor_device!r} is not one of {self.device_names}")
        if self.channels < 3:
            raise ValueError(f"channels must be >= 3 (accelerometer x, y, z), got {self.channels}")
        if self.sample_rate_hz <= 0 or self.window_s <= 0 or not 0 <= self.overlap_s < self.window_s:
            raise ValueError(
                "need sample_rate_hz > 0, window_s > 0 and 0 <= overlap_s < window_s, got "
                f"{self.sample_rate_hz}, {self.window_s}, {self.overlap_s}"
            )
        if self.stream_horizon_s < 2 * self.window_s:
            raise ValueError(f"stream_horizon_s must be >= 2 * window_s, got {self.stream_horizon_s}")
        if self.min_windows < 2 or self.batch_size < 2 or self.buffer_windows < self.min_windows:
            raise ValueError("need min_windows >= 2, batch_size >= 2 and buffer_windows >= min_windows")

    @property
    def acc_channels(self) -> tuple[int, ...]:
        """Accelerometer x, y, z columns: by name from ``channel_names``, else the first three."""
        if not self.channel_names:
            return (0, 1, 2)
        return channel_indices(
            self.channel_names, ACCELEROMETER_CHANNELS, "OnlineLearnerConfig.channel_names"
        )

    @property
    def window_samples(self) -> int:
        """Window length in grid samples."""
        return max(1, int(round(self.window_s * self.sample_rate_hz)))


class _RunningStats:
    """Per-channel running mean/variance (Chan et al. parallel update) for online normalisation."""

    def __init__(self, channels: int) -> None:
        self.count = 0.0
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)

    def update(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        n = float(len(samples))
        mean = samples.mean(axis=0)
        delta = mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + ((samples - mean) ** 2).sum(axis=0) + delta**2 * self.count * n / total
        self.count = total

    def normalise(self, x: np.ndarray) -> np.ndarray:
        std = np.sqrt(self.m2 / max(self.count, 1.0))
        return ((x - self.mean) / np.maximum(std, 1e-6)).astype(np.float32)

    def state(self) -> list[Any]:
        return [self.count, torch.from_numpy(self.mean.copy()), torch.from_numpy(self.m2.copy())]

    def load(self, state: list[Any]) -> None:
        self.count = float(state[0])
        self.mean = state[1].numpy().astype(np.float64)
        self.m2 = state[2].numpy().astype(np.float64)


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
        self._streams: dict[str, tuple[np.ndarray, np.ndarray]] = {
            name: (np.zeros(0), np.zeros((0, config.channels), np.float32)) for name in config.device_names
        }
        self._stats = {name: _RunningStats(config.channels) for name in config.device_names}
        self._label_stamps = np.zeros(0)
        self._label_values = np.zeros(0, np.int64)
        self._next_start: float | None = None
        self.steps = 0
        self.stats: dict[str, int] = {
            "late": 0,
            "nan": 0,
            "windows": 0,
            "gap_windows": 0,
            "labelled_windows": 0,
        }

    # ---------------------------------------------------------------- input
    def add_samples(self, device_id: str, stamps: np.ndarray, samples: np.ndarray) -> int:
        """Append samples of one device and form every aligned window that became complete.

        Args:
            device_id: one of ``config.device_names``.
            stamps: ``(N,)`` timestamps in seconds on the clock shared by all devices, sorted.
            samples: ``(N, channels)`` raw sensor values.

        Returns:
            Number of new aligned windows added to the replay buffer.

        Raises:
            ValueError: unknown device, wrong shapes, or unsorted timestamps.
        """
        cfg = self.config
        if device_id not in self._streams:
            raise ValueError(f"unknown device {device_id!r}; configured devices are {cfg.device_names}")
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape != (len(stamps), cfg.channels):
            raise ValueError(
                f"device {device_id!r}: expected stamps (N,) and samples (N, {cfg.channels}), got "
                f"{stamps.shape} and {samples.shape}"
            )
        if len(stamps) > 1 and np.any(np.diff(stamps) < 0):
            raise ValueError(f"device {device_id!r}: timestamps in one call must be sorted (non-decreasing)")
        finite = np.isfinite(stamps) & np.isfinite(samples).all(axis=1)
        self.stats["nan"] += int((~finite).sum())
        stamps, samples = stamps[finite], samples[finite]
        old_stamps, old_samples = self._streams[device_id]
        last = old_stamps[-1] if len(old_stamps) else -np.inf
        fresh = stamps > last
        fresh &= np.concatenate([[True], np.diff(stamps) > 0]) if len(stamps) else fresh
        self.stats["late"] += int((~fresh).sum())
        stamps, samples = stamps[fresh], samples[fresh]
        if len(stamps) == 0:
            return 0
        self._stats[device_id].update(samples.astype(np.float64))
        stamps = np.concatenate([old_stamps, stamps])
        samples = np.concatenate([old_samples, samples])
        keep = stamps >= stamps[-1] - cfg.stream_horizon_s
        self._streams[device_id] = (stamps[keep], samples[keep])
        return self._assemble()

    def add_labels(self, stamps: np.ndarray, labels: np.ndarray) -> None:
        """Record activity labels ``(N,)`` at ``stamps`` ``(N,)`` seconds; a window takes the label nearest to
        its centre (within half a window), later windows only. Labels must be in ``[0, num_classes)``."""
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(stamps) != len(labels):
            raise ValueError(f"stamps ({len(stamps)}) and labels ({len(labels)}) must have equal length")
        if self.config.num_classes == 0:
            raise ValueError("this learner has no classifier; set OnlineLearnerConfig.num_classes > 0")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.config.num_classes):
            raise ValueError(
                f"labels must be in [0, {self.config.num_classes}), got {labels.min()}..{labels.max()}"
            )
        order = np.argsort(np.concatenate([self._label_stamps, stamps]), kind="stable")
        all_stamps = np.concatenate([self._label_stamps, stamps])[order]
        all_labels = np.concatenate([self._label_values, labels])[order]
        keep = all_stamps >= all_stamps[-1] - self.config.stream_horizon_s if len(all_stamps) else []
        self._label_stamps, self._label_values = all_stamps[keep], all_labels[keep]

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
        self._streams = {
            name: (np.zeros(0), np.zeros((0, cfg.channels), np.float32)) for name in cfg.device_names
        }
        self._label_stamps = np.zeros(0)
        self._label_values = np.zeros(0, np.int64)
        self._next_start = None
        self.stats = dict.fromkeys(self.stats, 0)

    def waiting_reason(self) -> str:
        """Why no new window can form right now (empty string when windows are forming)."""
        empty = [name for name, (stamps, _) in self._streams.items() if len(stamps) == 0]
        if empty:
            return f"no samples yet from device(s) {empty}"
        ends = {name: float(stamps[-1]) for name, (stamps, _) in self._streams.items()}
        slowest = min(ends, key=lambda k: ends[k])
        return f"waiting for device {slowest!r} (latest sample at {ends[slowest]:.3f} s)"

    def _assemble(self) -> int:
        cfg = self.config
        if any(len(stamps) < 2 for stamps, _ in self._streams.values()):
            return 0
        if self._next_start is None:
            self._next_start = max(float(stamps[0]) for stamps, _ in self._streams.values())
        length = cfg.window_samples
        span = (length - 1) / cfg.sample_rate_hz
        step = cfg.window_s - cfg.overlap_s
        latest_common = min(float(stamps[-1]) for stamps, _ in self._streams.values())
        added = 0
        while self._next_start + span <= latest_common:
            start = self._next_start
            self._next_start = start + step
            earliest = max(float(stamps[0]) for stamps, _ in self._streams.values())
            if start < earliest:  # fell behind the bounded stream horizon: skip ahead
                self._next_start = earliest
                continue
            grid = start + np.arange(length) / cfg.sample_rate_hz
            window = np.empty((len(cfg.device_names), length, cfg.channels), np.float32)
            complete = True
            for d, (stamps, samples) in enumerate(self._streams.values()):
                nearest = np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1)
                gap = np.minimum(np.abs(stamps[nearest] - grid), np.abs(stamps[nearest - 1] - grid))
                if gap.max() > cfg.max_gap_s:
                    complete = False
                    break
                for c in range(cfg.channels):
                    window[d, :, c] = np.interp(grid, stamps, samples[:, c])
            if not complete:
                self.stats["gap_windows"] += 1
                continue
            label = self._label_for(start + span / 2)
            self.stats["labelled_windows"] += int(label != UNLABELLED)
            self.replay.add({"windows": window, "label": np.array([label], dtype=np.int64)})
            self.stats["windows"] += 1
            added += 1
        return added

    def _label_for(self, centre: float) -> int:
        if len(self._label_stamps) == 0:
            return UNLABELLED
        i = int(np.argmin(np.abs(self._label_stamps - centre)))
        if abs(self._label_stamps[i] - centre) > self.config.window_s / 2:
            return UNLABELLED
        return int(self._label_values[i])

    # ---------------------------------------------------------------- learning
    def normalise(self, device_id: str, samples: np.ndarray) -> np.ndarray:
        """Normalise raw ``(..., channels)`` samples of one device with its running statistics.

        This is what :meth:`predict` does before the encoder; callers that run the hot-swapped
        :meth:`inference_model` themselves (the ROS node) use it on their raw windows.
        """
        if device_id not in self._stats:
            raise ValueError(
                f"unknown device {device_id!r}; configured devices are {self.config.device_names}"
            )
        return self._stats[device_id].normalise(np.asarray(samples, dtype=np.float64))

    def _normalise(self, windows: np.ndarray) -> np.ndarray:
        """Normalise ``(B, D, L, C)`` raw windows per device with the running statistics."""
        out = np.empty_like(windows)
        for d, name in enumerate(self.config.device_names):
            out[:, d] = self._stats[name].normalise(windows[:, d])
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
            "streams": {
                k: [torch.from_numpy(s.copy()), torch.from_numpy(x.copy())]
                for k, (s, x) in self._streams.items()
            },
            "running_stats": {k: v.state() for k, v in self._stats.items()},
            "labels": [
                torch.from_numpy(self._label_stamps.copy()),
                torch.from_numpy(self._label_values.copy()),
            ],
            "next_start": self._next_start,
            "steps": self.steps,
            "counters": dict(self.stats),
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
        self._streams = {k: (v[0].numpy(), v[1].numpy()) for k, v in state["streams"].items()}
        for name, value in state["running_stats"].items():
            self._stats[name].load(value)
        self._label_stamps, self._label_values = state["labels"][0].numpy(), state["labels"][1].numpy()
        self._next_start = state["next_start"]
        self.steps = int(state["steps"])
        self.stats = dict(state["counters"])
