"""Inference first, learner second: three ways to run the stereo -> mono learner next to inference (issue #22).

Examples:
    flock /tmp/robossl-demo.lock .venv/bin/python bench/inference_first.py            # 20 s per phase
    .venv/bin/python bench/inference_first.py --seconds 5 --rate-hz 20                 # quick look

ROS-free: the real ``StereoMonoPipeline`` (rectify, SGBM teacher, student inference, replay) processes EuRoC
V1_01 pairs resized to 376x240 (generated texture without the data) at ``--rate-hz`` in the main thread,
the way stereo_mono_node's worker does, while the learner runs as

- ``a_fixed_budget``: today's free-running thread, ``cpu_fraction`` 0.5 fixed sleep, normal priority;
- ``b_yield``: the trainer thread at nice 19, no step while a frame is in flight, duty cycle steered by the
  p99 frame latency (``TrainerConfig.yield_to_inference``, ceiling ``cpu_fraction`` 1.0);
- ``c_process``: a spawned learner process at nice 19, weights in shared memory (``share_memory_()``),
  labelled samples through a queue, inference hot-swapping the shared weights when their version changes.

Phases, all in one run: no learning (the processing time), the learner alone (unthrottled steps/s, no
inference), then each option. Per option: ``p99_over_processing`` (p99 frame latency / median processing
time without learning) and ``learner_rate_fraction`` (steps/s / unthrottled steps/s).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros_latency_data import stereo_frames  # noqa: E402

CONFIG: dict[str, Any] = {  # the bench settings of stereo_mono_node in bench/ros_latency.py
    "rectified_width": 376,
    "student": {"width": 0.5},
    "trainer": {"batch_size": 8, "min_samples": 8, "publish_every_steps": 10, "torch_threads": 1},
}
P99_RATIO_TARGET = 1.5  # issue #22: p99 <= 1.5x the processing time without learning
RATE_FRACTION_TARGET = 0.5  # issue #22: learner at >= 50 % of its unthrottled step rate


def make_pipeline(calibration: Any) -> Any:
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline

    return StereoMonoPipeline(StereoMonoConfig.from_dict(copy.deepcopy(CONFIG)), calibration)


def run_frames(
    pipeline: Any, frames: list[Any], seconds: float, rate_hz: float, load: Any = None, before: Any = None
) -> dict[str, Any]:
    """Process frames at ``rate_hz`` for ``seconds`` in this thread; latencies [s] and frames skipped
    (latest-only: a frame whose slot passed while the previous one was processed is not processed)."""
    import contextlib

    period, start = 1.0 / rate_hz, time.perf_counter()
    latencies: list[float] = []
    skipped, k = 0, 0
    while True:
        due = start + k * period
        now = time.perf_counter()
        if now - start >= seconds:
            break
        if now < due:
            time.sleep(due - now)
        elif now - due > period:  # this slot passed while the previous frame ran: the frame is stale
            skipped += 1
            k += 1
            continue
        left, right = frames[k % len(frames)]
        t0 = time.perf_counter()
        if before is not None:  # part of the frame's latency (option c's hot swap)
            before()
        with load.frame() if load is not None else contextlib.nullcontext():
            pipeline.process(left, right, t0)
        latencies.append(time.perf_counter() - t0)
        k += 1
    return {"latencies": latencies, "skipped": skipped, "wall_s": time.perf_counter() - start}


def count_steps(trainer: Any, seconds: float) -> float:
    """Steps/s of a started trainer over ``seconds`` (nothing else runs in this thread meanwhile)."""
    first, start = trainer.steps, time.perf_counter()
    time.sleep(seconds)
    return (trainer.steps - first) / (time.perf_counter() - start)


def thread_option(pipeline: Any, frames: list[Any], args: Any, **config: Any) -> dict[str, Any]:
    """Options a and b: a BackgroundTrainer thread on the pipeline's learner, replay and hot-swap slot."""
    from robossl.online import BackgroundTrainer, TrainerConfig

    settings = {**CONFIG["trainer"], **config}
    trainer = BackgroundTrainer(
        pipeline.learner, pipeline.replay, slot=pipeline.trainer.slot, config=TrainerConfig(**settings)
    )
    trainer.start()
    try:
        run_frames(pipeline, frames, 2.0, args.rate_hz, load=trainer.inference)  # the budget settles
        steps = trainer.steps
        out = run_frames(pipeline, frames, args.seconds, args.rate_hz, load=trainer.inference)
        out["steps_per_s"] = (trainer.steps - steps) / out["wall_s"]
        out["duty_cycle_end"] = trainer.budget.duty if trainer.yielding else settings["cpu_fraction"]
        out["niceness"] = trainer.niceness
    finally:
        trainer.stop()
    return out


