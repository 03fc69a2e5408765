"""Input accounting and the 1 Hz ``/diagnostics`` publisher shared by every robossl node.

:class:`InputMonitor` (no ROS) counts, per input topic, messages received and dropped with the reason,
rejects out-of-order stamps, and measures arrival rates. :class:`DiagnosticsPublisher` publishes one
``diagnostic_msgs/DiagnosticStatus`` per node on ``/diagnostics`` every second with those counts plus the
node's own status (buffer fill, training steps, model version, mode, ...).

Key names in ``DiagnosticStatus.values``:
    ``rate_hz.<topic>``             arrival rate over the last few seconds [Hz]
    ``received.<topic>``            messages received since start
    ``dropped.<topic>.<reason>``    messages dropped since start, by reason
    ``dropped_total``               all drops
    ``unknown_parameters``          parameter-file keys no parameter declares (comma separated)
    anything the node adds (``buffer_fill``, ``training_steps``, ``model_version``, ``mode``, ...)

Drop reasons used by the nodes: ``wrong_encoding``, ``bad_step``, ``size_mismatch``, ``non_finite``,
``out_of_order``, ``unpaired``, ``bad_frame_id``, ``queue_full``, ``pipeline_error``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any

from robossl.data.image_codec import (
    ImageCodecError,
    ImageShapeError,
    ImageSizeError,
    ImageStepError,
    UnsupportedEncodingError,
)
from robossl.data.messages import AudioFormatError

STATUS_PREFIX = "robossl"  # DiagnosticStatus.name is "robossl/<node name>"


class NonFiniteError(ValueError):
    """A sensor sample holds NaN or infinity."""


def drop_reason(exc: BaseException) -> str:
    """The drop-reason key for an input that raised ``exc`` during conversion."""
    if isinstance(exc, UnsupportedEncodingError):
        return "wrong_encoding"
    if isinstance(exc, ImageStepError):
        return "bad_step"
    if isinstance(exc, ImageSizeError | ImageShapeError):
        return "size_mismatch"
    if isinstance(exc, NonFiniteError):
        return "non_finite"
    if isinstance(exc, ImageCodecError):
        return "bad_image"
    if isinstance(exc, AudioFormatError):
        return "bad_audio_layout"
    return "pipeline_error"


class InputMonitor:
    """Thread-safe per-topic counters of received and dropped inputs and arrival rates.

    Args:
        window_s: arrival times older than this are forgotten for the rate estimate [s].
        clock: monotonic time source [s] (injectable for tests).
    """

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        self._window = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._received: dict[str, int] = defaultdict(int)
        self._dropped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._arrivals: dict[str, deque[float]] = defaultdict(deque)
        self._last_stamp: dict[str, int] = {}

    def received(self, topic: str) -> None:
        """Count one arrival on ``topic`` (call for every message, accepted or not)."""
        now = self._clock()
        with self._lock:
            self._received[topic] += 1
            arrivals = self._arrivals[topic]
            arrivals.append(now)
            while arrivals and arrivals[0] < now - self._window:
                arrivals.popleft()

    def dropped(self, topic: str, reason: str) -> None:
        """Count one dropped input on ``topic`` with a reason key (see module docstring)."""
        with self._lock:
            self._dropped[topic][reason] += 1

    def accept_stamp(self, topic: str, stamp_ns: int) -> bool:
        """True when ``stamp_ns`` is newer than the last accepted stamp on ``topic``; else count a drop.

        A repeated or older stamp is dropped as ``out_of_order`` and does not move the reference.
        """
        with self._lock:
            last = self._last_stamp.get(topic)
            if last is not None and stamp_ns <= last:
                self._dropped[topic]["out_of_order"] += 1
                return False
            self._last_stamp[topic] = stamp_ns
            return True

    def rate_hz(self, topic: str) -> float:
        """Arrival rate on ``topic`` over the last ``window_s`` [Hz]; 0 with fewer than two arrivals."""
        now = self._clock()
        with self._lock:
            arrivals = [t for t in self._arrivals.get(topic, ()) if t >= now - self._window]
        if len(arrivals) < 2:
            return 0.0
        span = arrivals[-1] - arrivals[0]
        return (len(arrivals) - 1) / span if span > 0 else 0.0

    def dropped_total(self) -> int:
        """All drops on all topics."""
        with self._lock:
            return sum(sum(reasons.values()) for reasons in self._dropped.values())

    def dropped_counts(self) -> dict[str, dict[str, int]]:
        """``{topic: {reason: count}}``."""
        with self._lock:
            return {topic: dict(reasons) for topic, reasons in self._dropped.items()}

    def values(self) -> dict[str, str]:
        """Every counter as diagnostic key/value strings (see module docstring)."""
        with self._lock:
            topics = sorted(set(self._received) | set(self._dropped))
            received = dict(self._received)
        out: dict[str, str] = {}
        for topic in topics:
            out[f"rate_hz.{topic}"] = f"{self.rate_hz(topic):.2f}"
            out[f"received.{topic}"] = str(received.get(topic, 0))
        for topic, reasons in sorted(self.dropped_counts().items()):
            for reason, count in sorted(reasons.items()):
                out[f"dropped.{topic}.{reason}"] = str(count)
        out["dropped_total"] = str(self.dropped_total())
        return out


def format_value(value: Any) -> str:
    """A diagnostic value as a string (floats with 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class DiagnosticsPublisher:
    """Publishes the node's status on ``/diagnostics`` at a fixed period.

    Args:
        node: the rclpy node.
        monitor: the node's input counters.
        status: returns the node's own values (e.g. ``{"mode": "mono", "training_steps": 12}``); an
            ``"error"`` entry with a non-empty value raises the level to ERROR with that message, a
            ``"warning"`` entry to WARN.
        period_s: publish period [s] (1 Hz by default).
        unknown_parameters: parameter-file keys to report (level WARN while non-empty).
        callback_group: rclpy callback group of the timer (None: the node's default group).
    """

    def __init__(
        self,
        node: Any,
        monitor: InputMonitor,
        status: Callable[[], Mapping[str, Any]],
        period_s: float = 1.0,
        unknown_parameters: list[str] | None = None,
        callback_group: Any = None,
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl_ros.qos import DIAGNOSTICS_QOS

        self._node = node
        self._monitor = monitor
        self._status = status
        self._unknown = list(unknown_parameters or [])
        self._last_dropped = 0
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)
        self._timer = node.create_timer(period_s, self.publish, callback_group=callback_group)

    def build(self) -> Any:
        """The DiagnosticArray for now (also used by tests)."""
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        values = self._monitor.values()
        try:
            node_values = {k: format_value(v) for k, v in self._status().items()}
        except Exception as exc:  # a status callback bug must not stop diagnostics
            node_values = {"error": f"status callback failed: {type(exc).__name__}: {exc}"}
        values.update(node_values)
        if self._unknown:
            values["unknown_parameters"] = ",".join(self._unknown)
        dropped = self._monitor.dropped_total()
        new_drops, self._last_dropped = dropped - self._last_dropped, dropped
        error, warning = node_values.get("error", ""), node_values.get("warning", "")
        if error:
            level, message = DiagnosticStatus.ERROR, error
        elif new_drops or self._unknown or warning:
            level = DiagnosticStatus.WARN
            parts = [warning] if warning else []
            parts += [f"{new_drops} inputs dropped in the last period"] if new_drops else []
            parts += ["unknown parameters in parameter file"] if self._unknown else []
            message = "; ".join(parts)
        else:
            level, message = DiagnosticStatus.OK, "running"
        status = DiagnosticStatus(
            level=level,
            name=f"{STATUS_PREFIX}/{self._node.get_name()}",
            message=message,
            hardware_id=self._node.get_fully_qualified_name(),
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        return msg

    def publish(self) -> None:
        """Publish one DiagnosticArray now."""
        self._publisher.publish(self.build())


def status_values(array: Any, node_name: str) -> dict[str, str] | None:
    """The key/value dict of ``node_name``'s status in a DiagnosticArray, or None when absent."""
    for status in array.status:
        if status.name == f"{STATUS_PREFIX}/{node_name}":
            return {kv.key: kv.value for kv in status.values}
    return None
