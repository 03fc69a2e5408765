"""TERA L1 reconstruction and T-JEPA latent prediction objectives against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.losses.tera import TERALoss, tera_loss
from robossl.losses.tjepa import TJEPALoss, tjepa_loss


def test_tera_matches_masked_l1_reference() -> None:
    rng = np.random.default_rng(0)
    rec, orig = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    mask = rng.random(size=(2, 5, 3)) < 0.3
    expected = np.abs(rec - orig)[mask].mean()
    got = tera_loss(torch.from_numpy(rec), torch.from_numpy(orig), torch.from_numpy(mask))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(tera_loss(torch.from_numpy(rec), torch.from_numpy(orig))) == pytest.approx(
        np.abs(rec - orig).mean(), rel=1e-12
    )
    # Perfect reconstruction is the minimum, and the loss is symmetric in its two frame tensors.
    assert float(tera_loss(torch.from_numpy(orig), torch.from_numpy(orig))) == 0.0
    a, b = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    assert torch.allclose(tera_loss(a, b), tera_loss(b, a))
    with pytest.raises(ValueError, match="input feature size"):
        tera_loss(torch.randn(2, 5, 3), torch.randn(2, 5, 4))


def test_tera_reconstruction_learns() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    frames = torch.randn(8, 10, 4)
    first = last = 0.0
    for step in range(40):
        loss = TERALoss()(model(frames * (torch.rand(8, 10, 1) > 0.15)), frames)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = float(loss.detach()) if step == 0 else first
        last = float(loss.detach())
    assert last < 0.5 * first


def test_tjepa_matches_normalised_mse_reference() -> None:
    rng = np.random.default_rng(1)
    pred, target = rng.normal(size=(2, 3, 4)), 5 + 2 * rng.normal(size=(2, 3, 4))
    mean = target.mean(-1, keepdims=True)
    std = np.sqrt(target.var(-1, keepdims=True) + 1e-5)
    expected = (((target - mean) / std - pred) ** 2).mean()
    got = tjepa_loss(torch.from_numpy(pred), torch.from_numpy(target))
    assert float(got) == pytest.approx(expected, rel=1e-9)
    raw = tjepa_loss(torch.from_numpy(pred), torch.from_numpy(target), normalize_target=False)
    assert float(raw) == pytest.approx(((pred - target) ** 2).mean(), rel=1e-12)
    perm = torch.randperm(2)
    p, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(TJEPALoss()(p, t), TJEPALoss()(p[perm], t[perm]))
    with pytest.raises(ValueError, match="B, M, D"):
        tjepa_loss(torch.randn(2, 4), torch.randn(2, 4))


def test_tjepa_predictor_learns_target_representations() -> None:
    torch.manual_seed(0)
    context = torch.randn(16, 3, 8)
    target = torch.tanh(context @ torch.randn(8, 8))  # a learnable function of the context
    predictor = torch.nn.Linear(8, 8)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        loss = tjepa_loss(predictor(context), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
