"""NT-Xent against a per-anchor loop written from the SimCLR paper's equation."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.losses.nt_xent import NTXentLoss, nt_xent_loss
from tests.losses._helpers import loss_decreases


def reference_nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, tau: float) -> float:
    z = torch.cat([z_a, z_b]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        numerator = math.exp(float(z[i] @ z[j]) / tau)
        denominator = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n2) if k != i)
        total += -math.log(numerator / denominator)
    return total / n2


def test_matches_reference_on_fixed_inputs() -> None:
    g = torch.Generator().manual_seed(1)
    z_a, z_b = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    for tau in (0.5, 0.1):
        assert float(nt_xent_loss(z_a, z_b, tau)) == pytest.approx(reference_nt_xent(z_a, z_b, tau), rel=1e-5)


def test_symmetric_and_permutation_invariant() -> None:
    z_a, z_b = torch.randn(6, 4), torch.randn(6, 4)
    perm = torch.randperm(6)
    loss = nt_xent_loss(z_a, z_b)
    assert torch.allclose(loss, nt_xent_loss(z_b, z_a), atol=1e-6)
    assert torch.allclose(loss, nt_xent_loss(z_a[perm], z_b[perm]), atol=1e-6)


def test_collapsed_embeddings_give_log_of_negatives() -> None:
    # All embeddings equal: every logit equal, loss = log(2N - 1), the uniform-guess worst case.
    z = torch.ones(4, 3)
    assert float(nt_xent_loss(z, z)) == pytest.approx(math.log(7), rel=1e-6)
    # Perfectly aligned, orthogonal pairs at low temperature: loss near 0.
    eye = torch.eye(4)
    assert float(nt_xent_loss(eye, eye, temperature=0.05)) < 1e-6


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        nt_xent_loss(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=0.0)
    with pytest.raises(ValueError, match="process group"):
        nt_xent_loss(torch.randn(3, 2), torch.randn(3, 2), gather_distributed=True)


def test_decreases_under_training() -> None:
    loss_decreases(NTXentLoss(temperature=0.5))
