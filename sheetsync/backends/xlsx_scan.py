"""Cutting a sheet part into rows and cells with byte searches, streamed a chunk at a time.

A sheet's rows are most of a workbook's bytes (a 100,000-row tab is ~280 MB of XML). An XML parser would
build every element and decode every text just to skip it; byte searches find where rows and cells start
and end (text cannot hold a raw "<", so ``<c`` and ``</c>`` are never inside a value), and only the cells a
caller wants are decoded (:mod:`xlsx_read`) or rewritten (:mod:`xlsx_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

CHUNK = 1 << 20

_ATTR = re.compile(rb"""\s([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData[\s/>]")
_COORD = re.compile(r"([A-Z]{1,3})([0-9]+)$")
_ROW_R = re.compile(rb"""\sr\s*=\s*["']([0-9]+)["']""")


def attributes(tag: bytes) -> dict[bytes, bytes]:
    """The attributes of one start tag (names with their prefix, values still escaped)."""
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR.finditer(tag)}


_LETTERS: dict[str, int] = {}
_COLUMNS: dict[bytes, int] = {}
_AFTER_NAME = (b" ", b">", b"/", b"\t", b"\n", b"\r")


def column_index(letters: str) -> int:
    """``"A"`` → 0, ``"AA"`` → 26 (cached: a tab has few distinct column letters)."""
    index = _LETTERS.get(letters)
    if index is None:
        index = 0
        for ch in letters:
            index = index * 26 + (ord(ch) - 64)
        index -= 1
        _LETTERS[letters] = index
    return index


def split_coordinate(ref: str) -> tuple[int, int]:
    """``"B3"`` → (row 2, column 1), both 0-based."""
    m = _COORD.match(ref)
    if m is None:
        raise ValueError(f"bad cell reference {ref!r}")
    return int(m.group(2)) - 1, column_index(m.group(1))


# ---------------------------------------------------------------------- cutting the sheet into rows


@dataclass
class Tags:
    """The byte patterns of one sheet's elements (a few writers put a prefix on SpreadsheetML tags)."""

    row: bytes
    row_end: bytes
    cell: bytes
    cell_end: bytes
    sheet_data_end: bytes
    t_tag: bytes
    t_end: bytes
    f_open: bytes
    v_open: bytes
    v_end: bytes
    is_open: bytes
    rph: re.Pattern[bytes]
    fast_cell: re.Pattern[bytes]  # the usual start tag: r, then s and t only (Excel, LibreOffice, openpyxl)

    @classmethod
    def for_prefix(cls, prefix: bytes) -> Tags:
        p = prefix + b":" if prefix else b""
        return cls(
            row=b"<" + p + b"row",
            row_end=b"</" + p + b"row>",
            cell=b"<" + p + b"c",
            cell_end=b"</" + p + b"c>",
            sheet_data_end=b"</" + p + b"sheetData>",
            t_tag=b"<" + p + b"t",
            t_end=b"</" + p + b"t>",
            f_open=b"<" + p + b"f",
            v_open=b"<" + p + b"v>",
            v_end=b"</" + p + b"v>",
            is_open=b"<" + p + b"is",
            rph=re.compile(rb"<" + re.escape(p) + rb"rPh\b.*?</" + re.escape(p) + rb"rPh>", re.S),
            fast_cell=re.compile(
                rb"<" + re.escape(p) + rb'c r="([A-Z]{1,3})([0-9]+)"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?\s*/?>'
            ),
        )


@dataclass
class SheetXml:
    """A sheet part cut in three: what precedes the rows, the rows (streamed), what follows them."""

    head: bytes  # up to and including the <sheetData> start tag (or a self-closing <sheetData/>)
    tags: Tags
    empty: bool  # <sheetData/>: no rows at all


def open_sheet(stream: IO[bytes]) -> tuple[SheetXml, RowStream]:
    """Start reading a sheet part: its head, and a stream of its rows."""
    buf = b""
    while True:
        chunk = stream.read(CHUNK)
        buf += chunk
        m = _SHEET_DATA.search(buf)
        if m is not None:
            end = buf.find(b">", m.end() - 1)
            if end != -1:
                break
        if not chunk:
            raise ValueError("no <sheetData> element")
    prefix = m.group(1) or b""
    tags = Tags.for_prefix(prefix)
    empty = buf[end - 1 : end] == b"/"
    sheet = SheetXml(buf[: end + 1], tags, empty)
    return sheet, RowStream(stream, buf[end + 1 :], tags, empty)


class RowStream:
    """Yields ``(row_start_tag, row_inner_bytes)`` in file order; afterwards ``tail`` holds the rest of
    the part (from ``</sheetData>`` on)."""

    def __init__(self, stream: IO[bytes], buf: bytes, tags: Tags, empty: bool) -> None:
        self.stream = stream
        self.buf = buf
        self.tags = tags
        self.empty = empty
        self.tail = b""

    def _more(self) -> bool:
        chunk = self.stream.read(CHUNK)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        tags = self.tags
        row_tag, row_end, data_end = tags.row, tags.row_end, tags.sheet_data_end
        buf = self.buf
        pos = 0
        if self.empty:
            while self._more():
                pass
            self.tail = self.buf
            return
        while True:
            start = buf.find(row_tag, pos)
            stop = buf.find(data_end, pos, None if start == -1 else start)  # only between rows
            if stop != -1:
                self.tail = buf[stop:]
                while True:
                    chunk = self.stream.read(CHUNK)
                    if not chunk:
                        break
                    self.tail += chunk
                return
            if start == -1 or buf.find(b">", start) == -1:
                self.buf = buf[pos:]
                if not self._more():
                    raise ValueError("the sheet ends inside <sheetData>")
                buf, pos = self.buf, 0
                continue
            close = buf.find(b">", start)
            if buf[close - 1 : close] == b"/":
                yield buf[start : close + 1], b""
                pos = close + 1
                continue
            end = buf.find(row_end, close)
            if end == -1:
                self.buf = buf[start:]
                if not self._more():
                    raise ValueError("the sheet ends inside a row")
                buf, pos = self.buf, 0
                continue
            yield buf[start : close + 1], buf[close + 1 : end]
            pos = end + len(row_end)
            if pos > CHUNK:  # drop what was consumed, so the buffer stays about one chunk long
                buf = buf[pos:]
                self.buf = buf
                pos = 0


def iter_cells(inner: bytes, tags: Tags) -> Iterator[tuple[bytes, bytes | None]]:
    """The cells of one row: ``(start_tag, content)``; content is None for a self-closing cell."""
    cell_tag, cell_end = tags.cell, tags.cell_end
    n = len(cell_tag)
    pos = 0
    while True:
        start = inner.find(cell_tag, pos)
        if start == -1:
            return
        after = inner[start + n : start + n + 1]
        if after not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
            pos = start + n  # another element whose name starts with "c" (none in a row today)
            continue
        close = inner.find(b">", start)
        if inner[close - 1 : close] == b"/":
            yield inner[start : close + 1], None
            pos = close + 1
        else:
            end = inner.find(cell_end, close)
            if end == -1:
                raise ValueError("a cell is not closed")
            yield inner[start : close + 1], inner[close + 1 : end]
            pos = end + len(cell_end)
