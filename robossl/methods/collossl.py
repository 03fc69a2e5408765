"""ColloSSL as a registered method: time-aligned windows of several body-worn IMUs are views of each other.

Input: IMU windows ``(B, T, devices x C)`` with every device's channels side by side (as
:func:`robossl.data.pretrain_sources.load_actrectut_windows` produces); the device count comes from the config or
from ``spec.devices``. The objective is the ColloSSL
team's :class:`robossl.losses.collossl.ColloSSLObjective` (MMD device selection + weighted
multi-view contrastive loss, Jain et al. IMWUT 2022); probes see every device's encoding concatenated.
Device selection reads the accelerometer found by name in ``spec.channel_names``; sources without
channel names (an ``.npz``) must put acc x, y, z first in each device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robossl.backbones import ImuConvEncoder
from robossl.errors import MethodConfigError
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.registry import register_method


class ColloSSLMethod(SSLMethod):
    """Shared per-device encoder trained with ColloSSL's objective."""

    def __init__(self, objective: torch.nn.Module, num_devices: int) -> None:
        super().__init__()
        self.objective = objective
        self.backbone = objective.encoder  # type: ignore[assignment]
        self.num_devices = num_devices

    def _split(self, batch: torch.Tensor) -> torch.Tensor:
        b, t, channels = batch.shape
        per_device = channels // self.num_devices
        return batch.reshape(b, t, self.num_devices, per_device).permute(2, 0, 1, 3)  # (D, B, T, C)

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if generator is None:
            generator = torch.Generator(device=batch.device)
        loss = self.objective(self._split(batch), generator)
        return loss, {"loss": loss.detach()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        devices = self._split(x)
        return torch.cat([self.backbone(device) for device in devices], dim=1)


@dataclass
class ColloSSLConfig:
    num_devices: int = 0  # IMUs side by side in the channels (0: spec.devices)
    anchor: int = 0  # anchor device index (the one evaluated in the paper)
    temperature: float = 0.05  # contrastive temperature (paper: 0.05)
    policy: str = "closest"  # device selection: closest | all | random


@register_method(
    "collossl", ColloSSLConfig, "Jain et al., ColloSSL, IMWUT 2022 (multi-device IMU)", modalities=("imu",)
)
def build_collossl(spec: InputSpec, config: ColloSSLConfig) -> SSLMethod:
    from robossl.losses.collossl import ColloSSLObjective, ColloSSLObjectiveConfig

    devices = config.num_devices or spec.devices
    channels = spec.shape[1]
    if devices < 2 or channels % devices:
        # Devices are the views of each other: one IMU alone (a bag's Imu topic, single-sensor windows)
        # gives ColloSSL nothing to pair.
        raise MethodConfigError(
            f"collossl needs windows of >= 2 time-aligned devices (IMUs) side by side whose channels split "
            f"evenly, but these samples have {channels} channels from {devices} "
            f"device{'s' if devices != 1 else ''}; pair devices by pretraining on an ActRecTut folder "
            "(every IMU side by side), or on an .npz whose windows hold each device's channels side by side "
            "with --set num_devices=N (config num_devices; N >= 2 must divide the channel count), or choose "
            "a single-device method such as simclr"
        )
    acc_channels: tuple[int, ...] = (0, 1, 2)
    if spec.channel_names:
        from robossl.data.recording import ACCELEROMETER_CHANNELS, channel_indices

        acc_channels = channel_indices(spec.channel_names, ACCELEROMETER_CHANNELS, "the input's IMU devices")
    objective = ColloSSLObjective(
        ImuConvEncoder(channels // devices),
        ColloSSLObjectiveConfig(
            anchor=config.anchor,
            policy=config.policy,
            temperature=config.temperature,
            acc_channels=acc_channels,
        ),
    )
    return ColloSSLMethod(objective, devices)
