"""Rows of an SQLite database read straight from its pages, for files SQLite itself refuses.

SQLite stops at the first damaged page ("database disk image is malformed"), and a file cut short is
refused outright. The rows themselves sit in B-tree leaf pages that can be read one by one: this module
decodes every table leaf page that is still intact (cells, records, overflow chains), so a salvage can keep
every row the file still holds, wherever the damage is. Used by
:class:`robossl.data.bags.sqlite_scan.Sqlite3ScanSource`; ROS-free and SQL-free.

File format: https://www.sqlite.org/fileformat2.html (database header, B-tree pages, record format).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["SqlitePages"]

_MAGIC = b"SQLite format 3\0"
_LEAF_TABLE, _INTERIOR_TABLE = 0x0D, 0x05
_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


class CellError(Exception):
    """A cell, record or overflow chain that does not decode (damaged bytes)."""


class CellCutOff(CellError):
    """A cell whose bytes (or overflow pages) lie beyond the end of a truncated file."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos + i >= len(buf):
            raise CellError("varint runs past the page")
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    if pos + 8 >= len(buf):
        raise CellError("varint runs past the page")
    return (value << 8) | buf[pos + 8], pos + 9


def decode_record(payload: bytes) -> tuple[Any, ...]:
    """Column values of one record (NULL, int, float, text, blob); raises CellError when malformed."""
    header_size, pos = _varint(payload, 0)
    if not 0 < header_size <= len(payload):
        raise CellError(f"record header of {header_size} bytes in a {len(payload)}-byte record")
    types = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    if pos != header_size:
        raise CellError("record header does not end where it says")
    values: list[Any] = []
    pos = header_size
    for serial in types:
        if serial == 0:
            values.append(None)
            continue
        if serial in (8, 9):
            values.append(serial - 8)
            continue
        if serial in (10, 11):
            raise CellError(f"reserved serial type {serial}")
        size = _INT_SIZES.get(serial, 8 if serial == 7 else (serial - 12) // 2)
        if pos + size > len(payload):
            raise CellError("record value runs past the record")
        raw = payload[pos : pos + size]
        if serial == 7:
            values.append(struct.unpack(">d", raw)[0])
        elif serial < 7:
            values.append(int.from_bytes(raw, "big", signed=True))
        elif serial % 2 == 0:
            values.append(bytes(raw))
        else:
            try:
                values.append(bytes(raw).decode())
            except UnicodeDecodeError as exc:
                raise CellError(f"text value is not UTF-8 ({exc})") from exc
        pos += size
    if pos != len(payload):
        raise CellError("record values do not fill the record")
    return tuple(values)


class SqlitePages:
    """The pages of one SQLite file (possibly truncated or with overwritten pages).

    Args:
        data: the file's bytes.

    Raises:
        ValueError: the file does not start with an SQLite header.
    """

    def __init__(self, data: bytes) -> None:
        if len(data) < 100 or not data.startswith(_MAGIC):
            raise ValueError("not an SQLite 3 database (header missing or overwritten)")
        size = int.from_bytes(data[16:18], "big")
        self.page_size = 65536 if size == 1 else size
        if self.page_size < 512 or self.page_size & (self.page_size - 1):
            raise ValueError(f"page size {self.page_size} in the header is not a power of two >= 512")
        self.usable = self.page_size - data[20]
        self.data = data
        self.page_count = -(-len(data) // self.page_size)  # pages present, the last one maybe cut short
        self.declared_pages = int.from_bytes(data[28:32], "big")  # pages the header says the file has
        self.free = self._freelist()

    def _page(self, number: int) -> bytes:
        start = (number - 1) * self.page_size
        return self.data[start : start + self.page_size]

    def _freelist(self) -> set[int]:
        """Pages on the free list (their old contents are not rows); best effort on a damaged file."""
        free: set[int] = set()
        trunk = int.from_bytes(self.data[32:36], "big")
        while 0 < trunk <= self.page_count and trunk not in free:
            page = self._page(trunk)
            if len(page) < 8:
                break
            free.add(trunk)
            count = int.from_bytes(page[4:8], "big")
            for i in range(min(count, (len(page) - 8) // 4)):
                free.add(int.from_bytes(page[8 + 4 * i : 12 + 4 * i], "big"))
            trunk = int.from_bytes(page[0:4], "big")
        return free

    def _header_offset(self, number: int) -> int:
        return 100 if number == 1 else 0

    def page_type(self, number: int) -> int:
        """The B-tree page type byte (0x0D table leaf, 0x05 table interior, others), -1 if cut off."""
        page = self._page(number)
        offset = self._header_offset(number)
        return page[offset] if len(page) > offset else -1

    def leaf_cells(self, number: int) -> list[int]:
        """Offsets (within the page) of the cells of table leaf page ``number``; [] when it is not one."""
        page = self._page(number)
        hdr = self._header_offset(number)
        if len(page) < hdr + 8 or page[hdr] != _LEAF_TABLE:
            return []
        count = int.from_bytes(page[hdr + 3 : hdr + 5], "big")
        pointers = hdr + 8
        if pointers + 2 * count > self.usable:
            return []
        cells = []
        for i in range(min(count, (len(page) - pointers) // 2)):  # a page cut short keeps its first pointers
            offset = int.from_bytes(page[pointers + 2 * i : pointers + 2 * i + 2], "big")
            if pointers + 2 * count <= offset < self.usable:
                cells.append(offset)
        return cells

    def cell(self, number: int, offset: int) -> tuple[int, tuple[Any, ...]]:
        """``(rowid, values)`` of the table leaf cell at ``offset`` of page ``number``.

        Raises:
            CellError: the cell, its record or its overflow chain is damaged or cut off.
        """
        page = self._page(number)
        size, pos = _varint(page, offset)
        rowid, pos = _varint(page, pos)
        local = self._local_size(size)
        if pos + local > self.usable:
            raise CellError("cell runs past its page")
        if pos + local > len(page):
            raise CellCutOff("cell runs past the end of the file")
        payload = bytearray(page[pos : pos + local])
        if local < size:
            payload += self._overflow(page, pos + local, size - local)
        return rowid, decode_record(bytes(payload))

    def intact_cells(self, number: int) -> list[tuple[int, int, tuple[Any, ...]]]:
        """``(offset, rowid, values)`` of the cells of table leaf page ``number`` that decode.

        A cell that ends where a damaged cell begins is left out too: bytes overwritten from inside its
        payload onwards leave its header intact, and SQLite keeps no checksum to tell.
        """
        decoded, failed = [], set()
        complete = len(self._page(number)) == self.page_size
        for offset in self.leaf_cells(number):
            try:
                rowid, values = self.cell(number, offset)
            except CellCutOff:
                continue
            except CellError:
                if complete:  # on a page cut short, a cell that does not decode is cut off, not overwritten
                    failed.add(offset)
                continue
            decoded.append((offset, rowid, values))
        if not failed:
            return decoded
        return [cell for cell in decoded if self._cell_end(number, cell[0]) not in failed]

    def _cell_end(self, number: int, offset: int) -> int:
        page = self._page(number)
        size, pos = _varint(page, offset)
        _, pos = _varint(page, pos)
        local = self._local_size(size)
        return pos + local + (4 if local < size else 0)

    def _local_size(self, size: int) -> int:
        """Bytes of a payload of ``size`` bytes stored on the leaf page itself (the rest overflows)."""
        most = self.usable - 35
        if size <= most:
            return size
        least = (self.usable - 12) * 32 // 255 - 23
        local = least + (size - least) % (self.usable - 4)
        return local if local <= most else least

    def _overflow(self, page: bytes, pointer_at: int, remaining: int) -> bytes:
        if pointer_at + 4 > len(page):
            raise CellCutOff("overflow pointer cut off")
        number = int.from_bytes(page[pointer_at : pointer_at + 4], "big")
        parts = []
        seen: set[int] = set()
        while remaining > 0:
            if self.page_count < number <= self.declared_pages:
                raise CellCutOff(f"overflow page {number} lies beyond the end of the file")
            if not 0 < number <= self.page_count or number in seen or number in self.free:
                raise CellError(f"overflow chain broken at page {number}")
            seen.add(number)
            overflow = self._page(number)
            take = min(remaining, self.usable - 4)
            if len(overflow) < 4 + take:
                raise CellCutOff(f"overflow page {number} cut off")
            parts.append(overflow[4 : 4 + take])
            remaining -= take
            number = int.from_bytes(overflow[0:4], "big")
        if number != 0:
            raise CellError("overflow chain longer than its payload")
        return b"".join(parts)

    def damaged_pages(self) -> list[int]:
        """Whole pages that hold neither a B-tree page nor overflow data: zeroed or overwritten pages.

        An overflow page starts with the number of the next one (or 0), so a page whose type byte is not a
        B-tree type and whose first four bytes are not a page number cannot be in use.
        """
        damaged = []
        for number in range(1, len(self.data) // self.page_size + 1):
            if number in self.free:
                continue
            page = self._page(number)
            if page.count(0) == len(page):
                damaged.append(number)
            elif self.page_type(number) not in (0x02, 0x05, 0x0A, 0x0D):
                if int.from_bytes(page[0:4], "big") > max(self.page_count, self.declared_pages):
                    damaged.append(number)
        return damaged

    def leaf_pages(self) -> Iterator[int]:
        """Numbers of the table leaf pages in use, in file order."""
        for number in range(1, self.page_count + 1):
            if number not in self.free and self.page_type(number) == _LEAF_TABLE:
                yield number

    def tree_rows(self, root: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(rowid, values)`` of the rows of the table B-tree at page ``root`` that can be read."""
        stack, seen = [root], set()
        while stack:
            number = stack.pop()
            if not 0 < number <= self.page_count or number in seen:
                continue
            seen.add(number)
            kind = self.page_type(number)
            if kind == _LEAF_TABLE:
                for offset in self.leaf_cells(number):
                    try:
                        yield self.cell(number, offset)
                    except CellError:
                        continue
            elif kind == _INTERIOR_TABLE:
                stack.extend(reversed(self._children(number)))

    def _children(self, number: int) -> list[int]:
        page = self._page(number)
        hdr = self._header_offset(number)
        if len(page) < hdr + 12:
            return []
        count = int.from_bytes(page[hdr + 3 : hdr + 5], "big")
        children = []
        for i in range(count):
            at = hdr + 12 + 2 * i
            offset = int.from_bytes(page[at : at + 2], "big")
            if offset + 4 <= len(page):
                children.append(int.from_bytes(page[offset : offset + 4], "big"))
        children.append(int.from_bytes(page[hdr + 8 : hdr + 12], "big"))
        return children

    def tables(self) -> dict[str, int]:
        """Table name -> root page, from the schema table on page 1 ({} when page 1 is unreadable)."""
        roots = {}
        for _, values in self.tree_rows(1):
            if len(values) == 5 and values[0] == "table" and isinstance(values[3], int):
                roots[str(values[1])] = values[3]
        return roots
