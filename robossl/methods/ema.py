"""Exponential-moving-average (EMA) teachers (BYOL, DINO, DirectPred, T-JEPA).

The teacher is a deep copy of the student whose parameters never receive gradients; after every optimizer
step ``teacher = m * teacher + (1 - m) * student``. Buffers (batch-norm statistics) are copied. Because the
teacher is a submodule of the method, its weights are part of the method's ``state_dict``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def make_teacher(student: nn.Module) -> nn.Module:
    """A frozen deep copy of ``student``."""
    teacher = copy.deepcopy(student)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place ``teacher = momentum * teacher + (1 - momentum) * student`` (parameters); copy buffers."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
    for tb, sb in zip(teacher.buffers(), student.buffers(), strict=True):
        tb.copy_(sb)


def cosine_momentum(step: int, total_steps: int | None, base: float, final: float = 1.0) -> float:
    """BYOL's schedule ``final - (final - base) * (cos(pi * step / total) + 1) / 2``; ``base`` if no total."""
    if not total_steps:
        return base
    progress = min(step / total_steps, 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
