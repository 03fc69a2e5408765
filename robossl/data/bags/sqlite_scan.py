"""A rosbag2 sqlite3 file read page by page, for files SQLite itself refuses (cut short, damaged pages).

Used by :func:`robossl.data.bags.sources.open_scanner` when the ``.db3`` file cannot be opened; the pages are
decoded by :mod:`robossl.data.bags.sqlite_pages`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from robossl.data.bags.sqlite_pages import SqlitePages
from robossl.data.bags.storage import BagError, DamagedRegion, SourceConnection, select_messages

__all__ = ["Sqlite3ScanSource"]


class Sqlite3ScanSource:
    """A rosbag2 sqlite3 file read page by page: every row of ``messages`` on an intact page.

    SQLite refuses files cut short and stops at the first malformed page; this reads the B-tree leaf pages
    directly (:mod:`robossl.data.bags.sqlite_pages`). ``topics`` (and ``message_definitions``) are found through
    the schema on page 1; message rows are recognised by their shape, so rows whose B-tree parents were
    lost are still found. Row ids are consecutive in a rosbag2 file, so missing ids count lost messages.

    Attributes:
        damaged: the runs of missing rows, and the part of the file that is cut off.
        lost: messages whose rows are missing between the first and the last row read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = "sqlite3"
        try:
            self.pages = SqlitePages(path.read_bytes())
        except ValueError as exc:
            raise BagError(path, f"{exc}; nothing can be recovered") from exc
        tables = self.pages.tables()
        if "topics" not in tables:
            raise BagError(
                path,
                "the topics table cannot be found (the schema on page 1 is damaged); nothing can be recovered",
            )
        definitions: dict[str, tuple[str, str]] = {}
        for _, values in self.pages.tree_rows(tables.get("message_definitions", 0)):
            if len(values) >= 4 and all(isinstance(v, str) for v in values[1:4]):
                definitions[values[1]] = (
                    {"ros2msg": "msg", "ros2idl": "idl"}.get(values[2], "none"),
                    values[3],
                )
        self.by_id: dict[int, SourceConnection] = {}
        for rowid, values in self.pages.tree_rows(tables["topics"]):
            if len(values) >= 4 and all(isinstance(v, str) for v in values[1:4]):
                dfmt, text = definitions.get(values[2], ("none", ""))
                self.by_id[rowid] = SourceConnection(
                    values[1], values[2], values[3], 0, dfmt, text, self, rowid
                )
        if not self.by_id:
            raise BagError(path, "the topics table is unreadable; nothing can be recovered")
        self.connections = list(self.by_id.values())
        self.rows = self._locate_rows()  # (timestamp, rowid, topic id, page, cell offset), in time order
        for _, _, tid, _, _ in self.rows:
            if tid in self.by_id:
                self.by_id[tid].count += 1
        self.start_ns = self.rows[0][0] if self.rows else None
        self.end_ns = max(row[0] for row in self.rows) if self.rows else None
        self.damaged, self.lost = self._damage()

    def _locate_rows(self) -> list[tuple[int, int, int, int, int]]:
        rows: dict[int, tuple[int, int, int, int, int]] = {}
        for number in self.pages.leaf_pages():
            for offset, rowid, values in self.pages.intact_cells(number):
                if (
                    len(values) == 4
                    and isinstance(values[1], int)
                    and isinstance(values[2], int)
                    and isinstance(values[3], bytes)
                ):
                    rows.setdefault(rowid, (values[2], rowid, values[1], number, offset))
        return sorted(rows.values())

    def _damage(self) -> tuple[list[DamagedRegion], int]:
        """Damaged pages (or, where none is seen, runs of missing rows), a cut-off end, and lost rows."""
        size, page_size = len(self.pages.data), self.pages.page_size
        damaged = []
        for first, last in _runs(self.pages.damaged_pages()):
            what = f"page(s) {first}-{last} zeroed or overwritten"
            damaged.append(DamagedRegion((first - 1) * page_size, last * page_size, what))
        gaps, lost, previous = [], 0, 0
        for rowid in sorted(row[1] for row in self.rows):
            if rowid > previous + 1:
                gaps.append(DamagedRegion(None, None, f"message rows {previous + 1}-{rowid - 1} unreadable"))
                lost += rowid - previous - 1
            previous = rowid
        damaged += gaps if not damaged else []
        declared = self.pages.declared_pages * page_size
        if size < declared or size % page_size:
            what = f"file cut off at byte {size}: rows after message row {previous} lost"
            damaged.append(DamagedRegion(size, max(size, declared), what))
        listed = self._listed_by_sqlite()
        if listed is not None:
            lost = max(lost, listed - len(self.rows))
        return damaged, lost

    def _listed_by_sqlite(self) -> int | None:
        """Rows of ``messages`` by SQLite's own count (its index B-tree may survive), None if it fails."""
        import sqlite3
        from contextlib import closing

        try:
            uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
            with closing(sqlite3.connect(uri, uri=True)) as db:
                return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.Error:
            return None

    def messages(
        self, conns: list[SourceConnection], start: int | None, stop: int | None
    ) -> Iterator[tuple[SourceConnection, int, bytes | memoryview]]:
        located = ((tid, stamp, (number, offset)) for stamp, _, tid, number, offset in self.rows)
        for conn, stamp, (number, offset) in select_messages(conns, start, stop, located):
            _, values = self.pages.cell(number, offset)  # read only the selected rows
            yield conn, stamp, values[3]

    def close(self) -> None:
        self.pages.data = b""


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` of sorted integers."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs
