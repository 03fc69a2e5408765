"""Inference first on the robossl ROS 2 nodes over real DDS: latency with and without learning, learner rate.

Examples:
    flock /tmp/robossl-demo.lock .venv/bin/python bench/ros_latency.py   # re-runs itself in robossl-sandbox
    .venv/bin/python bench/ros_latency.py --seconds 10 --only har_node --no-demo

Each node runs in its own process (``python -m robossl_ros.<node>``); this process publishes the inputs
stamped with the wall clock and receives the outputs (bench/ros_latency_feeders.py), so a latency is
``receive time - input stamp``. Per node, in ONE run:

1. **learning**: the node starts with online learning (``cpu_fraction`` 1.0: the trainer's ceiling; it
   yields to inference, ``TrainerConfig.yield_to_inference``). Inputs flow until training has started.
2. **learner alone**: inputs stop for ``--alone-seconds``; the node's trainer steps (diagnostics
   ``learner_steps``; terrain: learning rounds) per second are the learner's unthrottled rate (same
   process, same model, same priority, nothing to infer).
3. **with learning**: inputs for ``--seconds``: end-to-end p50/p99, drops by reason, learner steps/s.
4. **no learning**: the node restarts from the model it saved, with learning off (stereo ``learning:=false``,
   HAR ``min_windows`` out of reach, terrain ``min_clips`` out of reach); inputs for ``--seconds``. Its
   median end-to-end latency is the node's processing time without learning.

``p99_over_processing`` = p99 with learning / processing time without learning (target <= 1.5, issue #22);
``learner_rate_fraction`` = learner steps/s with the node running / learner alone (target >= 0.5). The
learner steps/s stand next to Wild Visual Navigation's 10 steps/s learner thread (docs/online.md). The
same four phases then run with all three nodes at once (the demo's load: ``demo_load``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_latency_feeders as feeders  # noqa: E402

WVN_STEPS_PER_S = 10.0  # Wild Visual Navigation's learner thread (../shared/notes/methods.md)
P99_RATIO_TARGET = 1.5
RATE_FRACTION_TARGET = 0.5
NODES = ("stereo_mono_node", "har_node", "terrain_node")


def drive(session: Any, group: Sequence[Any], seconds: float, until: Any = None) -> bool:
    """Feed every node of ``group`` for ``seconds`` (or until ``until()`` is true); True if it became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = time.monotonic()
        for feeder in group:
            feeder.tick(now)
        session.rclpy.spin_once(session.node, timeout_sec=0.002)
        if until is not None and until():
            return True
    return until is None


def start_group(session: Any, group: Sequence[Any], log_dir: Path, tag: str, learning: bool) -> list[Any]:
    procs = [
        feeders.start_node(f.node, f.params(learning, log_dir / f"{tag}_{f.node}.pt"), log_dir, tag)
        for f in group
    ]
    deadline = time.monotonic() + 120
    while not all(f.ready() for f in group):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{[f.node for f in group]} did not start; see the logs in {log_dir}")
        session.spin_for(0.1)
    for f in group:
        session.diagnostics.pop(f.node, None)
    session.spin_for(1.0)
    return procs


def stop_group(procs: list[Any], log_dir: Path) -> None:
    for proc in procs:
        rc = feeders.stop_node(proc)
        if rc != 0:
            print(f"a node exited with {rc}; logs in {log_dir}")


def summary(latencies: list[float], missing: int) -> dict[str, Any]:
    p50, p99 = (float(v) for v in np.percentile(latencies, [50, 99])) if latencies else (np.nan, np.nan)
    return {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "outputs": len(latencies), "missing": missing}


def node_values(session: Any, node: str) -> dict[str, Any]:
    diag = session.diagnostics.get(node, {})
    keep = ("inference_p50_ms", "inference_p99_ms", "inference_no_learning_ms", "learner_duty_cycle")
    out: dict[str, Any] = {k: float(diag[k]) for k in keep if k in diag}
    out["drops_by_reason"] = {k: int(v) for k, v in diag.items() if k.startswith("dropped.")}
    return out


