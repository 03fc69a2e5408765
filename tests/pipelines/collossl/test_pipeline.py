"""ColloSSLPipeline: lock-step learning per window, prediction from the hot-swapped model, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robossl.online import TrainerConfig
from robossl.pipelines.collossl.online import OnlineLearnerConfig
from robossl.pipelines.collossl.pipeline import ColloSSLPipeline
from tests.pipelines.collossl.synthetic import DEVICE_GAINS, make_recording

torch.set_num_threads(1)
DEVICES = tuple(DEVICE_GAINS)


def _pipeline(steps_per_input: int = 0) -> ColloSSLPipeline:
    config = OnlineLearnerConfig(
        device_names=DEVICES, anchor_device="wrist", channels=4, num_classes=3, min_windows=8, batch_size=8
    )
    trainer = TrainerConfig(
        batch_size=8, min_samples=8, publish_every_steps=5, steps_per_input=steps_per_input
    )
    return ColloSSLPipeline(config, trainer)


def _feed(pipeline: ColloSSLPipeline, seconds: float, chunk: int = 16) -> int:
    rec = make_recording("s1", seconds=seconds, seed=3)
    stamps = rec.times() + 100.0
    windows = 0
    for start in range(0, rec.num_samples, chunk):
        part = slice(start, start + chunk)
        for name in DEVICES:
            windows += pipeline.add_samples(name, stamps[part], rec.devices[name][part])
        pipeline.add_labels(stamps[part][:1], rec.labels[part][:1])
    return windows


def test_lockstep_trains_exactly_the_granted_steps_per_window() -> None:
    pipeline = _pipeline(steps_per_input=2)
    pipeline.start_learning()
    try:
        windows = _feed(pipeline, seconds=12.0)
    finally:
        pipeline.stop_learning()
    trainer = pipeline.trainer
    assert windows == pipeline.learner.stats["windows"] > 8
    # every window granted 2 steps: trained once the replay held min_samples, forfeited before
    assert trainer.steps + trainer.forfeited_steps == 2 * windows
    assert trainer.steps >= 2 * (windows - 8)
    status = pipeline.status()
    assert status["training_steps"] == trainer.steps and status["mode"] == "stopped"
    assert status["windows"] == windows and "trainer_error" not in status


def test_predict_at_uses_the_hot_swapped_model_on_the_last_window() -> None:
    pipeline = _pipeline()
    assert pipeline.predict_at(100.0) is None  # no anchor samples yet
    _feed(pipeline, seconds=6.0)
    pipeline.trainer.train_steps(5)  # publishes (publish_every_steps=5)
    end = 100.0 + 5.0
    prediction = pipeline.predict_at(end)
    assert prediction is not None
    # the same window by hand: the anchor's samples on the grid ending at `end`, normalised, the published model
    rec = make_recording("s1", seconds=6.0, seed=3)
    grid = end - 31 / 32 + np.arange(32) / 32
    window = np.stack([np.interp(grid, rec.times() + 100.0, rec.devices["wrist"][:, c]) for c in range(4)], 1)
    model, version = pipeline.trainer.slot.get()
    assert version == 1
    with torch.inference_mode():
        embedding, logits = model(torch.from_numpy(pipeline.learner.normalise("wrist", window))[None])
    np.testing.assert_allclose(prediction.embedding, embedding[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prediction.scores, torch.softmax(logits[0], 0).numpy(), rtol=1e-5)
    assert prediction.class_id == int(prediction.scores.argmax())
    assert pipeline.predict_at(100.5) is None  # the window would start before the first sample


def test_save_and_load_round_trip_continues_identically(tmp_path) -> None:
    pipeline = _pipeline()
    _feed(pipeline, seconds=8.0)
    pipeline.trainer.train_steps(3)
    path = pipeline.save(tmp_path / "har.pt")
    restored = _pipeline()
    assert restored.load(path) == path
    assert restored.trainer.steps == 3 and restored.learner.stats == pipeline.learner.stats
    a, b = pipeline.trainer.train_steps(2), restored.trainer.train_steps(2)
    assert [m["loss"] for m in a] == pytest.approx([m["loss"] for m in b])


def test_stall_cause_names_what_blocks_training() -> None:
    pipeline = _pipeline()
    assert pipeline.stall_cause()[0] == "stopped"
    pipeline.start_learning()
    try:
        _feed(pipeline, seconds=2.0)  # 3 windows of min_windows=8
        kind, text = pipeline.stall_cause()
        assert kind == "windows" and "of min_windows=8 windows collected" in text
        kind, text = pipeline.stall_cause(new_gap_windows=2)
        assert kind == "gaps" and "2 windows rejected for gaps longer than max_gap_s=0.1 s" in text
    finally:
        pipeline.stop_learning()
