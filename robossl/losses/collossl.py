"""Self-supervised objectives compared in the ColloSSL benchmark, each ``loss(batch, generator) -> scalar``.

- :class:`ColloSSLObjective`: multi-device contrastive learning (Jain et al., IMWUT 2022). Per batch the
  anchor device's positives are chosen by MMD (:func:`select_devices`); positives are the positive devices'
  windows at the same time step; negatives are every other device's windows (and the anchor's own) at the
  other time steps of the batch, weighted by inverse MMD.
- :class:`SimCLRObjective`: single-device SimCLR on the anchor device with IMU augmentations.
- :class:`MultiTaskObjective`: transformation recognition (Saeed et al., IMWUT 2019), one binary head per
  transformation, with every device's windows treated as independent samples.

All share an encoder (``ImuConvEncoder``) that the evaluation later fine-tunes or freezes. Objectives see
tensors only, so the accelerometer columns are passed in as indices; callers find them by channel name
(:func:`robossl.pipelines.collossl.protocol.collossl_config`, ``OnlineLearnerConfig.channel_names``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robossl.backbones.imu import ImuConvEncoder
from robossl.heads.projection import ProjectionHead
from robossl.losses.device_selection import DeviceSelection, select_devices
from robossl.losses.multiview_contrastive import multiview_contrastive_loss
from robossl.losses.nt_xent import nt_xent_loss
from robossl.transforms.imu_multitask import MULTITASK_TRANSFORMS, rotate, simclr_view


def collossl_projection(in_dim: int) -> ProjectionHead:
    """ColloSSL's projection head shape (256 -> 128 -> 50, ReLU, no batch norm), hidden width 256."""
    return ProjectionHead(in_dim, hidden_dim=256, out_dim=50, num_layers=3, batch_norm=False)


@dataclass(frozen=True)
class ColloSSLObjectiveConfig:
    """Hyper-parameters of the multi-device contrastive objective."""

    anchor: int = 0  # index of the anchor device (the one that is later evaluated)
    policy: str = "closest"  # device selection policy: closest | all | random
    num_positives: int = 1  # positives for the closest policy
    temperature: float = 0.05  # ColloSSL's tau
    anchor_negative: bool = True  # use the anchor device at other time steps as extra negatives (weight 1)
    # accelerometer x, y, z columns for the MMD feature; the protocol fills them from the channel names
    acc_channels: tuple[int, ...] = (0, 1, 2)


class ColloSSLObjective(nn.Module):
    """ColloSSL pretext on a batch of time-aligned windows ``(D, B, L, C)``.

    Args:
        encoder: shared encoder for all devices, ``(B, L, C) -> (B, F)``.
        config: objective settings.
    """

    def __init__(self, encoder: ImuConvEncoder, config: ColloSSLObjectiveConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = collossl_projection(encoder.out_dim)
        self.config = config
        self.last_selection: DeviceSelection | None = None

    def forward(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Loss for aligned windows ``batch`` of shape ``(D, B, L, C)`` (row ``b`` = one time step)."""
        if batch.ndim != 4 or batch.shape[0] < 2:
            raise ValueError(
                f"ColloSSL needs (devices>=2, B, L, C) aligned windows, got {tuple(batch.shape)}"
            )
        cfg = self.config
        devices, size = batch.shape[:2]
        selection = select_devices(
            list(batch), cfg.anchor, cfg.policy, cfg.num_positives, cfg.acc_channels, generator
        )
        self.last_selection = selection
        z = self.projection(self.encoder(batch.reshape(devices * size, *batch.shape[2:])))
        z = z.reshape(devices, size, -1)
        anchor = z[cfg.anchor]
        positives = z[list(selection.positives)].transpose(0, 1)
        bank_devices = list(selection.negatives)
        weights = list(selection.negative_weights)
        if cfg.anchor_negative:
            bank_devices.append(cfg.anchor)
            weights.append(1.0)
        bank = z[bank_devices].reshape(len(bank_devices) * size, -1)
        weight = torch.tensor(weights, dtype=z.dtype).repeat_interleave(size)
        other_step = ~torch.eye(size, dtype=torch.bool).repeat(1, len(bank_devices))
        return multiview_contrastive_loss(
            anchor, positives, bank, None, weight, other_step, temperature=cfg.temperature
        )


class SimCLRObjective(nn.Module):
    """SimCLR on one device: two augmented views of each window, NT-Xent.

    Args:
        encoder: ``(B, L, C) -> (B, F)``.
        anchor: device index whose windows are used.
        temperature: NT-Xent temperature.
        acc_channels: accelerometer x, y, z columns (rotated by the views).
    """

    def __init__(
        self,
        encoder: ImuConvEncoder,
        anchor: int = 0,
        temperature: float = 0.1,
        acc_channels: Sequence[int] = (0, 1, 2),
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = collossl_projection(encoder.out_dim)
        self.anchor = anchor
        self.temperature = temperature
        self.acc_channels = tuple(acc_channels)

    def forward(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Loss for windows ``(D, B, L, C)``; only device ``anchor`` is used."""
        x = batch[self.anchor]
        z_a = self.projection(self.encoder(simclr_view(x, generator, self.acc_channels)))
        z_b = self.projection(self.encoder(simclr_view(x, generator, self.acc_channels)))
        return nt_xent_loss(z_a, z_b, self.temperature)


class MultiTaskObjective(nn.Module):
    """Transformation recognition with one binary head per transformation (Saeed et al. 2019).

    Every device's windows are pooled as independent samples. Each sample gets a random transformation id
    (0 = untouched); head ``k`` classifies "transformed by k" against untouched samples.

    Args:
        encoder: ``(B, L, C) -> (B, F)``.
        acc_channels: accelerometer x, y, z columns (turned by the ``rotate`` transformation).
    """

    def __init__(self, encoder: ImuConvEncoder, acc_channels: Sequence[int] = (0, 1, 2)) -> None:
        super().__init__()
        self.encoder = encoder
        self.names = tuple(MULTITASK_TRANSFORMS)
        self.transforms = dict(MULTITASK_TRANSFORMS)
        self.transforms["rotate"] = functools.partial(rotate, channels=tuple(acc_channels))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(encoder.out_dim, 128), nn.ReLU(), nn.Linear(128, 1)) for _ in self.names
        )

    def forward(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Loss for windows ``(D, B, L, C)`` pooled over devices."""
        pooled = batch.reshape(-1, *batch.shape[2:])
        count = len(self.names)
        # Half the samples stay untouched so every head sees balanced positives and negatives.
        ids = torch.randint(1, count + 1, (len(pooled),), generator=generator)
        ids[torch.rand(len(pooled), generator=generator) < 0.5] = 0
        x = pooled.clone()
        for k, name in enumerate(self.names, start=1):
            chosen = ids == k
            if chosen.any():
                x[chosen] = self.transforms[name](pooled[chosen], generator)
        features = self.encoder(x)
        losses = []
        for k, head in enumerate(self.heads, start=1):
            use = (ids == 0) | (ids == k)
            logits = head(features[use]).squeeze(-1)
            losses.append(F.binary_cross_entropy_with_logits(logits, (ids[use] == k).float()))
        return torch.stack(losses).mean()
