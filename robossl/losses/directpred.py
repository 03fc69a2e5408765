"""DirectPred: a linear predictor set directly from the eigen-decomposition of the feature correlation.

Reference: Tian, Chen, Ganguli, "Understanding Self-Supervised Learning Dynamics without Contrastive
Pairs", ICML 2021. The online projection f has a running correlation F = rho * F + (1 - rho) * E[f f^T];
with F = U diag(s) U^T the predictor is W_p = U diag(p) U^T, p_j = sqrt(s_j / max_j s_j) + eps. The
predictor receives no gradient; the loss is BYOL's negative cosine against an EMA / stop-gradient target.
Defaults rho = 0.3, eps = 0.1, recomputed every step (our reading of the paper's setting; unverified
against the PDF, hence parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from robossl.losses.distributed import all_reduce_mean, check_gather_possible
from robossl.losses.negative_cosine import negative_cosine_similarity


def directpred_weight(correlation: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Predictor matrix ``U diag(sqrt(s / max s) + eps) U^T`` of a symmetric ``(D, D)`` correlation."""
    if correlation.ndim != 2 or correlation.shape[0] != correlation.shape[1]:
        raise ValueError(f"correlation must be a square (D, D) matrix, got {tuple(correlation.shape)}")
    eigenvalues, eigenvectors = torch.linalg.eigh(correlation.double())
    eigenvalues = eigenvalues.clamp(min=0)
    top = eigenvalues.max()
    scale = torch.sqrt(eigenvalues / top) if top > 0 else torch.zeros_like(eigenvalues)
    weight = eigenvectors @ torch.diag(scale + eps) @ eigenvectors.T
    return weight.to(correlation.dtype)


class DirectPredictor(nn.Module):
    """Gradient-free linear predictor; its correlation and weight are persistent buffers (saved).

    Args:
        dim: projection dimension D.
        rho: weight of the previous correlation estimate in the running average.
        eps: added to the normalised square-root eigenvalues (keeps weak directions alive).
        update_interval: recompute the weight every this many updates.
        gather_distributed: average the batch correlation over processes.

    Shapes:
        forward ``(N, D) -> (N, D)``.
    """

    correlation: torch.Tensor
    weight: torch.Tensor
    num_updates: torch.Tensor

    def __init__(
        self,
        dim: int,
        rho: float = 0.3,
        eps: float = 0.1,
        update_interval: int = 1,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho}")
        if eps < 0 or update_interval < 1:
            raise ValueError(f"need eps >= 0 and update_interval >= 1, got {eps}, {update_interval}")
        self.rho, self.eps, self.update_interval = rho, eps, update_interval
        self.gather_distributed = gather_distributed
        self.register_buffer("correlation", torch.zeros(dim, dim))
        self.register_buffer("weight", torch.eye(dim))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, features: torch.Tensor) -> None:
        """Fold the batch correlation of ``(N, D)`` online projections into the running estimate."""
        check_gather_possible(self.gather_distributed)
        batch = features.detach().T @ features.detach() / features.shape[0]
        if self.gather_distributed:
            batch = all_reduce_mean(batch)
        if int(self.num_updates) == 0:
            self.correlation.copy_(batch)
        else:
            self.correlation.mul_(self.rho).add_(batch, alpha=1 - self.rho)
        if int(self.num_updates) % self.update_interval == 0:
            self.weight.copy_(directpred_weight(self.correlation, self.eps))
        self.num_updates += 1

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T


def directpred_loss(
    online: torch.Tensor, target: torch.Tensor, predictor_weight: torch.Tensor
) -> torch.Tensor:
    """``-cos(W_p online_i, stopgrad(target_i))`` averaged; ``online``/``target`` ``(N, D)``, ``W_p`` ``(D, D)``."""
    return negative_cosine_similarity(online @ predictor_weight.detach().T, target)
