"""Helpers of the node integration tests: start a node in its own process, talk to it over real DDS.

The node runs as ``python -m robossl_ros.<node> --ros-args -p name:=value ...`` in a separate process (its
own rclpy context); the test process holds a :class:`Probe` (a second rclpy node) that publishes inputs and
collects outputs and /diagnostics. Both run inside the robossl-sandbox network namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_param_text(v) for v in value) + "]"
    return str(value)


def start_node(node: str, log_dir: Path, params: dict[str, Any] | None = None) -> subprocess.Popen[bytes]:
    """Start ``robossl_ros.<node>`` in a new process; stdout/stderr go to ``log_dir/<node>.log``."""
    argv = [sys.executable, "-m", f"robossl_ros.{node}", "--ros-args"]
    for name, value in (params or {}).items():
        argv += ["-p", f"{name}:={_param_text(value)}"]
    log = open(log_dir / f"{node}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))


def stop_node(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGINT (Ctrl-C) the node and wait for its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def node_log(log_dir: Path, node: str) -> str:
    return (log_dir / f"{node}.log").read_text(errors="replace")


class Probe:
    """An in-test rclpy node: publishers by topic, and received messages collected per topic."""

    def __init__(self, name: str = "probe") -> None:
        import rclpy

        from robossl.netsafe import apply_loopback_env

        apply_loopback_env()
        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node(name)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.receive_times: dict[str, list[float]] = defaultdict(list)
        self.publishers: dict[str, Any] = {}

    def publisher(self, msg_type: type, topic: str, qos: Any = 10) -> Any:
        self.publishers[topic] = self.node.create_publisher(msg_type, topic, qos)
        return self.publishers[topic]

    def subscribe(self, msg_type: type, topic: str, qos: Any = 10) -> None:
        def collect(msg: Any) -> None:
            self.received[topic].append(msg)
            self.receive_times[topic].append(time.time())

        self.node.create_subscription(msg_type, topic, collect, qos)

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.rclpy.spin_once(self.node, timeout_sec=min(0.02, max(0.0, deadline - time.monotonic())))
        return predicate()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def wait_for_subscribers(self, topics: list[str], timeout: float = 30.0) -> None:
        ok = self.spin_until(
            lambda: all(self.publishers[t].get_subscription_count() > 0 for t in topics), timeout
        )
        assert ok, f"node did not subscribe to {topics} within {timeout} s"

    def diagnostics(self, node_name: str) -> dict[str, str] | None:
        """Values of the newest /diagnostics status of ``node_name`` received so far."""
        from robossl_ros.diagnostics import status_values

        for msg in reversed(self.received.get("/diagnostics", [])):
            values = status_values(msg, node_name)
            if values is not None:
                return values
        return None

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()
