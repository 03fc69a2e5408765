"""Read ROS 1 bags and rosbag2 (sqlite3 / mcap, split) without a ROS installation.

Built on the pure-Python ``rosbags`` library, with three things added that real logs need:

- **Storage files are read directly.** A rosbag2 folder's ``metadata.yaml`` only lists the files; topics,
  types and counts come from the files themselves. (``rosbags`` matches ``metadata.yaml`` topics to storage
  topics by QoS string, and bags whose yaml and storage QoS differ, e.g. the rosbag2 test fixtures, read as
  empty.) A folder without ``metadata.yaml`` (a recording killed before it closed) is still read.
- **Standard types come from the ROS 2 Jazzy type store**; a bag's embedded definitions are used only for
  types the store does not know (some bags embed placeholder definitions). ROS 1 bags use their embedded
  definitions.
- **Damage is reported, not fatal.** A truncated or corrupted file, a listed file that is missing, an
  unreadable ``metadata.yaml``, or a topic in an unknown serialization format gives a :class:`BagError`
  naming the file and the problem when ``salvage=False``; with ``salvage=True`` (the default) the problem is
  logged and kept in :attr:`BagReader.problems`, and every message that can still be read is returned: a
  file whose index cannot be opened, or whose indexed read fails half-way, is scanned record by record
  (page by page for sqlite3) past the damage. :func:`salvage_counts` gives recovered / lost counts.

Example::

    from robossl.data.bags import iter_messages
    for m in iter_messages("run.mcap_folder", topics=["/imu"], start=10.0, end=20.0):
        print(m.topic, m.log_time_ns, m.msg.angular_velocity.x)
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robossl.data.bags.guarded import guarded_read
from robossl.data.bags.paths import MISSING, storage_files
from robossl.data.bags.sources import RosbagsSource, open_storage
from robossl.data.bags.storage import BagError, DamagedRegion, SourceConnection, StorageSource

__all__ = [
    "BagError",
    "BagMessage",
    "BagReader",
    "SalvageCounts",
    "TopicSummary",
    "iter_messages",
    "salvage_counts",
]

log = logging.getLogger(__name__)
PathLike = str | Path


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag."""

    name: str  # topic name, e.g. "/imu"
    msgtype: str  # ROS 2 style type name, e.g. "sensor_msgs/msg/Imu"
    count: int  # messages in the storage indexes (readable ones may be fewer in a damaged bag)
    serialization_format: str  # "cdr" (rosbag2) or "ros1"


@dataclass(frozen=True)
class BagMessage:
    """One message read from a bag."""

    topic: str  # topic name
    msgtype: str  # e.g. "sensor_msgs/msg/Image"
    log_time_ns: int  # time the recorder received it (bag timestamp), nanoseconds
    raw: bytes | memoryview  # serialised bytes: CDR for rosbag2, ROS 1 wire format for .bag files
    msg: Any = None  # decoded message object (rosbags dataclass), None when decode=False
    source: str = ""  # storage file it came from


@dataclass
class _Stats:
    decode_errors: int = 0  # messages dropped because they could not be deserialised
    per_topic: dict[str, int] = field(default_factory=dict)  # messages yielded per topic
    read_per_file: dict[Path, int] = field(default_factory=dict)  # raw messages read per storage file


@dataclass(frozen=True)
class SalvageCounts:
    """How much of a bag could be read (see :func:`salvage_counts`)."""

    recovered: int  # messages read and decoded
    lost: int  # messages known to be lost: listed in a readable index (or missing sqlite3 row ids) but
    #            unreadable, plus messages that do not decode. Messages after a cut with no index are unknown
    damaged_regions: int  # unreadable parts of the storage files (byte ranges, runs of rows, a cut-off end,
    #                       a missing file); 0 for an intact bag