class QueueReplay:
    """Stands in for the pipeline's replay buffer in option c: labelled samples go to the learner process.
    A stand-in, not a mock of anything measured: the pipeline only calls ``add`` and reads ``policy``."""

    policy = "reservoir"

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def add(self, sample: dict[str, np.ndarray], descriptor: Any = None) -> None:
        import queue as queue_module

        try:
            self.queue.put_nowait(sample)
        except queue_module.Full:  # the learner is behind: it keeps enough samples already
            pass


def learner_process(shared: Any, samples: Any, steps: Any, version: Any, lock: Any, stop: Any) -> None:
    """Option c's learner: nice 19, one torch thread, its own replay; publishes into shared memory."""
    os.nice(19)
    torch.set_num_threads(1)
    from robossl.online import ReplayBuffer
    from robossl.pipelines.stereo_mono.config import StereoMonoConfig
    from robossl.pipelines.stereo_mono.learner import MonoDepthLearner

    config = StereoMonoConfig.from_dict(copy.deepcopy(CONFIG))
    learner = MonoDepthLearner(config.student, config.learner)
    learner.inference_model().load_state_dict(shared.state_dict())
    replay = ReplayBuffer(config.replay_capacity, seed=1)
    while not stop.is_set():
        while not samples.empty():
            replay.add(samples.get())
        if len(replay) < config.trainer.min_samples:
            time.sleep(0.01)
            continue
        learner.step(replay.sample(config.trainer.batch_size))
        with steps.get_lock():
            steps.value += 1
        if steps.value % config.trainer.publish_every_steps == 0:
            with lock:
                shared.load_state_dict(learner.inference_model().state_dict())
                version.value += 1


def process_option(pipeline: Any, frames: list[Any], args: Any) -> dict[str, Any]:
    """Option c: a spawned learner process, shared-memory weights, samples through a queue."""
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    shared = copy.deepcopy(pipeline.learner.inference_model()).share_memory()
    samples = context.Queue(maxsize=64)
    for sample in pipeline.replay.sample(min(len(pipeline.replay), 60)):
        samples.put(sample)
    steps, version = context.Value("l", 0), context.Value("l", 0)
    lock, stop = context.Lock(), context.Event()
    proc = context.Process(target=learner_process, args=(shared, samples, steps, version, lock, stop))
    proc.start()
    seen = [0]

    def hot_swap() -> None:  # before each frame, as the node's inference would
        if version.value != seen[0]:
            with lock:
                seen[0] = version.value
                pipeline.trainer.slot.publish(shared)

    original = pipeline.replay
    pipeline.replay = QueueReplay(samples)
    try:
        deadline = time.monotonic() + 120
        while steps.value < 3 and time.monotonic() < deadline:  # spawn + imports take seconds
            time.sleep(0.1)
        run_frames(pipeline, frames, 2.0, args.rate_hz, before=hot_swap)
        first = steps.value
        out = run_frames(pipeline, frames, args.seconds, args.rate_hz, before=hot_swap)
        out["steps_per_s"] = (steps.value - first) / out["wall_s"]
        out["hot_swaps"] = seen[0]
        out["niceness"] = 19
    finally:
        pipeline.replay = original
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        samples.cancel_join_thread()  # samples nobody will read must not block this process's exit
    return out


def unthrottled_steps_per_s(pipeline: Any, seconds: float) -> float:
    """The learner alone: a trainer thread at full budget, no inference meanwhile. At nice 19 like options
    b and c, so that the fraction measures what inference takes from the learner, not what other processes
    on a shared machine take from a low-priority thread."""
    from robossl.online import BackgroundTrainer, TrainerConfig

    settings = {**CONFIG["trainer"], "cpu_fraction": 1.0, "yield_to_inference": True}
    trainer = BackgroundTrainer(
        pipeline.learner, pipeline.replay, slot=pipeline.trainer.slot, config=TrainerConfig(**settings)
    )
    trainer.start()
    try:
        time.sleep(1.0)  # warm-up
        return count_steps(trainer, seconds)
    finally:
        trainer.stop()


