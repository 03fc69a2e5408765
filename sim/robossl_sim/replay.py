"""In-process bag replay: feed logged messages to Python callables, without ROS, paced or flat out.

Pacing follows a cycle timer: message ``k`` is delivered at ``wall0 + (t_k - t_0) / rate`` (``t`` = bag log
time), so a slow consumer never makes the replay drift, it only makes it late (counted). ``rate=None``
delivers as fast as the consumer takes them (the consumer's speed is then the replay speed).

Example::

    from robossl_sim.replay import Replayer, ReplayConfig
    replayer = Replayer("flight_bag", ReplayConfig(rate=None, topics=["/imu0"]))
    stats = replayer.run({"/imu0": lambda m: learner.add(decode_imu(m.msg))})
    print(stats.x_realtime)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robossl.data.bags import BagMessage, BagReader

__all__ = ["ReplayConfig", "ReplayStats", "Replayer"]

Handler = Callable[[BagMessage], Any]


@dataclass
class ReplayConfig:
    """How to replay."""

    rate: float | None = 1.0  # playback speed as a multiple of real time; None = as fast as possible
    topics: list[str] | None = None  # topics to replay; None = all
    start: float | None = None  # seconds after the bag's first message to start at
    end: float | None = None  # seconds after the bag's first message to stop at
    decode: bool = True  # deserialise messages (BagMessage.msg); False passes raw bytes only
    salvage: bool = True  # replay the readable part of damaged bags
    late_tolerance_s: float = 0.05  # a message delivered later than this behind schedule counts as late

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ValueError(
                f"rate must be > 0 (1.0 = real time) or None for as fast as possible, got {self.rate}"
            )
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end} s) must be after start ({self.start} s)")


@dataclass
class ReplayStats:
    """What a replay did."""

    messages: int = 0  # messages delivered
    per_topic: dict[str, int] = field(default_factory=dict)  # messages delivered per topic
    first_ns: int | None = None  # log time of the first delivered message
    last_ns: int | None = None  # log time of the last delivered message
    wall_s: float = 0.0  # wall-clock seconds from first delivery to the end of the last handler
    late: int = 0  # messages delivered more than late_tolerance_s behind schedule
    problems: list[str] = field(default_factory=list)  # bag damage reported by the reader

    @property
    def bag_s(self) -> float:
        """Seconds of log time replayed."""
        if self.first_ns is None or self.last_ns is None:
            return 0.0
        return (self.last_ns - self.first_ns) / 1e9

    @property
    def x_realtime(self) -> float:
        """Replayed log time per wall-clock time (10.0 = ten times faster than real time)."""
        return self.bag_s / self.wall_s if self.wall_s > 0 else float("inf")


class Replayer:
    """Replays one bag into handlers.

    Args:
        path: bag path, or several ROS 1 ``.bag`` files (see :class:`robossl.data.bags.BagReader`).
        config: :class:`ReplayConfig`.
        sleep: sleep function (seconds); replaceable for tests of pacing logic.
        clock: monotonic clock in seconds.
    """

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        config: ReplayConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.path = path if isinstance(path, list | tuple) else Path(path)  # type: ignore[arg-type]
        self.config = config or ReplayConfig()
        self._sleep = sleep
        self._clock = clock
        self.stats = ReplayStats()
        self.sim_time_ns: int | None = None  # log time of the message being delivered (for a /clock)
        self.bag: BagReader | None = None  # the open reader while messages() runs (e.g. for to_cdr)

    def messages(self) -> Iterator[BagMessage]:
        """Paced messages; ``stats`` is updated as they are consumed."""
        cfg = self.config
        self.stats = ReplayStats()
        with BagReader(self.path, salvage=cfg.salvage) as bag:
            self.bag = bag
            t0 = bag.start_ns
            start_ns = None if cfg.start is None else t0 + round(cfg.start * 1e9)
            end_ns = None if cfg.end is None else t0 + round(cfg.end * 1e9)
            wall0 = 0.0
            try:
                for message in bag.messages(cfg.topics, start_ns, end_ns, cfg.decode):
                    now = self._clock()
                    if self.stats.first_ns is None:
                        self.stats.first_ns, wall0 = message.log_time_ns, now
                    if cfg.rate is not None:
                        due = wall0 + (message.log_time_ns - self.stats.first_ns) / 1e9 / cfg.rate
                        if due > now:
                            self._sleep(due - now)
                        elif now - due > cfg.late_tolerance_s:
                            self.stats.late += 1
                    self.sim_time_ns = message.log_time_ns
                    self.stats.messages += 1
                    self.stats.per_topic[message.topic] = self.stats.per_topic.get(message.topic, 0) + 1
                    self.stats.last_ns = message.log_time_ns
                    yield message
                    self.stats.wall_s = self._clock() - wall0
            finally:
                if self.stats.first_ns is not None:
                    self.stats.wall_s = self._clock() - wall0
                self.stats.problems = list(bag.problems)
                self.bag = None

    def run(self, handlers: Handler | Mapping[str, Handler], max_messages: int | None = None) -> ReplayStats:
        """Deliver every message to its handler.

        Args:
            handlers: one callable for all topics, or ``{topic: callable}`` (topics without a handler are
                read but not delivered; pass ``ReplayConfig.topics`` to skip reading them).
            max_messages: stop after this many deliveries.

        Returns:
            :class:`ReplayStats`.
        """
        for message in self.messages():
            handler = handlers if callable(handlers) else handlers.get(message.topic)
            if handler is not None:
                handler(message)
            if max_messages is not None and self.stats.messages >= max_messages:
                break
        return self.stats
