"""A multi-device recording: several time-synchronised body-worn sensors sharing one clock and one label track.

Every HAR loader in :mod:`robossl.data.har` and :mod:`robossl.data.datasets.actrectut` returns this type, and the
ColloSSL pipeline (:mod:`robossl.pipelines.collossl`) consumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Channel names every loader uses for a 3-axis accelerometer (m/s^2 or milli-g, see the loader).
ACCELEROMETER_CHANNELS = ("acc_x", "acc_y", "acc_z")
GYROSCOPE_CHANNELS = ("gyro_x", "gyro_y", "gyro_z")


def channel_indices(channel_names: Sequence[str], wanted: Sequence[str], where: str) -> tuple[int, ...]:
    """Column index of every name in ``wanted`` within ``channel_names``.

    Loaders differ in column order (bags: gyroscope first; ActRecTut, PAMAP2: accelerometer first), so code
    that needs a particular sensor looks its channels up by name instead of by position.

    Args:
        channel_names: names of the columns, in column order.
        wanted: names to find, e.g. :data:`ACCELEROMETER_CHANNELS`.
        where: what ``channel_names`` belong to, for the error message (e.g. ``"device 'wrist'"``).

    Raises:
        ValueError: naming the missing channels and listing those ``where`` has.
    """
    names = tuple(channel_names)
    missing = [name for name in wanted if name not in names]
    if missing:
        raise ValueError(
            f"{where} has no channel {', '.join(repr(m) for m in missing)}; its channels are {list(names)}. "
            f"Name the columns {list(wanted)} in the loader's channel_names (or choose a recording that has them)"
        )
    return tuple(names.index(name) for name in wanted)


@dataclass(frozen=True)
class MultiDeviceRecording:
    """Synchronised samples of N devices, one row per instant.

    Attributes:
        name: recording name, e.g. ``"actrectut/subject1_gesture"``.
        subject: subject (user) identifier, used for leave-one-subject-out splits.
        devices: device name -> float32 array ``(T, C_device)``; every array has the same ``T`` and row ``t``
            of every array was sampled at ``timestamps_s[t]``. Insertion order is the device order.
        labels: int64 ``(T,)`` activity class per row; ``0`` is the NULL / unlabelled class where the dataset
            has one.
        sample_rate_hz: nominal sampling rate in Hz.
        class_names: name of each class id, ``class_names[k]`` for label ``k``.
        channel_names: device name -> channel names of that device, in column order.
        timestamps_s: float64 ``(T,)`` seconds since the recording start (strictly increasing).
    """

    name: str
    subject: str
    devices: dict[str, np.ndarray]
    labels: np.ndarray
    sample_rate_hz: float
    class_names: tuple[str, ...]
    channel_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timestamps_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.devices:
            raise ValueError(f"recording {self.name!r} has no devices; pass at least one (T, C) array")
        if self.sample_rate_hz <= 0:
            raise ValueError(
                f"recording {self.name!r}: sample_rate_hz must be > 0, got {self.sample_rate_hz}"
            )
        length = len(self.labels)
        if self.labels.ndim != 1:
            raise ValueError(
                f"recording {self.name!r}: labels must be 1-D (T,), got shape {self.labels.shape}"
            )
        for device, samples in self.devices.items():
            if samples.ndim != 2:
                raise ValueError(
                    f"recording {self.name!r}: device {device!r} must be (T, C), got shape {samples.shape}"
                )
            if len(samples) != length:
                raise ValueError(
                    f"recording {self.name!r}: device {device!r} has {len(samples)} rows but labels have "
                    f"{length}; resample all devices onto one clock first"
                )
            names = self.channel_names.get(device)
            if names is not None and len(names) != samples.shape[1]:
                raise ValueError(
                    f"recording {self.name!r}: device {device!r} has {samples.shape[1]} channels but "
                    f"{len(names)} channel names"
                )
        if self.timestamps_s is not None:
            if self.timestamps_s.shape != (length,):
                raise ValueError(
                    f"recording {self.name!r}: timestamps_s must have shape ({length},), "
                    f"got {self.timestamps_s.shape}"
                )
            if length > 1 and not np.all(np.diff(self.timestamps_s) > 0):
                raise ValueError(f"recording {self.name!r}: timestamps_s must be strictly increasing")

    @property
    def device_names(self) -> tuple[str, ...]:
        """Device names in order."""
        return tuple(self.devices)

    @property
    def num_samples(self) -> int:
        """Number of rows ``T``."""
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of classes including NULL."""
        return len(self.class_names)

    def times(self) -> np.ndarray:
        """Timestamps in seconds ``(T,)``: the stored ones or ``arange(T) / sample_rate_hz``."""
        if self.timestamps_s is not None:
            return self.timestamps_s
        return np.arange(self.num_samples, dtype=np.float64) / self.sample_rate_hz
