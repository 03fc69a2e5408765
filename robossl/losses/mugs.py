"""Mugs: multi-granular supervision = instance + local-group + group discrimination.

Reference: Zhou, Zhou, Yu, Yan, "Mugs: A Multi-Granular Self-Supervised Learning Framework", 2022. Three
losses on a student (multi-crop views) and an EMA teacher (global views only), weighted 1 : 1 : 1:

- instance discrimination (IDS): InfoNCE between the student's predicted embedding of a crop and the
  teacher's embedding of another global crop, negatives from a queue of past teacher embeddings
  (temperature 0.2);
- local-group discrimination (LGDS): the same InfoNCE on local-group features (a sample's feature
  aggregated with its nearest neighbours in a memory of past features), with its own queue;
- group discrimination (GDS): DINO-style cross-entropy between the centred, sharpened teacher distribution
  over prototypes (temperature 0.04) and the student's (0.1); centre momentum 0.9.

In every loss each teacher view is paired with every other student view; the pairs whose student view is a
global crop and those whose student view is a local crop are averaged separately and the two means averaged
(``0.5 * (global + local)``), as in the authors' code. Queues and the centre are persistent buffers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _average_crop_pairs(
    pair_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    student: torch.Tensor,
    teacher: torch.Tensor,
) -> torch.Tensor:
    """``0.5 * (mean over pairs with a global student view + mean over pairs with a local one)``; only the
    global mean when there are no local views. ``student`` ``(V_s, N, D)``, ``teacher`` ``(V_t, N, D)``."""
    num_teacher = teacher.shape[0]
    global_losses: list[torch.Tensor] = []
    local_losses: list[torch.Tensor] = []
    for t in range(num_teacher):
        for s in range(student.shape[0]):
            if s == t:
                continue
            loss = pair_loss(student[s], teacher[t])
            (global_losses if s < num_teacher else local_losses).append(loss)
    global_mean = torch.stack(global_losses).mean()
    if not local_losses:
        return global_mean
    return 0.5 * (global_mean + torch.stack(local_losses).mean())


def _check_views(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.ndim != 3 or teacher.ndim != 3 or student.shape[1:] != teacher.shape[1:]:
        raise ValueError(
            f"student and teacher outputs must be (views, N, D) with equal N and D, got "
            f"{tuple(student.shape)} and {tuple(teacher.shape)}"
        )
    if not 2 <= teacher.shape[0] <= student.shape[0]:
        raise ValueError("need 2 teacher (global) views and at least as many student views")


def queue_info_nce_loss(
    student: torch.Tensor, teacher: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """Mugs' InfoNCE over crop pairs with queued negatives.

    Args:
        student: ``(V_s, N, D)`` L2-normalised student predictions (global views first).
        teacher: ``(V_t, N, D)`` L2-normalised teacher embeddings of the global views (no gradient).
        queue: ``(K, D)`` L2-normalised negatives.
        temperature: InfoNCE temperature (paper: 0.2).

    Returns:
        Scalar: per pair, cross-entropy of ``[p . t, p . q_1 .. p . q_K] / temperature`` with target 0.
    """
    _check_views(student, teacher)
    if queue.ndim != 2 or queue.shape[1] != student.shape[2]:
        raise ValueError(f"queue must be (K, {student.shape[2]}), got {tuple(queue.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    negatives = queue.detach()

    def pair_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        positive = (prediction * target.detach()).sum(dim=1, keepdim=True)
        logits = torch.cat([positive, prediction @ negatives.T], dim=1) / temperature
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))

    return _average_crop_pairs(pair_loss, student, teacher)


def group_discrimination_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    center: torch.Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
) -> torch.Tensor:
    """Mugs' clustering loss: ``-sum softmax((t - center) / T_t) * log_softmax(s / T_s)`` over crop pairs.

    Args:
        student_logits: ``(V_s, N, K)`` prototype logits of the student views (global first).
        teacher_logits: ``(V_t, N, K)`` of the teacher's global views.
        center: ``(K,)`` running centre of the teacher logits.
    """
    _check_views(student_logits, teacher_logits)
    if center.shape != student_logits.shape[-1:]:
        raise ValueError(f"center must be ({student_logits.shape[-1]},), got {tuple(center.shape)}")
    if min(student_temperature, teacher_temperature) <= 0:
        raise ValueError("temperatures must be > 0")
    targets = F.softmax((teacher_logits.detach() - center) / teacher_temperature, dim=-1)

    def pair_loss(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -(target * F.log_softmax(student / student_temperature, dim=-1)).sum(-1).mean()

    return _average_crop_pairs(pair_loss, student_logits, targets)


class EmbeddingQueue(nn.Module):
    """Ring buffer of ``size`` L2-normalised ``(dim,)`` embeddings (persistent: saved with the method).

    Starts with random unit vectors, like the authors' queue.
    """

    queue: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1, got {size} and {dim}")
        self.register_buffer("queue", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Replace the oldest entries with ``keys`` ``(B, dim)`` (wraps around; keeps the last ``size``)."""
        keys = keys.detach()[-self.queue.shape[0] :]
        index = (int(self.pointer) + torch.arange(len(keys), device=keys.device)) % self.queue.shape[0]
        self.queue[index] = keys.to(self.queue.dtype)
        self.pointer.fill_((int(self.pointer) + len(keys)) % self.queue.shape[0])


