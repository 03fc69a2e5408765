"""Orchestrates ``robossl demo``: each stage starts its robossl node process(es), drives a simulated world
through them over loopback DDS, and the results become ``runs/<timestamp>/report.html``.

The mission's whole loop: before its live stage, each stage's ``prepare`` records training logs (training
rooms / maps / the other subject) and pretrains offline from them through the replay path, cached under
``cache_dir`` (:mod:`robossl_sim.demo.pretrained`); the node starts from that checkpoint in held-out
conditions and keeps learning online. ``pretrained=False`` starts every node from scratch.

All stages share one in-process ROS node that records every topic into ``runs/<timestamp>/bag`` (mcap).
Node processes are stopped with SIGINT (they save their models) in ``finally``, so Ctrl-C leaves nothing
running.
"""

from __future__ import annotations

import datetime as _dt
import json
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


class _Progress:
    """One tqdm bar per stage, driven by (fraction, status) callbacks."""

    def __init__(self, name: str) -> None:
        self.bar = tqdm(
            total=1000, desc=f"{name:6s}", bar_format="{desc} {percentage:3.0f}%|{bar:30}| {postfix}"
        )

    def __call__(self, fraction: float, status: str) -> None:
        self.bar.n = int(1000 * max(0.0, min(1.0, fraction)))
        self.bar.set_postfix_str(status, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.n = 1000
        self.bar.refresh()
        self.bar.close()


def run_demo(config: DemoConfig) -> Path:
    """Run the stages and write the report; returns the run folder."""
    from robossl.netsafe import apply_loopback_env, require_loopback_env
    from robossl_sim.demo.report_builder import build_report
    from robossl_sim.demo.ros_side import DemoRosNode

    apply_loopback_env()
    require_loopback_env()
    stamp = _dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    run_dir = (config.out_dir / stamp).resolve()
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "models").mkdir()
    print(f"robossl demo: run folder {run_dir}")
    results: dict[str, Any] = {"seed": config.seed, "run_dir": str(run_dir)}
    ros = DemoRosNode(run_dir / "bag")
    started = time.monotonic()
    try:
        if "drone" in config.stages:
            _drone(ros, config, run_dir, results)
        if "rover" in config.stages:
            _rover(ros, config, run_dir, results)
        if "har" in config.stages:
            _har(ros, config, run_dir, results)
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


def _start_from(
    name: str, module: Any, stage: Any, model: Path, config: DemoConfig, results: dict[str, Any]
) -> None:
    """Pretrain (or reuse the cached pretraining) and put the checkpoint where the node loads it at start."""
    if not config.pretrained or not hasattr(module, "prepare"):
        results[f"{name}_start"] = {
            "checkpoint": None,
            "description": "random initialisation",
            "cached": False,
        }
        return
    progress = _Progress(f"{name}*")
    try:
        start = module.prepare(stage, config.cache_dir.resolve(), progress)
    finally:
        progress.close()
    shutil.copyfile(start.checkpoint, model)
    results[f"{name}_start"] = start.to_dict()
    print(
        f"{name}: node starts from {start.checkpoint} ({'cached' if start.cached else 'made now'}): {start.description}"
    )


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


def _drone(ros: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from robossl_sim.demo import drone_stage
    from robossl_sim.demo.ros_side import NodeProcess

    stage = drone_stage.DroneStageConfig(seed=config.seed, sim_budget_s=config.drone_seconds)
    model = run_dir / "models" / "stereo_mono.pt"
    _start_from("drone", drone_stage, stage, model, config, results)
    process = NodeProcess("drone", drone_stage.node_parameters(stage, str(model)), run_dir)
    _stage("drone", process, ros, results, lambda progress: drone_stage.run(ros, stage, progress))
    results["drone_model_saved"] = model.is_file()
    results["drone_diagnostics"] = dict(ros.diagnostics.get("robossl/stereo_mono_node", {}))


def _rover(ros: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from robossl_sim.demo import rover_stage
    from robossl_sim.demo.ros_side import NodeProcess
    from robossl_sim.worlds.rover import RoverConfig

    stage = rover_stage.RoverStageConfig(seed=config.seed, sim_budget_s=config.rover_seconds)
    rover = RoverConfig()
    mount = [rover.camera_x_m, rover.camera_z_m, rover.camera_pitch_deg]
    model = run_dir / "models" / "terrain.pt"
    _start_from("rover", rover_stage, stage, model, config, results)
    process = NodeProcess(
        "rover", rover_stage.node_parameters(stage, str(model), mount, pretrained=config.pretrained), run_dir
    )
    _stage("rover", process, ros, results, lambda progress: rover_stage.run(ros, stage, progress))
    results["rover_model_saved"] = model.is_file()
    results["rover_diagnostics"] = dict(ros.diagnostics.get("robossl/terrain_node", {}))


def _har(ros: Any, config: DemoConfig, run_dir: Path, results: dict[str, Any]) -> None:
    from firmware_bridge.emulator import PtyDevices
    from robossl_sim.demo import har_stage
    from robossl_sim.demo.ros_side import NodeProcess

    stage = har_stage.HarStageConfig(seed=config.seed, stream_seconds=config.har_seconds)
    stream = har_stage.make_stream(stage)
    model = run_dir / "models" / "har.pt"
    _start_from("har", har_stage, stage, model, config, results)
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
