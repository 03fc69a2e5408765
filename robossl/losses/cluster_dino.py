"""Cluster-aware DINO's pseudo-label stage: dynamic loss-gate (DLG) and label correction (LC).

References: Han, Chen, Qian, "Self-Supervised Learning with Cluster-Aware-DINO for High-Performance Robust
Speaker Verification", 2023, and "Self-Supervised Speaker Verification Using Dynamic Loss-Gate and Label
Correction", Interspeech 2022. Pseudo labels come from clustering the DINO embeddings. DLG fits a
two-component Gaussian mixture to the distribution of per-sample classification losses: samples whose loss
is more likely under the low-loss component (posterior >= 0.5) keep their pseudo label; LC gives the others
the model's own prediction when its probability reaches ``correction_threshold``, and drops the rest.
The 0.5 posterior rule and the correction threshold are our reading of the abstracts (the papers' exact
values were not available here): both are parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fit_two_gaussians(
    values: torch.Tensor, iterations: int = 30
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EM fit of a 1-D two-component Gaussian mixture.

    Args:
        values: ``(M,)`` samples (M >= 2).
        iterations: EM iterations from the 25 % / 75 % quantile start.

    Returns:
        ``(weights (2,), means (2,), stds (2,))`` with ``means[0] <= means[1]``.
    """
    if values.ndim != 1 or values.numel() < 2:
        raise ValueError(f"need a 1-D tensor of at least 2 losses, got shape {tuple(values.shape)}")
    x = values.detach().double()
    means = torch.stack([x.quantile(0.25), x.quantile(0.75)])
    spread = x.std().clamp(min=1e-6)
    stds = torch.stack([spread, spread]) / 2
    weights = torch.full((2,), 0.5, dtype=torch.float64)
    for _ in range(iterations):
        log_density = (
            torch.log(weights)
            - torch.log(stds)
            - 0.5 * ((x.unsqueeze(1) - means) / stds) ** 2
            - 0.5 * math.log(2 * math.pi)
        )  # (M, 2)
        responsibility = torch.softmax(log_density, dim=1)
        mass = responsibility.sum(0).clamp(min=1e-9)
        weights = mass / len(x)
        means = (responsibility * x.unsqueeze(1)).sum(0) / mass
        stds = torch.sqrt((responsibility * (x.unsqueeze(1) - means) ** 2).sum(0) / mass).clamp(
            min=1e-4 * spread
        )
    order = torch.argsort(means)
    return weights[order], means[order], stds[order]


def reliable_posterior(
    values: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, stds: torch.Tensor
) -> torch.Tensor:
    """Posterior probability of the low-loss (reliable) component 0 for each of ``values`` ``(M,)``."""
    x = values.detach().double().unsqueeze(1)
    log_density = torch.log(weights) - torch.log(stds) - 0.5 * ((x - means) / stds) ** 2
    return torch.softmax(log_density, dim=1)[:, 0].to(values.dtype)


def gated_pseudo_label_loss(
    logits: torch.Tensor,
    pseudo_labels: torch.Tensor,
    loss_history: torch.Tensor,
    correction_threshold: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy on pseudo labels with the dynamic loss-gate and label correction.

    Args:
        logits: ``(N, K)`` classifier outputs.
        pseudo_labels: ``(N,)`` cluster ids.
        loss_history: ``(M,)`` recent per-sample losses (this batch's included) the mixture is fitted to.
        correction_threshold: an unreliable sample takes the model's prediction when its softmax probability
            is at least this; otherwise it is dropped.

    Returns:
        ``(loss, {"reliable_fraction", "corrected_fraction"})``: the mean cross-entropy over the kept samples
        (0 when none is kept).
    """
    if logits.ndim != 2 or pseudo_labels.shape != logits.shape[:1]:
        raise ValueError(
            f"logits must be (N, K) and pseudo_labels (N,), got {tuple(logits.shape)} and "
            f"{tuple(pseudo_labels.shape)}"
        )
    if not 0.0 < correction_threshold <= 1.0:
        raise ValueError(f"correction_threshold must be in (0, 1], got {correction_threshold}")
    per_sample = F.cross_entropy(logits, pseudo_labels, reduction="none")
    weights, means, stds = fit_two_gaussians(loss_history)
    reliable = reliable_posterior(per_sample, weights, means, stds) >= 0.5
    probability, predicted = torch.softmax(logits.detach(), dim=1).max(dim=1)
    corrected = ~reliable & (probability >= correction_threshold)
    targets = torch.where(reliable, pseudo_labels, predicted)
    keep = reliable | corrected
    if not bool(keep.any()):
        loss = logits.sum() * 0.0
    else:
        loss = F.cross_entropy(logits[keep], targets[keep])
    return loss, {
        "reliable_fraction": reliable.float().mean(),
        "corrected_fraction": corrected.float().mean(),
    }
