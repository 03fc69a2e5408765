"""Cached SGBM labels of a stereo log: same replay contents as labelling live, invalidated by teacher
settings (the issue #19 acceptance test) and by the log, damaged files recomputed."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from robossl.data.teacher_cache import TeacherCacheWarning, cache_paths
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.label_cache import fill_replay, stereo_labels, teacher_key
from robossl.pipelines.stereo_mono.log_training import StereoLogTopics, calibration_from_log, label_log
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline
from tests.data.stereo_log import BASELINE_M, FOCAL_PX, write_stereo_log

TEACHER_ONLY = {"switching": {"policy": "stereo_only"}, "run_mono_in_stereo_mode": False}


def pipeline_for(log: Path, topics: StereoLogTopics, **settings) -> StereoMonoPipeline:
    config = StereoMonoConfig.from_dict({**TEACHER_ONLY, **settings})
    return StereoMonoPipeline(config, calibration_from_log(log, topics))


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, StereoLogTopics]:
    path = tmp_path / "flight"
    return path, write_stereo_log(path, frames=6)


def count_teacher_calls(pipeline: StereoMonoPipeline) -> list[int]:
    calls = [0]
    inner = pipeline.teacher

    def counted(left, right):
        calls[0] += 1
        return inner(left, right)

    pipeline.teacher = counted  # type: ignore[assignment]
    return calls


def test_cached_labels_fill_the_replay_exactly_as_live_labelling(log) -> None:
    path, topics = log
    live = pipeline_for(path, topics, min_confident_fraction=0.93, sample_every=2)
    label_log(live, path, topics)
    first = pipeline_for(path, topics, min_confident_fraction=0.93, sample_every=2)
    labels, hit = stereo_labels(first, path, topics)
    second = pipeline_for(path, topics, min_confident_fraction=0.93, sample_every=2)
    calls = count_teacher_calls(second)
    cached, hit_again = stereo_labels(second, path, topics)
    assert (hit, hit_again, calls[0]) == (False, True, 0)
    assert len(cached) == 6 and fill_replay(second, cached) == len(live.replay) > 0
    assert (second.frames, second.frames_labelled) == (live.frames, live.frames_labelled)
    # the log's depths: focal * baseline / disparity, disparities 8..12 px (frame 0: 8 px -> 1.25 m)
    median = np.median(cached.depth[0][cached.depth[0] > 0].astype(np.float32))
    assert median == pytest.approx(FOCAL_PX * BASELINE_M / 8, rel=0.02)
    assert second.replay.seen == live.replay.seen
    for mine, theirs in zip(second.replay.state_dict()["samples"], live.replay.state_dict()["samples"]):
        for name in ("image", "depth", "confidence"):
            assert mine[name].dtype == theirs[name].dtype
            np.testing.assert_array_equal(mine[name].numpy(), theirs[name].numpy())


def test_changing_the_teacher_config_invalidates_the_cache(log) -> None:
    path, topics = log
    labels, _ = stereo_labels(pipeline_for(path, topics), path, topics)
    other = pipeline_for(path, topics, sgbm={"block_size": 9})
    calls = count_teacher_calls(other)
    relabelled, hit = stereo_labels(other, path, topics)
    assert (hit, calls[0]) == (False, 6)
    assert not np.array_equal(relabelled.confidence, labels.confidence)  # really the other teacher's output
    # both entries are kept: going back to the first config is a hit with its own labels
    again, hit = stereo_labels(pipeline_for(path, topics), path, topics)
    assert hit
    np.testing.assert_array_equal(again.confidence, labels.confidence)
    # settings outside the teacher (what is sampled, the learner) do not invalidate
    _, hit = stereo_labels(pipeline_for(path, topics, min_confident_fraction=0.5), path, topics)
    assert hit
    key_a = teacher_key(pipeline_for(path, topics, confidence_threshold=0.3), topics)
    key_b = teacher_key(pipeline_for(path, topics, confidence_threshold=0.4), topics)
    assert key_a.digest() != key_b.digest()


def test_a_rerecorded_log_is_relabelled(log) -> None:
    path, topics = log
    before, _ = stereo_labels(pipeline_for(path, topics), path, topics)
    shutil.rmtree(path)
    write_stereo_log(path, frames=6, seed=1)  # the same name and size, other images
    after, hit = stereo_labels(pipeline_for(path, topics), path, topics)
    assert not hit and not np.array_equal(after.image, before.image)


def test_a_damaged_label_file_is_recomputed_and_gives_the_same_labels(log) -> None:
    path, topics = log
    pipeline = pipeline_for(path, topics)
    good, _ = stereo_labels(pipeline, path, topics)
    cache = cache_paths(path, teacher_key(pipeline, topics))[0]
    data = bytearray(cache.read_bytes())
    data[len(data) // 2] ^= 0x55
    cache.write_bytes(bytes(data))
    with pytest.warns(TeacherCacheWarning, match="recomputing"):
        again, hit = stereo_labels(pipeline, path, topics)
    assert not hit
    np.testing.assert_array_equal(again.depth, good.depth)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, hit = stereo_labels(pipeline, path, topics)
    assert hit


def test_recompute_runs_the_teacher_again(log) -> None:
    path, topics = log
    stereo_labels(pipeline_for(path, topics), path, topics)
    pipeline = pipeline_for(path, topics)
    calls = count_teacher_calls(pipeline)
    _, hit = stereo_labels(pipeline, path, topics, recompute=True)
    assert (hit, calls[0]) == (False, 6)
