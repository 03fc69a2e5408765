"""Convert a dataset folder to rosbag2 (mcap by default).

Examples:
    robossl convert euroc ../shared/data/stereo/euroc_v1_01_easy_micro euroc_bag
    robossl convert euroc /data/V1_01_easy v101 --max-frames 200 --storage sqlite3
    robossl convert actrectut ../shared/data/har/actrectut act_s1_walk --subject 1 --task walk
    robossl convert borealtc ../shared/data/terrain/borealtc boreal_bags --runs-per-class 2

Topics and units are listed in docs/logs.md ("Converters").
"""

from __future__ import annotations

import argparse
import sys

HELP = "convert EuRoC/ASL, ActRecTut or BorealTC folders to rosbag2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=("euroc", "actrectut", "borealtc"), help="source dataset layout")
    parser.add_argument("source", help="dataset folder")
    parser.add_argument("output", help="output bag folder (borealtc: folder of bags, one per run)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage format")
    parser.add_argument("--max-frames", type=int, default=None, help="euroc: first N stereo pairs only")
    parser.add_argument("--no-imu", action="store_true", help="euroc: leave out /imu0")
    parser.add_argument("--subject", type=int, default=1, help="actrectut: subject 1 or 2")
    parser.add_argument("--task", choices=("gesture", "walk"), default="walk", help="actrectut: recording")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="actrectut/borealtc: first seconds only"
    )
    parser.add_argument("--runs-per-class", type=int, default=None, help="borealtc: first N runs per terrain")


def run(args: argparse.Namespace) -> int:
    from robossl.data.bags import BagError

    try:
        if args.dataset == "euroc":
            from robossl.data.convert.euroc import convert_euroc

            report = convert_euroc(
                args.source, args.output, args.storage, args.max_frames, not args.no_imu, progress=True
            )
        elif args.dataset == "actrectut":
            from robossl.data.convert.actrectut import convert_actrectut

            report = convert_actrectut(
                args.subject,
                args.task,
                args.output,
                args.source,
                args.storage,
                args.max_seconds,
                progress=True,
            )
        else:
            from robossl.data.convert.borealtc import convert_borealtc

            report = convert_borealtc(
                args.output,
                args.source,
                runs_per_class=args.runs_per_class,
                storage=args.storage,
                max_seconds=args.max_seconds,
                progress=True,
            )
    except (BagError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
