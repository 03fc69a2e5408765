"""The drone stage's offline pretraining: a real mcap log of stereo flights in training rooms, the student
pretrained from that log through the replay path, a checkpoint in the node's format, the cache reused and
invalidated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from robossl.data.bags import iter_messages  # noqa: E402
from robossl.data.streams import stereo_pairs  # noqa: E402
from robossl.online.checkpoint import load_checkpoint  # noqa: E402
from robossl.pipelines.stereo_mono.config import StereoMonoConfig  # noqa: E402
from robossl.pipelines.stereo_mono.learner import MonoDepthLearnerConfig  # noqa: E402
from robossl.pipelines.stereo_mono.log_training import calibration_from_log  # noqa: E402
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline  # noqa: E402
from robossl_ros.demo import drone_stage  # noqa: E402
from robossl_ros.demo.drone_pretraining import LOG_TOPICS, DronePretrainConfig  # noqa: E402

TINY = DronePretrainConfig(rooms=2, seconds_per_room=1.6, steps=3)  # 8 frames per room


def _config(**pretrain: float) -> drone_stage.DroneStageConfig:
    settings = {**TINY.__dict__, **pretrain}
    return drone_stage.DroneStageConfig(pretrain=DronePretrainConfig(**settings))  # type: ignore[arg-type]


def _prepare(config: drone_stage.DroneStageConfig, cache: Path) -> tuple[object, list[float]]:
    fractions: list[float] = []
    start = drone_stage.prepare(config, cache, lambda fraction, status: fractions.append(fraction))
    return start, fractions


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[drone_stage.DroneStageConfig, Path, object]:
    cache = tmp_path_factory.mktemp("cache")
    config = _config()
    start, fractions = _prepare(config, cache)
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    return config, cache, start


def test_prepare_records_the_training_rooms_as_a_log(prepared) -> None:
    from robossl_sim.worlds.drone_room import DroneRoom

    config, _, start = prepared
    bag = start.checkpoint.parent / "logs"
    assert (bag / "metadata.yaml").is_file()
    pairs = list(stereo_pairs(bag, LOG_TOPICS.left_image, LOG_TOPICS.right_image))
    assert len(pairs) == 2 * 8 == start.details["frames_recorded"] == start.details["pairs_replayed"]
    infos = [m for m in iter_messages(bag, [LOG_TOPICS.right_info])]
    assert len(infos) == len(pairs)
    # The log starts with the first TRAINING room's start view (the live stage flies held-out rooms).
    with DroneRoom(0, "train") as room:
        np.testing.assert_array_equal(pairs[0][1], room.render().left)
    with DroneRoom(config.seed, "heldout") as room:
        assert not np.array_equal(pairs[0][1], room.render().left)
    # The recorded CameraInfos give back the room's stereo geometry.
    calibration = calibration_from_log(bag, LOG_TOPICS)
    with DroneRoom(0, "train") as room:
        assert calibration.baseline_m == pytest.approx(room.calibration.baseline_m)
        assert calibration.image_size == room.calibration.image_size


def test_checkpoint_has_the_node_format_and_student(prepared) -> None:
    config, _, start = prepared
    state = load_checkpoint(start.checkpoint)
    assert state["steps"] == 3 and "replay" not in state
    assert state["student"] == {"input_height": config.student_height, "input_width": config.student_width}
    assert state["frames_labelled"] == start.details["frames_labelled"] > 0
    # Pretraining decays its own rate; the node learns on at the learner's online rate.
    rates = {g["lr"] for g in state["learner"]["optimizer"]["param_groups"]}
    assert rates == {MonoDepthLearnerConfig().learning_rate}
    # The pipeline the node builds from node_parameters loads it.
    params = drone_stage.node_parameters(config, str(start.checkpoint))["stereo_mono_node"]
    assert params["student_height"] == config.student_height
    assert params["train_steps_per_input"] == config.train_steps_per_frame
    settings = drone_stage.pipeline_settings(config)
    from robossl_sim.worlds.drone_room import DroneRoom

    with DroneRoom(0, "heldout") as room:
        pipeline = StereoMonoPipeline(StereoMonoConfig.from_dict(settings), room.calibration)
    pipeline.load(start.checkpoint)
    assert pipeline.trainer.steps == 3


def test_second_prepare_reuses_the_cache_and_changed_settings_do_not(prepared) -> None:
    config, cache, first = prepared
    mtime = first.checkpoint.stat().st_mtime_ns
    again, _ = _prepare(config, cache)
    assert again.cached and not first.cached
    assert again.checkpoint == first.checkpoint and again.checkpoint.stat().st_mtime_ns == mtime
    assert again.description == first.description and again.details == first.details
    # Another held-out seed starts from the same pretraining: the seed is not in the key.
    other_seed = drone_stage.DroneStageConfig(seed=5, pretrain=config.pretrain)
    assert drone_stage.prepare(other_seed, cache, lambda f, s: None).checkpoint == first.checkpoint
    # More steps: another folder, made anew.
    changed, _ = _prepare(_config(steps=4), cache)
    assert not changed.cached and changed.checkpoint.parent != first.checkpoint.parent
    assert load_checkpoint(changed.checkpoint)["steps"] == 4


def test_an_interrupted_preparation_is_rebuilt(tmp_path: Path) -> None:
    config = _config(rooms=1, seconds_per_room=3.2)
    start, _ = _prepare(config, tmp_path)
    folder = start.checkpoint.parent
    (folder / "done.json").unlink()  # as if killed before the end
    start.checkpoint.write_bytes(b"half written")
    again, _ = _prepare(config, tmp_path)
    assert not again.cached
    assert load_checkpoint(again.checkpoint)["steps"] == 3
    assert json.loads((folder / "done.json").read_text())["details"]["frames_recorded"] == 16
