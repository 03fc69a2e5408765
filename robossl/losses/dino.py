"""DINO: self-distillation with a centred, sharpened EMA teacher; multi-crop ready.

Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021.
Student temperature 0.1, teacher temperature 0.04 (warmed up from 0.04 to at most 0.07 in the paper),
centre momentum 0.9. The teacher sees only the global views; every student view is matched with every
teacher view except the identical one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robossl.losses.distributed import all_reduce_mean, check_gather_possible


def dino_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    center: torch.Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
) -> torch.Tensor:
    """Cross-entropy between the sharpened, centred teacher and the student over view pairs.

    Args:
        student_logits: ``(V_s, N, K)``: V_s views (global first, then local crops) of N samples.
        teacher_logits: ``(V_t, N, K)``: the V_t <= V_s global views; no gradient flows into them.
        center: ``(K,)`` running centre subtracted from the teacher logits.
        student_temperature: student softmax temperature.
        teacher_temperature: teacher softmax temperature (lower = sharper).

    Returns:
        Scalar: mean over the V_t * V_s - V_t pairs of the per-sample cross-entropy.
    """
    if student_logits.ndim != 3 or teacher_logits.ndim != 3:
        raise ValueError(
            "student_logits and teacher_logits must be (views, N, K); stack the views with torch.stack"
        )
    if student_logits.shape[1:] != teacher_logits.shape[1:] or center.shape != student_logits.shape[-1:]:
        raise ValueError(
            f"shape mismatch: student {tuple(student_logits.shape)}, teacher {tuple(teacher_logits.shape)}, "
            f"center {tuple(center.shape)}"
        )
    num_teacher, num_student = teacher_logits.shape[0], student_logits.shape[0]
    if num_teacher > num_student or num_student < 2:
        raise ValueError("need at least 2 student views and no more teacher views than student views")
    if student_temperature <= 0 or teacher_temperature <= 0:
        raise ValueError("temperatures must be > 0")
    teacher = F.softmax((teacher_logits.detach() - center) / teacher_temperature, dim=-1)
    student = F.log_softmax(student_logits / student_temperature, dim=-1)
    # Sum over all (teacher view, student view) pairs minus the V_t identical pairs, without a pair loop:
    # sum_t sum_s <q_t, log p_s> = <sum_t q_t, sum_s log p_s>. Dot products keep the kernel count low
    # (a GPU at these sizes is bound by launches).
    all_pairs = torch.dot(teacher.sum(0).flatten(), student.sum(0).flatten())
    same_view = torch.dot(teacher.flatten(), student[:num_teacher].flatten())
    num_pairs = num_teacher * num_student - num_teacher
    return (same_view - all_pairs) * (1.0 / (num_pairs * student_logits.shape[1]))


class DINOLoss(nn.Module):
    """DINO loss with the teacher centre as a persistent buffer and a teacher-temperature warm-up.

    Args:
        num_prototypes: K, output dimension of the DINO head.
        student_temperature: student softmax temperature.
        teacher_temperature: final teacher temperature.
        warmup_teacher_temperature: teacher temperature at step 0.
        warmup_steps: linear warm-up length in optimizer steps.
        center_momentum: EMA momentum of the centre.
        gather_distributed: average the centre update over processes.

    ``forward(student_logits (V_s, N, K), teacher_logits (V_t, N, K), step) -> scalar`` and updates the
    centre from the teacher logits (in training mode).
    """

    center: torch.Tensor

    def __init__(
        self,
        num_prototypes: int,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        warmup_steps: int = 0,
        center_momentum: float = 0.9,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= center_momentum < 1.0:
            raise ValueError(f"center_momentum must be in [0, 1), got {center_momentum}")
        if min(student_temperature, teacher_temperature, warmup_teacher_temperature) <= 0:
            raise ValueError("temperatures must be > 0")
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temperature = warmup_teacher_temperature
        self.warmup_steps = warmup_steps
        self.center_momentum = center_momentum
        self.gather_distributed = gather_distributed
        self.register_buffer("center", torch.zeros(num_prototypes))

    def teacher_temperature_at(self, step: int) -> float:
        if step >= self.warmup_steps:
            return self.teacher_temperature
        fraction = step / self.warmup_steps
        return self.warmup_teacher_temperature + fraction * (
            self.teacher_temperature - self.warmup_teacher_temperature
        )

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        """EMA of the batch mean of ``(V_t, N, K)`` teacher logits."""
        check_gather_possible(self.gather_distributed)
        batch_center = teacher_logits.detach().mean(dim=(0, 1))
        if self.gather_distributed:
            batch_center = all_reduce_mean(batch_center)
        self.center.lerp_(batch_center, 1 - self.center_momentum)  # m * center + (1 - m) * batch mean

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, step: int = 0
    ) -> torch.Tensor:
        loss = dino_loss(
            student_logits,
            teacher_logits,
            self.center,
            self.student_temperature,
            self.teacher_temperature_at(step),
        )
        if self.training:
            self.update_center(teacher_logits)
        return loss
