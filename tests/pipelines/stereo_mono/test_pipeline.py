"""StereoMonoPipeline end to end: per-frame outputs, learning, checkpoints, config, bad input, EuRoC."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
import torch

from robossl.data.datasets.euroc import EurocSequence
from robossl.pipelines.stereo_mono import FlightMode, StereoCalibration, StereoMonoConfig, StereoMonoPipeline

from .scenes import two_plane_pair

SMALL = {
    "student": {"input_height": 64, "input_width": 96, "width": 0.25},
    "trainer": {"batch_size": 4, "min_samples": 4, "publish_every_steps": 5},
    "switching": {"min_learning_frames": 4, "min_quality_count": 2},
    "replay_capacity": 16,
}


def make_pipeline(**overrides) -> StereoMonoPipeline:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = StereoMonoConfig.from_dict({**SMALL, **overrides})
    return StereoMonoPipeline(config, StereoCalibration.ideal(160, 120, focal_px=80.0, baseline_m=0.1))


def test_process_returns_stereo_mono_and_active_distance():
    pipeline = make_pipeline()
    left, right, truth = two_plane_pair()
    out = pipeline.process(left, right, stamp=1.5)
    assert out.disparity.shape == out.confidence.shape == out.stereo_depth.shape == (120, 160)
    assert out.mono_depth is not None and out.mono_depth.shape == (120, 160)
    assert out.mode is FlightMode.STEREO
    # central window is mostly the 0.8 m square in front of the 2 m background
    assert 0.75 < out.stereo_distance < 1.2
    assert out.active_distance == out.stereo_distance
    assert out.mono_distance == pytest.approx(2.0, rel=1e-3)  # untrained student predicts init depth
    # 2 m everywhere: exact on the background, 150 % off on the square (about a sixth of the labels)
    assert out.mono_absrel > 0.2 and out.mono_quality == pytest.approx(out.mono_absrel)
    assert len(pipeline.replay) == 1 and pipeline.frames_labelled == 1


def test_learning_improves_agreement_and_checkpoint_restores(tmp_path):
    pipeline = make_pipeline()
    scenes = [two_plane_pair(seed=s) for s in range(4)]
    for i, (left, right, _) in enumerate(scenes):
        pipeline.process(left, right, stamp=float(i))
    before = pipeline.process(*scenes[0][:2], stamp=5.0).mono_absrel
    metrics = pipeline.train_steps(60)
    assert len(metrics) == 60 and pipeline.trainer.slot.version >= 8
    after = pipeline.process(*scenes[0][:2], stamp=6.0)
    assert after.mono_absrel < 0.7 * before
    assert after.model_version == pipeline.trainer.slot.version
    pipeline.save(tmp_path / "stereo_mono.pt")
    restored = make_pipeline()
    restored.load(tmp_path / "stereo_mono.pt")
    assert len(restored.replay) == len(pipeline.replay)
    assert restored.trainer.steps == 60
    again = restored.process(*scenes[0][:2], stamp=7.0)
    np.testing.assert_allclose(again.mono_depth, after.mono_depth, rtol=1e-5)
    other = make_pipeline(student={"input_height": 32, "input_width": 64, "width": 0.25})
    with pytest.raises(ValueError, match="student input"):
        other.load(tmp_path / "stereo_mono.pt")


def assert_states_equal(a: Any, b: Any, where: str = "state") -> None:
    """Nested state dicts are identical: same keys, same values, tensors/arrays bit for bit."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_states_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_states_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def test_load_during_a_training_step_waits_for_the_step(tmp_path):
    """``~/load_model`` during training: the load waits for the step in progress, so the state afterwards
    equals a clean load of the same checkpoint (the step does not land on top of the loaded weights)."""
    pipeline = make_pipeline()
    for i, seed in enumerate(range(4)):
        pipeline.process(*two_plane_pair(seed=seed)[:2], stamp=float(i))
    pipeline.train_steps(3)
    checkpoint = tmp_path / "stereo_mono.pt"
    pipeline.save(checkpoint)
    pipeline.train_steps(2)  # the running pipeline has moved on from the checkpoint
    clean = make_pipeline()
    clean.load(checkpoint)

    entered, release = threading.Event(), threading.Event()
    real_step = pipeline.learner.step

    def held_step(batch: list[Any]) -> dict[str, float]:
        entered.set()  # inside the trainer's step, holding whatever it holds
        assert release.wait(10)
        return real_step(batch)

    pipeline.learner.step = held_step  # type: ignore[method-assign]
    stepper = threading.Thread(target=pipeline.train_steps, args=(1,))
    stepper.start()
    assert entered.wait(10)
    loader = threading.Thread(target=pipeline.load, args=(checkpoint,))
    loader.start()
    loader.join(0.5)
    load_waited = loader.is_alive()
    release.set()
    stepper.join(10)
    loader.join(10)
    assert load_waited, "load finished while a training step was in progress"
    assert pipeline.trainer.steps == clean.trainer.steps == 3
    assert_states_equal(pipeline.learner.state_dict(), clean.learner.state_dict(), "learner")
    assert_states_equal(pipeline.replay.state_dict(), clean.replay.state_dict(), "replay")
    published, reference = pipeline.trainer.slot.get()[0], clean.trainer.slot.get()[0]
    assert_states_equal(published.state_dict(), reference.state_dict(), "published model")


