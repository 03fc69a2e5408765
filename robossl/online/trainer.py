"""Background trainer: a thread that trains a :class:`~robossl.online.learner.Learner` from a replay buffer
under a CPU budget and hot-swaps the inference model.

CPU budget: after each optimisation step that took ``t`` seconds of wall time, the thread sleeps
``t * (1 - cpu_fraction) / cpu_fraction``, so it uses at most ``cpu_fraction`` of one core on average
(e.g. 0.5 = half a core). ``torch_threads`` bounds the intra-op threads of each step; note that
``torch.set_num_threads`` is process-wide, so inference running in PyTorch in the same process shares that
setting (ONNX Runtime inference has its own thread pool).

The same step logic runs synchronously with :meth:`BackgroundTrainer.train_steps` (used by simulations that
advance in simulated time and want reproducible results).

Lock-step budget (``steps_per_input > 0``): the thread trains only on credit, ``steps_per_input`` steps per
:meth:`BackgroundTrainer.grant` (a node grants once per processed input, e.g. per stereo frame), and
:meth:`BackgroundTrainer.wait_until_trained` blocks until the credit is spent. A closed loop that waits for
that before its next input learns the same number of steps per input on any machine: the outcome depends on
the data, not on the CPU's speed (a slower machine only takes longer).

Inference first (``yield_to_inference``, the default; free-running thread only): inference reports each frame
through ``trainer.inference.frame()`` (:class:`~robossl.online.inference_load.InferenceLoad`); the thread then
runs at the lowest OS priority (``learner_niceness``, Linux: per thread), never starts a step while a frame
is in flight, and replaces the fixed ``cpu_fraction`` sleep by an
:class:`~robossl.online.inference_load.AdaptiveBudget` whose duty cycle (at most ``cpu_fraction``) follows
the measured p99 frame latency. Without frame reports it behaves like the fixed budget. docs/online.md
compares this with a separate learner process (measured by bench/inference_first.py).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robossl.online.checkpoint import load_checkpoint, load_latest_good, save_checkpoint
from robossl.online.hotswap import ModelSlot
from robossl.online.inference_load import AdaptiveBudget, InferenceLoad
from robossl.online.learner import Learner
from robossl.online.replay import ReplayBuffer

log = logging.getLogger(__name__)


@dataclass
class TrainerConfig:
    """Settings of the background trainer."""

    batch_size: int = 8  # samples per optimisation step
    min_samples: int = 8  # replay size below which the trainer waits
    cpu_fraction: float = 0.5  # average share of one core the trainer may use, in (0, 1]
    torch_threads: int = 1  # intra-op threads for training (process-wide torch setting; 0 = leave as is)
    # hot-swap the inference model after this many steps; 0 = never: the learner publishes its inference
    # model itself (the terrain learner hot-swaps its segmentation network at the end of each round)
    publish_every_steps: int = 20
    max_consecutive_errors: int = 10  # the thread stops after this many failing steps in a row
    history: int = 1000  # metrics of the last N steps kept for monitoring
    # > 0: lock-step budget, exactly this many steps per granted input (grant()); 0 = free-running thread
    # limited by cpu_fraction only
    steps_per_input: int = 0
    # free-running only: yield to inference (no step while a frame is in flight, duty cycle steered by the
    # p99 frame latency reported through trainer.inference, at most cpu_fraction); False = fixed budget
    yield_to_inference: bool = True
    # p99 frame latency the adaptive budget aims at, as a multiple of the no-learning processing time
    latency_target_ratio: float = 1.4
    # the adaptive duty cycle never goes below this share of cpu_fraction: a step longer than the frame
    # period overlaps frames at any duty cycle, and starving the learner would not make those faster
    learner_min_share: float = 0.5
    # nice value of the trainer thread while yielding (Linux, per thread; 19 = lowest priority; 0 = leave)
    learner_niceness: int = 19
    # longest wait for a gap between frames [s]; then the trainer steps anyway (frames back to back would
    # starve it) and the adaptive budget spaces its steps
    max_yield_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.cpu_fraction <= 1.0:
            raise ValueError(f"cpu_fraction must be in (0, 1] (share of one core), got {self.cpu_fraction}")
        if self.batch_size < 1 or self.min_samples < 1 or self.publish_every_steps < 0:
            raise ValueError("batch_size and min_samples must be >= 1, publish_every_steps >= 0 (0 = never)")
        if self.steps_per_input < 0:
            raise ValueError(f"steps_per_input must be >= 0 (0 = free-running), got {self.steps_per_input}")
        if not self.latency_target_ratio > 1.0:
            raise ValueError(
                f"latency_target_ratio must be > 1 (p99 latency / no-learning processing time), got "
                f"{self.latency_target_ratio}"
            )
        if not 0.0 < self.learner_min_share <= 1.0:
            raise ValueError(
                f"learner_min_share must be in (0, 1] (of cpu_fraction), got {self.learner_min_share}"
            )
        if not self.max_yield_s > 0:
            raise ValueError(f"max_yield_s must be > 0 seconds, got {self.max_yield_s}")
        if not 0 <= self.learner_niceness <= 19:
            raise ValueError(
                f"learner_niceness must be in [0, 19] (19 = lowest), got {self.learner_niceness}"
            )


class BackgroundTrainer:
    """Runs ``learner.step`` on replay batches in a daemon thread and publishes weights to ``slot``.

    Args:
        learner: the pipeline's learner (see :class:`~robossl.online.learner.Learner`).
        replay: the buffer the pipeline fills with labelled samples; None for a learner that draws its own
            data (e.g. the terrain learner mines triplets from its clip store): each step is then
            ``learner.step([])``, and a step that returns no metrics (``{}``) did nothing (not ready yet).
        slot: hot-swap slot inference reads from (created from the learner's model when omitted).
        config: trainer settings.
    """

    def __init__(
        self,
        learner: Learner,
        replay: ReplayBuffer | None,
        slot: ModelSlot | None = None,
        config: TrainerConfig | None = None,
    ) -> None:
        self.learner = learner
        self.replay = replay
        self.config = config or TrainerConfig()
        self.slot = slot or ModelSlot(learner.inference_model())
        self.steps = 0  # optimisation steps done (thread and synchronous)
        self.errors = 0  # steps that raised
        self.last_error = ""
        self.metrics: collections.deque[dict[str, float]] = collections.deque(maxlen=self.config.history)
        self.busy_seconds = 0.0  # wall time spent inside learner.step
        self._lock = threading.Lock()  # guards learner state against concurrent save / step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._credit = 0  # lock-step steps granted and not yet trained
        self._credit_changed = threading.Condition()
        self.forfeited_steps = 0  # lock-step credit dropped because the replay was below min_samples
        # called in the trainer thread with each step's metrics after the step (outside the lock), e.g. to
        # publish statistics after every round; an exception in it counts as a failed step
        self.on_step: Callable[[dict[str, float]], None] | None = None
        # inference reports its frames here (``with trainer.inference.frame(): ...``); see yield_to_inference
        self.inference = InferenceLoad()
        c = self.config
        self.budget = AdaptiveBudget(
            c.cpu_fraction, c.latency_target_ratio, c.learner_min_share * c.cpu_fraction
        )
        self.niceness: int | None = None  # nice value of the trainer thread (None: not read / not Linux)
        self.yield_timeouts = 0  # steps started after max_yield_s without a gap between frames
        self._step_times: collections.deque[float] = collections.deque(maxlen=200)  # monotonic [s]

    # -- training --------------------------------------------------------------------------------------
    def _one_step(self) -> dict[str, float] | None:
        batch: list[Any] = []
        if self.replay is not None:
            if len(self.replay) < self.config.min_samples:
                return None
            batch = self.replay.sample(self.config.batch_size)
        start = time.perf_counter()
        with self._lock:
            metrics = self.learner.step(batch)
            if not metrics:  # a self-sampling learner that is not ready yet: no step
                return None
            self.steps += 1
            self._step_times.append(time.monotonic())
            metrics = {**metrics, "step": float(self.steps)}
            self.metrics.append(metrics)
            every = self.config.publish_every_steps
            if every and self.steps % every == 0:
                self.slot.publish(self.learner.inference_model())
        self.busy_seconds += time.perf_counter() - start
        return metrics

    def train_steps(self, count: int) -> list[dict[str, float]]:
        """Do up to ``count`` steps now, in the calling thread (fewer when the replay is too small)."""
        done = []
        for _ in range(count):
            metrics = self._one_step()
            if metrics is None:
                break
            done.append(metrics)
        return done

    # -- lock-step budget ------------------------------------------------------------------------------
    @property
    def lockstep(self) -> bool:
        return self.config.steps_per_input > 0

    def grant(self, inputs: int = 1) -> None:
        """Lock-step: allow ``steps_per_input`` more steps per input (no-op when free-running)."""
        if not self.lockstep or inputs < 1:
            return
        with self._credit_changed:
            self._credit += self.config.steps_per_input * inputs
            self._credit_changed.notify_all()

    def wait_until_trained(self, timeout_s: float | None = None) -> bool:
        """Lock-step: block until every granted step is trained (or forfeited); True unless timed out.
        Returns at once when free-running or when the thread is not running."""
        if not self.lockstep:
            return True
        with self._credit_changed:
            return self._credit_changed.wait_for(lambda: self._credit == 0 or not self.running, timeout_s)

    @property
    def pending_steps(self) -> int:
        """Lock-step credit not yet trained."""
        with self._credit_changed:
            return self._credit

    def _take_credit(self) -> bool:
        """Lock-step: wait for credit (True) or a stop request (False)."""
        with self._credit_changed:
            while self._credit == 0:
                if self._stop.is_set():
                    return False
                self._credit_changed.wait(0.05)
            return True

    def _spend_credit(self, trained: bool) -> None:
        with self._credit_changed:
            if trained:
                self._credit -= 1
            else:  # the replay cannot give a batch yet: these inputs' steps are dropped, deterministically
                self.forfeited_steps += self._credit
                self._credit = 0
            self._credit_changed.notify_all()

    def steps_per_s(self, window_s: float = 10.0) -> float:
        """Training steps per second over the last ``window_s`` seconds (0 with fewer than two steps)."""
        now = time.monotonic()
        times = [t for t in list(self._step_times) if t >= now - window_s]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(now - times[0], 1e-9)

    @property
    def yielding(self) -> bool:
        """The free-running thread yields to inference (``yield_to_inference`` and not lock-step)."""
        return self.config.yield_to_inference and not self.lockstep

    def _lower_priority(self) -> None:
        """Set this thread's nice value to ``learner_niceness`` (Linux: per thread), never raise priority."""
        niceness = self.config.learner_niceness
        if not hasattr(os, "setpriority"):
            return
        tid = threading.get_native_id()
        try:
            if niceness > os.getpriority(os.PRIO_PROCESS, tid):
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
            self.niceness = os.getpriority(os.PRIO_PROCESS, tid)
        except OSError as exc:  # not permitted: train at the priority we have
            log.warning("could not lower the trainer thread's priority to nice %d: %s", niceness, exc)

    def _wait_for_idle_inference(self) -> bool:
        """Yielding: wait until no frame is in flight or ``max_yield_s`` passed (True), or a stop request
        (False)."""
        deadline = time.monotonic() + self.config.max_yield_s
        while not self.inference.wait_idle(min(0.05, max(deadline - time.monotonic(), 0.0))):
            if self._stop.is_set():
                return False
            if time.monotonic() >= deadline:
                self.yield_timeouts += 1
                break
        return not self._stop.is_set()

    def _pause_after(self, elapsed: float) -> float:
        """Seconds to sleep after a step of ``elapsed`` seconds (fixed or adaptive budget)."""
        if not self.yielding:
            return elapsed * (1.0 - self.config.cpu_fraction) / self.config.cpu_fraction
        budget = self.budget
        if budget.ceiling != self.config.cpu_fraction:  # cpu_fraction changed at run time
            budget.ceiling = self.config.cpu_fraction
            budget.floor = self.config.learner_min_share * budget.ceiling
            budget.duty = min(max(budget.duty, budget.floor), budget.ceiling)
        budget.update(self.inference)
        return budget.pause_s(elapsed)

    def _run(self) -> None:
        if self.config.torch_threads > 0:
            torch.set_num_threads(self.config.torch_threads)
        if self.yielding and self.config.learner_niceness > 0:
            self._lower_priority()
        consecutive = 0
        while not self._stop.is_set():
            if self.lockstep and not self._take_credit():
                break
            if self.yielding and not self._wait_for_idle_inference():
                break
            start = time.perf_counter()
            try:
                with self.inference.step():
                    metrics = self._one_step()
                if metrics is not None and self.on_step is not None:
                    self.on_step(metrics)
                consecutive = 0
            except Exception as exc:  # a bad batch must not kill the robot's learner silently
                self.errors += 1
                consecutive += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("online training step failed (%d in a row)", consecutive)
                if consecutive >= self.config.max_consecutive_errors:
                    log.error("background trainer stops after %d failing steps", consecutive)
                    with self._credit_changed:
                        self._credit_changed.notify_all()  # wake waiters: the thread is gone
                    return
                metrics = None
            if self.lockstep:
                self._spend_credit(metrics is not None)  # a failed step spends its credit too
                continue
            if metrics is None:
                self._stop.wait(0.05)
                continue
            pause = self._pause_after(time.perf_counter() - start)
            if pause > 0:
                self._stop.wait(pause)

    def start(self) -> None:
        """Start the background thread (no-op when running)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="robossl-trainer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after its current step and wait up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        # inference gets the newest weights even when the last steps did not reach a publish point
        if self.config.publish_every_steps:
            with self._lock:
                self.slot.publish(self.learner.inference_model())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- persistence -----------------------------------------------------------------------------------
    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Learner, replay buffer (unless ``include_replay`` is False) and counters, taken consistently
        between two steps."""
        with self._lock:
            state: dict[str, Any] = {"learner": self.learner.state_dict(), "steps": self.steps}
            if include_replay and self.replay is not None:
                state["replay"] = self.replay.state_dict()
            return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` between two steps (a step in progress finishes first, so a load
        requested during training is never overwritten by that step) and hot-swap the restored model.
        A state without ``"replay"`` keeps the current replay buffer."""
        with self._lock:
            self.learner.load_state_dict(state["learner"])
            if "replay" in state and self.replay is not None:
                self.replay.load_state_dict(state["replay"])
            self.steps = int(state["steps"])
            if self.config.publish_every_steps:
                self.slot.publish(self.learner.inference_model())

    def save(self, path: str) -> None:
        """Atomic checkpoint of :meth:`state_dict` (safe while the thread runs)."""
        save_checkpoint(path, self.state_dict())

    def load(self, path: str, fall_back: bool = False) -> Path:
        """Restore a checkpoint written by :meth:`save` and hot-swap the restored model.

        With ``fall_back`` a corrupt ``path`` gives way to its newest good older copy (for start-up; see
        :func:`robossl.online.checkpoint.load_latest_good`). Returns the file loaded.
        """
        if fall_back:
            state, used = load_latest_good(path)
        else:
            state, used = load_checkpoint(path), Path(path)
        self.load_state_dict(state)
        return used