class BagReader:
    """Reader for one ROS 1 bag (or several ``.bag`` files), one rosbag2 folder, or one .mcap/.db3 file.

    Args:
        paths: a path or a list of paths.
        salvage: read what can be read from damaged files (problems logged and kept in :attr:`problems`);
            False raises :class:`BagError` at the first problem.
        typestore: a ``rosbags`` type store with extra (custom) message types; defaults to ROS 2 Jazzy.

    Use as a context manager; :meth:`messages` yields :class:`BagMessage` in log-time order across files.
    """

    def __init__(
        self, paths: PathLike | Sequence[PathLike], salvage: bool = True, typestore: Any = None
    ) -> None:
        path_list = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
        if not path_list:
            raise BagError(Path("."), "no bag path given")
        self.paths = path_list
        self.salvage = salvage
        self.problems: list[str] = []
        self.sources: list[StorageSource] = []
        self._user_typestore = typestore
        self.typestore: Any = None
        self._cdr_store: Any = None
        self.stats = _Stats()
        self.damaged: dict[Path, list[DamagedRegion]] = {}  # storage file -> parts a scan could not read
        self.lost_known: dict[Path, int] = {}  # storage file -> messages a scan knows were lost
        self._missing_files = 0  # storage files metadata.yaml lists that do not exist
        self._listed: dict[Path, int] = {}  # storage file -> messages its (readable) index lists

    # ------------------------------------------------------------------ open / close
    def open(self) -> BagReader:
        """Open every storage file (raises :class:`BagError` for unreadable input)."""
        problems: list[str] = []
        files = storage_files(self.paths, problems, self.salvage)
        for problem in problems:
            self.report_problem(problem)
        self._missing_files = sum(1 for problem in problems if MISSING in problem)
        kinds = {"ros1" if f.suffix == ".bag" and f.is_file() else "ros2" for f in files}
        if len(kinds) > 1:
            raise BagError(self.paths[0], "mixes ROS 1 .bag files with rosbag2 storage; read them separately")
        try:
            for file in files:
                source, damage = open_storage(file, salvage=self.salvage)
                if source is not None:
                    self.sources.append(source)
                    if isinstance(source, RosbagsSource):
                        formats = ("cdr", "ros1")
                        self._listed[file] = sum(
                            c.count for c in source.connections if c.serialization_format in formats
                        )
                    else:
                        self.damaged[file] = list(source.damaged)
                        self.lost_known[file] = source.lost
                elif damage:
                    self.damaged[file] = [DamagedRegion(None, None, "nothing readable")]
                if damage:
                    self.report_problem(damage)
            if not self.sources:
                raise BagError(self.paths[0], "no readable storage file: " + "; ".join(self.problems))
            self.typestore = self._build_typestore()
        except BaseException:
            self.close()  # do not leak the files opened before the failure
            raise
        return self

    def close(self) -> None:
        """Close every storage file."""
        for source in self.sources:
            source.close()
        self.sources = []

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def report_problem(self, text: str) -> None:
        """Log and keep a problem (salvage on), or raise it as a :class:`BagError` (salvage off)."""
        if not self.salvage:
            raise BagError(None, text)
        log.warning("%s", text)
        self.problems.append(text)

    @property
    def is_ros1(self) -> bool:
        """True for ROS 1 ``.bag`` input (raw bytes are ROS 1 serialised)."""
        return bool(self.sources) and self.sources[0].kind == "ros1"

    def _build_typestore(self) -> Any:
        from robossl.data.bags.typestore import build_typestore

        connections = [c for s in self.sources for c in s.connections]
        store, problems = build_typestore(connections, ros1=self.is_ros1, base=self._user_typestore)
        for problem in problems:
            self.report_problem(problem)
        return store

    # ------------------------------------------------------------------ summary
    @property
    def connections(self) -> list[SourceConnection]:
        """All connections of all storage files."""
        return [c for s in self.sources for c in s.connections]

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Topic name -> :class:`TopicSummary` (counts summed over files)."""
        out: dict[str, TopicSummary] = {}
        for c in self.connections:
            prev = out.get(c.topic)
            count = c.count + (prev.count if prev else 0)
            out[c.topic] = TopicSummary(c.topic, c.msgtype, count, c.serialization_format)
        return dict(sorted(out.items()))

    @property
    def message_count(self) -> int:
        """Messages in all storage indexes."""
        return sum(c.count for c in self.connections)

    @property
    def start_ns(self) -> int:
        """Log time of the earliest message, ns (0 for an empty bag)."""
        starts = [s.start_ns for s in self.sources if s.start_ns is not None]
        return min(starts) if starts else 0

    @property
    def end_ns(self) -> int:
        """Log time of the latest message, ns (0 for an empty bag)."""
        ends = [s.end_ns for s in self.sources if s.end_ns is not None]
        return max(ends) if ends else 0

    @property
    def duration_s(self) -> float:
        """Seconds between the first and last message."""
        return max(0, self.end_ns - self.start_ns) / 1e9

    # ------------------------------------------------------------------ messages
    def _select(self, topics: Iterable[str] | None) -> list[SourceConnection]:
        wanted = None if topics is None else set(topics)
        if wanted is not None:
            unknown = wanted - {c.topic for c in self.connections}
            if unknown:
                raise BagError(
                    self.paths[0],
                    f"has no topic(s) {sorted(unknown)}; available: {sorted(self.topics)}",
                )
        selected = []
        for c in self.connections:
            if wanted is not None and c.topic not in wanted:
                continue
            if c.serialization_format not in ("cdr", "ros1"):
                self.report_problem(
                    f"{c.source_path}: topic {c.topic!r} uses unknown serialization format "
                    f"{c.serialization_format!r} (robossl reads 'cdr'); skipped. Exclude it with topics=[...]"
                )
                continue
            selected.append(c)
        return selected

    def count_read(self, path: Path) -> None:
        """Count one raw message read from storage file ``path``."""
        self.stats.read_per_file[path] = self.stats.read_per_file.get(path, 0) + 1

    @property
    def recovered(self) -> int:
        """Messages read and decoded so far (see :meth:`salvage_counts`)."""
        return self.salvage_counts().recovered

    @property
    def lost(self) -> int:
        """Messages known to be lost in what was read so far (see :meth:`salvage_counts`)."""
        return self.salvage_counts().lost

    def salvage_counts(self) -> SalvageCounts:
        """Recovered / lost / damaged counts, complete after reading every message of every topic.

        Lost messages are counted against each file's index (the messages it lists minus those read), so
        after reading only some topics or a time range the count includes the messages left unread.
        """
        lost = self.stats.decode_errors + sum(self.lost_known.values())
        for path, listed in self._listed.items():
            lost += max(0, listed - self.stats.read_per_file.get(path, 0))
        recovered = sum(self.stats.per_topic.values())
        regions = sum(len(regions) for regions in self.damaged.values()) + self._missing_files
        return SalvageCounts(recovered, lost, regions)

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        decode: bool = True,
    ) -> Iterator[BagMessage]:
        """Messages in log-time order.

        Args:
            topics: topic names to read (None: all). Unknown names raise :class:`BagError`.
            start_ns: first log time to include, ns (absolute, inclusive).
            end_ns: log time to stop at, ns (absolute, exclusive).
            decode: deserialise into message objects (``BagMessage.msg``); False gives raw bytes only.
        """
        if not self.sources:
            raise BagError(self.paths[0], "is not open; use `with BagReader(path) as bag:`")
        selected = self._select(topics)
        streams = []
        for source in self.sources:
            conns = [c for c in selected if c.owner is source]
            if conns:
                streams.append(guarded_read(self, source, conns, start_ns, end_ns))
        for stamp, _, conn, raw in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            msg = None
            if decode:
                msg = self._decode(conn, stamp, raw)
                if msg is None:
                    continue
            self.stats.per_topic[conn.topic] = self.stats.per_topic.get(conn.topic, 0) + 1
            yield BagMessage(conn.topic, conn.msgtype, stamp, raw, msg, str(conn.source_path))

    def _decode(self, conn: SourceConnection, stamp: int, raw: bytes | memoryview) -> Any:
        try:
            if self.is_ros1:
                return self.typestore.deserialize_ros1(raw, conn.msgtype)
            return self.typestore.deserialize_cdr(raw, conn.msgtype)
        except Exception as exc:  # rosbags SerdeError, struct/index errors from a corrupted payload
            self.stats.decode_errors += 1
            self.report_problem(
                f"{conn.source_path}: cannot decode {conn.msgtype} on {conn.topic!r} at {stamp} ns "
                f"({type(exc).__name__}: {exc}); message dropped"
            )
            return None

    def deserialize(self, raw: bytes | memoryview, msgtype: str) -> Any:
        """Deserialise raw bytes of this bag's format into a message object."""
        if self.is_ros1:
            return self.typestore.deserialize_ros1(raw, msgtype)
        return self.typestore.deserialize_cdr(raw, msgtype)

    def to_cdr(self, message: BagMessage) -> bytes:
        """The message as ROS 2 CDR bytes (converted from ROS 1 wire format for .bag input)."""
        if not self.is_ros1:
            return bytes(message.raw)
        # The ROS 2 store converts ROS 1 headers (drops ``seq``); the bag's own ROS 1 store would not.
        if self._cdr_store is None:
            from robossl.data.bags.typestore import default_typestore

            self._cdr_store = default_typestore()
        store = self._cdr_store if message.msgtype in self._cdr_store.fielddefs else self.typestore
        return bytes(store.ros1_to_cdr(message.raw, message.msgtype))


