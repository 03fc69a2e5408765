"""ColloSSL device selection: multi-kernel RBF maximum mean discrepancy between body-worn devices.

Following the authors' released code (Jain et al., IMWUT 2022): each window is summarised by its
accelerometer norm over time (a vector of ``L`` values), and

    MMD^2(X, Y) = E k(x, x') + E k(y, y') - 2 E k(x, y),   k(a, b) = sum_s exp(-beta_s ||a - b||^2)

with ``beta_s = 1 / (2 sigma_s)`` for 12 bandwidths (their kernel uses ``1/(2 sigma)``, not ``1/(2 sigma^2)``),
floored at 1e-4. The device with the smallest MMD to the anchor is the positive; negatives are weighted by
``1 / MMD`` divided by the largest such weight.

Policies (for ablations): ``closest`` (the released setting: closest device positive, all devices
negatives), ``all`` (every other device positive), ``random`` (one random positive, uniform negative
weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

COLLOSSL_SIGMAS = (1e-4, 1e-3, 1e-2, 0.1, 1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 100.0)
MMD_FLOOR = 1e-4
POLICIES = ("closest", "all", "random")


def multi_kernel_mmd(
    x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = COLLOSSL_SIGMAS
) -> torch.Tensor:
    """Squared MMD between two samples with a sum of Gaussian RBF kernels (biased V-statistic).

    Args:
        x: ``(N, F)`` samples of the first distribution.
        y: ``(M, F)`` samples of the second.
        sigmas: kernel bandwidths; ``beta = 1 / (2 sigma)``.

    Returns:
        Scalar ``max(MMD^2, 1e-4)``.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be (N, F) and (M, F) with equal F, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if len(x) == 0 or len(y) == 0:
        raise ValueError("MMD needs at least one sample from each device")
    betas = torch.tensor([1.0 / (2.0 * s) for s in sigmas], dtype=x.dtype, device=x.device)

    def kernel_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        distance = torch.cdist(a, b).pow(2)
        return torch.exp(-betas[:, None, None] * distance[None]).sum(0).mean()

    value = kernel_mean(x, x) + kernel_mean(y, y) - 2 * kernel_mean(x, y)
    return value.clamp_min(MMD_FLOOR)


def accelerometer_norm(windows: torch.Tensor, acc_channels: Sequence[int] = (0, 1, 2)) -> torch.Tensor:
    """Per-sample accelerometer magnitude of windows ``(B, L, C)`` -> ``(B, L)``."""
    return windows[..., list(acc_channels)].norm(dim=-1)


@dataclass(frozen=True)
class DeviceSelection:
    """Which devices serve as positives and negatives for one anchor, with weights.

    Attributes:
        anchor: anchor device index.
        positives: positive device indices.
        negatives: negative device indices (may include positives: they are used at other time steps).
        negative_weights: weight per negative device, max 1.
        mmd: ``(D,)`` MMD^2 from the anchor to every device (anchor's own entry is the floor).
    """

    anchor: int
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    negative_weights: tuple[float, ...]
    mmd: tuple[float, ...]


def select_devices(
    windows: Sequence[torch.Tensor],
    anchor: int,
    policy: str = "closest",
    num_positives: int = 1,
    acc_channels: Sequence[int] = (0, 1, 2),
    generator: torch.Generator | None = None,
) -> DeviceSelection:
    """Choose positive and negative devices for ``anchor`` from a batch of time-aligned windows.

    Args:
        windows: one ``(B, L, C)`` tensor per device (the same time steps for every device).
        anchor: index of the anchor device.
        policy: ``"closest"``, ``"all"`` or ``"random"`` (see module docstring).
        num_positives: how many closest devices are positives with ``policy="closest"``.
        acc_channels: accelerometer channel indices used for the norm.
        generator: random generator for ``policy="random"``.

    Returns:
        The selection; negatives are all devices other than the anchor.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    count = len(windows)
    if count < 2:
        raise ValueError(f"device selection needs at least 2 devices, got {count}")
    if not 0 <= anchor < count:
        raise ValueError(f"anchor index {anchor} out of range for {count} devices")
    if not 1 <= num_positives < count:
        raise ValueError(f"num_positives must be in 1..{count - 1}, got {num_positives}")
    with torch.no_grad():
        features = [accelerometer_norm(w.float(), acc_channels) for w in windows]
        mmd = [
            MMD_FLOOR if d == anchor else float(multi_kernel_mmd(features[anchor], features[d]))
            for d in range(count)
        ]
    others = [d for d in range(count) if d != anchor]
    if policy == "closest":
        positives = tuple(sorted(others, key=lambda d: mmd[d])[:num_positives])
    elif policy == "all":
        positives = tuple(others)
    else:
        pick = int(torch.randint(len(others), (1,), generator=generator))
        positives = (others[pick],)
    if policy == "random":
        weights = [1.0] * len(others)
    else:
        inverse = [1.0 / mmd[d] for d in others]
        weights = [w / max(inverse) for w in inverse]
    return DeviceSelection(
        anchor=anchor,
        positives=positives,
        negatives=tuple(others),
        negative_weights=tuple(weights),
        mmd=tuple(mmd),
    )


def mmd_matrix(windows: Sequence[np.ndarray], acc_channels: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """Pairwise MMD^2 ``(D, D)`` between devices' windows ``(B, L, C)`` (for reports and plots)."""
    features = [accelerometer_norm(torch.as_tensor(w, dtype=torch.float32), acc_channels) for w in windows]
    count = len(features)
    out = np.full((count, count), MMD_FLOOR)
    with torch.no_grad():
        for i in range(count):
            for j in range(i + 1, count):
                out[i, j] = out[j, i] = float(multi_kernel_mmd(features[i], features[j]))
    return out