def test_onnxruntime_backend_matches_torch_after_hot_swap():
    torch_pipeline = make_pipeline()
    onnx_pipeline = make_pipeline(inference_backend="onnxruntime")
    scenes = [two_plane_pair(seed=s) for s in range(4)]
    for i, (left, right, _) in enumerate(scenes):
        torch_pipeline.process(left, right, stamp=float(i))
    torch_pipeline.train_steps(5, publish=True)
    onnx_pipeline.learner.load_state_dict(torch_pipeline.learner.state_dict())
    onnx_pipeline.trainer.slot.publish(onnx_pipeline.learner.inference_model())
    a = torch_pipeline.process(*scenes[1][:2], stamp=9.0)
    b = onnx_pipeline.process(*scenes[1][:2], stamp=9.0)
    assert b.model_version == 1
    assert not np.allclose(a.mono_depth, 2.0)  # trained: not the initial constant
    np.testing.assert_allclose(b.mono_depth, a.mono_depth, rtol=1e-3)


def test_background_learning_keeps_inference_running():
    # nice 0: at the default nice 19 the learner only gets what other processes of a shared test machine
    # leave, and this test is about inference keeping its rate, not about priorities (tests/online has those)
    trainer = {"batch_size": 4, "min_samples": 4, "publish_every_steps": 2, "cpu_fraction": 0.5}
    pipeline = make_pipeline(trainer={**trainer, "learner_niceness": 0})
    scenes = [two_plane_pair(seed=s) for s in range(4)]
    for i, (left, right, _) in enumerate(scenes):
        pipeline.process(left, right, stamp=float(i))
    pipeline.start_learning()
    try:
        start, frames = time.perf_counter(), 0
        while time.perf_counter() - start < 1.5:
            out = pipeline.process(*scenes[frames % 4][:2], stamp=10.0 + frames)
            frames += 1
    finally:
        pipeline.stop_learning()
    assert pipeline.trainer.steps > 2
    assert out.model_version >= 1
    assert frames / 1.5 > 10  # inference keeps a camera rate while training in the background


