"""Start, spin and cleanly stop one or several robossl nodes in one process.

Both each node's ``main()`` and ``robossl launch`` use :func:`spin_nodes`: loopback-only DDS is applied
before ``rclpy.init``, the nodes share one ``MultiThreadedExecutor``, and on Ctrl-C (SIGINT), SIGTERM, a
finished ``duration_s`` or an error every node's ``close()`` runs (models are saved) before the context
shuts down.
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

NODE_TYPES: dict[str, str] = {
    "stereo_mono_node": "robossl_ros.stereo_mono_node:StereoMonoNode",
    "terrain_node": "robossl_ros.terrain_node:TerrainNode",
    "har_node": "robossl_ros.har_node:HarNode",
    "serial_bridge_node": "robossl_ros.serial_bridge_node:SerialBridgeNode",
}
"""Node name -> ``module:Class`` of every robossl node (the default node name is the key)."""


EXECUTORS = ("multi", "single", "events")


def node_class(node_type: str) -> type:
    """The class of a robossl node type.

    Raises:
        ValueError: unknown node type (the message lists the known ones).
    """
    target = NODE_TYPES.get(node_type)
    if target is None:
        raise ValueError(f"unknown robossl node {node_type!r}; known nodes: {', '.join(NODE_TYPES)}")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def spin_nodes(
    factories: Sequence[Callable[[], Any]],
    ros_args: Sequence[str] | None = None,
    duration_s: float | None = None,
    threads: int | None = None,
    executor: str = "multi",
) -> int:
    """Create the nodes, spin them until shutdown, close them. Returns a process exit status.

    Args:
        factories: callables returning a node each (called after ``rclpy.init``).
        ros_args: command-line arguments for ``rclpy.init`` (e.g. ``["--ros-args", "--params-file", f]``).
        duration_s: stop after this many seconds (None: until Ctrl-C / SIGTERM).
        threads: executor threads of the multi-threaded executor (None: rclpy's default, the CPU count).
        executor: ``"multi"`` (rclpy MultiThreadedExecutor), ``"single"`` (SingleThreadedExecutor) or
            ``"events"`` (rclpy.experimental.EventsExecutor: single-threaded, lowest overhead).

    Returns:
        0 after a normal stop, 2 when a node could not start because of a parameter or input error.
    """
    from robossl.netsafe import apply_loopback_env, require_loopback_env

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use one of {EXECUTORS}")
    apply_loopback_env()
    require_loopback_env()
    # Background trainers share the GIL with the callbacks; a 1 ms switch interval (default 5 ms) lets a
    # callback get the interpreter back sooner while a training step runs Python code.
    sys.setswitchinterval(0.001)
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=list(ros_args) if ros_args is not None else None)
    # SIGTERM (e.g. from a supervisor) takes the same clean path as Ctrl-C.
    previous_term = signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    runner = make_executor(executor, threads)
    nodes: list[Any] = []
    status = 0
    try:
        for factory in factories:
            node = factory()
            nodes.append(node)
            runner.add_node(node)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
            runner.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as exc:  # ParameterError and bad configuration: say why, do not dump a traceback
        print(f"robossl node failed to start: {exc}", file=sys.stderr)
        status = 2
    finally:
        runner.shutdown(timeout_sec=5.0)  # lets in-flight callbacks finish before models are saved
        for node in reversed(nodes):
            try:
                node.close()
            except Exception as exc:  # one failing close must not keep the others from saving
                print(f"error while closing {node.get_name()}: {exc}", file=sys.stderr)
                status = status or 1
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGTERM, previous_term)
    return status


def make_executor(kind: str, threads: int | None = None) -> Any:
    """A new rclpy executor of ``kind`` (one of :data:`EXECUTORS`); ``threads`` sizes the multi-threaded one
    (None: rclpy's default, the CPU count)."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; use one of {EXECUTORS}")
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor()
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    return SingleThreadedExecutor() if kind == "single" else MultiThreadedExecutor(num_threads=threads)


def default_executor() -> str:
    """``"events"`` where ``rclpy.experimental.EventsExecutor`` exists, else ``"multi"`` (e.g. Humble)."""
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:
        return "multi"
    return "events"


def node_main(node_type: str, args: Sequence[str] | None = None) -> int:
    """The ``main()`` of one node: ``ros2 run robossl_ros <node_type> [--executor events] --ros-args ...``.

    ``--executor multi|single|events`` (before ``--ros-args``) picks the executor. Default ``events``
    (rclpy's C++ events executor: measured lower latency and no input loss under CPU contention, see
    bench/ros_latency.py) where rclpy has it (Jazzy and newer), else ``multi``.
    """
    cls = node_class(node_type)
    argv = list(sys.argv if args is None else args)
    executor = default_executor()
    if "--executor" in argv:
        i = argv.index("--executor")
        if i + 1 >= len(argv):
            print(f"--executor needs one of {EXECUTORS}", file=sys.stderr)
            return 2
        executor = argv[i + 1]
        del argv[i : i + 2]
    return spin_nodes([cls], ros_args=argv, executor=executor)
