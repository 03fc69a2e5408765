"""Run several robossl ROS 2 nodes in one process (one MultiThreadedExecutor), from a parameter file.

Examples:
    robossl launch ros_nodes/config/har_node.yaml
    robossl launch my_robot.yaml --only har_node --only serial_bridge_node
    robossl launch ros_nodes/config/demo.yaml --duration 60      # stop (and save models) after 60 s
    robossl-sandbox robossl launch ros_nodes/config/demo.yaml    # inside a private network namespace

CONFIG is an ordinary ROS 2 parameter file keyed by node name; every top-level key that names a robossl node
(stereo_mono_node, terrain_node, har_node, serial_bridge_node, optionally with a namespace such as
``/drone/stereo_mono_node``) starts that node with its ``ros__parameters``. The same file works with
``ros2 run robossl_ros <node> --ros-args --params-file CONFIG``. A parameter that the node does not declare
(a typo such as ``learnig_rate``) is an error before anything starts: the message names the key, the file,
the closest known parameter and all known ones (exit status 2). Loopback-only DDS is applied before ROS
starts. Ctrl-C stops every node and saves their models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run robossl ROS 2 nodes in one process from a parameter file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="ROS 2 parameter YAML keyed by node name")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NODE", help="start only this node (repeatable)"
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--threads", type=int, default=None, help="executor threads (default: CPU count)")


def nodes_in_config(config: Path) -> list[tuple[str, str]]:
    """``[(namespace, node_name), ...]`` for every top-level key of ``config`` that names a robossl node.

    Raises:
        ValueError: unreadable YAML, no robossl node, or a key that is neither a robossl node nor ``/**``.
    """
    import yaml

    from robossl_ros.runtime import NODE_TYPES

    try:
        data = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read launch config {config}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{config}: expected a mapping of node names to {{ros__parameters: ...}}")
    found = []
    for key in data:
        path = str(key).strip("/")
        if path in ("**", "*"):
            continue  # wildcard parameters for every node
        namespace, _, name = path.rpartition("/")
        if name not in NODE_TYPES:
            raise ValueError(
                f"{config}: top-level key {key!r} is not a robossl node; use one of {', '.join(NODE_TYPES)} "
                "(optionally with a namespace, e.g. /drone/stereo_mono_node)"
            )
        entry = data[key]
        if not isinstance(entry, dict) or set(entry) - {"ros__parameters"}:
            raise ValueError(f"{config}: {key!r} must hold exactly one key 'ros__parameters'")
        found.append(("/" + namespace if namespace else "", name))
    if not found:
        raise ValueError(f"{config} names no robossl node; known: {', '.join(NODE_TYPES)}")
    return found


def check_parameter_names(config: Path, nodes: list[tuple[str, str]]) -> None:
    """Every parameter ``config`` sets for a node (its own section or a ``/**`` wildcard one, which ROS
    applies to every node) is declared by that node.

    Raises:
        ValueError: names the section, the unknown keys (with the closest declared name) and the file.
    """
    import yaml

    from robossl_ros.base import COMMON_SPECS
    from robossl_ros.params import parameter_names, undeclared, unknown_keys_message
    from robossl_ros.runtime import node_class

    data = yaml.safe_load(config.read_text())
    started = {name for _, name in nodes}
    for key, entry in data.items():
        path = str(key).strip("/")
        name = path.rpartition("/")[2]
        targets = sorted(started) if name in ("**", "*") else [name] if name in started else []
        values = entry.get("ros__parameters") if isinstance(entry, dict) else None
        for target in targets:
            specs = getattr(node_class(target), "SPECS", ())
            declared = [spec.name for spec in (*COMMON_SPECS, *specs)]
            unknown = undeclared(parameter_names(values or {}), declared)
            if unknown:
                raise ValueError(unknown_keys_message(unknown, declared, f"{config}: {key} (for {target})"))


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from robossl_ros.runtime import node_class, spin_nodes

    try:
        nodes = nodes_in_config(args.config)
    except ValueError as exc:
        print(f"robossl launch: {exc}")
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {name for _, name in nodes})
        if unknown:
            print(f"robossl launch: --only {unknown} not in {args.config}")
            return 2
        nodes = [(ns, name) for ns, name in nodes if name in args.only]
    try:
        check_parameter_names(args.config, nodes)
    except ValueError as exc:
        print(f"robossl launch: {exc}")
        return 2
    factories = [
        partial(node_class(name), namespace=namespace) if namespace else node_class(name)
        for namespace, name in nodes
    ]
    print(f"robossl launch: starting {', '.join(name for _, name in nodes)} (Ctrl-C stops and saves models)")
    ros_args = ["robossl-launch", "--ros-args", "--params-file", str(args.config.resolve())]
    return spin_nodes(factories, ros_args=ros_args, duration_s=args.duration, threads=args.threads)
