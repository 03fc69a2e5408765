"""GroCo: group ordering constraints, a contrastive loss computed by a differentiable sorting network.

Reference: Shvetsova, Petersen, Kukleva, Schiele, Kuehne, "Learning by Sorting: Self-supervised Learning
with Group Ordering Constraints", ICCV 2023. For each anchor, the cosine similarities to its positives and
to its ``num_negatives`` hardest negatives are pre-ordered (negatives ascending, then positives ascending:
the ground-truth order) and sorted by a relaxed odd-even sorting network (Petersen et al., "Monotonic
differentiable sorting networks", ICLR 2022: Cauchy relaxation of each conditional swap). The loss is the
binary cross-entropy between the probability that each element lands in the positive (top) group of ranks
and its true group: it only counts positives ranked below negatives, with an implicit emphasis on the
strongest negatives and weakest positives. Defaults follow the authors' code: 10 hardest negatives from the
anchor's own view, gradients only through the anchor (stop-gradient on positives and negatives), every view
used as the anchor once. ``steepness`` is the relaxation's inverse temperature (our default; larger is
closer to a hard sort).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def odd_even_soft_permutation(scores: torch.Tensor, steepness: float) -> torch.Tensor:
    """Relaxed permutation of a differentiable odd-even transposition sorting network (ascending).

    Each conditional swap of positions ``(j, j + 1)`` keeps the order with probability
    ``alpha = arctan(steepness * (x[j+1] - x[j])) / pi + 1/2`` and mixes the two values and the two columns of
    the permutation with it (Cauchy relaxation).

    Args:
        scores: ``(B, n)`` values to sort.
        steepness: inverse temperature of the relaxation (> 0).

    Returns:
        ``(B, n, n)`` doubly stochastic matrix: ``[b, i, j]`` = probability that input ``i`` ends at sorted
        position ``j`` (0 = smallest).
    """
    batch, n = scores.shape
    values = scores
    permutation = torch.eye(n, dtype=scores.dtype, device=scores.device).expand(batch, n, n)
    for layer in range(n):
        low = torch.arange(layer % 2, n - 1, 2, device=scores.device)
        if low.numel() == 0:
            continue
        high = low + 1
        a, b = values[:, low], values[:, high]
        alpha = torch.atan(steepness * (b - a)) / math.pi + 0.5  # P(a <= b): keep a in the low slot
        new_values = values.clone()
        new_values[:, low] = alpha * a + (1 - alpha) * b
        new_values[:, high] = (1 - alpha) * a + alpha * b
        values = new_values
        col_a, col_b = permutation[:, :, low], permutation[:, :, high]
        weight = alpha.unsqueeze(1)
        new_permutation = permutation.clone()
        new_permutation[:, :, low] = weight * col_a + (1 - weight) * col_b
        new_permutation[:, :, high] = (1 - weight) * col_a + weight * col_b
        permutation = new_permutation
    return permutation


def group_ordering_loss(
    positive_scores: torch.Tensor, negative_scores: torch.Tensor, steepness: float = 10.0
) -> torch.Tensor:
    """GroCo loss of pre-selected scores: positives should all rank above all negatives.

    Args:
        positive_scores: ``(B, P)`` similarities of each anchor to its P positives.
        negative_scores: ``(B, K)`` similarities to its K negatives.
        steepness: sorting-network relaxation steepness (> 0).

    Returns:
        Scalar: mean over anchors and the P + K elements of the binary cross-entropy between the probability
        of landing in the top P ranks and the element's group (1 positive, 0 negative).
    """
    if positive_scores.ndim != 2 or negative_scores.ndim != 2:
        raise ValueError(
            f"positive_scores and negative_scores must be (B, P) and (B, K), got "
            f"{tuple(positive_scores.shape)} and {tuple(negative_scores.shape)}"
        )
    if positive_scores.shape[0] != negative_scores.shape[0]:
        raise ValueError(
            f"positives and negatives need the same anchors: {positive_scores.shape[0]} vs "
            f"{negative_scores.shape[0]}"
        )
    if positive_scores.shape[1] < 1 or negative_scores.shape[1] < 1:
        raise ValueError("GroCo needs at least one positive and one negative per anchor")
    if steepness <= 0:
        raise ValueError(f"steepness must be > 0, got {steepness}")
    num_negatives = negative_scores.shape[1]
    # pre-ordering: the ground-truth order of the network's input (negatives, then positives, ascending)
    ordered = torch.cat([negative_scores.sort(dim=1).values, positive_scores.sort(dim=1).values], dim=1)
    permutation = odd_even_soft_permutation(ordered, steepness)
    in_positive_ranks = permutation[:, :, num_negatives:].sum(dim=2).clamp(1e-7, 1 - 1e-7)  # (B, P + K)
    target = torch.zeros_like(in_positive_ranks)
    target[:, num_negatives:] = 1.0
    return F.binary_cross_entropy(in_positive_ranks, target)


def groco_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    num_negatives: int = 10,
    steepness: float = 10.0,
    stop_gradient: bool = True,
) -> torch.Tensor:
    """GroCo on two views: each view is the anchor once; its positive is the other view of the same sample,
    its negatives the ``num_negatives`` most similar other samples of its own view.

    Args:
        z_a: ``(N, D)`` embeddings of the first view.
        z_b: ``(N, D)`` embeddings of the second view.
        num_negatives: hardest negatives per anchor (paper: 10); needs N > num_negatives.
        steepness: sorting-network relaxation steepness.
        stop_gradient: gradients only through the anchor (the authors' default).

    Returns:
        Scalar loss averaged over both anchor views.
    """
    if z_a.shape != z_b.shape or z_a.ndim != 2:
        raise ValueError(
            f"z_a and z_b must both be (N, D) with equal shapes, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if not 1 <= num_negatives < z_a.shape[0]:
        raise ValueError(
            f"num_negatives must be in [1, N - 1] = [1, {z_a.shape[0] - 1}], got {num_negatives}; "
            "use a larger batch or fewer negatives"
        )
    z_a, z_b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
    self_mask = torch.eye(z_a.shape[0], dtype=torch.bool, device=z_a.device)
    losses = []
    for anchor, other in ((z_a, z_b), (z_b, z_a)):
        targets = anchor.detach() if stop_gradient else anchor
        positives = (anchor * (other.detach() if stop_gradient else other)).sum(dim=1, keepdim=True)
        similarities = (anchor @ targets.T).masked_fill(self_mask, float("-inf"))
        negatives = similarities.topk(num_negatives, dim=1).values
        losses.append(group_ordering_loss(positives, negatives, steepness))
    return torch.stack(losses).mean()


class GroCoLoss(nn.Module):
    """Module wrapper of :func:`groco_loss` (forward: ``(N, D), (N, D) -> scalar``)."""

    def __init__(self, num_negatives: int = 10, steepness: float = 10.0, stop_gradient: bool = True) -> None:
        super().__init__()
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
        if steepness <= 0:
            raise ValueError(f"steepness must be > 0, got {steepness}")
        self.num_negatives = num_negatives
        self.steepness = steepness
        self.stop_gradient = stop_gradient

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return groco_loss(z_a, z_b, self.num_negatives, self.steepness, self.stop_gradient)