def salvage_counts(path: PathLike | Sequence[PathLike]) -> SalvageCounts:
    """Read every message of a bag with salvage on and count what was recovered and what was lost.

    For benchmarks and checks of damaged recordings; the problems are logged as :class:`BagReader` does.

    Example::

        counts = salvage_counts("crashed_run")
        print(counts.recovered, counts.lost, counts.damaged_regions)
    """
    with BagReader(path, salvage=True) as bag:
        for _ in bag.messages():
            pass
        return bag.salvage_counts()


def iter_messages(
    path: PathLike | Sequence[PathLike],
    topics: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    decode: bool = True,
    salvage: bool = True,
) -> Iterator[BagMessage]:
    """Iterate over a bag's messages in log-time order (the API for offline retraining).

    Args:
        path: ROS 1 ``.bag`` file(s), a rosbag2 folder, or one ``.mcap`` / ``.db3`` file.
        topics: topic names to read (None: all).
        start: seconds after the bag's first message to start at (inclusive); None from the beginning.
        end: seconds after the bag's first message to stop at (exclusive); None to the end.
        decode: deserialise messages (``BagMessage.msg``).
        salvage: read the readable part of damaged bags (problems are logged) instead of raising.

    Yields:
        :class:`BagMessage` objects.
    """
    with BagReader(path, salvage=salvage) as bag:
        t0 = bag.start_ns
        start_ns = None if start is None else t0 + round(start * 1e9)
        end_ns = None if end is None else t0 + round(end * 1e9)
        yield from bag.messages(topics, start_ns, end_ns, decode)
