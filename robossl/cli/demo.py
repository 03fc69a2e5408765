"""Run the main job on its embedded default (no robot, no ROS installation, no real data needed).

Examples:
    robossl demo                 # what `make demo` runs
    robossl demo --seed 3

Current path (grows as the pipelines land): checks the installation (`robossl doctor`), then starts two
real rclpy processes inside a private network namespace with the loopback-only DDS profile and streams
640x480 rgb8 images between them, verifying every frame.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HELP = "run the main job on the embedded default (simulator and generated data)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run(args: argparse.Namespace) -> int:
    from robossl.cli import doctor
    from robossl.netsafe.sandbox import sandbox_argv

    print("[1/2] robossl doctor")
    if doctor.run(argparse.Namespace(json=False)) != 0:
        return 1
    peer = Path(__file__).resolve().parents[2] / "tests" / "netsafe" / "image_peer.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sub.json"
        script = f"{sys.executable} {peer} sub 14 {out} & sleep 1; {sys.executable} {peer} pub 90 30; wait"
        print("[2/2] streaming 90 images 640x480 rgb8 at 30 Hz between two rclpy processes (loopback DDS)")
        proc = subprocess.run(sandbox_argv(["bash", "-c", script]))
        if proc.returncode != 0 or not out.exists():
            print("demo: DDS image stream failed", file=sys.stderr)
            return 1
        result = json.loads(out.read_text())
    print(f"demo: received {result['received']}/90 images, {result['intact']} intact")
    return 0 if result["intact"] == 90 else 1
