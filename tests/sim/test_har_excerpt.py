"""The HAR demo's replay excerpt: every activity is labelled in the first half and scored, on other
segments, in the second half."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robossl_ros.demo.har_stage import HarStageConfig, excerpt_indices, make_stream


def _recording() -> np.ndarray:
    # NULL gaps between segments; activities 1-3, two segments each, in recording order 1 1 2 2 3 3.
    parts = []
    for activity in (1, 1, 2, 2, 3, 3):
        parts += [np.zeros(10, int), np.full(100, activity)]
    return np.concatenate(parts)


def test_each_pass_shows_every_activity_from_another_segment() -> None:
    labels = _recording()
    segment_of = np.cumsum(np.r_[0, np.diff(labels) != 0])  # contiguous-run id per row
    index = excerpt_indices(labels, take=40, needed=240, seed=3)
    assert len(index) == 240 and (labels[index] != 0).all()
    first, second = index[:120], index[120:]
    assert set(labels[first]) == set(labels[second]) == {1, 2, 3}
    for activity in (1, 2, 3):  # the scored pass uses the activity's other segment
        seen = set(segment_of[first][labels[first] == activity])
        scored = set(segment_of[second][labels[second] == activity])
        assert len(seen) == len(scored) == 1 and not seen & scored
    # Seeded: the same seed gives the same excerpt, another seed another order.
    np.testing.assert_array_equal(index, excerpt_indices(labels, 40, 240, seed=3))
    assert not np.array_equal(index, excerpt_indices(labels, 40, 240, seed=4))


def test_excerpt_needs_a_long_enough_segment() -> None:
    with pytest.raises(ValueError, match="segment_s"):
        excerpt_indices(_recording(), take=1000, needed=100, seed=0)


def test_demo_stream_labels_and_scores_every_actrectut_activity(real_data: Callable[[str], Path]) -> None:
    real_data("har/actrectut")
    for seed in (0, 1):
        stream = make_stream(HarStageConfig(seed=seed))
        half = len(stream.labels) // 2
        assert stream.source.startswith("ActRecTut")
        assert set(stream.labels[:half]) == set(stream.labels[half:]) == {1, 2, 3, 4, 5}


def test_demo_excerpt_never_scores_a_labelled_sample(real_data: Callable[[str], Path]) -> None:
    from robossl.data.datasets.actrectut import load_actrectut

    labels = np.asarray(load_actrectut(1, "walk", root=real_data("har/actrectut"), channels_per_imu=6).labels)
    config = HarStageConfig()
    rate = 32
    for seed in (0, 1, 2):
        index = excerpt_indices(labels, int(config.segment_s * rate), int(config.stream_seconds * rate), seed)
        half = int(config.labelled_fraction * len(index))
        assert not set(index[:half]) & set(index[half:])
        # two labelled passes: every activity labelled in two bouts
        segment_of = np.cumsum(np.r_[0, np.diff(labels) != 0])
        for activity in (1, 2, 3, 4, 5):
            assert len(set(segment_of[index[:half]][labels[index[:half]] == activity])) == 2
