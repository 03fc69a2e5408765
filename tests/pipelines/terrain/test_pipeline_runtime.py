"""TerrainPipeline runtime: one learning round = one trainer step, rounds in the trainer thread, checkpoints
taken between rounds and restored exactly."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robossl.online import TrainerConfig
from robossl.pipelines.terrain import PinholeCamera, TerrainPipeline, TerrainPipelineConfig
from robossl.pipelines.terrain.projection import camera_mount

CAMERA = PinholeCamera.from_vertical_fov(60.0, 32, 24)


def _fed_pipeline(**trainer: Any) -> TerrainPipeline:
    """A pipeline with 4 s of two alternating terrains' audio (low hum vs. high rattle) and poses."""
    torch.manual_seed(0)
    config = TerrainPipelineConfig(sample_rate=16000, num_clusters=2, min_clips=8)
    pipe = TerrainPipeline(
        config,
        CAMERA,
        camera_mount(0.3, 0.45, 35.0),
        TrainerConfig(**trainer),
        embedding_steps=1,
        segmentation_steps=0,
    )
    rng = np.random.default_rng(0)
    t = np.arange(800) / 16000
    for k in range(41):
        pipe.add_pose(0.1 * k, (0.05 * k, 0.0, 0.0))
    for k in range(80):  # 50 ms chunks, the terrain changes every second
        tone = 120.0 if (k // 20) % 2 == 0 else 3100.0
        pipe.add_audio(
            0.05 * k, (0.3 * np.sin(2 * np.pi * tone * t) + 0.05 * rng.normal(size=800)).astype(np.float32)
        )
    return pipe


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, torch.Tensor):  # bit for bit; NaN (a clip without a descriptor) equals NaN
        assert a.dtype == b.dtype and a.shape == b.shape
        same = a == b
        if a.is_floating_point():
            same |= a.isnan() & b.isnan()
        assert bool(same.all())
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def test_a_round_is_one_trainer_step() -> None:
    pipe = _fed_pipeline()
    metrics = pipe.learn(embedding_steps=2, segmentation_steps=0)
    assert "embedding_loss" in metrics and "step" not in metrics
    assert pipe.rounds == pipe.trainer.steps == 1
    assert pipe.stats()["embedding_steps"] == 2 and pipe.stats()["num_clusters"] == 2
    pipe.learn(embedding_steps=3, segmentation_steps=0)
    assert pipe.rounds == 2 and pipe.stats()["embedding_steps"] == 5
    status = pipe.status()
    assert status["learning_rounds"] == 2 and status["mode"] == "clustering"
    assert status["model_version"] == 0  # no segmentation trained: nothing published


def test_trainer_thread_runs_rounds_and_stops() -> None:
    pipe = _fed_pipeline(cpu_fraction=1.0)
    pipe.set_round_steps(1, 0)
    pipe.start_learning()
    deadline = time.monotonic() + 30
    while pipe.rounds < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pipe.stop_learning()
    rounds = pipe.rounds
    assert rounds >= 2 and not pipe.trainer.running
    assert pipe.stats()["embedding_steps"] == rounds  # one embedding step per round
    time.sleep(0.2)
    assert pipe.rounds == rounds  # stopped means stopped


def test_save_waits_for_the_round_in_progress_and_load_restores_it_exactly(tmp_path: Path) -> None:
    pipe = _fed_pipeline()
    pipe.learn(1, 0)
    entered, release = threading.Event(), threading.Event()
    real_round = pipe.learner.learn_round

    def held_round(embedding_steps: int, segmentation_steps: int) -> dict[str, float]:
        entered.set()
        assert release.wait(10)
        return real_round(embedding_steps, segmentation_steps)

    pipe.learner.learn_round = held_round  # type: ignore[method-assign]
    learner = threading.Thread(target=pipe.learn, args=(2, 0))
    learner.start()
    assert entered.wait(10)
    saver = threading.Thread(target=pipe.save, args=(tmp_path / "terrain.pt",))
    saver.start()
    saver.join(0.5)
    save_waited = saver.is_alive()
    release.set()
    learner.join(10)
    saver.join(10)
    assert save_waited, "the checkpoint was taken in the middle of a learning round"
    restored = _fed_pipeline()
    restored.load(tmp_path / "terrain.pt")
    assert restored.stats()["embedding_steps"] == 3  # 1 + the held round's 2: saved after it
    _assert_same(restored.state_dict(), pipe.state_dict())
