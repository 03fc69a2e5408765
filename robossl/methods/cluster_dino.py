"""Cluster-aware DINO: DINO first; from ``cluster_start_step`` on, pseudo labels from an online k-means of the
teacher's embeddings (1) pair each sample with another sample of its cluster as DINO's second global view
(positives from the same cluster, not only the same window: more diverse positives) and (2) train a
classifier on the pseudo labels through the dynamic loss-gate with label correction
(:mod:`robossl.losses.cluster_dino`).

Adaptation to a robot learner that sees batches, not an offline dataset: the clustering is MacQueen's online
k-means over the L2-normalised teacher features of every batch (centroids and counts are persistent
buffers), partners are drawn inside the batch, and the loss mixture is fitted to a persistent history of
recent per-sample losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robossl.heads import DINOHead
from robossl.losses.cluster_dino import gated_pseudo_label_loss
from robossl.losses.dino import DINOLoss
from robossl.methods.base import InputSpec, SSLMethod
from robossl.methods.components import make_backbone, make_views, output_dim
from robossl.methods.dino import DINOMethod, teacher_entropy
from robossl.methods.registry import register_method


@torch.no_grad()
def online_kmeans_update(centroids: torch.Tensor, counts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """MacQueen's update in place: empty centroids take the first points, then each point moves its nearest
    centroid to the running mean of the points it was given. Returns the ``(N,)`` assignments.

    Args:
        centroids: ``(K, D)``; counts: ``(K,)`` points seen per centroid (0 = empty); x: ``(N, D)``.
    """
    empty = (counts == 0).nonzero().flatten()
    fill = min(len(empty), len(x))
    if fill:
        centroids[empty[:fill]] = x[:fill]
        counts[empty[:fill]] = 1
    assignment = torch.cdist(x, centroids).argmin(dim=1)
    sums = torch.zeros_like(centroids).index_add_(0, assignment, x)
    added = torch.bincount(assignment, minlength=len(centroids))
    if fill:  # the points that seeded a centroid are already counted
        sums[empty[:fill]] -= x[:fill]
        added[empty[:fill]] -= 1
    new_counts = counts + added
    moved = added > 0
    centroids[moved] += (sums[moved] - added[moved].unsqueeze(1) * centroids[moved]) / new_counts[
        moved
    ].unsqueeze(1)
    counts.copy_(new_counts)
    return assignment


def same_cluster_partners(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each sample, a random other sample with the same label (itself when it is alone): ``(N,)``."""
    n = len(labels)
    scores = torch.rand(n, n, generator=generator, device=labels.device)
    allowed = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~torch.eye(
        n, dtype=torch.bool, device=labels.device
    )
    scores = scores.masked_fill(~allowed, -1.0)
    best = scores.argmax(dim=1)
    alone = ~allowed.any(dim=1)
    return torch.where(alone, torch.arange(n, device=labels.device), best)


