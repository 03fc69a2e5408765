"""Orchestrates ``robossl demo``: each stage starts its robossl node process(es), drives a simulated world
through them over loopback DDS, and the results become ``runs/<timestamp>/report.html``.

All stages share one in-process ROS node that records every topic into ``runs/<timestamp>/bag`` (mcap).
Node processes are stopped with SIGINT (they save their models) in ``finally``, so Ctrl-C leaves nothing
running.
"""

from __future__ import annotations

import datetime as _dt
import json
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
    drone_seconds: float = 90.0  # wall-clock budget of the drone stage, seconds
    rover_seconds: float = 60.0  # wall-clock budget of the rover stage, seconds
    har_seconds: float = 60.0  # wall-clock budget of the activity-recognition stage, seconds
    stages: tuple[str, ...] = ("drone", "rover", "har")  # which stages to run


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
    from robossl_sim.demo import drone_stage
    from robossl_sim.demo.report_builder import build_report
    from robossl_sim.demo.ros_side import DemoRosNode, NodeProcess

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
            stage_config = drone_stage.DroneStageConfig(seed=config.seed, wall_budget_s=config.drone_seconds)
            model_path = str(run_dir / "models" / "stereo_mono.pt")
            process = NodeProcess("drone", drone_stage.node_parameters(stage_config, model_path), run_dir)
            progress = _Progress("drone")
            try:
                process.start()
                results["drone"] = drone_stage.run(ros, stage_config, progress)
            finally:
                progress.close()
                status = process.stop()
                results["drone_node_exit"] = status
                results["drone_model_saved"] = Path(model_path).is_file()
                results["drone_diagnostics"] = dict(ros.diagnostics.get("robossl/stereo_mono_node", {}))
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


def _bag_counts(bag: Path) -> dict[str, int]:
    """Messages per topic in the recorded bag, read back from disk (not from the writer's counters)."""
    from robossl.data.bags import BagReader

    with BagReader(bag) as reader:
        return {name: topic.count for name, topic in reader.topics.items()}
