"""VICReg: variance, invariance and covariance regularisation.

Reference: Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022. Paper defaults: lambda (invariance) = 25, mu (variance) = 25,
nu (covariance) = 1, gamma = 1, eps = 1e-4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robossl.losses.distributed import check_gather_possible, gather_with_grad


def _variance_term(z: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    return F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean()


def _covariance_term(z: torch.Tensor) -> torch.Tensor:
    n, d = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (n - 1)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d


def vicreg_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    gather_distributed: bool = False,
) -> torch.Tensor:
    """VICReg loss (gamma = 1, eps = 1e-4 as in the paper).

    Args:
        z_a: ``(N, D)`` embeddings of the first view (N >= 2).
        z_b: ``(N, D)`` embeddings of the second view.
        invariance_weight: lambda, weight of the mean squared error between views.
        variance_weight: mu, weight of the hinge on each dimension's standard deviation.
        covariance_weight: nu, weight of the squared off-diagonal covariances.
        gather_distributed: compute variance and covariance over the global batch.

    Returns:
        Scalar loss.
    """
    if z_a.shape != z_b.shape or z_a.ndim != 2:
        raise ValueError(
            f"z_a and z_b must both be (N, D) with equal shapes, got {z_a.shape} and {z_b.shape}"
        )
    if z_a.shape[0] < 2:
        raise ValueError("VICReg needs a batch of at least 2 for variances; increase the batch size")
    if min(invariance_weight, variance_weight, covariance_weight) < 0:
        raise ValueError("VICReg weights must be >= 0")
    check_gather_possible(gather_distributed)
    invariance = F.mse_loss(z_a, z_b)
    if gather_distributed:
        z_a, z_b = gather_with_grad(z_a), gather_with_grad(z_b)
    variance = 0.5 * (_variance_term(z_a, 1.0, 1e-4) + _variance_term(z_b, 1.0, 1e-4))
    covariance = _covariance_term(z_a) + _covariance_term(z_b)
    return invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance


class VICRegLoss(nn.Module):
    """Module wrapper of :func:`vicreg_loss` (forward: ``(N, D), (N, D) -> scalar``)."""

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if min(invariance_weight, variance_weight, covariance_weight) < 0:
            raise ValueError("VICReg weights must be >= 0")
        self.weights = (invariance_weight, variance_weight, covariance_weight)
        self.gather_distributed = gather_distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return vicreg_loss(z_a, z_b, *self.weights, gather_distributed=self.gather_distributed)
