"""HaLP: the closed-form hardest positive worked by hand in 2-D and checked for its defining property in 3-D;
the losses by hand; spherical k-means."""

from __future__ import annotations

import math

import pytest
import torch

from robossl.losses.halp import hallucinate_positives, halp_loss, moco_info_nce
from robossl.methods.halp import spherical_kmeans


def _at(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def test_hardest_positive_in_2d_by_hand() -> None:
    # Key at 0 deg, its prototype p0 at 10 deg, the next prototype p at -30 deg (w = 30 deg).
    # K = (1 - cos 40) / (cos 10 - cos 30) = 1.969615; t_max = atan(sin 30 / (K + cos 30)) / w = 10 / 30:
    # the positive lands at -10 deg, the bisector of p0 and p.
    key = torch.tensor([_at(0)], dtype=torch.float64)
    prototypes = torch.tensor([_at(10), _at(-30), _at(150)], dtype=torch.float64)
    positives, keep = hallucinate_positives(
        key, prototypes, num_positives=3, num_candidates=1, hardness_range=0.0
    )
    assert torch.allclose(positives[0], torch.tensor([_at(-10)] * 3, dtype=torch.float64), atol=1e-7)
    # with t drawn below t_max the positives stay on the arc between 0 and -10 deg and keep p0 as nearest
    softer, keep = hallucinate_positives(key, prototypes, 50, 1, 1, 0.8, torch.Generator().manual_seed(0))
    angles = torch.rad2deg(torch.atan2(softer[0, :, 1], softer[0, :, 0]))
    assert bool(((angles <= -2.0 + 1e-6) & (angles >= -10.0 - 1e-6)).all())  # t in [0.2, 1] x t_max
    assert bool(keep.all())


def test_hardest_positive_is_equally_similar_to_both_prototypes_in_3d() -> None:
    g = torch.Generator().manual_seed(3)
    prototypes = torch.nn.functional.normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1)
    keys = torch.nn.functional.normalize(
        prototypes[:2] + 0.3 * torch.randn(2, 3, generator=g, dtype=torch.float64), dim=1
    )
    positives, _ = hallucinate_positives(keys, prototypes, 4, num_candidates=1, hardness_range=0.0)
    order = (keys @ prototypes.T).argsort(dim=1, descending=True)
    for i in range(2):
        p0, p = prototypes[order[i, 0]], prototypes[order[i, 1]]
        for positive in positives[i]:
            assert float(positive @ p0) == pytest.approx(float(positive @ p), abs=1e-6)
            # on the great circle through the key and p: no component outside their plane
            normal = torch.linalg.cross(keys[i], p)
            assert float(positive @ normal) == pytest.approx(0.0, abs=1e-7)


def test_losses_by_hand() -> None:
    q = torch.tensor([[1.0, 0.0]])
    # MoCo: logits [1, 0] / T with T = 1 -> log(1 + e^-1) = 0.313262
    assert float(moco_info_nce(q, q, torch.tensor([[0.0, 1.0]]), 1.0)) == pytest.approx(
        math.log(1 + math.exp(-1))
    )
    # HaLP: one kept positive equal to q, T = 0.5 -> -(1 / 0.5) = -2; the dropped one does not count
    positives = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert float(halp_loss(q, positives, torch.tensor([[True, False]]), 0.5)) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="skip_closest"):
        hallucinate_positives(q, torch.tensor([[1.0, 0.0]]), skip_closest=1)


def test_spherical_kmeans_finds_two_groups() -> None:
    x = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-0.1, 1.0]]), dim=1)
    centres = spherical_kmeans(x, 2, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    matched = sorted(centres.tolist(), key=lambda c: -c[0])
    assert torch.allclose(torch.tensor(matched), expected, atol=1e-6)
