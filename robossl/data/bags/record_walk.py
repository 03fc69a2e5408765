"""The walk both damaged-file scanners share (:mod:`robossl.data.bags.mcap_scan`,
:mod:`robossl.data.bags.ros1_scan`): records in file order, resynchronising at the next well-formed record
after damage, with every skipped byte range kept.

A format supplies how to read one record and where the next well-formed one starts; the walk decides what
a failure means. Unreadable bytes at the very end of the file, in a record whose length runs past the end,
are a cut-off file: the message before them is intact and kept. Anywhere else they are overwritten bytes,
which may have begun inside the message before (neither format checksums its messages), so that message is
dropped too. Damage inside a decompressed chunk is reported as the chunk's file range.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robossl.data.bags.storage import BagError, DamagedRegion

Message = tuple[int, int, bytes]  # connection / channel id, log time ns, raw message bytes


class RecordWalker:
    """Base of the resynchronising scanners. Subclasses set :attr:`MAGIC`, :attr:`NOT_A_FILE` and
    :attr:`HEADER_LOST` and implement :meth:`_read`, :meth:`_resync`, :meth:`_runs_past_end` and
    :meth:`_handle` (and :meth:`_cut_chunk` where a chunk can run past the end of the file)."""

    MAGIC = b""
    NOT_A_FILE = ""  # BagError text when the file holds no record of the format at all
    HEADER_LOST = ""  # damaged-region text when the magic and header are unreadable

    path: Path
    data: bytes

    # -- what a format supplies ------------------------------------------------------------------------
    def _read(self, data: bytes, pos: int, end: int) -> tuple[Any, int, int] | None:
        """The well-formed record at ``pos`` as (record, body start, body stop), else None."""
        raise NotImplementedError

    def _resync(self, data: bytes, start: int, end: int) -> int | None:
        """Position of the next well-formed record in ``data[start:end]``, else None."""
        raise NotImplementedError

    def _runs_past_end(self, data: bytes, pos: int, end: int) -> bool:
        """Whether the unreadable record at ``pos`` is cut off by ``end`` rather than overwritten."""
        raise NotImplementedError

    def _handle(
        self,
        record: Any,
        data: bytes,
        pos: int,
        chunk: tuple[int, int] | None,
        damaged: list[DamagedRegion],
    ) -> tuple[Message | None, Iterable[Message], bool]:
        """One well-formed record (as :meth:`_read` gave it, at ``pos``): (its message or None, the messages
        of a chunk it holds, whether the walk ends here, e.g. at a footer)."""
        raise NotImplementedError

    def _cut_chunk(
        self, pos: int, end: int, damaged: list[DamagedRegion]
    ) -> tuple[list[Message], int | None] | None:
        """Messages of a chunk at ``pos`` that runs past the end of the file, and where to go on (None: the
        end); None when ``pos`` holds no such chunk."""
        return None

    # -- the walk --------------------------------------------------------------------------------------
    def _messages(self, damaged: list[DamagedRegion]) -> Iterator[Message]:
        start = len(self.MAGIC)
        if not self.data.startswith(self.MAGIC):
            first = self._resync(self.data, 0, len(self.data))
            if first is None:
                raise BagError(self.path, self.NOT_A_FILE)
            damaged.append(DamagedRegion(0, first, self.HEADER_LOST))
            start = first
        yield from self._walk(self.data, start, len(self.data), None, damaged)

    def _walk(
        self, data: bytes, pos: int, end: int, chunk: tuple[int, int] | None, damaged: list[DamagedRegion]
    ) -> Iterator[Message]:
        """Messages of the records in ``data[pos:end]``; ``chunk`` is the file range of the compressed chunk
        ``data`` was unpacked from (None: ``data`` is the file)."""
        pending: Message | None = None
        while pos < end:
            record = self._read(data, pos, end)
            if record is None:
                if chunk is None:
                    cut = self._cut_chunk(pos, end, damaged)
                    if cut is not None:
                        if pending is not None:
                            yield pending
                            pending = None
                        messages, resume_at = cut
                        yield from messages
                        if resume_at is None:
                            break
                        pos = resume_at
                        continue
                resume = self._resync(data, pos + 1, end)
                at_file_end = data is self.data and end == len(data) and resume is None
                if not (at_file_end and self._runs_past_end(data, pos, end)):
                    pending = None  # overwritten bytes, which may have begun inside the pending message
                what = (
                    "records unreadable" if resume is not None else "records cut off or unreadable to the end"
                )
                if chunk is None:
                    damaged.append(DamagedRegion(pos, end if resume is None else resume, what))
                else:
                    damaged.append(DamagedRegion(chunk[0], chunk[1], f"inside the chunk: {what}"))
                if resume is None:
                    break
                pos = resume
                continue
            if pending is not None:
                yield pending
                pending = None
            message, chunk_messages, finished = self._handle(record, data, pos, chunk, damaged)
            if finished:
                break
            yield from chunk_messages
            pending = message
            pos = record[2]
        if pending is not None:
            yield pending
