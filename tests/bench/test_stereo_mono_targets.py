"""bench/stereo_mono.py's declared targets: the paired-by-room verdict and every check, as written to the JSON.

The flights are replaced by hand-written per-room summaries (a real closed-loop flight takes minutes); the
pairing, the intervals, the target declaration and the results file are the bench's own code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

NAMES = [
    "persistent collisions/100m <= stereo_only",
    "persistent - stereo_only collisions/100m: 95 % t upper bound <= 0 (no worse)",
    "persistent mono time >= 0.70",
    "mono_only mono AbsRel <= 0.25",
    "persistent mono AbsRel <= 0.25",
    "SGBM 376x240 Hz >= 30",
    "student ONNX 128x160 Hz >= 60",
    "pipeline Hz while training >= camera Hz",
    "Middlebury bad3 <= 0.20",
]
PAIRED = NAMES[1]
# stereo_only flights never run the student: their mono AbsRel is NaN, as in the real bench
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice")


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """bench/stereo_mono.py imported as the script imports its siblings (bench/ on sys.path)."""
    sys.path.insert(0, str(BENCH))
    try:
        import stereo_mono

        yield stereo_mono
    finally:
        sys.path.remove(str(BENCH))


def summary(collisions: int, distance_m: float, mono: float, absrel: float) -> dict[str, float]:
    return {
        "collisions": float(collisions),
        "distance_m": distance_m,
        "collisions_per_100m": 100.0 * collisions / distance_m,
        "mono_time_fraction": mono,
        "mono_absrel": absrel,
        "stereo_absrel": 0.05,
        "transitions": 0.0,
        "collisions_on_mono": 0.0,
        "collisions_stereo_warned": 0.0,
    }


def flights(persistent_collisions: list[int]) -> list[dict[str, Any]]:
    """stereo_only 1 collision per 100 m room, mono_only 30, persistent as given; 100 m flown everywhere."""
    runs = []
    for room, extra in enumerate(persistent_collisions):
        for condition, collisions, mono, absrel in (
            ("stereo_only", 1, 0.0, float("nan")),
            ("mono_only", 30, 1.0, 1.2),
            ("persistent", extra, 0.75, 0.17),
        ):
            runs.append(
                {
                    "condition": condition,
                    "seed": room,
                    "wall_s": 1.0,
                    "summary": summary(collisions, 100.0, mono, absrel),
                }
            )
    return runs


SPEED = {"sgbm_hz_376x240": 36.5, "student_onnx_hz_128x160": 166.0, "pipeline_hz_376x240_while_training": 18.6, "camera_hz": 20.0}  # fmt: skip
MIDDLEBURY = {"bad3_valid": 0.051}


def declared(bench: ModuleType, persistent_collisions: list[int]) -> dict[str, dict[str, Any]]:
    runs = flights(persistent_collisions)
    _, paired = bench.paired_by_room(runs)
    return {t.name: t.as_dict() for t in bench.targets(bench.aggregate(runs), paired, SPEED, MIDDLEBURY)}


def test_every_check_is_declared_with_its_value_and_verdict(bench: ModuleType, tmp_path: Path) -> None:
    runs = flights([0, 2, 1, 1, 0, 2, 1, 1, 0, 2])  # persistent - stereo_only per room: -1, +1, 0, 0, ...
    results = bench.aggregate(runs)
    _, paired = bench.paired_by_room(runs)
    path = bench.write_results(
        "stereo_mono",
        results,
        targets=bench.targets(results, paired, SPEED, MIDDLEBURY),
        results_dir=tmp_path,
    )
    entries = json.loads(path.read_text())["targets"]
    assert list(entries) == NAMES
    values = {name: (e["value"], e["target"], e["met"]) for name, e in entries.items()}
    assert values["persistent collisions/100m <= stereo_only"] == (
        pytest.approx(1.0),
        pytest.approx(1.0),
        True,
    )
    assert values["persistent mono time >= 0.70"] == (pytest.approx(0.75), 0.70, True)
    assert values["mono_only mono AbsRel <= 0.25"] == (pytest.approx(1.2), 0.25, False)
    assert values["persistent mono AbsRel <= 0.25"] == (pytest.approx(0.17), 0.25, True)
    assert values["SGBM 376x240 Hz >= 30"] == (36.5, 30.0, True)
    assert values["student ONNX 128x160 Hz >= 60"] == (166.0, 60.0, True)
    assert values["pipeline Hz while training >= camera Hz"] == (18.6, 20.0, False)
    assert values["Middlebury bad3 <= 0.20"] == (0.051, 0.20, True)
    # the differences -1, +1, 0, 0 ... (t over 10 rooms): mean 0, the interval covers 0 and reaches above it
    paired_entry = entries[PAIRED]
    t = paired["persistent_minus_stereo_only/collisions_per_100m"]["t"]
    assert t["mean"] == pytest.approx(0.0) and t["units"] == 10 and t["high"] > 0.5
    assert paired_entry["value"] == pytest.approx(t["high"]) and paired_entry["target"] == 0.0
    assert paired_entry["met"] is False and paired_entry["ratio"] is None
    assert paired_entry["verdict"] == "no detectable difference"
    assert paired_entry["interval"] == f"+0.00 [{t['low']:+.2f}, {t['high']:+.2f}] over 10 rooms"
    assert paired_entry["source"] == "issue #17"


def test_paired_verdict_follows_the_interval(bench: ModuleType) -> None:
    fewer = declared(bench, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])[PAIRED]  # every room one collision fewer
    more = declared(bench, [3, 2, 3, 2, 3, 2, 3, 2, 3, 2])[PAIRED]  # every room 1-2 more
    assert (fewer["verdict"], fewer["met"]) == ("persistent significantly fewer", True)
    assert (more["verdict"], more["met"]) == ("persistent significantly more", False)
    assert fewer["interval"].startswith("-1.00 [") and more["interval"].startswith("+1.50 [")


def test_details_cannot_replace_an_entry_key(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"details may not replace the entry's own keys \['met'\]"):
        bench.Target("p99", 1.0, "<=", 2.0, details={"met": True})
