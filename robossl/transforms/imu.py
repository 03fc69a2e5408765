"""Batched views of IMU / time-series windows ``(B, T, C)``.

Augmentations from the HAR self-supervision literature (Um et al. 2017, "Data augmentation of wearable
sensor data"; Saeed et al. 2019; Tang et al. 2021): jitter, scaling, 3-D rotation of each xyz triplet,
smooth time warping, channel masking and time masking. Every random draw uses the caller's
``torch.Generator`` so a learner's views are reproducible and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ImuViewConfig:
    jitter_std: float = 0.05  # std of additive Gaussian noise (input units; data is standardised)
    scale_std: float = 0.1  # std of the per-channel multiplicative factor around 1
    # Chance per sample of a random 3-D rotation of every xyz triplet. Off by default: a rotation erases the
    # gravity direction (the main posture / gesture cue) and is only physical on windows in sensor units
    # (before per-channel standardisation). On ActRecTut gesture a uniform rotation at 0.5 took the SimCLR
    # probe from 0.52 down to 0.35 (docs/methods.md). Use it for orientation-invariant tasks.
    rotation_probability: float = 0.0
    rotation_max_degrees: float = 180.0  # largest rotation angle; 180 = uniform over SO(3)
    rotation_groups: tuple[tuple[int, int, int], ...] = ()  # channel triplets rotated together (acc, gyro)
    time_warp_probability: float = 0.5  # chance per sample of a smooth random time warp
    time_warp_strength: float = 0.2  # std of the random speed at the warp knots (0.2 = +-20 % speed)
    channel_mask_probability: float = 0.1  # chance that each channel is zeroed
    time_mask_fraction: float = 0.1  # maximum fraction of the window zeroed in one contiguous block
    local_crop_fraction: float = 0.5  # length of a local (multi-crop) view relative to the window

    def __post_init__(self) -> None:
        for name in ("rotation_probability", "time_warp_probability", "channel_mask_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.rotation_max_degrees <= 180.0:
            raise ValueError(f"rotation_max_degrees must be in (0, 180], got {self.rotation_max_degrees}")
        if not 0.0 < self.local_crop_fraction <= 1.0 or not 0.0 <= self.time_mask_fraction < 1.0:
            raise ValueError("local_crop_fraction must be in (0, 1] and time_mask_fraction in [0, 1)")


def random_rotations(
    count: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``(count, 3, 3)`` rotation matrices, uniform over SO(3).

    A normalised 4-D Gaussian is a uniform unit quaternion (Shoemake, "Uniform random rotations", Graphics
    Gems III, 1992); its matrix is a few element-wise operations, with no QR or determinant (which on a
    GPU run as per-matrix solver calls).
    """
    w, x, y, z = F.normalize(torch.randn(count, 4, generator=generator, device=device), dim=1).unbind(1)
    xx, yy, zz, xy, xz, yz, wx, wy, wz = x * x, y * y, z * z, x * y, x * z, y * z, w * x, w * y, w * z
    rows = (
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    )  # fmt: skip
    return torch.stack(rows, dim=1).view(count, 3, 3)


