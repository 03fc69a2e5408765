"""Supervised baseline: an encoder plus a linear classifier trained end to end on labelled windows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class SupervisedConfig:
    steps: int = 300  # optimizer steps
    batch_size: int = 64  # samples per step
    learning_rate: float = 1e-3  # Adam learning rate
    seed: int = 0  # sampling and initialisation seed


def train_supervised(
    backbone: nn.Module,
    out_dim: int,
    windows: np.ndarray,
    labels: np.ndarray,
    config: SupervisedConfig | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> nn.Module:
    """Train ``backbone`` + linear head with class-balanced cross-entropy.

    Returns:
        The trained classifier ``nn.Sequential(backbone, head)`` (in eval mode), logits ``(B, classes)``.

    Args:
        backbone: encoder ``(B, *shape) -> (B, out_dim)`` (trained in place).
        out_dim: encoder output size.
        windows: ``(N, *shape)`` float32 training samples.
        labels: ``(N,)`` int64 labels.
        config: schedule.
        augment: optional view generator applied to each batch.
    """
    config = config or SupervisedConfig()
    if windows.shape[0] != labels.shape[0] or windows.shape[0] == 0:
        raise ValueError(
            f"need equal, non-zero sample and label counts, got {windows.shape[0]} and {labels.shape[0]}"
        )
    generator = torch.Generator().manual_seed(config.seed)
    num_classes = int(labels.max()) + 1
    head = nn.Linear(out_dim, num_classes)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float32)
    weights = torch.from_numpy(
        np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    ).float()
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    model = nn.Sequential(backbone, head)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    x_all, y_all = torch.from_numpy(windows), torch.from_numpy(labels)
    model.train()
    for _ in range(config.steps):
        index = torch.randint(
            0, x_all.shape[0], (min(config.batch_size, x_all.shape[0]),), generator=generator
        )
        x = x_all[index]
        if augment is not None:
            x = augment(x, generator)
        loss = loss_fn(model(x), y_all[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
