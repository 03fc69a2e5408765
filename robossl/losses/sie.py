"""SIE: split invariant-equivariant objective (VICReg-style, with a transformation-conditioned predictor).

Reference: Garrido, Najman, LeCun, "Self-supervised learning of Split Invariant Equivariant
representations", ICML 2023. The representation is split into an invariant part, pulled together across the
two views, and an equivariant part, whose embedding of view a is mapped by a predictor conditioned on the
transformation a -> b (a hypernetwork) onto the embedding of view b. Variance and covariance terms act on
the concatenated embeddings (so the two parts do not duplicate information) and the variance term also on
the prediction (no collapse of the predictor to a constant). Paper defaults (3DIEBench runs): sim_coeff 10,
equivariance factor 0.45 (the equivariant term's weight is 0.45 x 10), std_coeff 10, cov_coeff 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _variance_hinge(z: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - torch.sqrt(z.var(dim=0) + 1e-4)).mean()


def _off_diagonal_covariance(z: torch.Tensor) -> torch.Tensor:
    n, d = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (n - 1)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d


def sie_loss(
    invariant_a: torch.Tensor,
    invariant_b: torch.Tensor,
    equivariant_a: torch.Tensor,
    equivariant_b: torch.Tensor,
    prediction_b: torch.Tensor,
    invariance_weight: float = 10.0,
    equivariance_factor: float = 0.45,
    variance_weight: float = 10.0,
    covariance_weight: float = 1.0,
) -> torch.Tensor:
    """SIE loss of one pair of views.

    Args:
        invariant_a, invariant_b: ``(N, D_inv)`` invariant embeddings of views a and b.
        equivariant_a, equivariant_b: ``(N, D_eq)`` equivariant embeddings of views a and b.
        prediction_b: ``(N, D_eq)`` predictor output from ``equivariant_a`` and the transformation a -> b.
        invariance_weight: sim_coeff, weight of the invariant mean squared error.
        equivariance_factor: the equivariant mean squared error weighs ``equivariance_factor *
            invariance_weight``.
        variance_weight: std_coeff, weight of the std hinge (on both views' embeddings and on the prediction).
        covariance_weight: cov_coeff, weight of the squared off-diagonal covariances of the embeddings.

    Returns:
        Scalar: ``w_inv * mse_inv + f * w_inv * mse_eq + w_var * (var_a/2 + var_b/2 + var_pred/2) + w_cov *
        (cov_a + cov_b)`` where embeddings are ``[invariant, equivariant]`` concatenated.
    """
    if invariant_a.ndim != 2 or invariant_a.shape != invariant_b.shape:
        raise ValueError(
            f"invariant embeddings must both be (N, D_inv), got {tuple(invariant_a.shape)} and "
            f"{tuple(invariant_b.shape)}"
        )
    if not equivariant_a.shape == equivariant_b.shape == prediction_b.shape or equivariant_a.ndim != 2:
        raise ValueError(
            f"equivariant embeddings and prediction must all be (N, D_eq), got {tuple(equivariant_a.shape)}, "
            f"{tuple(equivariant_b.shape)} and {tuple(prediction_b.shape)}"
        )
    if equivariant_a.shape[0] != invariant_a.shape[0] or invariant_a.shape[0] < 2:
        raise ValueError(
            "invariant and equivariant parts need the same N >= 2 samples (variances need a batch)"
        )
    if min(invariance_weight, equivariance_factor, variance_weight, covariance_weight) < 0:
        raise ValueError("SIE weights must be >= 0")
    invariance = F.mse_loss(invariant_a, invariant_b)
    equivariance = F.mse_loss(prediction_b, equivariant_b)
    z_a = torch.cat([invariant_a, equivariant_a], dim=1)
    z_b = torch.cat([invariant_b, equivariant_b], dim=1)
    variance = (_variance_hinge(z_a) + _variance_hinge(z_b) + _variance_hinge(prediction_b)) / 2
    covariance = _off_diagonal_covariance(z_a) + _off_diagonal_covariance(z_b)
    return (
        invariance_weight * invariance
        + equivariance_factor * invariance_weight * equivariance
        + variance_weight * variance
        + covariance_weight * covariance
    )


class SIELoss(nn.Module):
    """Module wrapper of :func:`sie_loss` (forward: the five ``(N, D)`` tensors -> scalar)."""

    def __init__(
        self,
        invariance_weight: float = 10.0,
        equivariance_factor: float = 0.45,
        variance_weight: float = 10.0,
        covariance_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if min(invariance_weight, equivariance_factor, variance_weight, covariance_weight) < 0:
            raise ValueError("SIE weights must be >= 0")
        self.weights = (invariance_weight, equivariance_factor, variance_weight, covariance_weight)

    def forward(
        self,
        invariant_a: torch.Tensor,
        invariant_b: torch.Tensor,
        equivariant_a: torch.Tensor,
        equivariant_b: torch.Tensor,
        prediction_b: torch.Tensor,
    ) -> torch.Tensor:
        return sie_loss(invariant_a, invariant_b, equivariant_a, equivariant_b, prediction_b, *self.weights)
