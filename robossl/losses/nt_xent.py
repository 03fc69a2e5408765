"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

Reference: Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. Each of the 2N views has one positive (its pair) and 2N - 2 negatives.
Paper default temperature: 0.5 (CIFAR-10 and the lightly default; ImageNet runs used 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robossl.losses.distributed import check_gather_possible, gather_with_grad, rank


def nt_xent_loss(
    z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.5, gather_distributed: bool = False
) -> torch.Tensor:
    """NT-Xent loss of two batches of embeddings where ``z_a[i]`` and ``z_b[i]`` are a positive pair.

    Args:
        z_a: ``(N, D)`` embeddings of the first view.
        z_b: ``(N, D)`` embeddings of the second view.
        temperature: softmax temperature tau > 0.
        gather_distributed: use the embeddings of every process as negatives (needs a process group).

    Returns:
        Scalar loss averaged over the 2N (local) anchors.
    """
    if z_a.shape != z_b.shape or z_a.ndim != 2:
        raise ValueError(
            f"z_a and z_b must both be (N, D) with equal shapes, got {z_a.shape} and {z_b.shape}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_gather_possible(gather_distributed)
    n = z_a.shape[0]
    local = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2N, D)
    if gather_distributed:
        candidates = torch.cat([F.normalize(gather_with_grad(z), dim=1) for z in (z_a, z_b)])  # (2M, D)
        offset = rank() * n
    else:
        candidates, offset = local, 0  # no copy: the local batch is the whole batch
    total = candidates.shape[0] // 2
    # Temperature folded into the (2N, D) operand rather than the (2N, 2M) logits.
    logits = (local / temperature) @ candidates.T  # columns: all a-views, then all b-views
    index = torch.arange(n, device=z_a.device) + offset
    rows = torch.arange(2 * n, device=z_a.device)
    self_columns = torch.cat([index, index + total])
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[rows, self_columns] = True
    targets = torch.cat([index + total, index])
    return F.cross_entropy(logits.masked_fill(self_mask, float("-inf")), targets)


class NTXentLoss(nn.Module):
    """Module wrapper of :func:`nt_xent_loss` (forward: ``(N, D), (N, D) -> scalar``)."""

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z_a, z_b, self.temperature, self.gather_distributed)
