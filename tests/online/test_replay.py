"""Bounded replay buffers: capacity, reservoir uniformity, diversity retention, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.online.checkpoint import load_checkpoint, save_checkpoint
from robossl.online.replay import ReplayBuffer


def test_capacity_is_never_exceeded():
    buffer = ReplayBuffer(capacity=10)
    for i in range(1000):
        buffer.add({"x": np.array([i])})
    assert len(buffer) == 10
    assert buffer.seen == 1000


def test_reservoir_keeps_old_and_new_samples_uniformly():
    # each of 1000 items has probability 100/1000 of being kept: the mean kept index is ~500
    means = []
    for seed in range(20):
        buffer = ReplayBuffer(capacity=100, seed=seed)
        for i in range(1000):
            buffer.add(i)
        kept = buffer.sample(1000)
        means.append(np.mean(kept))
    assert np.mean(means) == pytest.approx(500, abs=40)


def test_diversity_policy_keeps_rare_samples():
    # 5 rare samples among 2000 common ones: diversity keeps all rare ones, reservoir loses most
    rng = np.random.default_rng(0)
    diverse, reservoir = ReplayBuffer(50, "diversity"), ReplayBuffer(50, "reservoir")
    rare_at = set(range(100, 2000, 400))
    for i in range(2000):
        rare = i in rare_at
        descriptor = rng.normal(10.0 if rare else 0.0, 0.1, size=4) + (i if rare else 0)
        diverse.add(("rare" if rare else "common", i), descriptor)
        reservoir.add(("rare" if rare else "common", i), descriptor)
    kept_diverse = sum(1 for kind, _ in diverse._samples if kind == "rare")
    kept_reservoir = sum(1 for kind, _ in reservoir._samples if kind == "rare")
    assert kept_diverse == len(rare_at)
    assert kept_reservoir < len(rare_at)


def test_diversity_needs_descriptor():
    with pytest.raises(ValueError, match="descriptor"):
        ReplayBuffer(4, "diversity").add(1)


def test_bad_settings_rejected():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0)
    with pytest.raises(ValueError, match="unknown replay policy"):
        ReplayBuffer(4, "fifo")


def test_state_round_trip_through_checkpoint(tmp_path):
    buffer = ReplayBuffer(capacity=8, seed=3)
    for i in range(30):
        buffer.add({"image": np.full((2, 3), i, np.uint8), "depth": np.full((2, 3), i / 2, np.float16)})
    save_checkpoint(tmp_path / "replay.pt", {"replay": buffer.state_dict()})
    restored = ReplayBuffer(capacity=8, seed=99)
    restored.load_state_dict(load_checkpoint(tmp_path / "replay.pt")["replay"])
    assert restored.seen == 30 and len(restored) == 8
    # same RNG state: the next draws agree
    a, b = buffer.sample(5), restored.sample(5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["image"], y["image"])
        assert y["depth"].dtype == np.float16
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(capacity=9).load_state_dict(buffer.state_dict())
