"""VICReg against a loop formulation of the paper's three terms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.losses.vicreg import VICRegLoss, vicreg_loss
from tests.losses._helpers import loss_decreases


def reference_vicreg(z_a: np.ndarray, z_b: np.ndarray) -> float:
    n, d = z_a.shape
    invariance = float(((z_a - z_b) ** 2).sum() / (n * d))

    def variance(z: np.ndarray) -> float:
        return sum(max(0.0, 1 - np.sqrt(np.var(z[:, j], ddof=1) + 1e-4)) for j in range(d)) / d

    def covariance(z: np.ndarray) -> float:
        c = np.cov(z, rowvar=False)
        return sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d

    return 25 * invariance + 25 * (variance(z_a) + variance(z_b)) / 2 + covariance(z_a) + covariance(z_b)


def test_matches_reference_on_fixed_inputs() -> None:
    rng = np.random.default_rng(3)
    z_a, z_b = 0.5 * rng.normal(size=(9, 4)), 2 * rng.normal(size=(9, 4))
    got = float(vicreg_loss(torch.from_numpy(z_a), torch.from_numpy(z_b)))
    assert got == pytest.approx(reference_vicreg(z_a, z_b), rel=1e-9)


def test_symmetric_and_permutation_invariant() -> None:
    z_a, z_b = torch.randn(10, 6), torch.randn(10, 6)
    perm = torch.randperm(10)
    loss = vicreg_loss(z_a, z_b)
    assert torch.allclose(loss, vicreg_loss(z_b, z_a), atol=1e-5)
    assert torch.allclose(loss, vicreg_loss(z_a[perm], z_b[perm]), atol=1e-5)


def test_collapse_costs_the_full_variance_term() -> None:
    z = torch.zeros(5, 3)
    # Invariance 0, covariance 0, std = sqrt(1e-4) = 0.01 -> hinge 0.99 per dimension.
    assert float(vicreg_loss(z, z)) == pytest.approx(25 * 0.99, rel=1e-6)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        vicreg_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match=">= 0"):
        VICRegLoss(invariance_weight=-1)


def test_decreases_under_training() -> None:
    loss_decreases(VICRegLoss())
