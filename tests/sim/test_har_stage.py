"""The HAR demo stage's pretrained start: logs recorded as a rosbag2, pretraining read back from the bag, a
checkpoint in har_node's own format, cached by settings; and the figure the demo reports."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from robossl.data.streams import imu_arrays
from robossl.online import BackgroundTrainer
from robossl.pipelines.collossl import ColloSSLOnlineLearner
from robossl_ros.demo.har_stage import (
    HarStageConfig,
    learner_config,
    macro_f1,
    make_stream,
    node_parameters,
    prepare,
)

TINY = HarStageConfig(pretrain_steps=3, log_seconds=20.0)


def _quiet(fraction: float, status: str) -> None:
    pass


def test_prepare_pretrains_from_a_recorded_bag_and_reuses_the_cache(tmp_path: Path) -> None:
    first = prepare(TINY, tmp_path, _quiet)
    assert not first.cached and first.checkpoint.is_file()
    assert first.checkpoint.parent.parent == tmp_path and first.checkpoint.parent.name.startswith("har-")
    # the logs: one Imu topic per device, 20 s at 32 Hz, accelerometer in linear_acceleration
    stream = make_stream(HarStageConfig(stream_seconds=12.0))
    logs = first.checkpoint.parent / "logs"
    for name in stream.streams:
        imu = imu_arrays(logs, f"/{name}/imu")
        assert len(imu) == 640 and imu.dropped == 0
    har_node = node_parameters(stream, "", "", TINY)["har_node"]
    hop = har_node["window_s"] - har_node["overlap_s"]
    expected_windows = int((20.0 - har_node["window_s"]) / hop) + 1
    assert first.details["log_messages"] == 4 * 640
    assert expected_windows - 1 <= first.details["log_windows"] <= expected_windows
    assert first.details["pretrain_steps"] == 3

    # har_node's format: the learner the node builds from the demo's parameters loads it, replay empty
    learner = ColloSSLOnlineLearner(learner_config(har_node))
    trainer = BackgroundTrainer(learner, learner.replay)
    trainer.load(str(first.checkpoint))
    assert trainer.steps == learner.steps == 3 and len(learner.replay) == 0
    assert learner.stats["windows"] == 0  # the node starts a new window grid on its live stream

    again = prepare(TINY, tmp_path, _quiet)
    assert again.cached and again.checkpoint == first.checkpoint
    assert again.description == first.description and again.details == first.details
    # another setting, another folder; an interrupted preparation (no done.json) is made again
    other = prepare(HarStageConfig(pretrain_steps=4, log_seconds=20.0), tmp_path, _quiet)
    assert not other.cached and other.checkpoint.parent != first.checkpoint.parent
    (first.checkpoint.parent / "done.json").unlink()
    assert not prepare(TINY, tmp_path, _quiet).cached
    # the live stream's seed does not enter: every seed starts from the same checkpoint
    assert prepare(HarStageConfig(seed=5, pretrain_steps=3, log_seconds=20.0), tmp_path, _quiet).cached


def test_macro_f1_is_sklearns_over_the_classes_that_occur() -> None:
    rng = np.random.default_rng(0)
    true, predicted = rng.integers(1, 5, 200), rng.integers(0, 6, 200)
    pairs = [(float(i), int(t), int(p)) for i, (t, p) in enumerate(zip(true, predicted))]
    expected = f1_score(true, predicted, labels=sorted(set(true)), average="macro", zero_division=0)
    assert macro_f1(pairs) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(macro_f1([]))


def test_node_parameters_carry_the_lockstep_budget_and_check_the_anchor() -> None:
    stream = make_stream(HarStageConfig(stream_seconds=12.0))
    har_node = node_parameters(stream, "/dev/pts/9", "m.pt", HarStageConfig(train_steps_per_window=5))[
        "har_node"
    ]
    assert har_node["train_steps_per_window"] == har_node["hot_swap_every_steps"] == 5
    assert har_node["anchor_device"] in har_node["device_names"]
    with pytest.raises(ValueError, match="anchor_device 'wrist'"):
        node_parameters(stream, "", "", HarStageConfig(anchor_device="wrist"))


@pytest.mark.ros
def test_har_node_starts_from_the_prepared_checkpoint(tmp_path: Path) -> None:
    from tests.ros_nodes.ros_harness import node_log, start_node, stop_node

    start = prepare(TINY, tmp_path / "cache", _quiet)
    model = tmp_path / "har.pt"
    shutil.copyfile(start.checkpoint, model)
    stream = make_stream(HarStageConfig(stream_seconds=12.0))
    har_node = node_parameters(stream, "", str(model), TINY)["har_node"]
    proc = start_node("har_node", tmp_path, har_node)
    try:
        deadline = time.monotonic() + 60.0
        while "loaded model" not in node_log(tmp_path, "har_node") and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        rc = stop_node(proc)
    log = node_log(tmp_path, "har_node")
    assert rc == 0 and f"loaded model from {model} (3 steps)" in log, log
