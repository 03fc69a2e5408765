"""Orchestrates ``robossl demo``: each stage starts its robossl node process(es), drives a simulated world
through them over loopback DDS, and the results become ``runs/<timestamp>/report.html``.

The mission's whole loop: before its live stage, each stage's ``prepare`` records training logs (training
rooms / maps / the other subject) and pretrains offline from them through the replay path, cached under
``cache_dir`` (:mod:`robossl_ros.demo.pretrained`); the node starts from that checkpoint in held-out
conditions and keeps learning online. ``pretrained=False`` starts every node from scratch.

All stages share one in-process ROS node that records every topic into ``runs/<timestamp>/bag`` (mcap).
Node processes are stopped with SIGINT (they save their models) in ``finally``, so Ctrl-C leaves nothing
running.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import importlib
import json
import multiprocessing
import os
import queue
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm


@dataclass
class DemoConfig:
    """Settings of one demo run."""

    seed: int = 0  # seeds the worlds (another seed gives another room, map and stream)
    out_dir: Path = Path("runs")  # parent folder of the run folder
    # Budgets are simulated / stream time, and learning is lock-step (steps per frame, image or window), so
    # the figures depend on the data, not on the machine's speed; a slower machine only takes longer.
    drone_seconds: float = 90.0  # simulated flight of the drone stage, seconds (x camera rate = frames)
    rover_seconds: float = 60.0  # simulated driving of the rover stage, seconds
    har_seconds: float = 60.0  # replayed IMU stream of the activity-recognition stage, seconds
    stages: tuple[str, ...] = ("drone", "rover", "har")  # which stages to run
    cache_dir: Path = Path("runs/cache")  # recorded training logs and pretrained checkpoints, reused
    pretrained: bool = True  # start the nodes from offline-pretrained checkpoints (False: from scratch)
    # processes that prepare the stages' pretrained starts side by side (each uses one core); 0 = the
    # machine's core count, at most one per stage
    prepare_workers: int = 0


class _Progress:
    """One tqdm bar per stage, driven by (fraction, status) callbacks."""

    def __init__(self, name: str, position: int | None = None) -> None:
        self.bar = tqdm(
            total=1000,
            desc=f"{name:6s}",
            bar_format="{desc} {percentage:3.0f}%|{bar:30}| {postfix}",
            position=position,
        )

    def __call__(self, fraction: float, status: str) -> None:
        self.bar.n = int(1000 * max(0.0, min(1.0, fraction)))
        self.bar.set_postfix_str(status, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.n = 1000
        self.bar.refresh()
        self.bar.close()


def stage_configs(config: DemoConfig) -> dict[str, tuple[str, Any]]:
    """Selected stage -> (its module, its stage config), in run order."""
    from robossl_ros.demo import drone_stage, har_stage, rover_stage

    made = {
        "drone": (drone_stage.__name__, drone_stage.DroneStageConfig(seed=config.seed, sim_budget_s=config.drone_seconds)),
        "rover": (rover_stage.__name__, rover_stage.RoverStageConfig(seed=config.seed, sim_budget_s=config.rover_seconds)),
        "har": (har_stage.__name__, har_stage.HarStageConfig(seed=config.seed, stream_seconds=config.har_seconds)),
    }  # fmt: skip
    return {name: made[name] for name in ("drone", "rover", "har") if name in config.stages}


def _prepare_worker(name: str, module: str, stage: Any, cache_dir: Path, updates: Any) -> Any:
    """One stage's ``prepare`` in a worker process, on one core; progress goes back through ``updates``."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    return importlib.import_module(module).prepare(
        stage, cache_dir, lambda fraction, status: updates.put((name, fraction, status))
    )


def prepare_all(config: DemoConfig, stages: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """Each stage's pretrained start (:mod:`robossl_ros.demo.pretrained`), made before any live stage.

    The stages' preparations are independent and each runs on one core, so with more than one to make they
    run side by side in ``prepare_workers`` processes (the drone's, the longest, first): on 2 cores the
    first run takes about as long as the longest preparation instead of their sum. Cached starts are
    reused either way. Returns stage -> :class:`PretrainedStart`; empty when ``config.pretrained`` is off.
    """
    if not config.pretrained:
        return {}
    jobs = {
        name: (module, stage)
        for name, (module, stage) in stages.items()
        if hasattr(importlib.import_module(module), "prepare")
    }
    cache_dir = config.cache_dir.resolve()
    workers = min(len(jobs), config.prepare_workers or os.cpu_count() or 1)
    bars = {name: _Progress(f"{name}*", position) for position, name in enumerate(jobs)}
    starts: dict[str, Any] = {}
    try:
        if workers <= 1:
            for name, (module, stage) in jobs.items():
                starts[name] = importlib.import_module(module).prepare(stage, cache_dir, bars[name])
            return starts
        context = multiprocessing.get_context("spawn")
        with (
            context.Manager() as manager,
            concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool,
        ):
            updates = manager.Queue()
            futures = {
                pool.submit(_prepare_worker, name, module, stage, cache_dir, updates): name
                for name, (module, stage) in jobs.items()
            }
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=0.2)
                while True:
                    try:
                        name, fraction, status = updates.get_nowait()
                    except queue.Empty:
                        break
                    bars[name](fraction, status)
                for future in done:
                    starts[futures[future]] = future.result()  # a failed preparation raises here, named
        return starts
    finally:
        for bar in bars.values():
            bar.close()


