"""bench/ros_latency.py and bench/inference_first.py: the issue #22 ratios and their declared targets.

The node runs are replaced by hand-written latencies and step rates (a real run takes minutes); the ratio
arithmetic, the target declaration and the feeders' output matching are the benches' own code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def benches() -> Iterator[tuple[ModuleType, ModuleType, ModuleType]]:
    sys.path.insert(0, str(BENCH))
    try:
        import inference_first
        import ros_latency
        import ros_latency_feeders

        yield ros_latency, inference_first, ros_latency_feeders
    finally:
        sys.path.remove(str(BENCH))


def node_result(p99: float, processing: float, steps: float, alone: float) -> dict[str, float | None]:
    return {
        "p99_over_processing": round(p99 / processing, 3),
        "learner_rate_fraction": round(steps / alone, 3),
    }


def test_targets_per_node_and_under_demo_load(benches) -> None:
    ros_latency, _, _ = benches
    results = {
        "alone": {"stereo_mono_node": node_result(30.0, 25.0, 6.0, 10.0)},  # 1.2x, 0.6: both met
        "demo_load": {"stereo_mono_node": node_result(60.0, 25.0, 2.0, 10.0)},  # 2.4x, 0.2: both missed
    }
    targets = {t.name: t for t in ros_latency.targets_of(results)}
    assert targets["stereo_mono_node p99 / processing"].value == pytest.approx(1.2)
    assert targets["stereo_mono_node p99 / processing"].met is True
    assert targets["stereo_mono_node learner rate fraction"].met is True
    assert targets["stereo_mono_node under demo load p99 / processing"].met is False
    assert targets["stereo_mono_node under demo load learner rate fraction"].value == pytest.approx(0.2)
    assert targets["stereo_mono_node under demo load learner rate fraction"].met is False
    assert {t.threshold for t in targets.values()} == {1.5, 0.5}


def test_inference_first_summary_ratios(benches) -> None:
    _, inference_first, _ = benches
    out = {"latencies": [0.010] * 99 + [0.040], "skipped": 3, "wall_s": 5.0, "steps_per_s": 4.0}
    row = inference_first.summary(out, processing_s=0.010, unthrottled=8.0)
    assert row["p50_ms"] == pytest.approx(10.0)
    assert row["p99_ms"] == pytest.approx(10.0 + 0.01 * 30.0, abs=0.01)  # numpy's linear interpolation
    assert row["p99_over_processing"] == pytest.approx(1.03, abs=0.001)
    assert row["learner_rate_fraction"] == pytest.approx(0.5)
    assert row["skipped_stale"] == 3 and row["frames"] == 100


def test_feeder_counts_only_outputs_of_inputs_sent_after_mark(benches) -> None:
    _, _, feeders = benches
    feeder = feeders.Feeder()
    feeder.sent = [1_000_000_000, 2_000_000_000]
    feeder.mark()
    feeder.sent += [3_000_000_000, 4_000_000_000, 5_000_000_000]
    feeder.received = {1_000_000_000: 1.5, 3_000_000_000: 3.020, 4_000_000_000: 4.010}
    latencies, missing = feeder.latencies_ms()
    assert latencies == pytest.approx([20.0, 10.0])
    assert missing == 1  # stamp 5 s produced no output; stamp 1 s predates the mark
