"""Multi-device windows: N time-synchronised devices cut into aligned windows, and per-device normalisation.

A :class:`MultiDeviceWindows` holds, for every device, windows ``(W, L, C)`` where window ``w`` of every
device covers the same time span; that alignment is what ColloSSL's positives are made of. Normalisation
statistics are fitted on training windows only (:meth:`DeviceNormalizer.fit`) and then applied to any split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robossl.data.recording import MultiDeviceRecording, channel_indices


@dataclass(frozen=True)
class RecordingWindowConfig:
    """How recordings are cut into windows."""

    length_s: float = 1.0  # window length in seconds (ActRecTut authors: 1 s)
    overlap_s: float = 0.75  # overlap of consecutive windows in seconds (step = length - overlap)
    drop_null: bool = False  # drop windows whose majority label is 0 (NULL)

    def __post_init__(self) -> None:
        if self.length_s <= 0:
            raise ValueError(f"length_s must be > 0 seconds, got {self.length_s}")
        if not 0 <= self.overlap_s < self.length_s:
            raise ValueError(
                f"overlap_s must be in [0, length_s={self.length_s}), got {self.overlap_s}; "
                "the step between windows is length_s - overlap_s"
            )

    def samples(self, sample_rate_hz: float) -> tuple[int, int]:
        """Window length and step in samples at ``sample_rate_hz``."""
        length = max(1, int(round(self.length_s * sample_rate_hz)))
        step = max(1, int(round((self.length_s - self.overlap_s) * sample_rate_hz)))
        return length, step


@dataclass(frozen=True)
class MultiDeviceWindows:
    """Aligned windows of several devices.

    Attributes:
        windows: device name -> float32 ``(W, L, C)``; window ``w`` of every device covers the same span.
        labels: int64 ``(W,)`` majority label of each window.
        subjects: ``(W,)`` subject id (str) of each window.
        start_s: float64 ``(W,)`` start time of each window in seconds within its recording.
        sample_rate_hz: sampling rate in Hz.
        channel_names: device name -> channel names in column order (empty when the recording had none).
    """

    windows: dict[str, np.ndarray]
    labels: np.ndarray
    subjects: np.ndarray
    start_s: np.ndarray
    sample_rate_hz: float
    channel_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def device_names(self) -> tuple[str, ...]:
        """Device names in order."""
        return tuple(self.windows)

    def __len__(self) -> int:
        return len(self.labels)

    def stacked(self) -> np.ndarray:
        """All devices as one float32 array ``(D, W, L, C)`` (devices must have equal channel counts)."""
        shapes = {name: w.shape[2] for name, w in self.windows.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"devices have different channel counts {shapes}; select equal channels first")
        return np.stack([self.windows[name] for name in self.device_names])

    def channels(self, wanted: Sequence[str]) -> tuple[int, ...] | None:
        """Column indices of the channels named ``wanted``, the same in every device.

        Returns:
            The indices, or ``None`` when the windows carry no channel names (hand-built recordings).

        Raises:
            ValueError: a device lacks one of ``wanted`` (the message names it), or devices order their
                channels differently (a shared encoder needs the same column meaning in every device).
        """
        if not self.channel_names:
            return None
        found = {
            device: channel_indices(self.channel_names.get(device, ()), wanted, f"device {device!r}")
            for device in self.device_names
        }
        if len(set(found.values())) != 1:
            raise ValueError(
                f"devices keep {list(wanted)} in different columns {found}; reorder their channels "
                "to one layout before windowing (the encoder is shared by all devices)"
            )
        return found[self.device_names[0]]

    def subset(self, index: np.ndarray) -> MultiDeviceWindows:
        """Windows at ``index`` (int indices or a bool mask), same devices."""
        return MultiDeviceWindows(
            windows={name: w[index] for name, w in self.windows.items()},
            labels=self.labels[index],
            subjects=self.subjects[index],
            start_s=self.start_s[index],
            sample_rate_hz=self.sample_rate_hz,
            channel_names=self.channel_names,
        )


def window_recording(recording: MultiDeviceRecording, config: RecordingWindowConfig) -> MultiDeviceWindows:
    """Cut a recording into aligned windows of every device.

    Args:
        recording: synchronised recording (every device ``(T, C)``).
        config: window length/overlap in seconds.

    Returns:
        Windows with majority labels; windows containing NaN/inf samples are dropped (a warning-free,
        documented choice: such rows are sensor dropouts and cannot be encoded).

    Raises:
        ValueError: if the recording is shorter than one window.
    """
    length, step = config.samples(recording.sample_rate_hz)
    total = recording.num_samples
    if total < length:
        raise ValueError(
            f"recording {recording.name!r} has {total} samples, fewer than one {config.length_s} s window "
            f"({length} samples at {recording.sample_rate_hz} Hz)"
        )
    starts = np.arange(0, total - length + 1, step)
    offsets = starts[:, None] + np.arange(length)[None, :]
    windows = {
        name: np.ascontiguousarray(a[offsets], dtype=np.float32) for name, a in recording.devices.items()
    }
    keep = np.ones(len(starts), dtype=bool)
    for w in windows.values():
        keep &= np.isfinite(w).all(axis=(1, 2))
    label_windows = recording.labels[offsets]
    counts = np.zeros((len(starts), int(recording.labels.max()) + 1), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(starts)), length), label_windows.ravel()), 1)
    labels = counts.argmax(axis=1).astype(np.int64)
    if config.drop_null:
        keep &= labels != 0
    times = recording.times()
    return MultiDeviceWindows(
        windows={name: w[keep] for name, w in windows.items()},
        labels=labels[keep],
        subjects=np.full(int(keep.sum()), recording.subject, dtype=object),
        start_s=times[starts][keep],
        sample_rate_hz=recording.sample_rate_hz,
        channel_names=dict(recording.channel_names),
    )


def concatenate_windows(parts: Sequence[MultiDeviceWindows]) -> MultiDeviceWindows:
    """Concatenate window sets that share device names and sampling rate."""
    if not parts:
        raise ValueError("nothing to concatenate: pass at least one MultiDeviceWindows")
    devices = parts[0].device_names
    for part in parts[1:]:
        if part.device_names != devices or part.sample_rate_hz != parts[0].sample_rate_hz:
            raise ValueError(
                f"cannot concatenate windows with devices {part.device_names} at {part.sample_rate_hz} Hz "
                f"to {devices} at {parts[0].sample_rate_hz} Hz"
            )
        if part.channel_names != parts[0].channel_names:
            raise ValueError(
                f"cannot concatenate windows with channels {part.channel_names} to windows with "
                f"{parts[0].channel_names}; load every recording with the same channel layout"
            )
    return MultiDeviceWindows(
        windows={name: np.concatenate([p.windows[name] for p in parts]) for name in devices},
        labels=np.concatenate([p.labels for p in parts]),
        subjects=np.concatenate([p.subjects for p in parts]),
        start_s=np.concatenate([p.start_s for p in parts]),
        sample_rate_hz=parts[0].sample_rate_hz,
        channel_names=parts[0].channel_names,
    )


class DeviceNormalizer:
    """Per-device, per-channel standardisation fitted on training windows only.

    ``fit`` computes mean and standard deviation of every channel of every device over all training
    windows and time steps; ``transform`` applies them to any split. Test data never influence the
    statistics.
    """

    def __init__(self) -> None:
        self.mean: dict[str, np.ndarray] = {}
        self.std: dict[str, np.ndarray] = {}

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load_state_dict`) has run."""
        return bool(self.mean)

    def fit(self, windows: MultiDeviceWindows, min_std: float = 1e-6) -> DeviceNormalizer:
        """Fit statistics on ``windows`` (training split). Returns ``self``."""
        if len(windows) == 0:
            raise ValueError("cannot fit normalisation on zero windows")
        for name, w in windows.windows.items():
            flat = w.reshape(-1, w.shape[-1]).astype(np.float64)
            self.mean[name] = flat.mean(axis=0).astype(np.float32)
            self.std[name] = np.maximum(flat.std(axis=0), min_std).astype(np.float32)
        return self

    def transform_device(self, device: str, samples: np.ndarray) -> np.ndarray:
        """Normalise ``(..., C)`` samples of one device."""
        if device not in self.mean:
            raise ValueError(f"normaliser has no statistics for device {device!r}; fitted: {list(self.mean)}")
        return ((samples - self.mean[device]) / self.std[device]).astype(np.float32)

    def transform(self, windows: MultiDeviceWindows) -> MultiDeviceWindows:
        """Normalised copy of ``windows``."""
        if not self.fitted:
            raise ValueError("DeviceNormalizer.transform called before fit(); fit on the training windows")
        return MultiDeviceWindows(
            windows={name: self.transform_device(name, w) for name, w in windows.windows.items()},
            labels=windows.labels,
            subjects=windows.subjects,
            start_s=windows.start_s,
            sample_rate_hz=windows.sample_rate_hz,
            channel_names=windows.channel_names,
        )

    def state_dict(self) -> dict[str, dict[str, list[float]]]:
        """Statistics as plain lists (checkpoint-safe)."""
        return {
            "mean": {k: v.tolist() for k, v in self.mean.items()},
            "std": {k: v.tolist() for k, v in self.std.items()},
        }

    def load_state_dict(self, state: dict[str, dict[str, list[float]]]) -> None:
        """Restore statistics written by :meth:`state_dict`."""
        self.mean = {k: np.asarray(v, dtype=np.float32) for k, v in state["mean"].items()}
        self.std = {k: np.asarray(v, dtype=np.float32) for k, v in state["std"].items()}


WindowConfig = RecordingWindowConfig  # the name docs/collossl.md shows (datasets.borealtc has its own)
