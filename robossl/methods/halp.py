"""MoCo (v2-style: EMA key encoder, queue of keys, InfoNCE) and HaLP on top of it: positives hallucinated in
the latent space between a key and nearby prototypes (:mod:`robossl.losses.halp`).

Prototypes are recomputed every ``prototype_every`` steps by spherical k-means of the latest
``prototype_window`` queued keys (the authors: 20 prototypes from the last 256 keys every 10 steps);
hallucination starts once that many real keys are queued. Queue, prototypes and step counter are
persistent buffers. For IMU windows from several body-worn devices (the skeleton-like case of the issue)
and any other modality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robossl.heads import ProjectionHead
from robossl.losses.halp import hallucinate_positives, halp_loss, moco_info_nce
from robossl.losses.mugs import EmbeddingQueue
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.ema import ema_update, make_teacher
from robossl.methods.registry import register_method


def spherical_kmeans(
    x: torch.Tensor, clusters: int, iterations: int = 20, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Unit centres ``(clusters, D)`` of unit rows ``x`` ``(M, D)`` by cosine k-means (random distinct
    starting rows; an empty cluster keeps its centre)."""
    if not 1 <= clusters <= len(x):
        raise ValueError(f"need 1 <= clusters <= {len(x)} points, got {clusters}")
    centres = x[torch.randperm(len(x), generator=generator, device=x.device)[:clusters]].clone()
    for _ in range(iterations):
        assignment = (x @ centres.T).argmax(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assignment, x)
        filled = torch.bincount(assignment, minlength=clusters) > 0
        centres[filled] = F.normalize(sums[filled], dim=1)
    return centres


class MoCoMethod(SSLMethod):
    """Query encoder (backbone + projector), EMA key encoder, queue; optional HaLP term."""

    step: torch.Tensor
    prototypes: torch.Tensor
    queued: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        views: Callable,
        queue_size: int,
        temperature: float,
        momentum: float,
        halp: HaLPConfig | None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.views = views
        self.key_encoder = make_teacher(nn.Sequential(backbone, projector))
        dim = output_dim(projector)
        self.queue = EmbeddingQueue(queue_size, dim)
        self.temperature = temperature
        self.momentum = momentum
        self.halp = halp
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("queued", torch.zeros((), dtype=torch.long))  # real keys pushed so far
        self.register_buffer("prototypes", torch.zeros(halp.num_prototypes if halp else 1, dim))

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        query = F.normalize(self.projector(self.backbone(self.views(batch, generator))), dim=1)
        with torch.no_grad():
            key = F.normalize(self.key_encoder(self.views(batch, generator)), dim=1)
        loss = moco_info_nce(query, key, self.queue.queue.clone(), self.temperature)
        metrics = {"moco_loss": loss.detach()}
        halp = self.halp
        if halp is not None and int(self.queued) >= halp.prototype_window:
            positives, keep = hallucinate_positives(
                key, self.prototypes, halp.num_positives, halp.num_candidates, halp.skip_closest,
                halp.hardness_range, generator,
            )  # fmt: skip
            halp_term = halp_loss(query, positives, keep, self.temperature)
            loss = loss + halp.weight * halp_term
            metrics.update({"halp_loss": halp_term.detach(), "kept_positives": keep.float().mean()})
        if self.training:
            self.queue.push(key)
            self.queued += len(key)
            self.step += 1
            if halp is not None and int(self.step) % halp.prototype_every == 0:
                self._update_prototypes(halp, generator)
        metrics["loss"] = loss.detach()
        return loss, metrics

    @torch.no_grad()
    def _update_prototypes(self, halp: HaLPConfig, generator: torch.Generator | None) -> None:
        size = self.queue.queue.shape[0]
        window = min(halp.prototype_window, size, int(self.queued))
        if window < halp.num_prototypes:
            return
        index = (
            int(self.queue.pointer) - window + torch.arange(window, device=self.prototypes.device)
        ) % size
        self.prototypes.copy_(
            spherical_kmeans(self.queue.queue[index], halp.num_prototypes, generator=generator)
        )

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        ema_update(self.key_encoder, nn.Sequential(self.backbone, self.projector), self.momentum)


@dataclass
class MoCoConfig:
    projection_hidden_dim: int = 512  # projector width (MoCo v2: 2048)
    projection_dim: int = 128  # key size (MoCo: 128)
    queue_size: int = 4096  # negatives (HaLP's runs: 16384)
    temperature: float = 0.07  # MoCo / HaLP: 0.07
    momentum: float = 0.999  # key encoder EMA (MoCo: 0.999)


@dataclass
class HaLPConfig(MoCoConfig):
    num_prototypes: int = 20  # spherical k-means centres (authors: 20)
    prototype_window: int = 256  # latest keys clustered (authors: 256)
    prototype_every: int = 10  # steps between prototype updates (authors: 10)
    num_positives: int = 100  # hallucinated positives per key (authors: 100)
    num_candidates: int = 20  # nearest prototypes a target is drawn from (authors: 20)
    skip_closest: int = 1  # nearest prototypes skipped (authors: 1, the anchor's own)
    hardness_range: float = 0.8  # t drawn in [(1 - range) t_max, t_max] (authors: 0.8)
    weight: float = 2.0  # mu, weight of the HaLP term (authors: 2 on NTU-60, 1 on PKU)


def _build(spec: InputSpec, config: MoCoConfig, halp: HaLPConfig | None) -> SSLMethod:
    backbone = make_backbone(spec)
    projector = ProjectionHead(
        output_dim(backbone), config.projection_hidden_dim, config.projection_dim, num_layers=2
    )
    return MoCoMethod(
        backbone, projector, make_views(spec), config.queue_size, config.temperature, config.momentum, halp
    )


@register_method("moco", MoCoConfig, "He et al., Momentum Contrast, CVPR 2020 (v2: Chen et al. 2020)")
def build_moco(spec: InputSpec, config: MoCoConfig) -> SSLMethod:
    return _build(spec, config, None)


@register_method(
    "halp", HaLPConfig, "Shah et al., HaLP: Hallucinating Latent Positives for skeleton-based SSL, CVPR 2023"
)
def build_halp(spec: InputSpec, config: HaLPConfig) -> SSLMethod:
    if (
        not 1 <= config.skip_closest < config.num_prototypes
        or config.num_prototypes > config.prototype_window
    ):
        raise ValueError(
            f"need 1 <= skip_closest < num_prototypes <= prototype_window, got {config.skip_closest}, "
            f"{config.num_prototypes}, {config.prototype_window}"
        )
    return _build(spec, config, config)
