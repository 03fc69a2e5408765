"""Weighted multi-view contrastive loss of ColloSSL (Jain et al., IMWUT 2022).

For anchor embedding ``z_i`` with positives ``z_p`` (weights ``w_p``) and negatives ``z_n`` (weights
``w_n``), cosine similarity ``s`` and temperature ``tau``::

    L_i = -log( sum_p w_p exp(s(z_i, z_p) / tau)
                / ( sum_p w_p exp(s(z_i, z_p) / tau) + sum_n w_n exp(s(z_i, z_n) / tau) ) )

and the loss is the mean of ``L_i`` over anchors. In ColloSSL the positives are time-aligned windows of the
selected positive device(s) (``w_p = 1``) and the negatives are windows of the negative devices taken at
other time steps, weighted by the inverse MMD between anchor and negative device, all weights divided by
the largest. With one positive of weight 1 and unit-weight negatives this is InfoNCE / NT-Xent for one
direction. A common scale factor on all weights does not change the loss.

Computed in log space (``log w + s / tau`` with logsumexp), so ``tau = 0.05`` does not overflow and a zero
weight removes a term exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def multiview_contrastive_loss(
    anchor: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    positive_weights: torch.Tensor | None = None,
    negative_weights: torch.Tensor | None = None,
    negative_mask: torch.Tensor | None = None,
    temperature: float = 0.05,
) -> torch.Tensor:
    """ColloSSL's weighted multi-positive, multi-negative contrastive loss (mean over anchors).

    Args:
        anchor: ``(B, D)`` anchor embeddings (not necessarily normalised; cosine similarity is used).
        positives: ``(B, P, D)`` positives per anchor (``(B, D)`` is read as ``P = 1``).
        negatives: ``(B, N, D)`` negatives per anchor, or ``(N, D)`` one bank shared by all anchors.
        positive_weights: weights broadcastable to ``(B, P)``, >= 0, at least one > 0 per anchor;
            default 1.
        negative_weights: weights broadcastable to ``(B, N)``, >= 0; default 1.
        negative_mask: optional bool ``(B, N)``; ``False`` removes that negative for that anchor (e.g. the
            same time step in a shared bank).
        temperature: softmax temperature ``tau`` > 0 (ColloSSL: 0.05).

    Returns:
        Scalar loss tensor.

    Raises:
        ValueError: on mismatched shapes, negative weights, a non-positive temperature, or an anchor whose
            positive weights are all zero.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (ColloSSL uses 0.05), got {temperature}")
    if anchor.ndim != 2:
        raise ValueError(f"anchor must be (B, D), got shape {tuple(anchor.shape)}")
    batch, dim = anchor.shape
    if positives.ndim == 2:
        positives = positives.unsqueeze(1)
    if positives.ndim != 3 or positives.shape[0] != batch or positives.shape[2] != dim:
        raise ValueError(f"positives must be (B={batch}, P, D={dim}), got shape {tuple(positives.shape)}")
    if negatives.ndim == 2:
        if negatives.shape[1] != dim:
            raise ValueError(f"shared negatives must be (N, D={dim}), got shape {tuple(negatives.shape)}")
    elif negatives.ndim != 3 or negatives.shape[0] != batch or negatives.shape[2] != dim:
        raise ValueError(
            f"negatives must be (B={batch}, N, D={dim}) or (N, D), got shape {tuple(negatives.shape)}"
        )
    num_pos = positives.shape[1]
    num_neg = negatives.shape[-2]

    z = F.normalize(anchor, dim=-1)
    pos_sim = torch.einsum("bd,bpd->bp", z, F.normalize(positives, dim=-1))
    neg_norm = F.normalize(negatives, dim=-1)
    if negatives.ndim == 2:
        neg_sim = z @ neg_norm.T
    else:
        neg_sim = torch.einsum("bd,bnd->bn", z, neg_norm)

    log_wp = _log_weights(positive_weights, (batch, num_pos), anchor, "positive_weights")
    log_wn = _log_weights(negative_weights, (batch, num_neg), anchor, "negative_weights")
    if negative_mask is not None:
        if negative_mask.shape != (batch, num_neg):
            raise ValueError(
                f"negative_mask must be (B={batch}, N={num_neg}), got shape {tuple(negative_mask.shape)}"
            )
        log_wn = log_wn.masked_fill(~negative_mask.bool(), float("-inf"))
    if torch.isneginf(log_wp).all(dim=1).any():
        raise ValueError("every anchor needs at least one positive with weight > 0")

    pos_logits = log_wp + pos_sim / temperature
    all_logits = torch.cat([pos_logits, log_wn + neg_sim / temperature], dim=1)
    per_anchor = torch.logsumexp(all_logits, dim=1) - torch.logsumexp(pos_logits, dim=1)
    return per_anchor.mean()


def _log_weights(
    weights: torch.Tensor | None, shape: tuple[int, int], like: torch.Tensor, name: str
) -> torch.Tensor:
    if weights is None:
        return torch.zeros(shape, dtype=like.dtype, device=like.device)
    weights = torch.as_tensor(weights, dtype=like.dtype, device=like.device)
    try:
        weights = torch.broadcast_to(weights, shape)
    except RuntimeError as exc:
        raise ValueError(f"{name} of shape {tuple(weights.shape)} does not broadcast to {shape}") from exc
    if (weights < 0).any() or not torch.isfinite(weights).all():
        raise ValueError(f"{name} must be finite and >= 0 (use 1 / MMD normalised by its maximum)")
    return torch.log(weights)


class MultiViewContrastiveLoss(nn.Module):
    """Module wrapper of :func:`multiview_contrastive_loss`.

    Args:
        temperature: softmax temperature (ColloSSL default 0.05).
    """

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 (ColloSSL uses 0.05), got {temperature}")
        self.temperature = temperature

    def forward(
        self,
        anchor: torch.Tensor,
        positives: torch.Tensor,
        negatives: torch.Tensor,
        positive_weights: torch.Tensor | None = None,
        negative_weights: torch.Tensor | None = None,
        negative_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """See :func:`multiview_contrastive_loss` for shapes."""
        return multiview_contrastive_loss(
            anchor,
            positives,
            negatives,
            positive_weights,
            negative_weights,
            negative_mask,
            self.temperature,
        )
