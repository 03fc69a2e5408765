"""Self-supervised pretraining loop shared by ColloSSL and the SSL baselines.

Adam with cosine learning-rate decay (the ColloSSL recipe) over random batches of time-aligned windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PretrainConfig:
    """Budget and optimiser of one pretraining run."""

    steps: int = 300  # optimiser steps
    batch_size: int = 128  # time steps per batch (each brings one window per device)
    learning_rate: float = (
        1e-3  # Adam peak learning rate, cosine-decayed to 0 (authors: 1e-4 over 100 epochs)
    )
    weight_decay: float = 1e-4  # L2 penalty (the authors put 1e-4 on the convolutions)
    seed: int = 0  # seed for batch sampling and augmentations

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {self.steps}, {self.batch_size}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def pretrain(
    objective: nn.Module,
    windows: np.ndarray,
    config: PretrainConfig,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Minimise ``objective(batch, generator)`` over random batches of ``windows``.

    Args:
        objective: module whose forward takes ``(D, B, L, C)`` windows and a generator and returns a loss.
        windows: float32 ``(D, W, L, C)`` normalised, time-aligned windows of D devices.
        config: steps, batch size, optimiser.
        on_step: optional callback ``(step, loss)`` (progress bars).

    Returns:
        The loss of every step.
    """
    if windows.ndim != 4:
        raise ValueError(f"windows must be (devices, W, L, C), got shape {windows.shape}")
    count = windows.shape[1]
    if count < 2:
        raise ValueError(f"need at least 2 windows to pretrain, got {count}")
    generator = torch.Generator().manual_seed(config.seed)
    data = torch.from_numpy(np.ascontiguousarray(windows))
    optimizer = torch.optim.Adam(
        objective.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    batch = min(config.batch_size, count)
    objective.train()
    losses = []
    for step in range(config.steps):
        index = torch.randperm(count, generator=generator)[:batch]
        loss = objective(data[:, index], generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    objective.eval()
    return losses
