"""DINO: student and EMA teacher with DINO heads; 2 global views for both, local crops for the student."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robossl.heads import DINOHead
from robossl.losses.dino import DINOLoss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.ema import cosine_momentum, ema_update, make_teacher
from robossl.methods.registry import register_method


class DINOMethod(SSLMethod):
    """Self-distillation; the centre (in ``self.loss``) and the teacher are saved with the method."""

    step: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        head: DINOHead,
        views: Callable,
        loss: DINOLoss,
        momentum: float,
        num_local_views: int,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.views = views
        self.loss = loss
        self.momentum = momentum
        self.num_local_views = num_local_views
        self.teacher = make_teacher(nn.Sequential(backbone, head))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        # host copy of ``step``: reading the buffer every step would synchronise with a GPU
        self._host_step: int | None = None
        self.register_load_state_dict_post_hook(_forget_host_step)

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        global_views = torch.cat([self.views(batch, generator), self.views(batch, generator)])
        n = batch.shape[0]
        student = [self.head(self.backbone(global_views))]
        if self.num_local_views:
            local = torch.cat([self.views.local(batch, generator) for _ in range(self.num_local_views)])  # type: ignore[attr-defined]
            student.append(self.head(self.backbone(local)))
        student_logits = torch.cat(student).view(2 + self.num_local_views, n, -1)
        with torch.no_grad():
            teacher_logits = self.teacher(global_views).view(2, n, -1)
        if self._host_step is None:
            self._host_step = int(self.step)
        loss = self.loss(student_logits, teacher_logits, self._host_step)
        if self.training:
            self.step += 1
            self._host_step += 1
        return loss, {"loss": loss.detach(), "teacher_entropy": teacher_entropy(teacher_logits[0])}

    def before_optimizer_step(self, step: int) -> None:
        self.head.cancel_last_layer_gradients(step)

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        ema_update(
            self.teacher,
            nn.Sequential(self.backbone, self.head),
            cosine_momentum(step, total_steps, self.momentum),
        )


def teacher_entropy(logits: torch.Tensor, samples: int = 64) -> torch.Tensor:
    """Collapse monitor: mean entropy of the raw teacher distribution of the first ``samples`` rows of
    ``(N, K)`` logits (a subset keeps it cheap)."""
    sample = logits[:samples]
    return -(torch.softmax(sample, -1) * torch.log_softmax(sample, -1)).sum(-1).mean()


def _forget_host_step(module: nn.Module, incompatible_keys: object) -> None:
    module._host_step = None  # type: ignore[assignment]


@dataclass
class DINOConfig:
    hidden_dim: int = 512  # head MLP width (paper: 2048)
    bottleneck_dim: int = 128  # head bottleneck (paper: 256)
    num_prototypes: int = 1024  # output dimension K (paper: 65536)
    student_temperature: float = 0.1  # paper: 0.1
    teacher_temperature: float = 0.04  # final teacher temperature (paper: 0.04-0.07)
    warmup_teacher_temperature: float = 0.04  # teacher temperature at step 0 (paper: 0.04)
    warmup_steps: int = 0  # teacher-temperature warm-up length in steps (paper: 30 epochs)
    center_momentum: float = 0.9  # paper: 0.9
    momentum: float = 0.996  # base teacher EMA momentum, cosine to 1 (paper: 0.996)
    num_local_views: int = 2  # local crops for the student (paper: 6-10)
    freeze_last_layer_steps: int = 0  # steps with a frozen prototype layer (paper: 1 epoch)
    head_batch_norm: bool = True  # batch norm in the head MLP (DINO's option for conv nets; without it
    # the small CNN's near-identical early features make the centred teacher uniform)
    gather_distributed: bool = False  # average the centre over processes


@register_method(
    "dino", DINOConfig, "Caron et al., Emerging Properties in Self-Supervised Vision Transformers, ICCV 2021"
)
def build_dino(spec: InputSpec, config: DINOConfig) -> SSLMethod:
    backbone = make_backbone(spec)
    head = DINOHead(
        output_dim(backbone),
        config.hidden_dim,
        config.bottleneck_dim,
        config.num_prototypes,
        freeze_last_layer_steps=config.freeze_last_layer_steps,
        batch_norm=config.head_batch_norm,
    )
    loss = DINOLoss(
        config.num_prototypes,
        config.student_temperature,
        config.teacher_temperature,
        config.warmup_teacher_temperature,
        config.warmup_steps,
        config.center_momentum,
        config.gather_distributed,
    )
    return DINOMethod(backbone, head, make_views(spec), loss, config.momentum, config.num_local_views)
