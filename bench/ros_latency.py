"""End-to-end latency of the robossl ROS 2 nodes over real DDS (input stamp -> output received).

Examples:
    flock /tmp/robossl-bench.lock python bench/ros_latency.py            # re-runs itself in robossl-sandbox
    python bench/ros_latency.py --seconds 10 --only har_node

Each node runs in its own process (``python -m robossl_ros.<node>``); this process publishes the inputs
stamped with the current time and receives the outputs, so a latency is ``receive time - header.stamp``
(an upper bound of "input stamp to output publish": it includes delivery of the output). Measured:

- ``stereo_mono_node``: 376x240 mono8 stereo pairs + CameraInfo at 20 Hz (EuRoC V1_01 frames resized when
  the real data exists, generated texture otherwise) while the background trainer runs; latency of the
  ``distance`` output, published last per pair. Warm-up until training has started, then measurement.
- ``har_node``: 4 IMU devices at 50 Hz (ActRecTut walk when present, generated otherwise) while ColloSSL
  trains online; latency of each ``activity`` output from the newest IMU stamp it covers.

``dropped``: stereo, pairs sent during the measurement that produced no output (lost in transport or
dropped by the node, e.g. ``queue_full`` when processing falls behind; the node's reasons are listed);
HAR, IMU messages that never reached the node plus those the node dropped.
Targets (issue #7): p99 <= 60 ms (stereo) and <= 20 ms (HAR), zero dropped inputs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
TARGETS = {"stereo_mono_node": 60.0, "har_node": 20.0}


EXECUTOR = "events"  # set from --executor in main()


def _start(node: str, params: dict[str, Any], log_dir: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", f"robossl_ros.{node}", "--executor", EXECUTOR, "--ros-args"]
    for name, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, list):
            text = "[" + ",".join(str(v) for v in value) + "]"
        argv += ["-p", f"{name}:={text}"]
    log = open(log_dir / f"{node}.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


class Session:
    """The bench's own rclpy node."""

    def __init__(self) -> None:
        import rclpy

        from robossl.netsafe import apply_loopback_env

        apply_loopback_env()
        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("ros_latency_bench")
        self.diagnostics: dict[str, dict[str, str]] = {}
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl_ros.diagnostics import STATUS_PREFIX

        def on_diag(msg: Any) -> None:
            for status in msg.status:
                if status.name.startswith(STATUS_PREFIX + "/"):
                    self.diagnostics[status.name.split("/", 1)[1]] = {
                        kv.key: kv.value for kv in status.values
                    }

        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

    def spin_until(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            self.rclpy.spin_once(self.node, timeout_sec=0.01)
        return bool(predicate())

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def _percentiles(latencies_ms: list[float]) -> tuple[float, float]:
    if not latencies_ms:
        return float("nan"), float("nan")
    values = np.asarray(latencies_ms)
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _stereo_frames(count: int) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]], str]:
    import dataclasses

    import cv2

    from robossl.data.locate import require_data
    from robossl.pipelines.stereo_mono.calibration import StereoCalibration

    size = (376, 240)
    try:
        root = require_data("stereo/euroc_v1_01_easy_micro")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        frames = []
        for _ in range(count):
            texture = rng.integers(0, 256, size=(240, 400), dtype=np.uint8)
            frames.append((texture[:, 8:384].copy(), texture[:, :376].copy()))
        return StereoCalibration.ideal(376, 240, 200.0, 0.1), frames, "generated 376x240 texture"
    from robossl.data.datasets.euroc import EurocSequence

    seq = EurocSequence(root)
    calibration = StereoCalibration.from_euroc(seq.left_sensor, seq.right_sensor)
    scale = np.diag([size[0] / calibration.image_size[0], size[1] / calibration.image_size[1], 1.0])
    calibration = dataclasses.replace(
        calibration, image_size=size, K_left=scale @ calibration.K_left, K_right=scale @ calibration.K_right
    )
    frames = []
    for i in range(min(count, len(seq))):
        frame = seq[i]
        frames.append(
            (
                cv2.resize(frame.left, size, interpolation=cv2.INTER_AREA),
                cv2.resize(frame.right, size, interpolation=cv2.INTER_AREA),
            )
        )
    return calibration, frames, "EuRoC V1_01 resized to 376x240"


