"""Mugs: a student (2 global + local views) and an EMA teacher (global views) trained with instance,
local-group and group discrimination (:mod:`robossl.losses.mugs`).

The local-group feature of a sample is its backbone feature aggregated with its ``num_neighbours`` nearest
neighbours (cosine) in a memory of past backbone features by one attention block (the paper's relation
block, here on pooled CNN features instead of ViT tokens). Student and teacher keep their own memory, as
in the authors' code; memories, queues, centre and teacher are buffers/parameters, so a checkpoint holds
them all. Probes use the student backbone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robossl.heads import DINOHead, PredictionHead, ProjectionHead
from robossl.losses.mugs import MugsLoss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.ema import cosine_momentum, ema_update, make_teacher
from robossl.methods.registry import register_method


class FeatureMemory(nn.Module):
    """Ring buffer of ``(size, dim)`` backbone features with a nearest-neighbour lookup.

    Starts with random features (the authors' memory starts random too); persistent.
    """

    features: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"memory size must be >= 1, got {size}")
        self.register_buffer("features", torch.randn(size, dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def neighbours(self, x: torch.Tensor, count: int) -> torch.Tensor:
        """The ``count`` stored features most cosine-similar to each row of ``x`` ``(N, dim)``: ``(N, count,
        dim)``."""
        if not 1 <= count <= self.features.shape[0]:
            raise ValueError(
                f"num_neighbours must be in [1, memory size {self.features.shape[0]}], got {count}"
            )
        similarity = F.normalize(x.detach(), dim=1) @ F.normalize(self.features, dim=1).T
        return self.features[similarity.topk(count, dim=1).indices]

    @torch.no_grad()
    def push(self, x: torch.Tensor) -> None:
        x = x.detach()[-self.features.shape[0] :]
        index = (int(self.pointer) + torch.arange(len(x), device=x.device)) % self.features.shape[0]
        self.features[index] = x.to(self.features.dtype)
        self.pointer.fill_((int(self.pointer) + len(x)) % self.features.shape[0])


class LocalGroupAggregator(nn.Module):
    """One pre-norm attention block: the sample's feature attends to itself and its neighbours.

    Shapes: ``x`` ``(N, D)``, ``neighbours`` ``(N, k, D)`` -> ``(N, D)``.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_out = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        tokens = self.norm_tokens(torch.cat([x.unsqueeze(1), neighbours], dim=1))  # (N, 1 + k, D)
        query = self.query(tokens[:, :1])
        attention = torch.softmax(query @ self.key(tokens).transpose(1, 2) / math.sqrt(x.shape[1]), dim=-1)
        out = x + (attention @ self.value(tokens)).squeeze(1)
        return out + self.mlp(self.norm_out(out))


class MugsNetwork(nn.Module):
    """What student and teacher share: backbone, aggregator, instance / local-group projectors, group head."""

    def __init__(
        self,
        backbone: nn.Module,
        aggregator: LocalGroupAggregator,
        instance_projector: nn.Module,
        local_group_projector: nn.Module,
        group_head: DINOHead,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.aggregator = aggregator
        self.instance_projector = instance_projector
        self.local_group_projector = local_group_projector
        self.group_head = group_head

    def heads(
        self, features: torch.Tensor, neighbours: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(instance embedding, local-group embedding, group logits) of backbone ``features`` ``(N, D)``."""
        local_group = self.aggregator(features, neighbours)
        return (
            self.instance_projector(features),
            self.local_group_projector(local_group),
            self.group_head(features),
        )


class MugsMethod(SSLMethod):
    def __init__(
        self,
        network: MugsNetwork,
        instance_predictor: nn.Module,
        local_group_predictor: nn.Module,
        loss: MugsLoss,
        views: Callable,
        memory_size: int,
        num_neighbours: int,
        momentum: float,
        num_local_views: int,
    ) -> None:
        super().__init__()
        self.network = network
        self.backbone = network.backbone
        self.instance_predictor = instance_predictor
        self.local_group_predictor = local_group_predictor
        self.loss = loss
        self.views = views
        dim = output_dim(network.backbone)
        self.student_memory = FeatureMemory(memory_size, dim)
        self.teacher_memory = FeatureMemory(memory_size, dim)
        self.num_neighbours = num_neighbours
        self.momentum = momentum
        self.num_local_views = num_local_views
        self.teacher = make_teacher(network)

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = batch.shape[0]
        global_views = torch.cat([self.views(batch, generator), self.views(batch, generator)])
        features = [self.network.backbone(global_views)]
        if self.num_local_views:
            local = torch.cat([self.views.local(batch, generator) for _ in range(self.num_local_views)])  # type: ignore[attr-defined]
            features.append(self.network.backbone(local))
        student_features = torch.cat(features)
        instance, local_group, group = self.network.heads(
            student_features, self.student_memory.neighbours(student_features, self.num_neighbours)
        )
        num_views = 2 + self.num_local_views
        student = (
            F.normalize(self.instance_predictor(instance), dim=1).view(num_views, n, -1),
            F.normalize(self.local_group_predictor(local_group), dim=1).view(num_views, n, -1),
            group.view(num_views, n, -1),
        )
        with torch.no_grad():
            teacher_features = self.teacher.backbone(global_views)  # type: ignore[operator]
            t_instance, t_local_group, t_group = self.teacher.heads(  # type: ignore[operator]
                teacher_features, self.teacher_memory.neighbours(teacher_features, self.num_neighbours)
            )
            teacher = (
                F.normalize(t_instance, dim=1).view(2, n, -1),
                F.normalize(t_local_group, dim=1).view(2, n, -1),
                t_group.view(2, n, -1),
            )
        loss, parts = self.loss(student, teacher)
        if self.training:
            self.student_memory.push(student_features[:n])
            self.teacher_memory.push(teacher_features[:n])
        metrics = {name: value.detach() for name, value in parts.items()}
        metrics["loss"] = loss.detach()
        return loss, metrics

    def before_optimizer_step(self, step: int) -> None:
        self.network.group_head.cancel_last_layer_gradients(step)

    def after_optimizer_step(self, step: int, total_steps: int | None) -> None:
        ema_update(self.teacher, self.network, cosine_momentum(step, total_steps, self.momentum))


@dataclass
class MugsConfig:
    hidden_dim: int = 512  # head MLP widths (paper: 2048)
    embedding_dim: int = 128  # instance and local-group embedding size (paper: 256)
    prediction_hidden_dim: int = 512  # student predictor width (paper: 4096)
    bottleneck_dim: int = 128  # group head bottleneck (paper: 256)
    num_prototypes: int = 1024  # group head output K (paper: 65536)
    queue_size: int = 4096  # negatives per InfoNCE queue (paper: 65536)
    memory_size: int = 4096  # past features searched for local-group neighbours (paper: 65536)
    num_neighbours: int = 8  # neighbours aggregated into a local group (paper: 8)
    instance_temperature: float = 0.2  # paper: 0.2
    local_group_temperature: float = 0.2  # paper: 0.2
    student_temperature: float = 0.1  # group loss, paper: 0.1
    teacher_temperature: float = 0.04  # group loss, paper: 0.04
    center_momentum: float = 0.9  # paper: 0.9
    instance_weight: float = 1.0  # paper: 1
    local_group_weight: float = 1.0  # paper: 1
    group_weight: float = 1.0  # paper: 1
    momentum: float = 0.996  # base teacher EMA momentum, cosine to 1 (paper: 0.996)
    num_local_views: int = 2  # local crops for the student (paper: 10)
    freeze_last_layer_steps: int = 0  # steps with a frozen prototype layer (paper: 1 epoch)


@register_method(
    "mugs",
    MugsConfig,
    "Zhou et al., Mugs: A Multi-Granular Self-Supervised Learning Framework, 2022",
    modalities=("image", "imu", "spectrogram"),
)
def build_mugs(spec: InputSpec, config: MugsConfig) -> SSLMethod:
    if config.num_local_views < 0:
        raise ValueError(f"num_local_views must be >= 0, got {config.num_local_views}")
    if not 1 <= config.num_neighbours <= config.memory_size:
        raise ValueError(
            f"num_neighbours must be in [1, memory_size={config.memory_size}], got {config.num_neighbours}"
        )
    backbone = make_backbone(spec)
    dim = output_dim(backbone)
    network = MugsNetwork(
        backbone,
        LocalGroupAggregator(dim, 2 * dim),
        ProjectionHead(dim, config.hidden_dim, config.embedding_dim, num_layers=3),
        ProjectionHead(dim, config.hidden_dim, config.embedding_dim, num_layers=3),
        DINOHead(
            dim,
            config.hidden_dim,
            config.bottleneck_dim,
            config.num_prototypes,
            freeze_last_layer_steps=config.freeze_last_layer_steps,
            batch_norm=True,
        ),
    )
    loss = MugsLoss(
        config.embedding_dim,
        config.embedding_dim,
        config.num_prototypes,
        config.queue_size,
        config.instance_temperature,
        config.local_group_temperature,
        config.student_temperature,
        config.teacher_temperature,
        config.center_momentum,
        (config.instance_weight, config.local_group_weight, config.group_weight),
    )
    return MugsMethod(
        network,
        PredictionHead(config.embedding_dim, config.prediction_hidden_dim),
        PredictionHead(config.embedding_dim, config.prediction_hidden_dim),
        loss,
        make_views(spec),
        config.memory_size,
        config.num_neighbours,
        config.momentum,
        config.num_local_views,
    )
