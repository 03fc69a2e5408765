"""ROS plumbing of the reliability benchmark: the bench's own rclpy node, node processes, sockets, RSS.

Every node under test runs in its own process (``python -m robossl_ros.<node> --ros-args -p ...``), as in
bench/ros_latency.py and tests/ros_nodes/ros_harness.py; this process publishes inputs, collects outputs
and ``/diagnostics`` (the drop counters by reason), and samples the sockets and memory of the process tree.
Must run inside robossl-sandbox (a private network namespace where only ``lo`` exists).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

NODE_EXECUTOR = "events"  # the nodes' default executor


def param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(param_text(v) for v in value) + "]"
    return str(value)


class NodeProcess:
    """One robossl node in its own process; log in ``log_dir/<label>.log``."""

    def __init__(self, node: str, params: dict[str, Any], log_dir: Path, label: str) -> None:
        self.node, self.params, self.log_dir, self.label = node, params, log_dir, label
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.label}.log"

    def start(self) -> None:
        argv = [sys.executable, "-m", f"robossl_ros.{self.node}", "--executor", NODE_EXECUTOR, "--ros-args"]
        for name, value in self.params.items():
            argv += ["-p", f"{name}:={param_text(value)}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        log.write(f"\n==== start {self.starts + 1}: {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGINT (Ctrl-C) and wait; SIGKILL after ``timeout``. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Session:
    """The bench's rclpy node: publishers, output and /diagnostics collection, and traffic drivers."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl.netsafe import apply_loopback_env
        from robossl_ros.diagnostics import STATUS_PREFIX

        apply_loopback_env()
        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("reliability_bench")
        self.diagnostics: dict[str, tuple[float, dict[str, str]]] = {}  # node -> (receive time, values)
        self.outputs: dict[str, list[tuple[float, int]]] = defaultdict(list)  # topic -> (receive time, stamp)
        self.tickers: list[Callable[[float], None]] = []  # called between spins to publish due traffic

        def on_diagnostics(msg: Any) -> None:
            now = time.monotonic()
            for status in msg.status:
                if status.name.startswith(STATUS_PREFIX + "/"):
                    self.diagnostics[status.name.split("/", 1)[1]] = (
                        now,
                        {kv.key: kv.value for kv in status.values},
                    )

        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)

    def watch(self, msg_type: type, topic: str, stamp_of: Callable[[Any], int], qos: Any = 50) -> None:
        """Record (receive time, stamp) of every message on ``topic``."""

        def collect(msg: Any) -> None:
            try:
                stamp = stamp_of(msg)
            except ValueError:
                stamp = -1
            self.outputs[topic].append((time.monotonic(), stamp))

        self.node.create_subscription(msg_type, topic, collect, qos)

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            for tick in self.tickers:
                tick(now)
            if predicate():
                return True
            if now >= deadline:
                return False
            self.rclpy.spin_once(self.node, timeout_sec=0.002)

    def fresh_diagnostics(self, node: str, after: float, timeout: float = 3.0) -> dict[str, str] | None:
        """The first /diagnostics values of ``node`` received after monotonic time ``after``."""
        ok = self.spin_until(lambda: self.diagnostics.get(node, (0.0, {}))[0] > after, timeout)
        return self.diagnostics[node][1] if ok else None

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


# ------------------------------------------------------------------------------------------- process tree
def process_tree(root: int | None = None) -> list[int]:
    """``root`` (default: this process) and all its descendants."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` [MB], None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _hex_address(text: str) -> tuple[str, int]:
    """``/proc/net/{tcp,udp}{,6}`` address ``HEX:PORT`` -> (ip, port)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = str(ipaddress.IPv4Address(raw[::-1]))
    else:  # four little-endian 32-bit words
        ip = str(ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))))
    return ip, int(port, 16)


def address_class(ip: str) -> str:
    """``loopback``, ``wildcard`` (0.0.0.0 / ::, every interface) or ``other``."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "wildcard"
    return "other"


def sockets_of(pids: list[int]) -> list[dict[str, Any]]:
    """Internet sockets held by ``pids``: protocol, local and remote address, owner pid."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for proto in ("tcp", "udp", "tcp6", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            inode = parts[9]
            if inode not in inodes:
                continue
            local, remote = _hex_address(parts[1]), _hex_address(parts[2])
            found.append(
                {"proto": proto, "local": local, "remote": remote, "inode": inode, "pid": inodes[inode]}
            )
    return found


def multicast_groups() -> list[str]:
    """IPv4/IPv6 multicast groups joined in this network namespace (beyond the automatic all-hosts)."""
    groups = []
    try:
        for line in Path("/proc/net/igmp").read_text().splitlines():
            parts = line.split()
            if line.startswith("\t\t") and parts and len(parts[0]) == 8:
                ip = str(ipaddress.IPv4Address(bytes.fromhex(parts[0])[::-1]))
                if ip != "224.0.0.1":
                    groups.append(ip)
    except OSError:
        pass
    try:
        for line in Path("/proc/net/igmp6").read_text().splitlines():
            parts = line.split()
            ip = str(ipaddress.IPv6Address(bytes.fromhex(parts[2])))
            if not ip.startswith("ff02::1") and not ip.startswith("ff01::1"):
                groups.append(ip)
    except (OSError, IndexError, ValueError):
        pass
    return groups


class SocketAudit:
    """Union of the sockets seen in the process tree over several samples."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str], dict[str, Any]] = {}
        self.samples = 0
        self.groups: set[str] = set()

    def sample(self) -> None:
        self.samples += 1
        for sock in sockets_of(process_tree()):
            self.seen.setdefault((sock["pid"], sock["inode"]), sock)
        self.groups.update(multicast_groups())

    def result(self) -> dict[str, Any]:
        """Counts of the sockets seen. Beyond loopback: bound to a non-loopback address or to the wildcard
        (0.0.0.0 / ::, reachable on every interface outside the sandbox), or connected to a non-loopback
        peer. Multicast groups joined are listed separately (discovery traffic leaves the host with them)."""
        beyond, wildcard, loopback = 0, 0, 0
        examples: list[str] = []
        for sock in self.seen.values():
            local = address_class(sock["local"][0])
            remote_ip, remote_port = sock["remote"]
            remote = "unconnected" if remote_port == 0 else address_class(remote_ip)
            if local == "loopback" and remote in ("loopback", "unconnected"):
                loopback += 1
                continue
            beyond += 1
            wildcard += local == "wildcard"
            if len(examples) < 5:
                examples.append(f"{sock['proto']} {sock['local']} -> {sock['remote']} (pid {sock['pid']})")
        return {
            "samples": self.samples,
            "sockets_seen": len(self.seen),
            "loopback_sockets": loopback,
            "non_loopback_sockets": beyond,
            "wildcard_bound_sockets": wildcard,  # included in non_loopback_sockets
            "multicast_groups_joined": sorted(self.groups),
            "examples": examples,
            "interfaces": _interfaces(),
        }


def _interfaces() -> list[str]:
    from robossl.netsafe import netns_interfaces

    return netns_interfaces()
