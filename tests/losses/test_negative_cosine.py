"""Negative cosine (BYOL / SimSiam): reference value, stop-gradient, extremes; DirectPred predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.losses.directpred import DirectPredictor, directpred_loss, directpred_weight
from robossl.losses.negative_cosine import negative_cosine_similarity, symmetric_negative_cosine


def test_matches_reference_and_blocks_target_gradient() -> None:
    rng = np.random.default_rng(0)
    p, z = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    reference = -np.mean([p[i] @ z[i] / np.linalg.norm(p[i]) / np.linalg.norm(z[i]) for i in range(6)])
    pt, zt = torch.tensor(p, requires_grad=True), torch.tensor(z, requires_grad=True)
    loss = negative_cosine_similarity(pt, zt)
    assert float(loss.detach()) == pytest.approx(reference, rel=1e-12)
    loss.backward()
    assert zt.grad is None and pt.grad is not None and pt.grad.abs().sum() > 0


def test_extremes_symmetry_and_permutation() -> None:
    z = torch.randn(4, 3)
    assert float(negative_cosine_similarity(2 * z, z)) == pytest.approx(-1.0, abs=1e-6)
    assert float(negative_cosine_similarity(-z, z)) == pytest.approx(1.0, abs=1e-6)
    a, b, c, d = (torch.randn(5, 3) for _ in range(4))
    perm = torch.randperm(5)
    assert torch.allclose(symmetric_negative_cosine(a, b, c, d), symmetric_negative_cosine(b, a, d, c))
    assert torch.allclose(negative_cosine_similarity(a, b), negative_cosine_similarity(a[perm], b[perm]))


def test_directpred_weight_matches_numpy_eigendecomposition() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4)) @ np.diag([3.0, 1.0, 0.5, 0.1])
    corr = x.T @ x / 50
    s, u = np.linalg.eigh(corr)
    expected = u @ np.diag(np.sqrt(s / s.max()) + 0.1) @ u.T
    got = directpred_weight(torch.from_numpy(corr), eps=0.1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_directpredictor_running_average_and_no_gradient() -> None:
    predictor = DirectPredictor(3, rho=0.3, eps=0.1)
    f1, f2 = torch.randn(8, 3), torch.randn(8, 3)
    predictor.update(f1)
    predictor.update(f2)
    expected = 0.3 * (f1.T @ f1 / 8) + 0.7 * (f2.T @ f2 / 8)
    assert torch.allclose(predictor.correlation, expected, atol=1e-6)
    assert torch.allclose(predictor.weight, directpred_weight(expected, 0.1), atol=1e-5)
    assert int(predictor.num_updates) == 2
    assert list(dict(predictor.named_parameters())) == []
    assert {"correlation", "weight", "num_updates"} <= set(predictor.state_dict())
    online = torch.randn(8, 3, requires_grad=True)
    loss = directpred_loss(online, torch.randn(8, 3), predictor.weight)
    loss.backward()
    assert online.grad is not None
    with pytest.raises(ValueError, match="rho"):
        DirectPredictor(3, rho=1.0)


def test_negative_cosine_and_directpred_decrease_under_training() -> None:
    from tests.losses._helpers import loss_decreases

    loss_decreases(lambda z_a, z_b: symmetric_negative_cosine(z_a, z_b, z_a, z_b))
    predictor = DirectPredictor(6)

    def directpred(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        predictor.update(torch.cat([z_a, z_b]))
        return directpred_loss(z_a, z_b, predictor.weight)

    loss_decreases(directpred)


def test_rolled_concatenation_equals_symmetric_loss() -> None:
    # BootstrapMethod computes the symmetric loss as one call on (2N, D) tensors with the target rolled.
    p, t = torch.randn(8, 5), torch.randn(8, 5)
    rolled = negative_cosine_similarity(p, t.roll(4, dims=0))
    assert torch.allclose(rolled, symmetric_negative_cosine(p[:4], p[4:], t[:4], t[4:]), atol=1e-7)