def run_demo(config: DemoConfig) -> Path:
    """Run the stages and write the report; returns the run folder."""
    from robossl.netsafe import apply_loopback_env, require_loopback_env
    from robossl_ros.demo.report_builder import build_report
    from robossl_ros.demo.ros_side import DemoRosNode

    apply_loopback_env()
    require_loopback_env()
    stamp = _dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    run_dir = (config.out_dir / stamp).resolve()
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "models").mkdir()
    print(f"robossl demo: run folder {run_dir}")
    results: dict[str, Any] = {"seed": config.seed, "run_dir": str(run_dir)}
    started = time.monotonic()
    stages = stage_configs(config)
    starts = prepare_all(config, stages)
    for name, start in starts.items():
        print(
            f"{name}: node starts from {start.checkpoint} ({'cached' if start.cached else 'made now'}): "
            f"{start.description}"
        )
    results["prepare_seconds"] = time.monotonic() - started
    ros = DemoRosNode(run_dir / "bag")
    run = {"drone": _drone, "rover": _rover, "har": _har}
    try:
        for name, (_, stage) in stages.items():
            _start_from(name, starts.get(name), run_dir / "models" / MODEL_FILES[name], results)
            run[name](ros, stage, config, run_dir, results)
    finally:
        ros.close()
    results["bag_counts"] = _bag_counts(run_dir / "bag")
    results["wall_seconds"] = time.monotonic() - started
    report_path, summary = build_report(results, run_dir)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    width = max(len(k) for k in summary)
    print("\nrobossl demo summary")
    for key, value in summary.items():
        print(f"  {key:{width}s}  {value:.4g}" if isinstance(value, float) else f"  {key:{width}s}  {value}")
    print(f"report: {report_path}")
    return run_dir


MODEL_FILES = {"drone": "stereo_mono.pt", "rover": "terrain.pt", "har": "har.pt"}  # in <run>/models/


def _start_from(name: str, start: Any, model: Path, results: dict[str, Any]) -> None:
    """Put the stage's pretrained checkpoint (None: none) where its node loads it at start."""
    if start is None:
        results[f"{name}_start"] = {
            "checkpoint": None,
            "description": "random initialisation",
            "cached": False,
        }
        return
    shutil.copyfile(start.checkpoint, model)
    results[f"{name}_start"] = start.to_dict()


def _stage(name: str, process: Any, ros: Any, results: dict[str, Any], body: Any) -> None:
    """Start ``process``, run ``body(progress)``, always stop the process (models saved) and record how."""
    progress = _Progress(name)
    try:
        process.start()
        results[name] = body(progress)
    finally:
        progress.close()
        results[f"{name}_node_exit"] = process.stop()
        if results[f"{name}_node_exit"] not in (0, None):
            print(
                f"{name}: node process exited with {results[f'{name}_node_exit']}; log tail:\n{process.log_tail()}"
            )


def _drone(ros: Any, stage: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from robossl_ros.demo import drone_stage
    from robossl_ros.demo.ros_side import NodeProcess

    model = run_dir / "models" / MODEL_FILES["drone"]
    process = NodeProcess("drone", drone_stage.node_parameters(stage, str(model)), run_dir)
    _stage("drone", process, ros, results, lambda progress: drone_stage.run(ros, stage, progress))
    results["drone_model_saved"] = model.is_file()
    results["drone_diagnostics"] = dict(ros.diagnostics.get("robossl/stereo_mono_node", {}))


def _rover(ros: Any, stage: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from robossl_ros.demo import rover_stage
    from robossl_ros.demo.ros_side import NodeProcess
    from robossl_sim.worlds.rover import RoverConfig

    rover = RoverConfig()
    mount = [rover.camera_x_m, rover.camera_z_m, rover.camera_pitch_deg]
    model = run_dir / "models" / MODEL_FILES["rover"]
    process = NodeProcess(
        "rover", rover_stage.node_parameters(stage, str(model), mount, pretrained=config.pretrained), run_dir
    )
    _stage("rover", process, ros, results, lambda progress: rover_stage.run(ros, stage, progress))
    results["rover_model_saved"] = model.is_file()
    results["rover_diagnostics"] = dict(ros.diagnostics.get("robossl/terrain_node", {}))


def _har(ros: Any, stage: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from firmware_bridge.emulator import PtyDevices
    from robossl_ros.demo import har_stage
    from robossl_ros.demo.ros_side import NodeProcess

    stream = har_stage.make_stream(stage)
    model = run_dir / "models" / MODEL_FILES["har"]
    with PtyDevices(device_ids=list(range(1, len(stream.streams) + 1))) as link:
        process = NodeProcess("har", har_stage.node_parameters(stream, link.port, str(model), stage), run_dir)
        _stage(
            "har", process, ros, results, lambda progress: har_stage.run(ros, stage, stream, link, progress)
        )
    results["har_model_saved"] = model.is_file()
    results["har_diagnostics"] = dict(ros.diagnostics.get("robossl/har_node", {}))
    results["serial_diagnostics"] = dict(ros.diagnostics.get("robossl/serial_bridge_node", {}))


def _bag_counts(bag: Path) -> dict[str, int]:
    """Messages per topic in the recorded bag, read back from disk (not from the writer's counters)."""
    from robossl.data.bags import BagReader

    with BagReader(bag) as reader:
        return {name: topic.count for name, topic in reader.topics.items()}