class ClusterAwareDINOMethod(DINOMethod):
    """DINO plus the cluster-aware stage; all clustering state lives in persistent buffers."""

    centroids: torch.Tensor
    centroid_counts: torch.Tensor
    loss_history: torch.Tensor
    history_count: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        head: DINOHead,
        views: Callable,
        loss: DINOLoss,
        momentum: float,
        num_local_views: int,
        num_clusters: int,
        cluster_start_step: int,
        classification_weight: float,
        correction_threshold: float,
        history_size: int,
    ) -> None:
        super().__init__(backbone, head, views, loss, momentum, num_local_views)
        dim = output_dim(backbone)
        self.classifier = nn.Linear(dim, num_clusters)
        self.cluster_start_step = cluster_start_step
        self.classification_weight = classification_weight
        self.correction_threshold = correction_threshold
        self.register_buffer("centroids", torch.zeros(num_clusters, dim))
        self.register_buffer("centroid_counts", torch.zeros(num_clusters, dtype=torch.long))
        self.register_buffer("loss_history", torch.zeros(history_size))
        self.register_buffer("history_count", torch.zeros((), dtype=torch.long))

    def forward(  # type: ignore[override]
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = batch.shape[0]
        if self._host_step is None:
            self._host_step = int(self.step)
        clustering = self._host_step >= self.cluster_start_step
        labels = None
        if clustering:
            with torch.no_grad():
                embedding = F.normalize(self.teacher[0](batch), dim=1)  # type: ignore[index]
                if self.training:
                    labels = online_kmeans_update(self.centroids, self.centroid_counts, embedding)
                else:
                    labels = torch.cdist(embedding, self.centroids).argmin(dim=1)
            if bool((self.centroid_counts == 0).any()):
                labels = None  # not every cluster seeded yet: plain DINO this step
        partners = same_cluster_partners(labels, generator) if labels is not None else None
        second = batch if partners is None else batch[partners]
        global_views = torch.cat([self.views(batch, generator), self.views(second, generator)])
        features = self.backbone(global_views)
        student = [self.head(features)]
        if self.num_local_views:
            local = torch.cat([self.views.local(batch, generator) for _ in range(self.num_local_views)])  # type: ignore[attr-defined]
            student.append(self.head(self.backbone(local)))
        student_logits = torch.cat(student).view(2 + self.num_local_views, n, -1)
        with torch.no_grad():
            teacher_logits = self.teacher(global_views).view(2, n, -1)
        loss = self.loss(student_logits, teacher_logits, self._host_step)
        metrics = {"dino_loss": loss.detach(), "teacher_entropy": teacher_entropy(teacher_logits[0])}
        if labels is not None:
            logits = self.classifier(features[:n])
            if self.training:
                self._remember_losses(F.cross_entropy(logits.detach(), labels, reduction="none"))
            filled = min(int(self.history_count), len(self.loss_history))
            history = (
                self.loss_history[:filled]
                if filled >= 2
                else F.cross_entropy(logits.detach(), labels, reduction="none")
            )
            classification, gate = gated_pseudo_label_loss(logits, labels, history, self.correction_threshold)
            loss = loss + self.classification_weight * classification
            metrics.update({"pseudo_label_loss": classification.detach(), **gate})
        if self.training:
            self.step += 1
            self._host_step += 1
        metrics["loss"] = loss.detach()
        return loss, metrics

    @torch.no_grad()
    def _remember_losses(self, losses: torch.Tensor) -> None:
        size = len(self.loss_history)
        losses = losses[-size:]
        index = (int(self.history_count) + torch.arange(len(losses), device=losses.device)) % size
        self.loss_history[index] = losses.to(self.loss_history.dtype)
        self.history_count += len(losses)


@dataclass
class ClusterAwareDINOConfig:
    hidden_dim: int = 512  # head MLP width (paper's DINO: 2048)
    bottleneck_dim: int = 128  # head bottleneck (DINO: 256)
    num_prototypes: int = 1024  # DINO output K (DINO: 65536)
    student_temperature: float = 0.1  # DINO: 0.1
    teacher_temperature: float = 0.04  # DINO: 0.04
    center_momentum: float = 0.9  # DINO: 0.9
    momentum: float = 0.996  # teacher EMA base momentum (DINO: 0.996)
    num_local_views: int = 2  # local crops for the student
    num_clusters: int = 32  # k-means clusters (paper: 6000 for ~6000 speakers; set near the expected
    # number of conditions x a few)
    cluster_start_step: int = 100  # plain DINO before this step (the paper's DINO stage)
    classification_weight: float = 1.0  # weight of the gated pseudo-label cross-entropy
    correction_threshold: float = 0.5  # LC: prediction probability needed to correct an unreliable label
    history_size: int = 1024  # per-sample losses the loss-gate mixture is fitted to


@register_method(
    "cluster_dino",
    ClusterAwareDINOConfig,
    "Han, Chen, Qian, SSL with Cluster-Aware-DINO for Robust Speaker Verification, 2023 (DLG-LC: Interspeech "
    "2022)",
)
def build_cluster_dino(spec: InputSpec, config: ClusterAwareDINOConfig) -> SSLMethod:
    if config.num_clusters < 2 or config.cluster_start_step < 0 or config.history_size < 2:
        raise ValueError(
            "need num_clusters >= 2, cluster_start_step >= 0 and history_size >= 2, got "
            f"{config.num_clusters}, {config.cluster_start_step}, {config.history_size}"
        )
    backbone = make_backbone(spec)
    head = DINOHead(
        output_dim(backbone), config.hidden_dim, config.bottleneck_dim, config.num_prototypes, batch_norm=True
    )
    loss = DINOLoss(
        config.num_prototypes,
        config.student_temperature,
        config.teacher_temperature,
        config.teacher_temperature,
        0,
        config.center_momentum,
    )
    return ClusterAwareDINOMethod(
        backbone,
        head,
        make_views(spec),
        loss,
        config.momentum,
        config.num_local_views,
        config.num_clusters,
        config.cluster_start_step,
        config.classification_weight,
        config.correction_threshold,
        config.history_size,
    )
