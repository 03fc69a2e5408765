"""Batched IMU window transformations for the single-device baselines (SimCLR and multi-task SSL).

All functions take and return float tensors ``(B, L, C)`` of normalised windows and draw randomness from an
explicit ``torch.Generator``. The set follows the transformation-recognition pretext of Saeed, Ozcelebi and
Lukkien ("Multi-task Self-Supervised Learning for Human Activity Detection", IMWUT 2019): noise, scaling,
rotation-like channel mixing, negation, time flip, segment permutation, time warp, channel shuffle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def jitter(x: torch.Tensor, generator: torch.Generator, sigma: float = 0.1) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``sigma`` (normalised units)."""
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def scale(x: torch.Tensor, generator: torch.Generator, sigma: float = 0.2) -> torch.Tensor:
    """Multiply each channel of each window by ``N(1, sigma)``."""
    factors = 1 + sigma * torch.randn((x.shape[0], 1, x.shape[2]), generator=generator, dtype=x.dtype)
    return x * factors


def rotate(
    x: torch.Tensor, generator: torch.Generator, angle: float = 0.5, channels: Sequence[int] = (0, 1, 2)
) -> torch.Tensor:
    """Rotate the accelerometer about a random axis by up to ``angle`` radians.

    Args:
        channels: the accelerometer's x, y, z columns; callers look them up by name
            (:meth:`robossl.pipelines.collossl.windows.MultiDeviceWindows.channels`).
    """
    if x.shape[2] < 3:
        return x
    acc = list(channels)
    if len(acc) != 3 or max(acc) >= x.shape[2]:
        raise ValueError(f"rotate needs 3 accelerometer channels below {x.shape[2]}, got {tuple(channels)}")
    batch = x.shape[0]
    axis = torch.nn.functional.normalize(torch.randn((batch, 3), generator=generator, dtype=x.dtype), dim=1)
    theta = (torch.rand((batch, 1, 1), generator=generator, dtype=x.dtype) * 2 - 1) * angle
    k = torch.zeros((batch, 3, 3), dtype=x.dtype)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    eye = torch.eye(3, dtype=x.dtype).expand(batch, 3, 3)
    rotation = eye + torch.sin(theta) * k + (1 - torch.cos(theta)) * (k @ k)
    # adjacent columns as a slice (a view), as before channels were found by name: same numbers bit for bit
    columns: slice | list[int] = slice(acc[0], acc[0] + 3) if acc == list(range(acc[0], acc[0] + 3)) else acc
    out = x.clone()
    out[..., columns] = x[..., columns] @ rotation.transpose(1, 2)
    return out


def negate(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip the sign of every value."""
    return -x


def time_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Reverse each window in time."""
    return x.flip(1)


def permute_segments(x: torch.Tensor, generator: torch.Generator, segments: int = 4) -> torch.Tensor:
    """Cut windows into ``segments`` equal pieces and shuffle them (one permutation per batch)."""
    length = x.shape[1] - x.shape[1] % segments
    pieces = list(x[:, :length].chunk(segments, dim=1))
    order = torch.randperm(segments, generator=generator)
    if torch.equal(order, torch.arange(segments)):
        order = order.roll(1)
    return torch.cat([pieces[int(i)] for i in order] + [x[:, length:]], dim=1)


def time_warp(x: torch.Tensor, generator: torch.Generator, strength: float = 0.3) -> torch.Tensor:
    """Resample windows along a smooth random monotone time map (speeds up one half, slows the other)."""
    length = x.shape[1]
    grid = torch.linspace(0, 1, length, dtype=x.dtype)
    bend = (torch.rand((x.shape[0], 1), generator=generator, dtype=x.dtype) * 2 - 1) * strength
    warped = (grid + bend * torch.sin(torch.pi * grid)).clamp(0, 1) * (length - 1)
    low = warped.floor().long().clamp(max=length - 2)
    frac = (warped - low).unsqueeze(-1)
    gather = torch.arange(x.shape[0])[:, None]
    return x[gather, low] * (1 - frac) + x[gather, low + 1] * frac


def channel_shuffle(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute the channels (one non-identity permutation per batch)."""
    order = torch.randperm(x.shape[2], generator=generator)
    if torch.equal(order, torch.arange(x.shape[2])):
        order = order.roll(1)
    return x[..., order]


MULTITASK_TRANSFORMS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "noise": jitter,
    "scale": scale,
    "rotate": rotate,
    "negate": negate,
    "flip": time_flip,
    "permute": permute_segments,
    "time_warp": time_warp,
    "channel_shuffle": channel_shuffle,
}


def simclr_view(
    x: torch.Tensor, generator: torch.Generator, acc_channels: Sequence[int] = (0, 1, 2)
) -> torch.Tensor:
    """One random SimCLR view of IMU windows: scaling, rotation of the accelerometer ``acc_channels`` and
    noise (the usual HAR SimCLR recipe)."""
    return jitter(rotate(scale(x, generator), generator, channels=acc_channels), generator)
