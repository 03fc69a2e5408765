"""Show, check or replay a bag (ROS 1 .bag, rosbag2 folder, .mcap / .db3 file).

Examples:
    robossl replay flight_bag --info                      # topics, types, counts, duration
    robossl replay flight_bag                             # decode every message in-process, report speed
    robossl replay flight_bag --topics /imu0 --start 10 --end 20
    robossl replay flight_bag --ros --rate 2              # publish on ROS 2 topics at 2x with /clock
    robossl replay flight_bag --ros --max-speed --backpressure   # as fast as subscribers take it
    robossl-sandbox robossl replay flight_bag --ros       # inside a private network namespace

A damaged bag (truncated, corrupted, missing files, unknown serialization) is reported on stderr and its
readable part still replays; the exit status is then 1 (0 when clean, 2 when nothing could be read).
``--info`` reads and decodes every message, so it reports damage the index does not show, with the
recovered / lost counts. Use --strict to stop at the first problem instead (exit status 2). ``--ros``
publishes with loopback-only DDS and leaves out topics whose message type is not installed for rclpy; nodes
that should follow the bag's time need ``use_sim_time:=true``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robossl.data.bags import BagReader
    from robossl_sim.replay import ReplayConfig

HELP = "inspect a bag, or replay it in-process or onto ROS 2 topics (1x, Nx, max speed, /clock)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bag", nargs="+", help="bag path(s): .bag file(s), a rosbag2 folder, or a .mcap/.db3 file"
    )
    parser.add_argument(
        "--info", action="store_true", help="print topics and counts, and check that every message reads"
    )
    parser.add_argument("--topics", nargs="+", default=None, help="topics to replay (default: all)")
    parser.add_argument(
        "--start", type=float, default=None, help="seconds after the first message to start at"
    )
    parser.add_argument("--end", type=float, default=None, help="seconds after the first message to stop at")
    parser.add_argument(
        "--rate", type=float, default=1.0, help="playback speed, multiple of real time (--ros)"
    )
    parser.add_argument("--max-speed", action="store_true", help="no pacing: as fast as possible")
    parser.add_argument(
        "--strict", action="store_true", help="fail at the first problem instead of salvaging"
    )
    parser.add_argument("--ros", action="store_true", help="publish on ROS 2 topics (needs rclpy)")
    parser.add_argument(
        "--backpressure", action="store_true", help="--ros: wait for subscribers to ack each message"
    )
    parser.add_argument("--no-clock", action="store_true", help="--ros: do not publish /clock")
    parser.add_argument("--prefix", default="", help="--ros: prefix for published topic names, e.g. /replay")
    parser.add_argument(
        "--wait-subscribers", type=float, default=0.0, help="--ros: seconds to wait for subscribers first"
    )


def _info(bag: BagReader, readable: dict[str, int] | None = None) -> None:
    print(f"duration: {bag.duration_s:.3f} s   messages: {bag.message_count}   files: {len(bag.sources)}")
    width = max([len(t) for t in bag.topics] + [5])
    for topic, summary in bag.topics.items():
        line = f"  {topic:<{width}}  {summary.msgtype:<40} {summary.count:>9}  {summary.serialization_format}"
        if readable is not None:
            line += f"  {readable.get(topic, 0):>9} readable"
        print(line)


def _check(bag: BagReader) -> list[str]:
    """Read and decode every message; print the table with readable counts and the salvage summary."""
    for _ in bag.messages():
        pass
    _info(bag, bag.stats.per_topic)
    counts = bag.salvage_counts()
    print(
        f"check: {counts.recovered} message(s) readable, {counts.lost} lost, "
        f"{counts.damaged_regions} damaged region(s)"
    )
    return list(bag.problems)


def run(args: argparse.Namespace) -> int:
    from robossl.data.bags import BagError, BagReader

    paths = args.bag if len(args.bag) > 1 else args.bag[0]
    try:
        with BagReader(paths, salvage=not args.strict) as bag:
            if args.info:
                problems = _check(bag)
            else:
                _info(bag)
        if args.info:
            return _report(problems)
        if args.ros:
            return _replay_ros(args, paths)
        return _replay_in_process(args, paths)
    except (BagError, ValueError) as exc:  # ValueError: a message type rclpy cannot import (--ros --strict)
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _config(args: argparse.Namespace, decode: bool, rate: float | None) -> ReplayConfig:
    from robossl_sim.replay import ReplayConfig

    return ReplayConfig(
        rate=rate, topics=args.topics, start=args.start, end=args.end, decode=decode, salvage=not args.strict
    )


def _replay_in_process(args: argparse.Namespace, paths: Any) -> int:
    from tqdm import tqdm

    from robossl_sim.replay import Replayer

    # an in-process check has no consumer to pace for: max speed unless a rate other than 1 is asked for
    rate = None if args.max_speed or args.rate == 1.0 else args.rate
    replayer = Replayer(paths, _config(args, decode=True, rate=rate))
    with tqdm(desc="replay", unit="msg") as bar:
        stats = replayer.run(lambda m: bar.update(1))
    print(
        f"replayed {stats.messages} messages, {stats.bag_s:.3f} s of log in {stats.wall_s:.3f} s "
        f"({stats.x_realtime:.1f}x real time)"
    )
    for topic, count in sorted(stats.per_topic.items()):
        print(f"  {topic}: {count}")
    return _report(stats.problems)


def _replay_ros(args: argparse.Namespace, paths: Any) -> int:
    from robossl_sim.ros_replay import RosReplayConfig, run_ros_replay

    ros = RosReplayConfig(
        publish_clock=not args.no_clock,
        backpressure=args.backpressure,
        wait_for_subscribers_s=args.wait_subscribers,
        topic_prefix=args.prefix,
    )
    stats, ack_timeouts = run_ros_replay(
        paths, _config(args, decode=False, rate=None if args.max_speed else args.rate), ros
    )
    print(
        f"published {stats.messages} messages, {stats.bag_s:.3f} s of log in {stats.wall_s:.3f} s "
        f"({stats.x_realtime:.1f}x real time), late {stats.late}, ack timeouts {ack_timeouts}"
    )
    return _report(stats.problems)
