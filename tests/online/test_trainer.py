"""Background trainer: learns, respects its CPU budget, hot-swaps, survives bad batches, checkpoints."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

from robossl.online import BackgroundTrainer, ModelSlot, ReplayBuffer, TrainerConfig
from robossl.online.monitors import CollapseMonitor, CollapseMonitorConfig, QualityEstimate


class LinearLearner:
    """A tiny real learner: fits y = 3x + 1 with SGD (the runtime under test is generic)."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(1, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.steps = 0

    def step(self, batch: list[Any]) -> dict[str, float]:
        x = torch.tensor([[s["x"]] for s in batch], dtype=torch.float32)
        y = torch.tensor([[s["y"]] for s in batch], dtype=torch.float32)
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return {"loss": loss.item()}

    def inference_model(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = state["steps"]


def filled_replay(n: int = 200) -> ReplayBuffer:
    replay = ReplayBuffer(capacity=n)
    for x in np.linspace(-1, 1, n):
        replay.add({"x": float(x), "y": 3.0 * float(x) + 1.0})
    return replay


def test_synchronous_training_fits_and_publishes():
    learner = LinearLearner()
    trainer = BackgroundTrainer(
        learner, filled_replay(), config=TrainerConfig(batch_size=16, publish_every_steps=50)
    )
    metrics = trainer.train_steps(300)
    assert len(metrics) == 300
    assert metrics[-1]["loss"] < 1e-3 < metrics[0]["loss"]
    model, version = trainer.slot.get()
    assert version == 6
    assert model.weight.item() == pytest.approx(3.0, abs=0.05)
    # the published model is a copy: further training does not change it
    trainer.train_steps(10)
    assert trainer.slot.get()[0] is model


def test_waits_until_replay_has_min_samples():
    trainer = BackgroundTrainer(LinearLearner(), ReplayBuffer(10), config=TrainerConfig(min_samples=5))
    assert trainer.train_steps(3) == []


def test_thread_respects_cpu_budget_and_hot_swaps():
    learner = LinearLearner()
    config = TrainerConfig(batch_size=64, cpu_fraction=0.25, publish_every_steps=5)
    trainer = BackgroundTrainer(learner, filled_replay(), config=config)
    trainer.start()
    start = time.perf_counter()
    time.sleep(1.0)
    trainer.stop()
    wall = time.perf_counter() - start
    assert trainer.steps > 5
    assert not trainer.running
    # busy time stays near the 25 % budget (generous bound for a shared machine)
    assert trainer.busy_seconds / wall < 0.45
    assert trainer.slot.version >= trainer.steps // 5
    assert trainer.slot.get()[0].weight.item() == pytest.approx(learner.model.weight.item())


def test_failing_steps_are_counted_and_stop_the_thread():
    class Broken(LinearLearner):
        def step(self, batch: list[Any]) -> dict[str, float]:
            raise RuntimeError("bad batch")

    trainer = BackgroundTrainer(Broken(), filled_replay(), config=TrainerConfig(max_consecutive_errors=3))
    trainer.start()
    deadline = time.time() + 5
    while trainer.running and time.time() < deadline:
        time.sleep(0.02)
    assert not trainer.running
    assert trainer.errors == 3
    assert "bad batch" in trainer.last_error


def test_checkpoint_restores_learner_replay_and_counters(tmp_path):
    trainer = BackgroundTrainer(LinearLearner(), filled_replay(50), config=TrainerConfig(batch_size=8))
    trainer.train_steps(20)
    trainer.save(str(tmp_path / "ckpt.pt"))
    fresh = BackgroundTrainer(LinearLearner(), ReplayBuffer(50), config=TrainerConfig(batch_size=8))
    fresh.load(str(tmp_path / "ckpt.pt"))
    assert fresh.steps == 20 and len(fresh.replay) == 50
    assert fresh.slot.get()[0].weight.item() == pytest.approx(trainer.learner.model.weight.item())
    # continuing both gives identical results (optimizer and replay RNG restored)
    a, b = trainer.train_steps(5), fresh.train_steps(5)
    assert [m["loss"] for m in a] == pytest.approx([m["loss"] for m in b])


def test_model_slot_versions():
    slot = ModelSlot(torch.nn.Linear(1, 1))
    assert slot.version == 0
    assert slot.publish(torch.nn.Linear(1, 1)) == 1
    assert not any(p.requires_grad for p in slot.get()[0].parameters())


def test_quality_estimate_ignores_nan_and_averages():
    quality = QualityEstimate(smoothing=0.1)
    for value in [0.5, float("nan"), 0.3]:
        quality.update(value)
    assert quality.count == 2 and quality.value == pytest.approx(0.4)
    for _ in range(200):
        quality.update(0.1)
    assert quality.value == pytest.approx(0.1, abs=1e-3)
    with pytest.raises(ValueError, match="smoothing"):
        QualityEstimate(0.0)


def test_collapse_monitor_flags_constant_output_and_nan():
    monitor = CollapseMonitor(CollapseMonitorConfig(min_output_std=0.01, patience=3))
    assert not monitor.update(1.0, 0.5)
    for _ in range(2):
        assert not monitor.update(1.0, 0.0)
    assert monitor.update(float("nan"), 0.5)
    assert "non-finite" in monitor.reason
    monitor.update(1.0, 0.5)
    assert not monitor.collapsed


def test_bad_budget_rejected():
    with pytest.raises(ValueError, match="cpu_fraction"):
        TrainerConfig(cpu_fraction=1.5)


def test_prepare_hook_runs_at_publish_time_in_the_publisher_thread():
    import threading

    seen_threads = []

    def prepare(model: torch.nn.Module) -> float:
        seen_threads.append(threading.current_thread().name)
        return float(model.weight.item())

    learner = LinearLearner()
    slot = ModelSlot(learner.model, prepare=None)
    slot.set_prepare(prepare)
    assert slot.get_prepared() == (pytest.approx(learner.model.weight.item()), 0)
    trainer = BackgroundTrainer(
        learner, filled_replay(), slot, TrainerConfig(batch_size=16, publish_every_steps=3)
    )
    trainer.start()
    deadline = time.time() + 5
    while slot.version < 2 and time.time() < deadline:
        time.sleep(0.01)
    trainer.stop()
    prepared, version = slot.get_prepared()
    assert version >= 2
    assert prepared == pytest.approx(slot.get()[0].weight.item())
    assert "robossl-trainer" in seen_threads


def test_lockstep_trains_exactly_the_granted_steps() -> None:
    replay = ReplayBuffer(100, seed=0)
    learner = LinearLearner()
    trainer = BackgroundTrainer(
        learner, replay, config=TrainerConfig(batch_size=4, min_samples=4, steps_per_input=3)
    )
    trainer.start()
    try:
        trainer.grant()  # the replay is still empty: these 3 steps are forfeited, not kept for later
        assert trainer.wait_until_trained(5.0)
        assert trainer.steps == 0 and trainer.forfeited_steps == 3
        for i in range(10):
            replay.add({"x": float(i), "y": 3.0 * i + 1.0})
        trainer.grant(2)
        assert trainer.wait_until_trained(5.0)
        assert trainer.steps == 6 and learner.steps == 6 and trainer.pending_steps == 0
        time.sleep(0.3)
        assert trainer.steps == 6  # no credit, no training: the count depends on inputs, not on time
        trainer.grant()
        assert trainer.wait_until_trained(5.0) and trainer.steps == 9
    finally:
        trainer.stop()
    assert not trainer.running and trainer.wait_until_trained(0.1)  # a stopped trainer never blocks


def test_free_running_ignores_grants() -> None:
    trainer = BackgroundTrainer(LinearLearner(), ReplayBuffer(10, seed=0), config=TrainerConfig())
    trainer.grant(5)
    assert trainer.pending_steps == 0 and trainer.wait_until_trained(0.0)
    with pytest.raises(ValueError, match="steps_per_input"):
        TrainerConfig(steps_per_input=-1)


def test_self_sampling_learner_without_replay_counts_only_real_steps():
    """replay=None: the learner draws its own data; ``{}`` means "not ready" and is no step. With
    publish_every_steps=0 the trainer never publishes (the learner hot-swaps its model itself)."""

    class SelfSampling(LinearLearner):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def step(self, batch: list[Any]) -> dict[str, float]:
            assert batch == []
            self.calls += 1
            if self.calls <= 2:
                return {}  # not enough data yet
            return super().step([{"x": 1.0, "y": 4.0}, {"x": -1.0, "y": -2.0}])

    learner = SelfSampling()
    trainer = BackgroundTrainer(learner, None, config=TrainerConfig(publish_every_steps=0))
    assert trainer.train_steps(1) == [] and trainer.train_steps(1) == []
    assert trainer.steps == 0
    metrics = trainer.train_steps(3)
    assert [m["step"] for m in metrics] == [1.0, 2.0, 3.0] and learner.steps == 3
    trainer.start()
    trainer.stop()
    assert trainer.slot.version == 0  # never published
    state = trainer.state_dict()
    assert "replay" not in state and state["steps"] == trainer.steps
    trainer.load_state_dict(state)
    assert trainer.slot.version == 0


def test_on_step_sees_every_thread_step_after_it_is_done():
    trainer = BackgroundTrainer(LinearLearner(), filled_replay(), config=TrainerConfig(cpu_fraction=1.0))
    seen: list[tuple[float, int]] = []
    trainer.on_step = lambda metrics: seen.append((metrics["step"], trainer.steps))
    trainer.start()
    deadline = time.time() + 5
    while len(seen) < 5 and time.time() < deadline:
        time.sleep(0.01)
    trainer.stop()
    assert len(seen) >= 5 and len(seen) == trainer.steps
    # called after the step was counted, once per step, in order
    assert all(step == float(k + 1) and steps >= k + 1 for k, (step, steps) in enumerate(seen))