def bench_stereo(session: Session, log_dir: Path, seconds: float, rate_hz: float = 20.0) -> dict[str, Any]:
    from sensor_msgs.msg import CameraInfo, Image, Range

    from robossl_ros.conversions import image_msg, stamp_msg, stereo_camera_infos

    calibration, frames, source = _stereo_frames(95)
    node = "stereo_mono_node"
    proc = _start(
        node,
        {
            "rectified_width": 376,
            "min_learning_frames": 20,
            "cpu_fraction": 0.5,
            "student_channels": 0.5,
            "hot_swap_every_steps": 10,
            "queue_depth": 4,
            "model_path": str(log_dir / "stereo_model.pt"),
        },
        log_dir,
    )
    n = session.node
    pubs = {
        t: n.create_publisher(Image if "image" in t else CameraInfo, t, 10)
        for t in ("left/image_raw", "right/image_raw", "left/camera_info", "right/camera_info")
    }
    received: dict[int, float] = {}
    n.create_subscription(
        Range,
        "distance",
        lambda m: received.setdefault(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, time.time()),
        50,
    )
    try:
        if not session.spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()), 90):
            raise RuntimeError(f"{node} did not start; see {log_dir / (node + '.log')}")
        session.spin_until(lambda: False, 1.0)
        sent: list[int] = []
        info_l, info_r = stereo_camera_infos(calibration, 0)
        period = 1.0 / rate_hz
        measuring_from = None
        start = time.monotonic()
        k = 0
        steps_at_start = 0
        while True:
            now = time.monotonic()
            diag = session.diagnostics.get(node, {})
            if measuring_from is None and int(diag.get("training_steps", "0")) > 0:
                measuring_from, steps_at_start = len(sent), int(diag["training_steps"])
                measure_start = now
            if measuring_from is not None and now - measure_start >= seconds:
                break
            if now - start > seconds + 120:
                raise RuntimeError("online training never started; see the node log")
            stamp = time.time_ns()
            left, right = frames[k % len(frames)]
            info_l.header.stamp = info_r.header.stamp = stamp_msg(stamp)
            pubs["left/camera_info"].publish(info_l)
            pubs["right/camera_info"].publish(info_r)
            pubs["left/image_raw"].publish(image_msg(left, "mono8", stamp, "cam0"))
            pubs["right/image_raw"].publish(image_msg(right, "mono8", stamp, "cam1"))
            sent.append(stamp)
            k += 1
            next_send = start + k * period
            session.spin_until(lambda: time.monotonic() >= next_send, period + 1)  # noqa: B023
        session.spin_until(lambda: False, 2.0)
        measured = sent[measuring_from:]
        latencies = [(received[s] - s * 1e-9) * 1e3 for s in measured if s in received]
        diag = session.diagnostics.get(node, {})
        missing = len(measured) - len(latencies)
        node_dropped = int(diag.get("dropped_total", "0"))
        p50, p99 = _percentiles(latencies)
        return {
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(latencies), 2) if latencies else float("nan"),
            "dropped": missing,  # pairs sent that produced no output, wherever they were lost
            "node_drops_by_reason": {k: int(v) for k, v in diag.items() if k.startswith("dropped.")},
            "inputs": len(measured),
            "outputs": len(latencies),
            "node_dropped_total": node_dropped,
            **{k: float(diag[k]) for k in ("processing_ms",) if k in diag},
            "training_steps_during_measurement": int(diag.get("training_steps", "0")) - steps_at_start,
            "rate_hz": rate_hz,
            "source": source,
        }
    finally:
        rc = _stop(proc)
        if rc != 0:
            print(f"{node} exited with {rc}; log: {log_dir / (node + '.log')}")


def _har_streams(seconds: float, rate_hz: float) -> tuple[list[str], np.ndarray, str]:
    """(device names, (T, D, 6) samples [accel xyz, gyro xyz], source) for 4 devices."""
    n = int(seconds * rate_hz)
    try:
        from robossl.data.datasets.actrectut import load_actrectut
        from robossl.data.locate import require_data

        root = require_data("har/actrectut")
    except FileNotFoundError:
        t = np.arange(n) / rate_hz
        data = np.stack(
            [np.stack([np.sin(2 * np.pi * (1 + d) * t + c) for c in range(6)], axis=1) for d in range(4)],
            axis=1,
        )
        return ["imu_0", "imu_1", "imu_2", "imu_3"], data, "generated 4-device sinusoids"
    recording = load_actrectut(1, "walk", root=root, channels_per_imu=6)
    names = list(recording.devices)
    data = np.stack([recording.devices[name] for name in names], axis=1)
    reps = int(np.ceil(n / len(data)))
    return names, np.tile(data, (reps, 1, 1))[:n], "ActRecTut walk subject 1 (32 Hz rows replayed at 50 Hz)"


