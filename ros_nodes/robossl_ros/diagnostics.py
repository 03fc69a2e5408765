"""Input accounting and the 1 Hz ``/diagnostics`` publisher shared by every robossl node.

:class:`InputMonitor` (no ROS) counts, per input topic, messages received and dropped with the reason,
rejects out-of-order stamps, and measures arrival rates. :class:`DiagnosticsPublisher` publishes one
``diagnostic_msgs/DiagnosticStatus`` per node on ``/diagnostics`` every second with those counts plus the
node's own status (buffer fill, training steps, model version, mode, ...).

Key names in ``DiagnosticStatus.values``:
    ``rate_hz.<topic>``             arrival rate over the last few seconds [Hz]
    ``received.<topic>``            messages received since start
    ``dropped.<topic>.<reason>``    messages dropped since start, by reason
    ``clock_jump.<topic>``          clock steps the stamps of ``<topic>`` were re-anchored after
    ``dropped_total``               all drops
    ``unknown_parameters``          parameter-file keys no parameter declares (comma separated)
    ``inference_p50_ms``, ``inference_p99_ms``   processing latency of the newest frames [ms]
    ``inference_no_learning_ms``    median of the frames no training step overlapped [ms]
    ``inference_frames``, ``frames_overlapped_by_learning``   frames processed / overlapped by a step
    ``learner_steps``, ``learner_steps_per_s``, ``learner_duty_cycle``, ``learner_niceness``   the trainer
    anything the node adds (``buffer_fill``, ``training_steps``, ``model_version``, ``mode``, ...)

Drop reasons used by the nodes: ``wrong_encoding``, ``bad_step``, ``size_mismatch``, ``non_finite``,
``out_of_order``, ``future_stamp``, ``bad_stamp``, ``duplicate``, ``unpaired``, ``bad_frame_id``,
``queue_full``, ``stale`` (a newer frame replaced it while it waited), ``pipeline_error``.

Stamp policy (:meth:`InputMonitor.accept_stamp`), per topic, with ``T = max_future_s`` (1 s):

- a stamp newer than the last accepted one (the reference) is accepted, unless it ran ahead of the node
  clock by more than ``T`` since the reference (``(stamp - reference) - (now - now at reference) > T``;
  for the first stamp of a topic: ``stamp - now > T``): then it is dropped as ``future_stamp`` and does
  not become the reference, so one stamp from the far future cannot silence the topic;
- a repeated stamp, or one older than the reference by at most ``T``, is dropped as ``out_of_order``;
  such small steps back heal by themselves within ``T``;
- a stamp more than ``T`` older than the reference, or ahead by more than ``T``, may be a clock step (an
  NTP/PTP correction, GPS time, a microcontroller reboot, a bag replay that loops). It is dropped, but once
  ``jump_confirmations`` (3) consecutive such stamps increase, the last one is accepted and becomes the
  reference, counted as ``clock_jump``. Any accepted stamp in between cancels the run.

So after a future stamp the next valid input is accepted (a stamp only up to ``T`` ahead delays valid
input by at most ``T``), and after a clock step the third stamp of the new timeline is accepted:
:func:`clock_step_recovery_s` computes that time for a stream rate. A stale burst of three or more
messages older than ``T`` is taken for a clock step too (counted, then the stream moves on).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from robossl.data.bags.image_codec import (
    ImageCodecError,
    ImageShapeError,
    ImageSizeError,
    ImageStepError,
    UnsupportedEncodingError,
)
from robossl.data.bags.messages import AudioFormatError, StampError

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
    if isinstance(exc, StampError):
        return "bad_stamp"
    return "pipeline_error"


@dataclass
class _StampTrack:
    """Per-topic state of the stamp policy (see the module docstring)."""

    stamp_ns: int | None = None  # the reference: newest accepted stamp
    now_ns: int = 0  # node clock when the reference was accepted
    pending: list[int] = field(default_factory=list)  # consecutive stamps that disagree with the reference
    jumps: int = 0  # re-anchors after a clock step


class InputMonitor:
    """Thread-safe per-topic counters of received and dropped inputs, arrival rates and stamp order.

    Args:
        window_s: arrival times older than this are forgotten for the rate estimate [s].
        clock: monotonic time source [s] for arrival rates (injectable for tests).
        stamp_clock: the node clock stamps are compared with [ns] (ROS time in the nodes, so it follows
            ``use_sim_time``; wall time by default; injectable for tests). A value <= 0 (sim time before
            the first /clock) skips the check of a topic's first stamp against it.
        max_future_s: how far a stamp may run ahead of ``stamp_clock`` since the previous accepted stamp,
            and how far back a stamp may lie before it is taken for a clock step [s].
        jump_confirmations: consecutive increasing stamps that confirm a clock step.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: Callable[[], int] = time.time_ns,
        max_future_s: float = 1.0,
        jump_confirmations: int = 3,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        if not max_future_s > 0:
            raise ValueError(f"max_future_s must be > 0 seconds, got {max_future_s}")
        if jump_confirmations < 1:
            raise ValueError(f"jump_confirmations must be >= 1 stamp, got {jump_confirmations}")
        self._window = window_s
        self._clock = clock
        self._stamp_clock = stamp_clock
        self._max_future_ns = int(max_future_s * 1e9)
        self._confirmations = jump_confirmations
        self._lock = threading.Lock()
        self._received: dict[str, int] = defaultdict(int)
        self._dropped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._arrivals: dict[str, deque[float]] = defaultdict(deque)
        self._stamps: dict[str, _StampTrack] = defaultdict(_StampTrack)

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
        """True when ``stamp_ns`` [ns] may be used; else count the drop (``out_of_order``,
        ``future_stamp``). The policy, with clock-step recovery, is in the module docstring."""
        now_ns = int(self._stamp_clock())
        tolerance = self._max_future_ns
        with self._lock:
            track = self._stamps[topic]
            reference = track.stamp_ns
            if reference is None:
                ahead = stamp_ns - now_ns if now_ns > 0 else 0
                reason = "" if ahead <= tolerance else "future_stamp"
            elif stamp_ns > reference:
                ahead = (stamp_ns - reference) - (now_ns - track.now_ns)
                reason = "" if ahead <= tolerance else "future_stamp"
            else:
                reason = "out_of_order"
                if reference - stamp_ns <= tolerance:  # ordinary reordering or a repeat, not a clock step
                    track.pending.clear()
                    self._dropped[topic][reason] += 1
                    return False
            if reason:  # a possible clock step: wait until consecutive stamps agree
                if track.pending and stamp_ns <= track.pending[-1]:
                    track.pending.clear()
                track.pending.append(stamp_ns)
                if len(track.pending) < self._confirmations:
                    self._dropped[topic][reason] += 1
                    return False
                track.jumps += 1
            track.stamp_ns, track.now_ns = stamp_ns, now_ns
            track.pending.clear()
            return True

    def clock_jumps(self, topic: str) -> int:
        """How often ``topic``'s reference was re-anchored after a clock step."""
        with self._lock:
            track = self._stamps.get(topic)
            return 0 if track is None else track.jumps

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
        with self._lock:
            jumps = {topic: track.jumps for topic, track in self._stamps.items() if track.jumps}
        for topic, count in sorted(jumps.items()):
            out[f"clock_jump.{topic}"] = str(count)
        out["dropped_total"] = str(self.dropped_total())
        return out