def bounded_rotations(
    count: int,
    max_degrees: float,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``(count, 3, 3)`` rotations about uniformly random axes by angles uniform in +-``max_degrees``
    (Rodrigues' formula): small mounting perturbations that keep gravity roughly where it was."""
    axis = F.normalize(torch.randn(count, 3, generator=generator, device=device), dim=1)
    angle = (torch.rand(count, 1, 1, generator=generator, device=device) * 2 - 1) * (
        max_degrees * torch.pi / 180
    )
    zero = torch.zeros(count, device=device)
    x, y, z = axis.unbind(1)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).view(count, 3, 3)
    eye = torch.eye(3, device=device).expand(count, 3, 3)
    return eye + torch.sin(angle) * k + (1 - torch.cos(angle)) * (k @ k)


def rotate_triplets(
    x: torch.Tensor, rotations: torch.Tensor, groups: tuple[tuple[int, int, int], ...]
) -> torch.Tensor:
    """Rotate each channel triplet of ``x`` ``(B, T, C)`` by the per-sample ``(B, 3, 3)`` rotations."""
    out = x.clone()
    for group in groups:
        # a run of 3 adjacent channels is a slice (a view); a list index would be copied to the GPU each call
        index: slice | list[int] = (
            slice(group[0], group[0] + 3)
            if tuple(group) == tuple(range(group[0], group[0] + 3))
            else list(group)
        )
        out[:, :, index] = x[:, :, index] @ rotations.transpose(1, 2)
    return out


def time_warp(
    x: torch.Tensor, strength: float, generator: torch.Generator | None = None, knots: int = 4
) -> torch.Tensor:
    """Resample ``(B, T, C)`` along a smooth random monotone time map (random speed at ``knots`` points)."""
    batch, length, _ = x.shape
    speed = 1.0 + strength * torch.randn(batch, knots + 2, generator=generator, device=x.device)
    speed = F.interpolate(speed.clamp(min=0.1).unsqueeze(1), size=length, mode="linear", align_corners=True)
    position = torch.cumsum(speed.squeeze(1), dim=1)
    position = (position - position[:, :1]) / (position[:, -1:] - position[:, :1]).clamp(min=1e-6)
    grid_x = position * 2 - 1  # (B, T) in [-1, 1]
    grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1).unsqueeze(1)  # (B, 1, T, 2)
    warped = F.grid_sample(x.transpose(1, 2).unsqueeze(2), grid, mode="bilinear", align_corners=True)
    return warped.squeeze(2).transpose(1, 2)


def time_mask(x: torch.Tensor, max_fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random contiguous block of up to ``max_fraction * T`` samples per window."""
    batch, length, _ = x.shape
    max_width = int(max_fraction * length)
    if max_width < 1:
        return x
    width = torch.randint(0, max_width + 1, (batch, 1), generator=generator, device=x.device)
    start = (torch.rand(batch, 1, generator=generator, device=x.device) * (length - width + 1)).long()
    steps = torch.arange(length, device=x.device).unsqueeze(0)
    keep = ~((steps >= start) & (steps < start + width))
    return x * keep.unsqueeze(-1)


class ImuViews:
    """Random view generator for ``(B, T, C)`` windows: ``views(x, generator) -> (B, T, C)``.

    ``views.local(x, generator)`` returns a shorter random crop ``(B, T * local_crop_fraction, C)``,
    augmented the same way (DINO-style multi-crop).
    """

    def __init__(self, config: ImuViewConfig | None = None) -> None:
        self.config = config or ImuViewConfig()

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"IMU views expect (batch, time, channels), got {tuple(x.shape)}")
        cfg, batch, device = self.config, x.shape[0], x.device
        channels = x.shape[-1]
        for group in cfg.rotation_groups:
            if max(group) >= channels:
                raise ValueError(
                    f"rotation group {group} exceeds the {channels} channels; fix rotation_groups"
                )
        if cfg.time_warp_probability > 0:
            chosen = torch.rand(batch, 1, 1, generator=generator, device=device) < cfg.time_warp_probability
            x = torch.where(chosen, time_warp(x, cfg.time_warp_strength, generator), x)
        if cfg.rotation_groups and cfg.rotation_probability > 0:
            chosen = torch.rand(batch, 1, 1, generator=generator, device=device) < cfg.rotation_probability
            rotations = (
                random_rotations(batch, generator, device)
                if cfg.rotation_max_degrees >= 180.0
                else bounded_rotations(batch, cfg.rotation_max_degrees, generator, device)
            )
            rotated = rotate_triplets(x, rotations, cfg.rotation_groups)
            x = torch.where(chosen, rotated, x)
        scale = 1.0 + cfg.scale_std * torch.randn(batch, 1, channels, generator=generator, device=device)
        x = x * scale + cfg.jitter_std * torch.randn(x.shape, generator=generator, device=device)
        if cfg.channel_mask_probability > 0:
            keep = (
                torch.rand(batch, 1, channels, generator=generator, device=device)
                >= cfg.channel_mask_probability
            )
            x = x * keep
        return time_mask(x, cfg.time_mask_fraction, generator)

    def local(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A shorter random sub-window of each sample, then the usual augmentations."""
        length = x.shape[1]
        crop = max(1, int(round(self.config.local_crop_fraction * length)))
        start = torch.randint(0, length - crop + 1, (x.shape[0],), generator=generator, device=x.device)
        index = start.unsqueeze(1) + torch.arange(crop, device=x.device).unsqueeze(0)  # (B, crop)
        cropped = torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self(cropped, generator)
