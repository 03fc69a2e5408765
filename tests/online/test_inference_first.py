"""Inference first: the trainer yields to frames in flight, runs at the lowest priority, and steers its duty
cycle by the measured frame latency (robossl.online.inference_load, TrainerConfig.yield_to_inference)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from robossl.online import BackgroundTrainer, ReplayBuffer, TrainerConfig
from robossl.online.inference_load import AdaptiveBudget, InferenceLoad


class RecordingLearner:
    """A real (tiny) learner that records when each step ran and the nice value of the thread running it."""

    def __init__(self, step_s: float = 0.005) -> None:
        self.model = torch.nn.Linear(1, 1)
        self.step_s = step_s
        self.spans: list[tuple[float, float]] = []  # (start, end) perf_counter [s] of every step
        self.niceness: list[int] = []

    def step(self, batch: list[Any]) -> dict[str, float]:
        start = time.perf_counter()
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
        self.niceness.append(int(stat.rsplit(")", 1)[1].split()[16]))  # field 19: nice
        x = torch.tensor([[float(s)] for s in batch])
        loss = torch.nn.functional.mse_loss(self.model(x), 2 * x)
        loss.backward()
        while time.perf_counter() - start < self.step_s:  # a step of known length
            pass
        self.spans.append((start, time.perf_counter()))
        return {"loss": float(loss.detach())}

    def inference_model(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])


def replay_of(n: int = 32) -> ReplayBuffer:
    replay = ReplayBuffer(capacity=n)
    for i in range(n):
        replay.add(i / n)
    return replay


def started_trainer(learner: RecordingLearner, **config: Any) -> BackgroundTrainer:
    trainer = BackgroundTrainer(
        learner, replay_of(), config=TrainerConfig(batch_size=4, min_samples=4, cpu_fraction=1.0, **config)
    )
    trainer.start()
    deadline = time.monotonic() + 10
    while len(learner.spans) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(learner.spans) >= 3, "the trainer never stepped"
    return trainer


def steps_started_during(learner: RecordingLearner, start: float, end: float) -> int:
    return sum(1 for s, _ in list(learner.spans) if start < s < end)


@pytest.mark.parametrize("yield_to_inference", [True, False])
def test_no_step_starts_while_a_frame_is_in_flight(yield_to_inference: bool) -> None:
    learner = RecordingLearner()
    trainer = started_trainer(learner, yield_to_inference=yield_to_inference)
    try:
        started_inside = []
        for _ in range(3):
            with trainer.inference.frame():
                begin = time.perf_counter()
                time.sleep(0.2)
                end = time.perf_counter()
            started_inside.append(steps_started_during(learner, begin, end))
            time.sleep(0.05)
        steps_after = len(learner.spans)
        time.sleep(0.1)
        assert len(learner.spans) > steps_after, "the trainer must resume once no frame is in flight"
    finally:
        trainer.stop()
    if yield_to_inference:
        assert started_inside == [0, 0, 0]
    else:  # the old free-running thread steps right through the frame: this is what the option changes
        assert min(started_inside) >= 5


def test_trainer_thread_runs_at_nice_19_only_when_yielding() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for yielding, expected in ((True, 19), (False, own)):
        learner = RecordingLearner()
        trainer = started_trainer(learner, yield_to_inference=yielding)
        trainer.stop()
        assert set(learner.niceness) == {expected}, (yielding, learner.niceness)
        assert trainer.niceness == (19 if yielding else None)
    # the priority is per thread: the calling thread keeps its own
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own


def test_lockstep_trainer_keeps_its_priority() -> None:
    learner = RecordingLearner()
    trainer = BackgroundTrainer(
        learner, replay_of(), config=TrainerConfig(batch_size=4, min_samples=4, steps_per_input=2)
    )
    trainer.start()
    trainer.grant()
    assert trainer.wait_until_trained(10)
    trainer.stop()
    assert len(learner.spans) == 2
    assert set(learner.niceness) == {os.getpriority(os.PRIO_PROCESS, 0)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_frames(
    load: InferenceLoad, clock: FakeClock, latency_s: float, count: int, during_step: bool
) -> None:
    for _ in range(count):
        if during_step:
            with load.step(), load.frame():
                clock.now += latency_s
        else:
            with load.frame():
                clock.now += latency_s


def test_baseline_is_the_median_of_frames_no_step_overlapped() -> None:
    clock = FakeClock()
    load = InferenceLoad(clock=clock)
    run_frames(load, clock, 0.010, 20, during_step=False)
    run_frames(load, clock, 0.050, 20, during_step=True)
    assert load.baseline_s() == pytest.approx(0.010)
    assert load.overlapped_frames == 20 and load.frames == 40
    p50, p99 = load.percentiles_s()
    assert p50 == pytest.approx(0.030) and p99 == pytest.approx(0.050)


def test_frame_that_a_step_starts_during_counts_as_overlapped() -> None:
    clock = FakeClock()
    load = InferenceLoad(clock=clock)
    for _ in range(5):
        with load.frame():
            with load.step():  # the step starts and ends inside the frame
                clock.now += 0.02
    assert load.overlapped_frames == 5
    assert load.baseline_s() != load.baseline_s()  # NaN: no clean frame


def test_budget_lowers_duty_when_p99_exceeds_target_and_recovers() -> None:
    clock = FakeClock()
    load = InferenceLoad(clock=clock)
    budget = AdaptiveBudget(ceiling=0.5, target_ratio=1.3, recent=50)
    run_frames(load, clock, 0.010, 20, during_step=False)
    assert budget.update(load) == 0.5  # on target: stays at the ceiling
    run_frames(load, clock, 0.030, 10, during_step=True)  # 3x the no-learning time
    assert budget.update(load) == pytest.approx(0.35)
    assert budget.update(load) == pytest.approx(0.35)  # the same slow frames do not lower it twice
    run_frames(load, clock, 0.030, 10, during_step=True)
    assert budget.update(load) == pytest.approx(0.245)
    assert budget.pause_s(0.1) == pytest.approx(0.1 * 0.755 / 0.245)
    for _ in range(10):
        run_frames(load, clock, 0.011, 10, during_step=True)  # within 1.3x again
        budget.update(load)
    assert budget.duty == pytest.approx(0.5) and budget.lowered == 2


def test_budget_never_goes_below_its_floor() -> None:
    clock = FakeClock()
    load = InferenceLoad(clock=clock)
    budget = AdaptiveBudget(ceiling=0.5, floor=0.05)
    run_frames(load, clock, 0.010, 20, during_step=False)
    for _ in range(30):
        run_frames(load, clock, 0.100, 10, during_step=True)
        budget.update(load)
    assert budget.duty == 0.05


def test_steps_per_s_counts_recent_steps() -> None:
    learner = RecordingLearner(step_s=0.01)
    trainer = BackgroundTrainer(learner, replay_of(), config=TrainerConfig(batch_size=4, cpu_fraction=0.5))
    trainer.start()
    time.sleep(1.5)
    trainer.stop()
    rate = trainer.steps_per_s()
    # 10 ms steps at half a core: about 50 steps/s (a loaded CI core gets fewer, never more)
    assert 15 < rate <= 55


def test_bad_inference_first_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="latency_target_ratio"):
        TrainerConfig(latency_target_ratio=1.0)
    with pytest.raises(ValueError, match="learner_niceness"):
        TrainerConfig(learner_niceness=20)


def test_back_to_back_frames_do_not_starve_the_learner() -> None:
    """Frames with no gap between them: the trainer steps anyway after max_yield_s, and counts it."""
    learner = RecordingLearner()
    trainer = started_trainer(learner, max_yield_s=0.1)
    try:
        before = len(learner.spans)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            with trainer.inference.frame():
                time.sleep(0.02)
        during = len(learner.spans) - before
    finally:
        trainer.stop()
    assert 4 <= during <= 40  # about one step per 0.1 s wait (+ the duty-cycle pause), never free-running
    assert trainer.yield_timeouts >= 4


def test_budget_makes_gaps_when_no_frame_ran_without_a_step() -> None:
    """No clean frame means no no-learning time to aim at: the duty cycle goes down until frames run alone."""
    clock = FakeClock()
    load = InferenceLoad(clock=clock)
    budget = AdaptiveBudget(ceiling=1.0, floor=0.5)
    run_frames(load, clock, 0.010, 20, during_step=True)
    assert budget.update(load) == pytest.approx(0.7)
    run_frames(load, clock, 0.010, 20, during_step=True)
    assert budget.update(load) == pytest.approx(0.5)  # the floor: the learner keeps half its ceiling


def test_trainer_floor_is_learner_min_share_of_cpu_fraction() -> None:
    trainer = BackgroundTrainer(
        RecordingLearner(), replay_of(), config=TrainerConfig(cpu_fraction=0.8, learner_min_share=0.25)
    )
    assert trainer.budget.floor == pytest.approx(0.2) and trainer.budget.ceiling == 0.8
    with pytest.raises(ValueError, match="learner_min_share"):
        TrainerConfig(learner_min_share=0.0)
