"""The demo prepares its stages' pretrained starts side by side (robossl_ros.demo.runner.prepare_all)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robossl_ros.demo.runner import DemoConfig, prepare_all
from tests.sim.prepare_stage_stub import StubStage

STUB = "tests.sim.prepare_stage_stub"


def stages(*configs: StubStage) -> dict[str, tuple[str, StubStage]]:
    return {config.name: (STUB, config) for config in configs}


def test_two_workers_prepare_stages_at_the_same_time_in_other_processes(tmp_path: Path) -> None:
    config = DemoConfig(cache_dir=tmp_path, prepare_workers=2)
    starts = prepare_all(config, stages(StubStage("drone", 2.0), StubStage("rover", 2.0)))
    drone, rover = starts["drone"], starts["rover"]
    assert {drone["pid"], rover["pid"]}.isdisjoint({os.getpid()})
    assert drone["pid"] != rover["pid"]
    # side by side: each began before the other ended
    assert drone["began"] < rover["ended"] and rover["began"] < drone["ended"]


def test_one_worker_prepares_in_process_one_after_the_other(tmp_path: Path) -> None:
    config = DemoConfig(cache_dir=tmp_path, prepare_workers=1)
    starts = prepare_all(config, stages(StubStage("drone", 0.2), StubStage("har", 0.2)))
    assert starts["drone"]["pid"] == starts["har"]["pid"] == os.getpid()
    assert starts["drone"]["ended"] <= starts["har"]["began"]


def test_a_failed_preparation_raises_its_own_error(tmp_path: Path) -> None:
    config = DemoConfig(cache_dir=tmp_path, prepare_workers=2)
    with pytest.raises(ValueError, match="rover: no training logs"):
        prepare_all(config, stages(StubStage("drone", 0.2), StubStage("rover", 0.2, fail=True)))


def test_no_pretraining_prepares_nothing(tmp_path: Path) -> None:
    config = DemoConfig(cache_dir=tmp_path, pretrained=False)
    assert prepare_all(config, stages(StubStage("drone", 0.0, fail=True))) == {}
