"""GroCo against the sorting network written out with plain Python loops, and a two-element case by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.losses.groco import GroCoLoss, groco_loss, group_ordering_loss, odd_even_soft_permutation
from tests.losses._helpers import loss_decreases


def reference_permutation(values: list[float], steepness: float) -> np.ndarray:
    """Odd-even transposition network, one relaxed swap at a time (P[i, j]: input i at position j)."""
    n = len(values)
    x = list(values)
    p = np.eye(n)
    for layer in range(n):
        for j in range(layer % 2, n - 1, 2):
            alpha = math.atan(steepness * (x[j + 1] - x[j])) / math.pi + 0.5
            x[j], x[j + 1] = alpha * x[j] + (1 - alpha) * x[j + 1], (1 - alpha) * x[j] + alpha * x[j + 1]
            for i in range(n):
                a, b = p[i, j], p[i, j + 1]
                p[i, j], p[i, j + 1] = alpha * a + (1 - alpha) * b, (1 - alpha) * a + alpha * b
    return p


def reference_group_loss(positives: list[float], negatives: list[float], steepness: float) -> float:
    ordered = sorted(negatives) + sorted(positives)
    p = reference_permutation(ordered, steepness)
    k = len(negatives)
    total = 0.0
    for i in range(len(ordered)):
        q = min(max(p[i, k:].sum(), 1e-7), 1 - 1e-7)
        total += -math.log(q) if i >= k else -math.log(1 - q)
    return total / len(ordered)


def test_one_positive_one_negative_by_hand() -> None:
    # One swap: alpha = atan(10 * (0.8 - 0.3)) / pi + 1/2 = atan(5) / pi + 1/2 = 0.937167; the positive stays
    # on top with probability alpha and the negative below with probability alpha: loss = -log(alpha).
    loss = group_ordering_loss(torch.tensor([[0.8]]), torch.tensor([[0.3]]), steepness=10.0)
    assert float(loss) == pytest.approx(-math.log(0.937167), rel=1e-5)
    assert float(loss) == pytest.approx(0.064894, rel=1e-4)


def test_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(4)
    positives = torch.rand(3, 2, generator=g, dtype=torch.float64) * 2 - 1
    negatives = torch.rand(3, 5, generator=g, dtype=torch.float64) * 2 - 1
    for steepness in (1.0, 10.0):
        got = float(group_ordering_loss(positives, negatives, steepness))
        expected = np.mean(
            [reference_group_loss(p.tolist(), n.tolist(), steepness) for p, n in zip(positives, negatives)]
        )
        assert got == pytest.approx(expected, rel=1e-9)


def test_permutation_is_doubly_stochastic_and_sorts() -> None:
    scores = torch.tensor([[0.9, -0.5, 0.1, 0.4, -0.2]], dtype=torch.float64)
    p = odd_even_soft_permutation(scores, steepness=1e4)[0]
    assert torch.allclose(p.sum(0), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(p.sum(1), torch.ones(5, dtype=torch.float64))
    assert torch.equal(p.argmax(1), torch.tensor([4, 0, 2, 3, 1]))  # the rank of each input
    assert np.allclose(p.numpy(), reference_permutation(scores[0].tolist(), 1e4))


def test_misordered_groups_cost_more_than_ordered_ones() -> None:
    ordered = group_ordering_loss(torch.tensor([[0.9, 0.8]]), torch.tensor([[0.1, 0.2, 0.0]]))
    one_wrong = group_ordering_loss(torch.tensor([[0.9, 0.15]]), torch.tensor([[0.1, 0.2, 0.0]]))
    reversed_ = group_ordering_loss(torch.tensor([[0.0, 0.1]]), torch.tensor([[0.8, 0.9, 0.7]]))
    assert float(ordered) < float(one_wrong) < float(reversed_)


def test_two_view_loss_matches_reference_with_hardest_negatives() -> None:
    g = torch.Generator().manual_seed(2)
    z_a, z_b = (
        torch.randn(6, 4, generator=g, dtype=torch.float64),
        torch.randn(6, 4, generator=g, dtype=torch.float64),
    )
    a = (z_a / z_a.norm(dim=1, keepdim=True)).numpy()
    b = (z_b / z_b.norm(dim=1, keepdim=True)).numpy()
    per_view = []
    for anchor, other in ((a, b), (b, a)):
        losses = []
        for i in range(6):
            others = sorted((float(anchor[i] @ anchor[j]) for j in range(6) if j != i), reverse=True)
            losses.append(reference_group_loss([float(anchor[i] @ other[i])], others[:3], 10.0))
        per_view.append(np.mean(losses))
    assert float(groco_loss(z_a, z_b, num_negatives=3)) == pytest.approx(np.mean(per_view), rel=1e-9)


def test_gradient_flows_only_through_the_anchor_with_stop_gradient() -> None:
    z_a = torch.randn(5, 3, requires_grad=True)
    z_b = torch.randn(5, 3)
    z_b.requires_grad_(True)
    groco_loss(z_a, z_b, num_negatives=2).backward()
    assert z_a.grad is not None and z_a.grad.abs().sum() > 0
    # z_b is an anchor in the second half, so it has a gradient too; with one anchor direction only:
    positives = torch.tensor([[0.5]], requires_grad=True)
    negatives = torch.tensor([[0.2, 0.6]], requires_grad=True)
    group_ordering_loss(positives, negatives).backward()
    assert float(positives.grad) < 0 and float(negatives.grad[0, 1]) > 0  # type: ignore[index]


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="larger batch or fewer negatives"):
        groco_loss(torch.randn(4, 3), torch.randn(4, 3), num_negatives=4)
    with pytest.raises(ValueError, match="equal shapes"):
        groco_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="steepness"):
        GroCoLoss(steepness=0.0)
    with pytest.raises(ValueError, match="at least one positive"):
        group_ordering_loss(torch.zeros(2, 0), torch.zeros(2, 3))


def test_decreases_under_training() -> None:
    loss_decreases(GroCoLoss(num_negatives=5))
