"""The demo's own ROS 2 side: node processes it starts, and one in-process node that feeds the worlds'
sensor data to them, listens to their outputs and records every topic into one rosbag2 (mcap).

Only the demo imports this module (it imports rclpy); the loopback DDS environment must be applied first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from robossl_sim.recorder import Recorder


def _terminate_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent (the demo) exits."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _NoAliasDumper(yaml.SafeDumper):
    """rcl's parameter-file parser rejects YAML anchors/aliases, which PyYAML emits for repeated lists."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class NodeProcess:
    """``robossl launch CONFIG`` as a child process (its own ROS 2 context), logging to a file.

    Stopping sends SIGINT (the nodes save their models and shut down cleanly), then SIGKILL after a grace
    period, so no process outlives the demo.
    """

    def __init__(self, name: str, parameters: dict[str, dict[str, Any]], run_dir: Path) -> None:
        self.name = name
        self.config_path = run_dir / "config" / f"{name}.yaml"
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            yaml.dump(
                {node: {"ros__parameters": p} for node, p in parameters.items()},
                Dumper=_NoAliasDumper,
                sort_keys=False,
            )
        )
        self.log_path = run_dir / "logs" / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
        log = self.log_path.open("wb")
        # Own session: a terminal Ctrl-C reaches only the demo, which then stops each node with exactly
        # one SIGINT (a second one could interrupt the model save). If the demo itself dies, the kernel
        # sends the node SIGTERM (PR_SET_PDEATHSIG), which the nodes handle like Ctrl-C.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "robossl.cli.main", "launch", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGINT, wait up to ``grace_s`` (models are saved), then SIGKILL. Returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class DemoRosNode:
    """One rclpy node spun in a background thread: publishers for the worlds, typed subscriptions for node
    outputs, and raw subscriptions that write every demo topic into one bag."""

    def __init__(self, bag_path: Path, name: str = "robossl_demo") -> None:
        import rclpy

        from robossl_ros.runtime import default_executor, make_executor

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(name)
        # The closed loops wait for the nodes' replies, so this node's callback overhead is in the measured
        # latency: the events executor where it exists (Jazzy+), as the robossl nodes use.
        self.executor = make_executor(default_executor(), threads=2)
        self.executor.add_node(self.node)
        self.recorder = Recorder(bag_path)
        self.recorder.__enter__()
        self._record_lock = threading.Lock()
        self._recorded: set[str] = set()
        self.diagnostics: dict[str, dict[str, str]] = {}  # status name -> latest key/values
        self.diagnostics_history: list[tuple[float, str, dict[str, str]]] = []  # (monotonic, name, values)
        self._watch_diagnostics()
        self._thread = threading.Thread(target=self._spin, name="demo-ros", daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # a shutdown race at the end of the demo; nothing left to do
                if not self._running:
                    return
                raise

    def _watch_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl_ros.qos import DIAGNOSTICS_QOS

        def on_diagnostics(msg: DiagnosticArray) -> None:
            for status in msg.status:
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(
                    int.from_bytes(status.level, "little")
                    if isinstance(status.level, bytes)
                    else status.level
                )
                values["_message"] = status.message
                self.diagnostics[status.name] = values
                self.diagnostics_history.append((time.monotonic(), status.name, values))

        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, DIAGNOSTICS_QOS)
        self.record(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)

    def now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def subscribe(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any) -> Any:
        return self.node.create_subscription(msg_type, topic, callback, qos)

    def record(self, msg_type: Any, topic: str, qos: Any) -> None:
        """Record ``topic`` (raw CDR, no deserialisation) into the demo bag from now on."""
        if topic in self._recorded:
            return
        self._recorded.add(topic)
        type_name = _ros_type_name(msg_type)

        def write(data: bytes) -> None:
            with self._record_lock:
                self.recorder.record_raw(topic, type_name, self.now_ns(), bytes(data))

        self.node.create_subscription(msg_type, topic, write, qos, raw=True)

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while publisher.get_subscription_count() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    @property
    def bag_counts(self) -> dict[str, int]:
        with self._record_lock:
            return self.recorder.counts

    def close(self) -> None:
        import rclpy

        self._running = False
        self._thread.join(timeout=5)
        with self._record_lock:
            self.recorder.close()
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.try_shutdown()


def _ros_type_name(msg_type: Any) -> str:
    """``sensor_msgs/msg/Image`` from the generated Python class."""
    module = msg_type.__module__.split(".")  # e.g. sensor_msgs.msg._image
    return f"{module[0]}/msg/{msg_type.__name__}"