def bench_har(session: Session, log_dir: Path, seconds: float, rate_hz: float = 50.0) -> dict[str, Any]:
    from sensor_msgs.msg import Imu
    from std_msgs.msg import Float32MultiArray

    from robossl_ros.conversions import imu_msg
    from robossl_ros.har_node import array_stamp_ns

    names, data, source = _har_streams(seconds + 120.0, rate_hz)
    topics = [f"{name}/imu" for name in names]
    node = "har_node"
    proc = _start(
        node,
        {
            "imu_topics": topics,
            "device_names": names,
            "anchor_device": names[0],
            "class_names": ["a", "b", "c", "d", "e", "f"],
            "sample_rate_hz": rate_hz,
            "min_windows": 8,
            "cpu_fraction": float(os.environ.get("HAR_CPU", "0.3")),
            "predict_every_s": 0.1,
            "model_path": str(log_dir / "har_model.pt"),
        },
        log_dir,
    )
    n = session.node
    pubs = [n.create_publisher(Imu, t, 50) for t in topics]
    received: dict[int, float] = {}
    n.create_subscription(
        Float32MultiArray,
        "activity/embedding",
        lambda m: received.setdefault(array_stamp_ns(m), time.time()),
        100,
    )
    try:
        if not session.spin_until(lambda: all(p.get_subscription_count() for p in pubs), 90):
            raise RuntimeError(f"{node} did not start; see {log_dir / (node + '.log')}")
        session.spin_until(lambda: False, 1.0)
        period = 1.0 / rate_hz
        start = time.monotonic()
        sent = 0
        anchor: list[int] = []
        measuring_from = None
        steps_at_start = 0
        k = 0
        while True:
            now = time.monotonic()
            diag = session.diagnostics.get(node, {})
            if measuring_from is None and int(diag.get("training_steps", "0")) > 0:
                measuring_from, steps_at_start, measure_start = len(anchor), int(diag["training_steps"]), now
            if measuring_from is not None and now - measure_start >= seconds:
                break
            if now - start > seconds + 110:
                raise RuntimeError("online training never started; see the node log")
            stamp = time.time_ns()
            for d, pub in enumerate(pubs):
                sample = data[k % len(data), d].astype(np.float64)
                pub.publish(imu_msg(np.concatenate([sample[3:], sample[:3]]), stamp, names[d]))
                sent += 1
            anchor.append(stamp)
            k += 1
            next_send = start + k * period
            session.spin_until(lambda: time.monotonic() >= next_send, period + 1)  # noqa: B023
        session.spin_until(lambda: False, 2.0)
        diag = session.diagnostics.get(node, {})
        node_received = sum(int(v) for key, v in diag.items() if key.startswith("received."))
        node_dropped = int(diag.get("dropped_total", "0"))
        measured = [s for s in anchor[measuring_from:] if s in received]
        latencies = [(received[s] - s * 1e-9) * 1e3 for s in measured]
        p50, p99 = _percentiles(latencies)
        return {
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(latencies), 2) if latencies else float("nan"),
            "dropped": (sent - node_received) + node_dropped,
            "inputs": sent,
            "outputs": len(latencies),
            "node_received": node_received,
            "node_dropped_total": node_dropped,
            "devices": len(names),
            "rate_hz": rate_hz,
            "predict_every_s": 0.1,
            "training_steps_during_measurement": int(diag.get("training_steps", "0")) - steps_at_start,
            "source": source,
        }
    finally:
        rc = _stop(proc)
        if rc != 0:
            print(f"{node} exited with {rc}; log: {log_dir / (node + '.log')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement time per node [s]")
    parser.add_argument("--only", choices=sorted(TARGETS), action="append", default=[])
    parser.add_argument(
        "--executor", choices=("multi", "single", "events"), default="events", help="node executor"
    )
    args = parser.parse_args()
    global EXECUTOR
    EXECUTOR = args.executor
    from _common import Target, print_table, print_targets, rerun_in_sandbox, write_results

    rerun_in_sandbox()

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results: dict[str, Any] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="ros_latency_"))
    session = Session()
    try:
        runners = {"stereo_mono_node": bench_stereo, "har_node": bench_har}
        for name, runner in runners.items():
            if args.only and name not in args.only:
                continue
            print(f"measuring {name} for {args.seconds:.0f} s ...", flush=True)
            results[name] = runner(session, log_dir, args.seconds)
    finally:
        session.close()
    shown = ("p50_ms", "p99_ms", "dropped", "inputs")
    print_table([{"node": name, **{key: r[key] for key in shown}} for name, r in results.items()])
    targets = []
    for name, r in results.items():  # issue #7: p99 under the node's budget, no input dropped
        targets.append(Target(f"{name} p99 latency (ms)", r["p99_ms"], "<=", TARGETS[name], "issue #7"))
        targets.append(Target(f"{name} dropped inputs", r["dropped"], "==", 0, "issue #7"))
    print_targets(targets)
    write_results("ros_latency", results, targets=targets, executor=args.executor, logs=str(log_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
