"""The bench harness (bench/_common.py): declared targets -> table rows and JSON entries, results file, lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench._common import Target, bench_lock, target_rows, targets_json, write_results


def test_target_direction_ratio_and_unmeasured() -> None:
    latency = Target("p99 (ms)", 45.0, "<=", 60.0, "issue #7")
    speedup = Target("speedup (x)", 1.2, ">=", 1.5)
    strict = Target("margin (pts)", 0.0, ">", 0.0)
    missing = Target("recovery (s)", None, "<=", 1.0)
    assert (latency.met, speedup.met, strict.met, missing.met) == (True, False, False, None)
    assert latency.ratio == pytest.approx(0.75) and speedup.ratio == pytest.approx(0.8)
    assert strict.ratio is None and missing.ratio is None  # no ratio to a zero threshold or a missing value
    assert [row["met"] for row in target_rows([latency, speedup, missing])] == ["yes", "NO", "n/a"]


def test_targets_json_entries() -> None:
    entries = targets_json([Target("drops", 0, "==", 0, "issue #7"), Target("x real time", 12.5, ">=", 10.0)])
    assert entries == {
        "drops": {"value": 0, "op": "==", "target": 0, "ratio": None, "met": True, "source": "issue #7"},
        "x real time": {"value": 12.5, "op": ">=", "target": 10.0, "ratio": 1.25, "met": True, "source": ""},
    }


def test_bad_op_and_repeated_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="op must be one of"):
        Target("p99", 1.0, "=<", 2.0)
    with pytest.raises(ValueError, match="repeated: \\['p99'\\]"):
        targets_json([Target("p99", 1.0, "<=", 2.0), Target("p99", 3.0, "<=", 2.0)])


def test_results_file_has_header_results_and_targets(tmp_path: Path) -> None:
    path = write_results(
        "demo", {"fps": 31.0}, targets=[Target("fps", 31.0, ">=", 30.0)], results_dir=tmp_path, threads=1
    )
    payload = json.loads(path.read_text())
    assert path == tmp_path / "demo.json"
    assert list(payload)[:4] == ["benchmark", "machine", "date", "commit"]
    assert payload["benchmark"] == "demo" and payload["results"] == {"fps": 31.0} and payload["threads"] == 1
    assert payload["targets"]["fps"]["met"] is True and payload["targets"]["fps"]["ratio"] == pytest.approx(
        31 / 30
    )
    assert payload["machine"]["cores"] >= 1


def test_bench_lock_excludes_another_process(tmp_path: Path) -> None:
    """A second process blocks on the lock until the first releases it (real flock, two processes)."""
    lock = tmp_path / "bench.lock"
    waiter = (
        "import sys, time; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
        "from bench._common import bench_lock\n"
        "with bench_lock(Path(sys.argv[1])): print(time.time())"
    )
    root = str(Path(__file__).resolve().parents[2])
    with bench_lock(lock):
        child = subprocess.Popen(
            [sys.executable, "-c", waiter, str(lock), root], stdout=subprocess.PIPE, text=True
        )
        time.sleep(1.0)
        assert child.poll() is None  # still waiting for the lock
        released = time.time()
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and float(out) >= released  # it got the lock only after we let go