def measure_group(session: Any, group: Sequence[Any], log_dir: Path, tag: str, args: Any) -> dict[str, Any]:
    """The four phases for the nodes of ``group`` at once; results per node."""
    results: dict[str, dict[str, Any]] = {f.node: {"inputs": f.inputs, "source": f.source} for f in group}
    procs = start_group(session, group, log_dir, tag, learning=True)
    try:
        started = lambda: all(session.diag(f.node, "training_steps") > 0 for f in group)  # noqa: E731
        if not drive(session, group, 180, until=started):
            raise RuntimeError(f"online training never started in {tag}; see the logs in {log_dir}")
        drive(session, group, 3.0)
        session.spin_for(1.5)  # the outputs of the last inputs, a fresh /diagnostics
        steps = {f.node: session.diag(f.node, "learner_steps") for f in group}
        session.spin_for(args.alone_seconds)  # learner alone: no inputs
        for f in group:
            alone = (session.diag(f.node, "learner_steps") - steps[f.node]) / args.alone_seconds
            results[f.node]["learner_alone_steps_per_s"] = round(alone, 3)
            f.mark()
        steps = {f.node: session.diag(f.node, "learner_steps") for f in group}
        drive(session, group, args.seconds)
        done = {
            f.node: session.diag(f.node, "learner_steps") for f in group
        }  # diagnostics lag ~1 s both ends
        session.spin_for(2.0)  # late outputs and a fresh /diagnostics
        for f in group:
            r = results[f.node]
            r["learning"] = {**summary(*f.latencies_ms()), **node_values(session, f.node)}
            r["learner_steps_per_s"] = round((done[f.node] - steps[f.node]) / args.seconds, 3)
    finally:
        stop_group(procs, log_dir)
    procs = start_group(session, group, log_dir, tag, learning=False)
    try:
        drive(session, group, 5.0)  # warm-up
        for f in group:
            f.mark()
        drive(session, group, args.seconds)
        session.spin_for(2.0)
        for f in group:
            results[f.node]["no_learning"] = {**summary(*f.latencies_ms()), **node_values(session, f.node)}
    finally:
        stop_group(procs, log_dir)
    for r in results.values():
        processing = r["no_learning"]["p50_ms"]
        alone = r["learner_alone_steps_per_s"]
        r["processing_ms"] = processing
        r["p99_over_processing"] = round(r["learning"]["p99_ms"] / processing, 3) if processing > 0 else None
        r["learner_rate_fraction"] = round(r["learner_steps_per_s"] / alone, 3) if alone > 0 else None
        r["learner_steps_per_s_vs_wvn"] = round(r["learner_steps_per_s"] / WVN_STEPS_PER_S, 3)
    return results


def guarded(session: Any, group: Sequence[Any], log_dir: Path, tag: str, args: Any) -> dict[str, Any]:
    """:func:`measure_group`, or its error per node (the other groups still run; targets read n/a)."""
    try:
        return measure_group(session, group, log_dir, tag, args)
    except RuntimeError as exc:
        print(f"{tag}: {exc}", flush=True)
        failed = {"error": str(exc), "p99_over_processing": None, "learner_rate_fraction": None}
        return {f.node: dict(failed) for f in group}


def targets_of(results: dict[str, Any]) -> list[Any]:
    from _common import Target

    targets = []
    for scope, nodes in results.items():
        for node, r in nodes.items():
            label = node if scope == "alone" else f"{node} under demo load"
            targets.append(
                Target(
                    f"{label} p99 / processing", r["p99_over_processing"], "<=", P99_RATIO_TARGET, "issue #22"
                )
            )
            targets.append(
                Target(
                    f"{label} learner rate fraction",
                    r["learner_rate_fraction"],
                    ">=",
                    RATE_FRACTION_TARGET,
                    "issue #22",
                )
            )
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per phase [s]")
    parser.add_argument("--alone-seconds", type=float, default=12.0, help="learner-alone phase [s]")
    parser.add_argument("--only", choices=NODES, action="append", default=[])
    parser.add_argument("--no-demo", action="store_true", help="skip the all-nodes-at-once phase")
    parser.add_argument("--executor", choices=("multi", "single", "events"), default="events")
    args = parser.parse_args()
    from _common import print_table, print_targets, rerun_in_sandbox, write_results

    rerun_in_sandbox()
    feeders.EXECUTOR = args.executor
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    log_dir = Path(tempfile.mkdtemp(prefix="ros_latency_"))
    load_before = list(os.getloadavg())
    session = feeders.Session()
    made = {
        "stereo_mono_node": feeders.StereoFeeder,
        "har_node": feeders.HarFeeder,
        "terrain_node": feeders.TerrainFeeder,
    }
    all_feeders = [made[name]() for name in NODES if not args.only or name in args.only]
    for feeder in all_feeders:
        feeder.setup(session)
    results: dict[str, Any] = {"alone": {}}
    try:
        for feeder in all_feeders:
            print(f"measuring {feeder.node} ...", flush=True)
            results["alone"].update(guarded(session, [feeder], log_dir, "alone", args))
        if not args.no_demo and len(all_feeders) > 1:
            print("measuring all nodes at once (demo load) ...", flush=True)
            results["demo_load"] = guarded(session, all_feeders, log_dir, "demo", args)
    finally:
        session.close()
    shown = (
        "processing_ms",
        "p99_over_processing",
        "learner_steps_per_s",
        "learner_alone_steps_per_s",
        "learner_rate_fraction",
    )
    rows = []
    for scope, nodes in results.items():
        for node, r in nodes.items():
            p99 = r.get("learning", {}).get("p99_ms")
            rows.append({"scope": scope, "node": node, "p99_ms": p99, **{k: r.get(k) for k in shown}})
    print_table(rows)
    targets = targets_of(results)
    print_targets(targets)
    write_results(
        "ros_latency",
        results,
        targets=targets,
        executor=args.executor,
        seconds=args.seconds,
        wvn_learner_steps_per_s=WVN_STEPS_PER_S,
        load_average_before=load_before,
        load_average_after=list(os.getloadavg()),
        logs=str(log_dir),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
