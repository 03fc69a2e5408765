"""bench/replay.py's passes on a small synthetic log: the concurrent first pass (reader thread, SGBM worker
threads, training as labels arrive) caches exactly the labels of the sequential labelling, in log order,
and the cached epoch reads them back (a cache miss there fails the bench)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.label_cache import stereo_labels
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics
from robossl.scale.stereo_retrain import teacher_config
from tests.data.stereo_log import write_stereo_log

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch) -> Iterator[ModuleType]:
    """bench/replay.py as the script imports it, on the synthetic log's topics and a small student."""
    sys.path.insert(0, str(BENCH))
    try:
        import replay
    finally:
        sys.path.remove(str(BENCH))
    topics = StereoLogTopics()
    small = {"student": {"input_height": 64, "input_width": 96, "width": 0.5}}
    monkeypatch.setattr(replay, "LEFT", topics.left_image)
    monkeypatch.setattr(replay, "RIGHT", topics.right_image)
    monkeypatch.setattr(replay, "topics", lambda: topics)
    monkeypatch.setattr(replay, "config", lambda: teacher_config(StereoMonoConfig.from_dict(small)))
    yield replay


def test_the_concurrent_first_pass_caches_the_sequential_labels(bench, tmp_path: Path) -> None:
    log = tmp_path / "flight"
    write_stereo_log(log, frames=10)
    first = bench.first_pass(log, batch=4, workers=2, torch_threads=1)
    assert (first["frames"], first["steps"]) == (10, 3)  # 4 + 4 + a last batch of 2
    cached = bench.cached_epoch(log, batch=4, torch_threads=1)
    assert (cached["frames"], cached["steps"]) == (10, 3)
    labels, hit = stereo_labels(bench.new_pipeline(log), log, bench.topics())
    fresh, recomputed = stereo_labels(bench.new_pipeline(log), log, bench.topics(), recompute=True)
    assert hit and not recomputed
    assert np.all(np.diff(labels.stamps_ns) > 0)
    for name, array in fresh.arrays().items():
        np.testing.assert_array_equal(getattr(labels, name), array)
    floor = bench.measure_floor(log, batch=4)
    assert floor["frames"] == 10 and floor["floor_cpu_ms"] == pytest.approx(
        sum(floor[f"{k}_cpu_ms"] for k in ("decode", "rectify", "teacher", "student_step"))
    )
