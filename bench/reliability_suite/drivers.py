"""What the node sections of the reliability bench drive: a :class:`Driver` per node under test, with its
valid traffic (:class:`Stream`) and its malformed inputs (:class:`Case`). One module per node builds its
driver (``stereo_driver.py``, ``terrain_driver.py``, ``har_driver.py``, ``serial_driver.py``); the sections
themselves run in ``nodes.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.reliability_suite.ros import NodeProcess, Session

FUTURE_S = 3600.0  # how far ahead the future stamp is [s]
MS = 1_000_000  # ns


@dataclass
class Case:
    """One kind of malformed input for one node."""

    name: str
    inject: Callable[[], None]  # publishes the malformed input (and the valid input it needs before it)
    topics: list[str]  # topics whose drop counters count it
    expected: int = 1  # drops expected
    counters: tuple[str, ...] = ()  # node status counters that count it instead (serial link errors)


@dataclass
class Stream:
    """Valid traffic: ``publish(stamp_ns)`` every ``period_s`` (divided by the driver's rate factor)."""

    period_s: float
    publish: Callable[[int], None]
    next_s: float = 0.0


@dataclass
class Driver:
    """A node under test: its process, its valid traffic, its malformed cases."""

    session: Session
    process: NodeProcess
    output_topic: str = ""
    stamped_topics: list[str] = field(default_factory=list)  # inputs checked in the future-stamp case
    per_input_output: str = ""  # input topic with one output per accepted input ("" = none)
    streams: list[Stream] = field(default_factory=list)
    paused: bool = True
    rate: float = 1.0  # multiple of the base rate
    sent: dict[str, int] = field(default_factory=dict)  # valid inputs published per topic
    cases: Callable[[], list[Case]] = lambda: []  # the node's malformed cases
    future: Callable[[int], None] = lambda stamp_ns: None  # one input stamped stamp_ns on every stamped topic
    close: Callable[[], None] = lambda: None  # releases what the driver holds besides the node process

    @property
    def name(self) -> str:
        return self.process.node

    def tick(self, now: float) -> None:
        if self.paused:
            for stream in self.streams:
                stream.next_s = now
            return
        for stream in self.streams:
            period = stream.period_s / self.rate
            due = 0
            while now >= stream.next_s and due < 50:  # catch up at high rates, a bounded number per call
                stream.publish(time.time_ns())
                stream.next_s += period
                due += 1
            stream.next_s = max(stream.next_s, now - 1.0)  # never a backlog of more than a second

    def count(self, topic: str) -> None:
        self.sent[topic] = self.sent.get(topic, 0) + 1

    def output_after(self, stamp_min_ns: int, received_after: float) -> float | None:
        """Receive time of the first output stamped in [stamp_min_ns, stamp_min_ns + 60 s] received after
        ``received_after`` (monotonic), or None."""
        for received, stamp in self.session.outputs.get(self.output_topic, []):
            if received >= received_after and stamp_min_ns <= stamp <= stamp_min_ns + 60_000 * MS:
                return received
        return None

    def ready(self, since: float) -> bool:
        """An output for a recent input received after ``since`` (monotonic) and /diagnostics after it."""
        output = self.output_after(time.time_ns() - 30_000 * MS, since) is not None
        return output and self.session.diagnostics.get(self.name, (0.0, {}))[0] > since

    def outputs_since(self, since: float) -> int:
        return sum(1 for received, _ in self.session.outputs.get(self.output_topic, []) if received >= since)


def publish_paced(session: Session, items: list[tuple[Any, Any]], gap_s: float = 0.005) -> None:
    for publisher, msg in items:
        publisher.publish(msg)
        session.rclpy.spin_once(session.node, timeout_sec=gap_s)