def summary(out: dict[str, Any], processing_s: float, unthrottled: float) -> dict[str, Any]:
    lat = np.asarray(out.pop("latencies"))
    p50, p99 = (float(v) for v in np.percentile(lat, [50, 99])) if lat.size else (np.nan, np.nan)
    return {
        "frames": int(lat.size),
        "skipped_stale": out.pop("skipped"),
        "p50_ms": round(p50 * 1e3, 2),
        "p99_ms": round(p99 * 1e3, 2),
        "p99_over_processing": round(p99 / processing_s, 3),
        "steps_per_s": round(out.get("steps_per_s", 0.0), 2),
        "learner_rate_fraction": round(out.get("steps_per_s", 0.0) / unthrottled, 3) if unthrottled else None,
        **{k: v for k, v in out.items() if k not in ("wall_s", "steps_per_s")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per phase [s]")
    parser.add_argument("--rate-hz", type=float, default=20.0, help="stereo frame rate [Hz]")
    parser.add_argument("--only", action="append", choices=("a", "b", "c"), default=[])
    args = parser.parse_args()
    from _common import Target, bench_lock, print_table, print_targets, write_results

    torch.set_num_threads(1)
    sys.setswitchinterval(0.001)  # as robossl_ros.runtime.spin_nodes sets it for the nodes
    calibration, frames, source = stereo_frames(95)
    pipeline = make_pipeline(calibration)
    with bench_lock():
        for left, right in frames[:40]:  # fill the replay buffer, warm up SGBM and the student
            pipeline.process(left, right, time.time())
        base = run_frames(pipeline, frames, args.seconds, args.rate_hz)
        processing_s = float(np.median(base["latencies"]))
        unthrottled = unthrottled_steps_per_s(pipeline, args.seconds / 2)
        results: dict[str, Any] = {"no_learning": summary(base, processing_s, 0.0)}
        options = {
            "a": (
                "a_fixed_budget",
                lambda: thread_option(pipeline, frames, args, yield_to_inference=False, cpu_fraction=0.5),
            ),
            "b": (
                "b_yield",
                lambda: thread_option(pipeline, frames, args, yield_to_inference=True, cpu_fraction=1.0),
            ),
            "c": ("c_process", lambda: process_option(pipeline, frames, args)),
        }
        for key, (name, run) in options.items():
            if args.only and key not in args.only:
                continue
            print(f"measuring {name} for {args.seconds:.0f} s ...", flush=True)
            results[name] = summary(run(), processing_s, unthrottled)
    results["processing_ms"] = round(processing_s * 1e3, 2)
    results["unthrottled_steps_per_s"] = round(unthrottled, 2)
    rows = [
        {
            "option": k,
            **{
                c: v.get(c)
                for c in (
                    "p50_ms",
                    "p99_ms",
                    "p99_over_processing",
                    "steps_per_s",
                    "learner_rate_fraction",
                    "skipped_stale",
                )
            },
        }
        for k, v in results.items()
        if isinstance(v, dict)
    ]
    print_table(rows)
    print(f"processing without learning {processing_s * 1e3:.1f} ms; learner alone {unthrottled:.1f} steps/s")
    targets = []
    for name, r in results.items():
        if isinstance(r, dict) and name != "no_learning":
            targets.append(
                Target(
                    f"{name} p99 / processing", r["p99_over_processing"], "<=", P99_RATIO_TARGET, "issue #22"
                )
            )
            targets.append(
                Target(
                    f"{name} learner rate fraction",
                    r["learner_rate_fraction"],
                    ">=",
                    RATE_FRACTION_TARGET,
                    "issue #22",
                )
            )
    print_targets(targets)
    write_results(
        "inference_first",
        results,
        targets=targets,
        source=source,
        rate_hz=args.rate_hz,
        seconds=args.seconds,
        load_average=list(os.getloadavg()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
