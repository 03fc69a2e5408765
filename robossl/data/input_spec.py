"""What one sample looks like (modality, shape, devices, channel names): shared by data sources and methods.

Data sources (:mod:`robossl.data.pretrain_sources`) produce samples with an :class:`InputSpec`; methods
(:mod:`robossl.methods`) are built for one, and checkpoints store it (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass

MODALITIES = ("image", "imu", "spectrogram", "features")


@dataclass(frozen=True)
class InputSpec:
    """What one sample looks like.

    Attributes:
        modality: one of ``MODALITIES``.
        shape: per-sample shape without the batch axis: image ``(C, H, W)``; imu ``(T, C)``;
            spectrogram ``(T, F)`` frames x bins; features ``(F,)``.
        rotation_groups: IMU channel triplets (x, y, z) rotated together by the 3-D rotation view.
        devices: sensors whose channels sit side by side (equal counts each), e.g. 3 body-worn IMUs.
        channel_names: imu: names of one device's channels in column order (the same for every device),
            e.g. ``("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y")``; empty when the source has none.
    """

    modality: str
    shape: tuple[int, ...]
    rotation_groups: tuple[tuple[int, int, int], ...] = ()
    devices: int = 1
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        expected = {"image": 3, "imu": 2, "spectrogram": 2, "features": 1}[self.modality]
        if len(self.shape) != expected:
            raise ValueError(
                f"{self.modality} samples need a {expected}-D shape (see InputSpec docstring), got {self.shape}"
            )
        if self.devices < 1 or (self.modality == "imu" and self.shape[1] % self.devices):
            raise ValueError(
                f"devices ({self.devices}) must be >= 1 and split the {self.shape[-1]} channels evenly"
            )
        object.__setattr__(self, "channel_names", tuple(str(n) for n in self.channel_names))
        if self.channel_names and self.shape[-1] != self.devices * len(self.channel_names):
            raise ValueError(
                f"{len(self.channel_names)} channel names per device x {self.devices} devices do not match "
                f"the {self.shape[-1]} channels; name one device's channels in column order"
            )
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(
            self, "rotation_groups", tuple(tuple(int(c) for c in g) for g in self.rotation_groups)
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "modality": self.modality,
            "shape": list(self.shape),
            "rotation_groups": [list(g) for g in self.rotation_groups],
            "devices": self.devices,
            "channel_names": list(self.channel_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> InputSpec:
        groups = data.get("rotation_groups", [])
        shape = data["shape"]
        assert isinstance(shape, (list, tuple)) and isinstance(groups, (list, tuple))
        devices = data.get("devices", 1)
        assert isinstance(devices, int)
        names = data.get("channel_names", [])  # absent in checkpoints written before channels had names
        assert isinstance(names, (list, tuple))
        return cls(
            str(data["modality"]), tuple(shape), tuple(tuple(g) for g in groups), devices, tuple(names)
        )
