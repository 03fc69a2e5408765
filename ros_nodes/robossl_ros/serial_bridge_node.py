"""``serial_bridge_node``: microcontroller sensors on a serial port -> ROS 2 topics, stamped in host time.

Owns one serial port through :class:`firmware_bridge.SerialBridge` (a reader thread, COBS + CRC-32C
framing, per-device clock sync; see firmware_bridge/PROTOCOL.md). For device ``d`` named ``name`` it
publishes (sensor-data QoS):

    ``<name>/imu``    sensor_msgs/Imu, one message per sample, frame ``name``, stamped with the sample's
                      device time mapped to host time (ROS time) by the clock sync; no orientation
                      (``orientation_covariance[0] = -1``)
    ``<name>/audio``  std_msgs/Int16MultiArray audio chunks in robossl's layout (docs/logs.md)

Samples with NaN/inf values are dropped and counted; samples the device sent again (same device time as one
delivered before, e.g. a re-sent batch) are dropped as ``duplicate``; stamps follow the nodes' stamp policy
(:mod:`robossl_ros.diagnostics`: ``out_of_order``, ``future_stamp``, re-anchoring after a ``clock_jump``).
Before the first time-sync reply (or for a device that never answers one) samples are stamped from their
device times offset to the arrival time. Messages whose device time maps more than 1 s after their arrival
or 5 s before it (a bogus stamp, a device reboot) are dropped by the bridge and counted
(``future_device_time``, ``stale_device_time``); the device's clock fit re-anchors after such a step
(``clock.<id>.clock_jumps``). Link errors (CRC failures, lost frames, resyncs) are in /diagnostics too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Imu
from std_msgs.msg import Int16MultiArray

from firmware_bridge import AudioChunk as WireAudio
from firmware_bridge import BridgeConfig, ImuBatch, ReceivedMessage, SerialBridge
from robossl.data.bags.messages import AudioChunk
from robossl_ros.base import PipelineNode
from robossl_ros.conversions import audio_msg, imu_msg
from robossl_ros.params import ParamSpec, in_range, non_empty, one_of, positive
from robossl_ros.qos import HIGH_RATE_SENSOR_QOS
from robossl_ros.runtime import node_main

SPECS = [
    ParamSpec("port", "/dev/ttyACM0", "serial device path or pyserial URL", check=non_empty, read_only=True),
    ParamSpec(
        "baudrate", 921600, "line speed [bit/s] (ignored by USB CDC and pseudo-terminals)", positive, True
    ),
    ParamSpec("device_ids", [1], "device ids to publish (others are counted and ignored)", non_empty, True),
    ParamSpec("device_names", [""], "topic/frame name per device id ('' = device_<id>)", read_only=True),
    ParamSpec("start_streaming", True, "send the STREAMING=1 command at start", read_only=True),
    ParamSpec("sync_interval_s", 0.1, "clock-sync request period [s]", in_range(0.01, 10.0), read_only=True),
    ParamSpec(
        "imu_layout",
        "accel_gyro",
        "channel order of 6-channel IMU batches",
        one_of("accel_gyro", "gyro_accel"),
        True,
    ),
]


class SerialBridgeNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("serial_bridge_node", **kwargs)
        p = self.params
        ids = [int(d) for d in p["device_ids"]]
        names = list(p["device_names"])
        if names == [""]:
            names = [""] * len(ids)
        if len(names) != len(ids):
            raise ValueError(
                f"device_names has {len(names)} entries but device_ids has {len(ids)}; give one name per id "
                "or leave device_names at [''] for device_<id>"
            )
        self.names = {d: (n or f"device_{d}") for d, n in zip(ids, names)}
        self.imu_pubs = {
            d: self.create_publisher(Imu, f"{n}/imu", HIGH_RATE_SENSOR_QOS) for d, n in self.names.items()
        }
        self.audio_pubs = {
            d: self.create_publisher(Int16MultiArray, f"{n}/audio", HIGH_RATE_SENSOR_QOS)
            for d, n in self.names.items()
        }
        self.published = {d: 0 for d in ids}
        self.unknown_devices = 0
        config = BridgeConfig(baudrate=p["baudrate"], sync_interval_s=p["sync_interval_s"])
        self.bridge = SerialBridge(p["port"], config=config, clock=time.time)
        try:
            self.bridge.start()
        except OSError as exc:
            raise ValueError(
                f"cannot open serial port {p['port']!r}: {exc}; check the port parameter"
            ) from exc
        if p["start_streaming"]:
            try:
                self.bridge.start_streaming(timeout_s=2.0)
            except TimeoutError as exc:  # a device that streams by default does not need the command
                self.get_logger().warning(str(exc))
        self._pump = threading.Thread(target=self._run, name="serial-bridge-publisher", daemon=True)
        self._pump.start()

    def _run(self) -> None:
        """Publishing thread: takes the bridge's decoded messages in order (rclpy publishers are thread-safe)."""
        while not self.closed:
            message = self.bridge.get(timeout_s=0.1)
            if message is None:
                continue
            try:
                self._on_message(message)
            except Exception as exc:  # a conversion bug must not stop the stream
                self.drop(f"device_{message.device_id}", exc)

    def _on_message(self, message: ReceivedMessage) -> None:
        """Convert one decoded message and publish it."""
        device = message.device_id
        if device not in self.names:
            self.unknown_devices += 1
            return
        topic = f"{self.names[device]}/imu"
        if isinstance(message.body, ImuBatch):
            self._publish_imu(device, topic, message)
        elif isinstance(message.body, WireAudio):
            audio_topic = f"{self.names[device]}/audio"
            self.monitor.received(audio_topic)
            stamp_ns = int(round(message.host_time_s * 1e9))
            if message.repeated.any():
                self.drop(audio_topic, "duplicate")
            elif self.monitor.accept_stamp(audio_topic, stamp_ns):
                chunk = AudioChunk(message.body.pcm, float(message.body.sample_rate_hz), stamp_ns)
                self.audio_pubs[device].publish(audio_msg(chunk))

    def _publish_imu(self, device: int, topic: str, message: ReceivedMessage) -> None:
        batch = message.body
        assert isinstance(batch, ImuBatch)
        values = batch.values
        if values.shape[1] != 6:
            for _ in range(values.shape[0]):
                self.drop(topic, "bad_layout")
            return
        accel_gyro = values if self.params["imu_layout"] == "accel_gyro" else values[:, [3, 4, 5, 0, 1, 2]]
        gyro_accel = np.concatenate([accel_gyro[:, 3:], accel_gyro[:, :3]], axis=1)
        stamps_ns = np.round(message.sample_host_times() * 1e9).astype(np.int64)
        frame = self.names[device]
        for stamp_ns, sample, repeated in zip(stamps_ns.tolist(), gyro_accel, message.repeated.tolist()):
            self.monitor.received(topic)
            if repeated:  # host stamps of a re-sent sample can differ by the clock fit's last refit
                self.drop(topic, "duplicate")
                continue
            if not np.isfinite(sample).all():
                self.drop(topic, "non_finite")
                continue
            if not self.monitor.accept_stamp(topic, stamp_ns):
                continue
            self.imu_pubs[device].publish(imu_msg(sample, stamp_ns, frame))
            self.published[device] += 1

    def status(self) -> dict[str, Any]:
        stats = self.bridge.stats()
        values: dict[str, Any] = {
            key: stats[key]
            for key in (
                "frames_ok",
                "frames_bad",
                "crc_errors",
                "frames_lost",
                "seq_gaps",
                "resyncs",
                "queue_dropped",
                "future_device_time",
                "stale_device_time",
                "repeated_samples",
            )
            if key in stats
        }
        for device, clock in stats.get("devices", {}).items():
            values[f"clock.{device}.synced"] = clock["synced"]
            values[f"clock.{device}.drift_ppm"] = clock["drift_ppm"]
            values[f"clock.{device}.clock_jumps"] = clock["clock_jumps"]
        for device, count in self.published.items():
            values[f"published.{self.names[device]}"] = count
        values["unknown_device_messages"] = self.unknown_devices
        if not self.bridge.running and not self.closed:
            values["error"] = f"serial reader stopped: {self.bridge.error}"
        return values

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._pump.join(timeout=2.0)
        self.bridge.stop()


def main(args: list[str] | None = None) -> int:
    return node_main("serial_bridge_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
