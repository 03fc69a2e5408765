"""Triplet margin loss, for given triplets and with batch-hard mining.

Given triplets (Schroff, Kalenichenko, Philbin, "FaceNet", CVPR 2015; used on audio by Zurn, Burgard,
Valada, "Self-Supervised Visual Terrain Classification from Unsupervised Acoustic Feature Learning",
T-RO 2021, where the triplets are mined from visual features of the traversed terrain patches)::

    L = mean_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin)

Batch-hard mining (Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
2017): for every anchor in a labelled batch, its farthest same-label sample is the positive and its
nearest other-label sample the negative. Anchors without a positive or a negative are skipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_DISTANCES = ("euclidean", "squared", "cosine")


def _check(margin: float, distance: str) -> None:
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}; FaceNet uses 0.2 on unit-length embeddings")
    if distance not in _DISTANCES:
        raise ValueError(f"distance must be one of {_DISTANCES}, got {distance!r}")


def _pair_distance(x: torch.Tensor, y: torch.Tensor, distance: str) -> torch.Tensor:
    """Row-wise distance between ``(B, D)`` tensors -> ``(B,)``."""
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(x, y, dim=1)
    squared = (x - y).pow(2).sum(dim=1)
    # The epsilon keeps the gradient of sqrt finite when two embeddings coincide.
    return squared if distance == "squared" else torch.sqrt(squared + 1e-12)


def _distance_matrix(x: torch.Tensor, distance: str) -> torch.Tensor:
    """All-pairs distance of ``(B, D)`` -> ``(B, B)``."""
    if distance == "cosine":
        unit = F.normalize(x, dim=1)
        return 1.0 - unit @ unit.T
    squared = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(dim=-1)
    return squared if distance == "squared" else torch.sqrt(squared + 1e-12)


def triplet_margin_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.2,
    distance: str = "euclidean",
) -> torch.Tensor:
    """Mean hinge ``max(0, d(a, p) - d(a, n) + margin)`` over given triplets.

    Args:
        anchor, positive, negative: ``(B, D)`` embeddings; row i of each forms one triplet.
        margin: required gap between the negative and the positive distance.
        distance: ``"euclidean"``, ``"squared"`` (squared euclidean) or ``"cosine"`` (1 - cosine similarity).

    Returns:
        scalar loss.
    """
    _check(margin, distance)
    if anchor.ndim != 2 or anchor.shape != positive.shape or anchor.shape != negative.shape:
        raise ValueError(
            f"anchor, positive and negative must all be (batch, dim) of one shape, got {tuple(anchor.shape)}, "
            f"{tuple(positive.shape)}, {tuple(negative.shape)}"
        )
    d_pos = _pair_distance(anchor, positive, distance)
    d_neg = _pair_distance(anchor, negative, distance)
    return F.relu(d_pos - d_neg + margin).mean()


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, distance: str = "euclidean"
) -> torch.Tensor:
    """Batch-hard triplet loss over a labelled batch.

    Args:
        embeddings: ``(B, D)``.
        labels: ``(B,)`` integer group ids (class, visual cluster, or time segment).
        margin: required gap between the hardest negative and the hardest positive distance.
        distance: see :func:`triplet_margin_loss`.

    Returns:
        scalar loss averaged over anchors that have both a positive and a negative; zero (still attached to
        the graph) when no anchor has both.
    """
    _check(margin, distance)
    if embeddings.ndim != 2 or labels.shape != (embeddings.shape[0],):
        raise ValueError(
            f"embeddings must be (batch, dim) and labels (batch,), got {tuple(embeddings.shape)} and "
            f"{tuple(labels.shape)}"
        )
    dist = _distance_matrix(embeddings, distance)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive_mask = same & ~eye
    negative_mask = ~same
    valid = positive_mask.any(dim=1) & negative_mask.any(dim=1)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    hardest_positive = dist.masked_fill(~positive_mask, float("-inf")).amax(dim=1)
    hardest_negative = dist.masked_fill(~negative_mask, float("inf")).amin(dim=1)
    losses = F.relu(hardest_positive - hardest_negative + margin)
    return losses[valid].mean()


class TripletLoss(nn.Module):
    """Triplet margin loss on given (anchor, positive, negative) embeddings.

    Args:
        margin: hinge margin (FaceNet: 0.2 with unit-length embeddings).
        distance: ``"euclidean"``, ``"squared"`` or ``"cosine"``.
        normalize: L2-normalise embeddings first (as FaceNet), so the margin has a fixed scale.

    Shapes:
        ``forward(anchor (B, D), positive (B, D), negative (B, D)) -> ()``.
    """

    def __init__(self, margin: float = 0.2, distance: str = "euclidean", normalize: bool = True) -> None:
        super().__init__()
        _check(margin, distance)
        self.margin = margin
        self.distance = distance
        self.normalize = normalize

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            anchor, positive, negative = (F.normalize(t, dim=-1) for t in (anchor, positive, negative))
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.distance)


class BatchHardTripletLoss(nn.Module):
    """Batch-hard triplet loss (Hermans et al. 2017) over embeddings with group labels.

    Args:
        margin: hinge margin.
        distance: ``"euclidean"``, ``"squared"`` or ``"cosine"``.
        normalize: L2-normalise embeddings first.

    Shapes:
        ``forward(embeddings (B, D), labels (B,)) -> ()``.
    """

    def __init__(self, margin: float = 0.2, distance: str = "euclidean", normalize: bool = True) -> None:
        super().__init__()
        _check(margin, distance)
        self.margin = margin
        self.distance = distance
        self.normalize = normalize

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            embeddings = F.normalize(embeddings, dim=-1)
        return batch_hard_triplet_loss(embeddings, labels, self.margin, self.distance)
