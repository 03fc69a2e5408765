"""Triplet mining from visual descriptors and from time."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.terrain.mining import (
    balanced_batch,
    group_triplets,
    nuisance_matched_triplets,
    temporal_groups,
    visual_triplets,
)


def test_temporal_groups_split_runs_and_stretches() -> None:
    runs = np.array([0, 0, 0, 0, 1, 1])
    times = np.array([0.0, 1.0, 2.5, 3.9, 0.0, 5.0])
    g = temporal_groups(runs, times, segment_s=2.0)
    assert g[0] == g[1] and g[2] == g[3] and g[0] != g[2]
    assert len({g[4], g[5], g[0], g[2]}) == 4
    whole = temporal_groups(runs, times, np.inf)
    assert whole.tolist() == [0, 0, 0, 0, 1, 1]


def test_group_triplets_respect_groups() -> None:
    rng = np.random.default_rng(0)
    groups = np.array([3, 3, 3, 7, 7, 9, 1, 1, 1, 1])  # group 9 has no positive
    a, p, n = group_triplets(groups, 500, rng)
    assert np.all(groups[a] == groups[p]) and np.all(a != p)
    assert np.all(groups[a] != groups[n])
    assert not np.any(groups[a] == 9)
    assert set(n.tolist()) == set(range(10)) - set()  # every sample can be a negative of some anchor
    with pytest.raises(ValueError, match="2 groups"):
        group_triplets(np.array([0, 0, 0]), 4, rng)


def test_visual_triplets_follow_appearance() -> None:
    rng = np.random.default_rng(1)
    appearance = np.repeat([[0.0, 0.0], [5.0, 5.0]], 20, axis=0) + rng.normal(0, 0.3, size=(40, 2))
    kind = np.repeat([0, 1], 20)
    a, p, n = visual_triplets(appearance, 200, num_visual_clusters=2, rng=rng)
    assert np.all(kind[a] == kind[p]) and np.all(a != p)
    assert np.all(kind[a] != kind[n])
    # Excluding the anchor's own time group forces the positive out of it.
    groups = np.arange(40) // 2
    a, p, _ = visual_triplets(appearance, 100, 2, rng, exclude_radius=groups)
    assert np.all(groups[a] != groups[p])


def test_balanced_batch_draws_p_by_k() -> None:
    groups = np.repeat(np.arange(6), 5)
    idx = balanced_batch(groups, 4, 3, np.random.default_rng(0))
    assert len(idx) == 12 and len(set(groups[idx].tolist())) == 4


def test_nuisance_matched_negatives_share_the_anchor_speed_but_not_its_run() -> None:
    rng = np.random.default_rng(0)
    # 20 runs of 30 windows; each run driven at its own speed, so speed alone tells runs apart.
    groups = np.repeat(np.arange(20), 30)
    speed = np.repeat(rng.uniform(0.05, 0.8, 20), 30) + rng.normal(0, 0.01, 600)
    a, p, n = nuisance_matched_triplets(groups, np.log(speed), 2000, rng, candidates=16)
    assert np.all(groups[a] == groups[p]) and np.all(a != p) and np.all(groups[a] != groups[n])
    matched = np.abs(np.log(speed[n]) - np.log(speed[a])).mean()
    # candidates=1: plain random negatives of another run.
    a_random, _, n_random = nuisance_matched_triplets(groups, np.log(speed), 2000, rng, candidates=1)
    assert np.all(groups[a_random] != groups[n_random])
    unmatched = np.abs(np.log(speed[n_random]) - np.log(speed[a_random])).mean()
    assert matched < 0.3 * unmatched
    with pytest.raises(ValueError, match="one nuisance value per sample"):
        nuisance_matched_triplets(groups, speed[:10], 4, rng)
    with pytest.raises(ValueError, match="candidates"):
        nuisance_matched_triplets(groups, speed, 4, rng, candidates=0)


def test_nuisance_matched_triplets_fall_back_when_candidates_share_the_group() -> None:
    rng = np.random.default_rng(1)
    groups = np.array([0] * 98 + [1, 1])  # candidates almost always come from the anchor's own group
    a, p, n = nuisance_matched_triplets(groups, np.zeros(100), 300, rng, candidates=2)
    assert np.all(groups[a] != groups[n])
