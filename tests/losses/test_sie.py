"""SIE loss against its formula written with numpy loops; the predictor and the views' known transformations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.losses.sie import SIELoss, sie_loss
from robossl.methods.sie import HypernetworkPredictor, PhotometricImagePairs, RotatedImuPairs, photometric


def _std_hinge(z: np.ndarray) -> float:
    n, d = z.shape
    total = 0.0
    for j in range(d):
        mean = sum(z[i, j] for i in range(n)) / n
        var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
        total += max(0.0, 1.0 - np.sqrt(var + 1e-4))
    return total / d


def _off_diagonal(z: np.ndarray) -> float:
    n, d = z.shape
    mean = z.mean(0)
    total = 0.0
    for j in range(d):
        for k in range(d):
            if j != k:
                cov = sum((z[i, j] - mean[j]) * (z[i, k] - mean[k]) for i in range(n)) / (n - 1)
                total += cov**2
    return total / d


def reference_sie(inv_a, inv_b, eq_a, eq_b, pred, w_inv=10.0, factor=0.45, w_var=10.0, w_cov=1.0) -> float:  # type: ignore[no-untyped-def]
    mse_inv = float(np.mean((inv_a - inv_b) ** 2))
    mse_eq = float(np.mean((pred - eq_b) ** 2))
    z_a, z_b = np.concatenate([inv_a, eq_a], 1), np.concatenate([inv_b, eq_b], 1)
    variance = _std_hinge(z_a) / 2 + _std_hinge(z_b) / 2 + _std_hinge(pred) / 2
    covariance = _off_diagonal(z_a) + _off_diagonal(z_b)
    return w_inv * mse_inv + factor * w_inv * mse_eq + w_var * variance + w_cov * covariance


def test_matches_loop_reference() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.normal(size=(4, d)) * 0.6 for d in (3, 3, 2, 2, 2)]
    got = float(sie_loss(*(torch.from_numpy(p) for p in parts)))
    assert got == pytest.approx(reference_sie(*parts), rel=1e-10)
    got = float(SIELoss(1.0, 2.0, 3.0, 0.5)(*(torch.from_numpy(p) for p in parts)))
    assert got == pytest.approx(reference_sie(*parts, 1.0, 2.0, 3.0, 0.5), rel=1e-10)


def test_hand_computed_two_samples() -> None:
    # N = 2, one invariant and one equivariant dimension, embeddings +-1 (std sqrt(2) > 1: no variance cost,
    # no off-diagonal covariance since the two columns are [1, -1] and [1, -1] -> cov = 2 off the diagonal).
    inv_a = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    eq_a = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    inv_b, eq_b = inv_a + 0.5, eq_a.clone()  # invariance MSE 0.25
    pred = eq_b + torch.tensor([[0.0], [-1.0]], dtype=torch.float64)  # MSE 0.5; pred [1, -2]: std > 1
    # cov of [inv, eq] per view: [[2, 2], [2, 2]] -> off-diagonal squares 4 + 4 = 8, / d = 2 -> 4 per view
    expected = 10 * 0.25 + 0.45 * 10 * 0.5 + 0.0 + 1.0 * (4 + 4)
    assert float(sie_loss(inv_a, inv_b, eq_a, eq_b, pred)) == pytest.approx(expected, rel=1e-12)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="equivariant embeddings"):
        sie_loss(
            torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 2)
        )
    with pytest.raises(ValueError, match="N >= 2"):
        sie_loss(*(torch.zeros(1, 2) for _ in range(5)))
    with pytest.raises(ValueError, match=">= 0"):
        SIELoss(variance_weight=-1.0)
    with pytest.raises(ValueError, match="rotation_groups"):
        RotatedImuPairs((), 180.0)


def test_hypernetwork_predictor_applies_a_generated_matrix() -> None:
    predictor = HypernetworkPredictor(dim=3, parameter_dim=2, hidden_dim=4)
    z, t = torch.randn(5, 3), torch.randn(5, 2)
    out = predictor(z, t)
    for i in range(5):
        matrix = predictor.weights(t[i : i + 1]).view(3, 3)
        assert torch.allclose(out[i], matrix @ z[i], atol=1e-6)


def test_rotation_parameter_maps_view_a_onto_view_b() -> None:
    pairs = RotatedImuPairs(((0, 1, 2), (3, 4, 5)), 180.0)
    pairs.base = lambda x, generator=None: x  # type: ignore[assignment,method-assign]  # no other augmentation
    x = torch.randn(4, 10, 6)
    view_a, view_b, relative = pairs(x, torch.Generator().manual_seed(0))
    rotation = relative.view(4, 3, 3)
    for group in (slice(0, 3), slice(3, 6)):
        assert torch.allclose(view_a[:, :, group] @ rotation.transpose(1, 2), view_b[:, :, group], atol=1e-5)
    assert not torch.allclose(view_a, view_b)


def test_photometric_parameters_are_log_ratios() -> None:
    pairs = PhotometricImagePairs((8, 8), (0.4, 0.4, 0.2))
    pairs.base = lambda x, generator=None: x  # type: ignore[assignment,method-assign]
    images = torch.rand(3, 3, 8, 8) * 0.5 + 0.25
    g = torch.Generator().manual_seed(1)
    view_a, view_b, log_ratio = pairs(images, g)
    g = torch.Generator().manual_seed(1)
    factor_a = 1 + (2 * torch.rand(3, 3, generator=g) - 1) * torch.tensor([0.4, 0.4, 0.2])
    factor_b = 1 + (2 * torch.rand(3, 3, generator=g) - 1) * torch.tensor([0.4, 0.4, 0.2])
    assert torch.allclose(view_a, photometric(images, factor_a))
    assert torch.allclose(log_ratio, torch.log(factor_b / factor_a))
    assert torch.allclose(photometric(images, torch.ones(3, 3)), images, atol=1e-6)