def clock_step_recovery_s(
    step_s: float, rate_hz: float, max_future_s: float = 1.0, horizon_s: float = 10.0
) -> float:
    """How long a topic drops valid input after a clock step, under :class:`InputMonitor`'s policy [s].

    A stream at ``rate_hz`` stamped with the node clock runs for 1 s; then either one message carries a
    stamp ``step_s`` ahead and the stream goes on as before (``step_s > 0``: a future stamp), or the
    source clock steps back by ``-step_s`` and stays there (``step_s < 0``). Returns node-clock seconds
    from that message to the first later stamp accepted again (``inf`` if none within ``horizon_s``).
    The reliability bench reports it as ``clock_step_recovery_s``.

    Raises:
        ValueError: if ``rate_hz`` is not positive.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0 Hz, got {rate_hz}")
    now_ns = [10**18]  # an arbitrary epoch far from zero
    monitor = InputMonitor(stamp_clock=lambda: now_ns[0], max_future_s=max_future_s)
    period_ns = int(round(1e9 / rate_hz))
    step_ns = int(round(step_s * 1e9))
    start = int(rate_hz)  # 1 s of normal input first
    for k in range(start + int(horizon_s * rate_hz) + 1):
        now_ns[0] += period_ns
        stamp = now_ns[0]
        if k == start or (k > start and step_ns < 0):
            stamp += step_ns
        accepted = monitor.accept_stamp("stream", stamp)
        if k > start and accepted:
            return (k - start) / rate_hz
    return math.inf


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
        runtime: returns the runtime values every node shares (inference latency, learner rate; see
            ``PipelineNode.runtime_status``), listed before the node's own (None: none).
    """

    def __init__(
        self,
        node: Any,
        monitor: InputMonitor,
        status: Callable[[], Mapping[str, Any]],
        period_s: float = 1.0,
        unknown_parameters: list[str] | None = None,
        callback_group: Any = None,
        runtime: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        from robossl_ros.qos import DIAGNOSTICS_QOS

        self._node = node
        self._monitor = monitor
        self._status = status
        self._runtime = runtime
        self._unknown = list(unknown_parameters or [])
        self._last_dropped = 0
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)
        self._timer = node.create_timer(period_s, self.publish, callback_group=callback_group)

    def build(self) -> Any:
        """The DiagnosticArray for now (also used by tests)."""
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        values = self._monitor.values()
        try:
            runtime = dict(self._runtime()) if self._runtime is not None else {}
            node_values = {k: format_value(v) for k, v in {**runtime, **self._status()}.items()}
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