def test_set_calibration_rebuilds_geometry_and_keeps_the_learner():
    """A new calibration (here twice the baseline) changes stereo depth from the next frame on; what was
    learned (replay, counters, published model) stays."""
    pipeline = make_pipeline()
    left, right, _ = two_plane_pair()
    before = pipeline.process(left, right, stamp=0.0)
    pipeline.train_steps(0)
    version, labelled = pipeline.trainer.slot.version, pipeline.frames_labelled
    pipeline.set_calibration(StereoCalibration.ideal(160, 120, focal_px=80.0, baseline_m=0.2))
    assert pipeline.baseline_m == pytest.approx(0.2) and pipeline.focal_px == pytest.approx(80.0)
    after = pipeline.process(left, right, stamp=1.0)
    assert after.stereo_distance == pytest.approx(2.0 * before.stereo_distance, rel=1e-3)
    np.testing.assert_allclose(after.disparity, before.disparity, equal_nan=True)
    assert pipeline.frames_labelled == labelled + 1 and len(pipeline.replay) == 2
    assert pipeline.trainer.slot.version == version
    with pytest.raises(ValueError):
        pipeline.set_calibration(StereoCalibration.ideal(160, 120, focal_px=80.0, baseline_m=0.0))
    assert pipeline.baseline_m == pytest.approx(0.2)  # the rejected calibration changed nothing


def test_status_reports_mode_buffer_and_training():
    pipeline = make_pipeline()
    for i, seed in enumerate(range(4)):
        pipeline.process(*two_plane_pair(seed=seed)[:2], stamp=float(i))
    pipeline.train_steps(5)
    status = pipeline.status()
    assert status["mode"] == "stereo" and status["frames_learned"] == 4
    assert status["buffer_fill"] == pytest.approx(4 / 16)
    assert status["training_steps"] == 5 and status["model_version"] == 1
    assert status["trainer_running"] is False and "trainer_error" not in status
    assert "forfeited_steps" not in status  # free-running trainer


def test_bad_frames_raise_specific_errors():
    pipeline = make_pipeline()
    left, right, _ = two_plane_pair()
    with pytest.raises(ValueError, match="sizes differ"):
        pipeline.process(left, right[:, :100], 0.0)
    with pytest.raises(ValueError, match="calibration is for 160x120"):
        pipeline.process(left[:60], right[:60], 0.0)
    with pytest.raises(ValueError, match="must be"):
        pipeline.process(np.zeros((120, 160, 4), np.uint8), right, 0.0)
    assert pipeline.frames == 0


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['blocksize'\] in stereo_mono.sgbm"):
        StereoMonoConfig.from_dict({"sgbm": {"blocksize": 5}})
    with pytest.raises(ValueError, match="unknown key"):
        StereoMonoConfig.from_dict({"replay": 10})
    config = StereoMonoConfig.from_dict({"sgbm": {"block_size": 7}, "replay_policy": "diversity"})
    assert config.sgbm.block_size == 7 and config.sgbm.num_disparities == 32


def test_real_euroc_frames_learn_with_replay(real_data):
    """Real EuRoC V1_01 frames: rectified SGBM gives dense confident depth; a few training steps on the
    first frames improve mono-vs-stereo agreement on a later frame."""
    sequence = EurocSequence(real_data("stereo/euroc_v1_01_easy_micro"))
    calibration = StereoCalibration.from_euroc(sequence.left_sensor, sequence.right_sensor)
    config = StereoMonoConfig.from_dict({**SMALL, "rectified_width": 188, "replay_policy": "diversity"})
    pipeline = StereoMonoPipeline(config, calibration)
    outputs = [
        pipeline.process(f.left, f.right, f.stamp_ns * 1e-9) for f in (sequence[i] for i in range(0, 40, 4))
    ]
    assert all(o.disparity.shape == (120, 188) for o in outputs)
    assert np.mean([np.mean(o.confidence > 0.3) for o in outputs]) > 0.15
    # the excerpt looks at a room a few metres across
    assert 1.0 < np.nanmedian([o.stereo_distance for o in outputs]) < 6.0
    probe = sequence[60]
    before = pipeline.process(probe.left, probe.right, 100.0).mono_absrel
    pipeline.train_steps(30, publish=True)
    after = pipeline.process(probe.left, probe.right, 101.0).mono_absrel
    assert after < before