class MugsLoss(nn.Module):
    """The three Mugs losses with their queues and the group centre.

    Args:
        instance_dim: instance embedding size; local_group_dim: local-group embedding size.
        num_prototypes: K of the group head.
        queue_size: negatives per InfoNCE queue (paper: 65536).
        instance_temperature, local_group_temperature: InfoNCE temperatures (paper: 0.2).
        student_temperature, teacher_temperature: group loss temperatures (paper: 0.1, 0.04).
        center_momentum: EMA of the group centre (paper: 0.9).
        weights: (instance, local-group, group) loss weights (paper: 1, 1, 1).

    ``forward`` takes the student / teacher outputs of the three heads, each ``(views, N, dim)``, returns
    ``(total, {"instance": ..., "local_group": ..., "group": ...})`` and, in training mode, pushes the
    teacher embeddings into the queues and updates the centre.
    """

    center: torch.Tensor

    def __init__(
        self,
        instance_dim: int,
        local_group_dim: int,
        num_prototypes: int,
        queue_size: int = 65536,
        instance_temperature: float = 0.2,
        local_group_temperature: float = 0.2,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        center_momentum: float = 0.9,
        weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        if min(instance_temperature, local_group_temperature, student_temperature, teacher_temperature) <= 0:
            raise ValueError("Mugs temperatures must be > 0")
        if not 0.0 <= center_momentum < 1.0:
            raise ValueError(f"center_momentum must be in [0, 1), got {center_momentum}")
        if len(weights) != 3 or min(weights) < 0:
            raise ValueError(f"weights must be 3 numbers >= 0 (instance, local group, group), got {weights}")
        self.instance_queue = EmbeddingQueue(queue_size, instance_dim)
        self.local_group_queue = EmbeddingQueue(queue_size, local_group_dim)
        self.register_buffer("center", torch.zeros(num_prototypes))
        self.temperatures = (
            instance_temperature,
            local_group_temperature,
            student_temperature,
            teacher_temperature,
        )
        self.center_momentum = center_momentum
        self.weights = weights

    def forward(
        self,
        student: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        teacher: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        instance_t, local_group_t, student_t, teacher_t = self.temperatures
        # copies: the pushes below change the buffers in place, which autograd must not see
        instance_queue, local_group_queue = (
            self.instance_queue.queue.clone(),
            self.local_group_queue.queue.clone(),
        )
        parts = {
            "instance": queue_info_nce_loss(student[0], teacher[0], instance_queue, instance_t),
            "local_group": queue_info_nce_loss(student[1], teacher[1], local_group_queue, local_group_t),
            "group": group_discrimination_loss(
                student[2], teacher[2], self.center.clone(), student_t, teacher_t
            ),
        }
        total = sum(w * loss for w, loss in zip(self.weights, parts.values()))
        if self.training:
            for view in teacher[0]:
                self.instance_queue.push(view)
            for view in teacher[1]:
                self.local_group_queue.push(view)
            with torch.no_grad():
                self.center.lerp_(teacher[2].detach().mean(dim=(0, 1)), 1 - self.center_momentum)
        return total, parts  # type: ignore[return-value]
