"""ParallelFrames: several frames perceived at once give the same outputs, in order, as process()."""

from __future__ import annotations

import numpy as np
import pytest

from robossl.pipelines.stereo_mono.parallel import ParallelFrames

from .scenes import two_plane_pair
from .test_pipeline import make_pipeline


def _frames(count: int):
    scenes = [two_plane_pair(seed=s) for s in range(4)]
    return [(scenes[i % 4][0], scenes[i % 4][1], 0.05 * i) for i in range(count)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parallel_outputs_equal_sequential_in_order(workers):
    frames = _frames(12)
    sequential = make_pipeline()
    expected = [sequential.process(left, right, stamp) for left, right, stamp in frames]
    pipeline = make_pipeline()
    outputs = []
    with ParallelFrames(pipeline, workers=workers) as runner:
        for left, right, stamp in frames:
            outputs.extend(runner.submit(left, right, stamp))
        outputs.extend(runner.flush())
    assert [o.stamp for o in outputs] == [stamp for _, _, stamp in frames]
    for got, want in zip(outputs, expected):
        np.testing.assert_array_equal(got.disparity, want.disparity)
        assert got.mono_depth is not None and want.mono_depth is not None
        np.testing.assert_allclose(got.mono_depth, want.mono_depth, rtol=1e-6)
        assert got.mono_quality == pytest.approx(want.mono_quality, nan_ok=True)
        assert got.mode is want.mode and got.active_distance == pytest.approx(want.active_distance)
    assert pipeline.frames == sequential.frames == 12
    assert len(pipeline.replay) == len(sequential.replay)


def test_bad_frame_is_dropped_and_counted_without_touching_state():
    frames = _frames(5)
    pipeline = make_pipeline()
    left, right, _ = frames[2]
    frames[2] = (left, right[:, :100], 0.1)  # right image narrower than the left
    with ParallelFrames(pipeline, workers=2) as runner:
        outputs = [o for f in frames for o in runner.submit(*f)] + runner.flush()
        assert runner.dropped == 1 and "sizes differ" in runner.last_error
    assert [o.stamp for o in outputs] == pytest.approx([0.0, 0.05, 0.15, 0.2])
    assert pipeline.frames == 4


def test_in_flight_bounds_the_queue():
    pipeline = make_pipeline()
    with ParallelFrames(pipeline, workers=2, in_flight=2) as runner:
        for left, right, stamp in _frames(6):
            runner.submit(left, right, stamp)
            assert len(runner._pending) <= 2
    with pytest.raises(ValueError, match="in_flight"):
        ParallelFrames(pipeline, workers=3, in_flight=2)
