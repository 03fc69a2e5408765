"""Run the main job on its embedded default: the pipelines live in simulation as ROS 2 nodes.

Examples:
    robossl demo                      # what `make demo` runs (about 5 minutes on 2 cores)
    robossl demo --seed 3             # another room, terrain map and activity stream
    robossl demo --stages drone --drone-seconds 30

Needs no robot, no ROS installation and no real data. Runs inside a private network namespace with the
loopback-only DDS profile (re-executes itself under robossl-sandbox). Writes runs/<timestamp>/: report.html
(self-contained), summary.json, bag/ (rosbag2 mcap of every topic), models/, config/ and logs/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "run all pipelines live in simulation as ROS 2 nodes and write runs/<timestamp>/report.html"
STAGES = ("drone", "rover", "har")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of the run folder")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run")
    parser.add_argument(
        "--drone-seconds",
        type=float,
        default=90.0,
        help="simulated seconds of the drone stage (frames = seconds x camera rate)",
    )
    parser.add_argument(
        "--rover-seconds", type=float, default=60.0, help="simulated seconds of the rover stage"
    )
    parser.add_argument(
        "--har-seconds", type=float, default=60.0, help="seconds of IMU stream replayed in the HAR stage"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("runs/cache"),
        help="recorded training logs and pretrained checkpoints, reused by later runs (default runs/cache)",
    )
    parser.add_argument(
        "--no-pretrain",
        action="store_true",
        help="start every node from random initialisation instead of the offline-pretrained checkpoints",
    )


def run(args: argparse.Namespace) -> int:
    from robossl.netsafe import is_private_netns
    from robossl.netsafe.sandbox import sandbox_argv

    for name in ("drone_seconds", "rover_seconds", "har_seconds"):
        if getattr(args, name) <= 0:
            print(f"robossl demo: --{name.replace('_', '-')} must be > 0", file=sys.stderr)
            return 2
    if not (os.environ.get("ROBOSSL_SANDBOXED") == "1" and is_private_netns()):
        argv = [sys.executable, "-m", "robossl.cli.main", "demo", *sys.argv[2:]] if sys.argv[1:2] == ["demo"] else [
            sys.executable, "-m", "robossl.cli.main", "demo", "--seed", str(args.seed), "--out", str(args.out),
            "--stages", *args.stages, "--drone-seconds", str(args.drone_seconds),
            "--rover-seconds", str(args.rover_seconds), "--har-seconds", str(args.har_seconds),
            "--cache-dir", str(args.cache_dir), *(["--no-pretrain"] if args.no_pretrain else []),
        ]  # fmt: skip
        full = sandbox_argv(argv)
        os.execv(full[0], full)
    os.environ.setdefault("MUJOCO_GL", "egl")
    from robossl_ros.demo.runner import DemoConfig, run_demo

    config = DemoConfig(
        seed=args.seed,
        out_dir=args.out,
        drone_seconds=args.drone_seconds,
        rover_seconds=args.rover_seconds,
        har_seconds=args.har_seconds,
        stages=tuple(args.stages),
        cache_dir=args.cache_dir,
        pretrained=not args.no_pretrain,
    )
    run_demo(config)
    return 0
