"""Weighted multi-view contrastive loss: reference formula, properties, and that it can be minimised."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robossl.losses.multiview_contrastive import MultiViewContrastiveLoss, multiview_contrastive_loss


def _reference(anchor, positives, negatives, wp, wn, tau):
    """Direct transcription of ColloSSL's L_i in float64 numpy, one anchor at a time."""
    total = 0.0
    for i in range(anchor.shape[0]):
        a = anchor[i] / np.linalg.norm(anchor[i])
        num = 0.0
        for p in range(positives.shape[1]):
            v = positives[i, p] / np.linalg.norm(positives[i, p])
            num += wp[i, p] * math.exp(float(a @ v) / tau)
        den = num
        for n in range(negatives.shape[1]):
            v = negatives[i, n] / np.linalg.norm(negatives[i, n])
            den += wn[i, n] * math.exp(float(a @ v) / tau)
        total += -math.log(num / den)
    return total / anchor.shape[0]


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_matches_reference_formula(tau: float) -> None:
    rng = np.random.default_rng(0)
    b, p, n, d = 5, 2, 7, 8
    anchor, pos, neg = rng.normal(size=(b, d)), rng.normal(size=(b, p, d)), rng.normal(size=(b, n, d))
    wp, wn = rng.uniform(0.2, 1, size=(b, p)), rng.uniform(0.1, 1, size=(b, n))
    got = multiview_contrastive_loss(
        torch.tensor(anchor),
        torch.tensor(pos),
        torch.tensor(neg),
        torch.tensor(wp),
        torch.tensor(wn),
        None,
        tau,
    )
    assert got.item() == pytest.approx(_reference(anchor, pos, neg, wp, wn, tau), rel=1e-9)


def test_one_positive_unit_weights_equals_infonce_cross_entropy() -> None:
    torch.manual_seed(1)
    a, b = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / 0.1
    expected = F.cross_entropy(logits, torch.arange(6))
    mask = ~torch.eye(6, dtype=torch.bool)
    got = multiview_contrastive_loss(a, b, b, negative_mask=mask, temperature=0.1)
    assert got.item() == pytest.approx(expected.item(), rel=1e-10)


def test_shared_bank_equals_per_anchor_negatives() -> None:
    torch.manual_seed(2)
    a, p, bank = torch.randn(4, 3), torch.randn(4, 2, 3), torch.randn(5, 3)
    w = torch.tensor([1.0, 0.5, 0.2, 0.7, 0.9])
    shared = multiview_contrastive_loss(a, p, bank, negative_weights=w)
    per_anchor = multiview_contrastive_loss(a, p, bank.expand(4, 5, 3), negative_weights=w.expand(4, 5))
    assert shared.item() == pytest.approx(per_anchor.item(), rel=1e-6)


def test_invariant_to_common_weight_scale_and_embedding_norm() -> None:
    torch.manual_seed(3)
    a, p, n = torch.randn(4, 6), torch.randn(4, 2, 6), torch.randn(4, 3, 6)
    wp, wn = torch.tensor([1.0, 0.5]), torch.tensor([0.3, 1.0, 0.6])
    base = multiview_contrastive_loss(a, p, n, wp, wn)
    assert multiview_contrastive_loss(3 * a, p, n, 7 * wp, 7 * wn).item() == pytest.approx(
        base.item(), rel=1e-5
    )


def test_zero_weight_or_mask_removes_a_negative_and_larger_weight_increases_loss() -> None:
    torch.manual_seed(4)
    a, p, n = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 4, 5)
    w = torch.tensor([1.0, 0.0, 1.0, 1.0])
    dropped = multiview_contrastive_loss(a, p, n[:, [0, 2, 3]])
    assert multiview_contrastive_loss(a, p, n, negative_weights=w).item() == pytest.approx(
        dropped.item(), rel=1e-6
    )
    mask = torch.tensor([[True, False, True, True]] * 3)
    assert multiview_contrastive_loss(a, p, n, negative_mask=mask).item() == pytest.approx(
        dropped.item(), rel=1e-6
    )
    heavier = multiview_contrastive_loss(a, p, n, negative_weights=torch.tensor([1.0, 1.0, 1.0, 3.0]))
    assert heavier.item() > multiview_contrastive_loss(a, p, n).item()


def test_loss_is_positive_and_near_zero_for_perfect_separation() -> None:
    anchor = torch.eye(3)
    loss = multiview_contrastive_loss(
        anchor, anchor.clone(), -anchor.unsqueeze(1).repeat(1, 4, 1), temperature=0.05
    )
    assert 0 <= loss.item() < 1e-15 + 4 * math.exp(-2 / 0.05) * 2


def test_no_overflow_at_low_temperature() -> None:
    torch.manual_seed(5)
    a = torch.randn(8, 16)
    loss = multiview_contrastive_loss(
        a, a + 0.01 * torch.randn(8, 16), torch.randn(8, 10, 16), temperature=0.001
    )
    assert torch.isfinite(loss)


def test_decreases_under_optimisation() -> None:
    torch.manual_seed(6)
    encoder = torch.nn.Linear(10, 8)
    x = torch.randn(32, 10)
    views = x + 0.1 * torch.randn(32, 10)
    criterion = MultiViewContrastiveLoss(temperature=0.1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    mask = ~torch.eye(32, dtype=torch.bool)
    losses = []
    for _ in range(30):
        za, zp = encoder(x), encoder(views)
        loss = criterion(za, zp, zp, negative_mask=mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_bad_inputs_raise_actionable_errors() -> None:
    a, p, n = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="temperature"):
        MultiViewContrastiveLoss(temperature=0)
    with pytest.raises(ValueError, match="positives must be"):
        multiview_contrastive_loss(a, torch.randn(3, 3), n)
    with pytest.raises(ValueError, match="negatives must be"):
        multiview_contrastive_loss(a, p, torch.randn(3, 4, 3))
    with pytest.raises(ValueError, match=">= 0"):
        multiview_contrastive_loss(a, p, n, negative_weights=torch.tensor([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="at least one positive"):
        multiview_contrastive_loss(a, p, n, positive_weights=torch.tensor([0.0]))
    with pytest.raises(ValueError, match="broadcast"):
        multiview_contrastive_loss(a, p, n, negative_weights=torch.ones(3))
