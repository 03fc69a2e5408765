"""Barlow Twins against an element-wise numpy formulation of the paper's equation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.losses.barlow_twins import BarlowTwinsLoss, barlow_twins_loss
from tests.losses._helpers import loss_decreases


def reference_barlow(z_a: np.ndarray, z_b: np.ndarray, lam: float) -> float:
    n, d = z_a.shape
    a = (z_a - z_a.mean(0)) / np.sqrt(z_a.var(0) + 1e-5)
    b = (z_b - z_b.mean(0)) / np.sqrt(z_b.var(0) + 1e-5)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            loss += (1 - c_ij) ** 2 if i == j else lam * c_ij**2
    return loss


def test_matches_reference_on_fixed_inputs() -> None:
    rng = np.random.default_rng(0)
    z_a, z_b = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    got = float(barlow_twins_loss(torch.from_numpy(z_a), torch.from_numpy(z_b), 5e-3))
    assert got == pytest.approx(reference_barlow(z_a, z_b, 5e-3), rel=1e-9)


def test_gram_form_for_wide_embeddings_matches_reference_and_gradient() -> None:
    """N < 0.75 D takes the (N, N) Gram-matrix route; value and gradient equal the (D, D) formula."""
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=(4, 12)), rng.normal(size=(4, 12))
    a, b = torch.tensor(z_a, requires_grad=True), torch.tensor(z_b, requires_grad=True)
    got = barlow_twins_loss(a, b, 5e-3)
    assert float(got) == pytest.approx(reference_barlow(z_a, z_b, 5e-3), rel=1e-9)
    got.backward()
    ra, rb = torch.tensor(z_a, requires_grad=True), torch.tensor(z_b, requires_grad=True)
    sa = (ra - ra.mean(0)) / torch.sqrt(ra.var(0, unbiased=False) + 1e-5)
    sb = (rb - rb.mean(0)) / torch.sqrt(rb.var(0, unbiased=False) + 1e-5)
    c = sa.T @ sb / 4
    off = c - torch.diag(torch.diagonal(c))
    ((1 - torch.diagonal(c)).pow(2).sum() + 5e-3 * off.pow(2).sum()).backward()
    assert a.grad is not None and ra.grad is not None and b.grad is not None and rb.grad is not None
    torch.testing.assert_close(a.grad, ra.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(b.grad, rb.grad, rtol=1e-9, atol=1e-12)


def test_symmetric_and_permutation_invariant() -> None:
    z_a, z_b = torch.randn(10, 6), torch.randn(10, 6)
    perm = torch.randperm(10)
    loss = barlow_twins_loss(z_a, z_b)
    assert torch.allclose(loss, barlow_twins_loss(z_b, z_a), atol=1e-5)
    assert torch.allclose(loss, barlow_twins_loss(z_a[perm], z_b[perm]), atol=1e-5)


def test_extremes() -> None:
    # Identical, decorrelated, standardised views: minimum 0 (up to eps).
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert float(barlow_twins_loss(z, z)) < 1e-4
    # Collapsed (constant) embeddings: C = 0, every diagonal term costs 1.
    constant = torch.ones(6, 3)
    assert float(barlow_twins_loss(constant, constant)) == pytest.approx(3.0, abs=1e-6)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="lambda"):
        BarlowTwinsLoss(lambda_offdiagonal=-1)


def test_decreases_under_training() -> None:
    loss_decreases(BarlowTwinsLoss())
