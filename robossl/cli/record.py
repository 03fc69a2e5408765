"""Record live ROS 2 topics into a rosbag2 recording (mcap by default, sqlite3 on request).

Examples:
    robossl record run_001 --topics /cam0/image_raw /imu0 --duration 60
    robossl record run_001 --topics /rover/audio --duration 10 --storage sqlite3
    robossl-sandbox robossl record run_001 --topics /imu --duration 5    # private network namespace

Messages are stored as received (raw CDR, no conversion) with the node clock at reception as log time.
DDS is restricted to loopback (robossl.netsafe). Simulated worlds record in-process instead, with
``robossl_sim.recorder.Recorder``.
"""

from __future__ import annotations

import argparse
import sys

HELP = "record live ROS 2 topics to rosbag2 (mcap default, sqlite3)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="bag folder to create (must not exist)")
    parser.add_argument("--topics", nargs="+", required=True, help="topic names to record")
    parser.add_argument("--duration", type=float, required=True, help="seconds to record")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage format")
    parser.add_argument("--discovery-timeout", type=float, default=5.0, help="seconds to wait for the topics")


def run(args: argparse.Namespace) -> int:
    from robossl.data.bags import BagError
    from robossl_sim.recorder import record_ros

    if args.duration <= 0:
        print("error: --duration must be > 0 seconds", file=sys.stderr)
        return 2
    try:
        counts = record_ros(args.output, args.topics, args.duration, args.storage, args.discovery_timeout)
    except (TimeoutError, BagError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    for topic, count in sorted(counts.items()):
        print(f"  {topic}: {count} messages")
    return 0
