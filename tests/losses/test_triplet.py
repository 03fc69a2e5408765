"""Triplet losses against an independent loop-based reference, properties, and optimisation."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.losses.triplet import (
    BatchHardTripletLoss,
    TripletLoss,
    batch_hard_triplet_loss,
    triplet_margin_loss,
)


def _dist(x: list[float], y: list[float], kind: str) -> float:
    if kind == "cosine":
        dot = sum(a * b for a, b in zip(x, y))
        nx, ny = math.sqrt(sum(a * a for a in x)), math.sqrt(sum(b * b for b in y))
        return 1.0 - dot / (nx * ny)
    sq = sum((a - b) ** 2 for a, b in zip(x, y))
    return sq if kind == "squared" else math.sqrt(sq)


def _reference_given(a, p, n, margin, kind) -> float:
    rows = [max(0.0, _dist(ai, pi, kind) - _dist(ai, ni, kind) + margin) for ai, pi, ni in zip(a, p, n)]
    return sum(rows) / len(rows)


def _reference_batch_hard(x, labels, margin, kind) -> float:
    losses = []
    for i in range(len(x)):
        pos = [_dist(x[i], x[j], kind) for j in range(len(x)) if j != i and labels[j] == labels[i]]
        neg = [_dist(x[i], x[j], kind) for j in range(len(x)) if labels[j] != labels[i]]
        if pos and neg:
            losses.append(max(0.0, max(pos) - min(neg) + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("kind", ["euclidean", "squared", "cosine"])
def test_given_triplets_match_reference(kind: str) -> None:
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    got = triplet_margin_loss(a, p, n, margin=0.5, distance=kind)
    want = _reference_given(a.tolist(), p.tolist(), n.tolist(), 0.5, kind)
    assert got.item() == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", ["euclidean", "squared", "cosine"])
def test_batch_hard_matches_reference(kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 1, 0])  # label 3 has no positive: skipped
    got = batch_hard_triplet_loss(x, labels, margin=0.3, distance=kind)
    want = _reference_batch_hard(x.tolist(), labels.tolist(), 0.3, kind)
    assert got.item() == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_zero_when_negatives_far_and_margin_when_all_equal() -> None:
    a = torch.zeros(4, 3)
    p = torch.full((4, 3), 0.01)
    n = torch.full((4, 3), 10.0)
    assert triplet_margin_loss(a, p, n, margin=1.0).item() == 0.0
    # All points identical: each triplet is violated by exactly the margin.
    same = torch.ones(4, 3)
    assert triplet_margin_loss(same, same, same, margin=0.7).item() == pytest.approx(0.7, abs=1e-5)


def test_invariant_to_translation_and_rotation() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 1, 2])
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    base = batch_hard_triplet_loss(x, labels, margin=0.5)
    moved = batch_hard_triplet_loss(x @ q + 3.0, labels, margin=0.5)
    assert moved.item() == pytest.approx(base.item(), rel=1e-9)
    # Relabelling the groups does not change the loss.
    assert batch_hard_triplet_loss(x, (labels + 5) % 3, margin=0.5).item() == pytest.approx(base.item())


def test_module_normalizes_and_gives_finite_gradient_on_duplicates() -> None:
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 2.0]], requires_grad=True)
    loss = BatchHardTripletLoss(margin=0.2)(x, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == 0.0  # unit vectors: positives at 0, negatives at sqrt(2)
    assert x.grad is not None and torch.isfinite(x.grad).all()
    scaled = TripletLoss(margin=0.2)(x * 5, x * 5, x.flip(0) * 5)
    assert scaled.item() == pytest.approx(TripletLoss(margin=0.2)(x, x, x.flip(0)).item(), rel=1e-6)


def test_no_valid_anchor_gives_attached_zero() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet_loss(x, torch.tensor([0, 0, 0]))
    loss.backward()
    assert loss.item() == 0.0 and x.grad is not None


def test_loss_decreases_under_optimisation() -> None:
    torch.manual_seed(0)
    data = torch.randn(64, 16)
    labels = torch.arange(64) % 4
    data = data + labels[:, None].float() * 0.3  # weak class signal for the network to amplify
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    criterion = BatchHardTripletLoss(margin=0.5)
    losses = []
    for _ in range(40):
        loss = criterion(net(data), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_arguments_are_rejected_with_fix() -> None:
    with pytest.raises(ValueError, match="margin"):
        TripletLoss(margin=-1)
    with pytest.raises(ValueError, match="distance"):
        BatchHardTripletLoss(distance="manhattan")
    with pytest.raises(ValueError, match="one shape"):
        triplet_margin_loss(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="labels"):
        batch_hard_triplet_loss(torch.zeros(3, 2), torch.zeros(4))
