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

_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def make_teacher(student: nn.Module) -> nn.Module:
    """A frozen deep copy of ``student`` whose dropout layers are identities.

    The teacher produces regression / distillation targets, which should not carry dropout noise (DINO
    likewise builds its teacher without stochastic depth); batch-norm layers keep the student's mode.
    Dropout has no weights, so the teacher's ``state_dict`` is unchanged.
    """
    teacher = copy.deepcopy(student)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    for name, module in list(teacher.named_modules()):
        if isinstance(module, _DROPOUT) and name:
            parent_name, _, child = name.rpartition(".")
            parent = teacher.get_submodule(parent_name) if parent_name else teacher
            setattr(parent, child, nn.Identity())
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place ``teacher = momentum * teacher + (1 - momentum) * student`` (parameters); copy buffers."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    teacher_params: list[torch.Tensor] = list(teacher.parameters())
    student_params: list[torch.Tensor] = [p.detach() for p in student.parameters()]
    if len(teacher_params) != len(student_params):
        raise ValueError(
            f"teacher has {len(teacher_params)} parameters, student {len(student_params)}; build the teacher "
            "with make_teacher(student)"
        )
    # one fused multi-tensor op instead of two kernels per parameter (matters on GPUs: launch-bound)
    torch._foreach_lerp_(teacher_params, student_params, 1.0 - momentum)
    teacher_buffers, student_buffers = list(teacher.buffers()), list(student.buffers())
    if teacher_buffers:
        torch._foreach_copy_(teacher_buffers, student_buffers)


def cosine_momentum(step: int, total_steps: int | None, base: float, final: float = 1.0) -> float:
    """BYOL's schedule ``final - (final - base) * (cos(pi * step / total) + 1) / 2``; ``base`` if no total."""
    if not total_steps:
        return base
    progress = min(step / total_steps, 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
