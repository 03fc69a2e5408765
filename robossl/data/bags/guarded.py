"""Reading one storage file with a fallback: the index first, the scanner for whatever the index cannot give.

Used by :meth:`robossl.data.bags.reader.BagReader.messages`; not meant to be used directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from robossl.data.bags.sources import RosbagsSource, describe_damage, open_scanner
from robossl.data.bags.storage import BagError, DamagedRegion, SourceConnection, StorageSource

__all__ = ["ReadLedger", "guarded_read"]


class ReadLedger(Protocol):
    """Where a guarded read reports (the :class:`~robossl.data.bags.reader.BagReader`)."""

    salvage: bool  # scan past a failed indexed read (else report it, which raises)
    damaged: dict[Path, list[DamagedRegion]]  # storage file -> parts a scan could not read

    def report_problem(self, text: str) -> None: ...

    def count_read(self, path: Path) -> None: ...


def guarded_read(
    reader: ReadLedger,
    source: StorageSource,
    conns: list[SourceConnection],
    start: int | None,
    stop: int | None,
) -> Iterator[tuple[int, int, SourceConnection, bytes | memoryview]]:
    """``(log time, source id, connection, raw)`` of ``source``'s messages, resuming by scanning on failure.

    The indexed read of a damaged file can fail (or, for an uncompressed mcap chunk with zeroed bytes, stop
    early without an error) half-way; with salvage on, the file's scanner then reads the rest, skipping the
    messages the indexed read already gave. Problems and counts go to ``reader``.
    """
    read = 0
    last: int | None = None  # log time of the last message passed on
    at_last: Counter[str] = Counter()  # messages per topic passed on at that log time
    # The newest message is held back until the next one reads: when the read then fails, the damage
    # may have begun inside it (no checksums), and the scan below decides whether it is intact.
    held: tuple[int, int, SourceConnection, bytes | memoryview] | None = None
    try:
        for conn, stamp, raw in source.messages(conns, start, stop):
            if held is not None:
                read += 1
                if held[0] != last:
                    last, at_last = held[0], Counter()
                at_last[held[2].topic] += 1
                reader.count_read(source.path)
                yield held
            held = (stamp, id(source), conn, raw)
        listed = sum(c.count for c in conns)
        got = read + (held is not None)
        # rosbags skips over zeroed bytes in an uncompressed mcap chunk and stops without an error
        ended_early = isinstance(source, RosbagsSource) and start is None and stop is None and got < listed
        if not ended_early:
            if held is not None:
                reader.count_read(source.path)
                yield held
            return
        failure = f"it ended after {got} of the {listed} message(s) the index lists"
    except Exception as exc:  # rosbags ReaderError, sqlite3/apsw errors, decompression errors
        failure = f"{type(exc).__name__}: {exc}"
    if not isinstance(source, RosbagsSource):  # a scanner steps over damage; this is a read error
        if held is not None:
            reader.count_read(source.path)
            yield held
        reader.report_problem(
            f"{source.path}: read failed after {read + (held is not None)} message(s): {failure}; later "
            "messages of this file are lost"
        )
        return
    then = (
        "scanning it record by record for the rest"
        if reader.salvage
        else "read it with salvage on (the CLI without --strict) to recover the rest"
    )
    reader.report_problem(
        f"{source.path}: indexed read failed after {read} message(s) ({failure}); the file is corrupted, "
        + then
    )
    try:
        scanner = open_scanner(source.path)
    except BagError as exc:
        reader.damaged[source.path] = [DamagedRegion(None, None, "nothing readable by scanning")]
        reader.report_problem(f"{source.path}: scanning failed too ({exc.problem}); later messages are lost")
        return
    reader.damaged[source.path] = list(scanner.damaged)
    try:
        resumed = 0
        for conn, stamp, raw in _resume(scanner, conns, start if last is None else last, stop):
            if stamp == last and at_last[conn.topic] > 0:  # the indexed read gave it already
                at_last[conn.topic] -= 1
                continue
            resumed += 1
            reader.count_read(source.path)
            yield stamp, id(source), conn, raw
    finally:
        scanner.close()
    summary = describe_damage(scanner, read + resumed)
    if start is None and stop is None:
        listed = sum(c.count for c in conns)
        summary += f"; the index lists {listed} message(s) on the topics read: {max(0, listed - read - resumed)} lost"
    reader.report_problem(f"{source.path}: the scan read {resumed} more message(s). {summary}")


def _resume(
    scanner: StorageSource, conns: list[SourceConnection], start: int | None, stop: int | None
) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
    """The scanner's messages on ``conns`` (the indexed source's connections), from ``start``."""
    by_key = {(c.topic, c.msgtype): c for c in conns}
    by_topic = {c.topic: c for c in conns}
    mapping = {}
    for c in scanner.connections:
        target = by_key.get((c.topic, c.msgtype)) or by_topic.get(c.topic)
        if target is not None:
            mapping[id(c)] = target
    wanted = [c for c in scanner.connections if id(c) in mapping]
    for conn, stamp, raw in scanner.messages(wanted, start, stop):
        yield mapping[id(conn)], stamp, raw
