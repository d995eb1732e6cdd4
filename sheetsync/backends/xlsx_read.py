"""Reading a tab's cells straight from its XML, streamed: the expert's text exactly as stored.

Why not openpyxl: it builds an object per cell, so reading the four columns ``pull`` needs from a
100,000-row tab costs a million objects and seconds. Here the sheet part is decompressed in chunks and cut
into rows and cells with byte searches; only the cells asked for are decoded. Memory stays at one chunk
plus the result.

Text is decoded as the XML specification and ECMA-376 say, and nothing else is done to it: entities and
character references, XML's line-end normalisation of raw line breaks ("\\r\\n" in the bytes reads "\\n",
as every XML parser reads it), and Excel's ``_xHHHH_`` escapes — how Excel stores a carriage return or a
control character the expert pasted (``_x000D_``), so "\\r\\n" typed in Excel reads back as "\\r\\n". No
strip, no trimming: leading spaces and tabs stay.

Values read as a person sees them, like the rest of sheetsync's reads (see :func:`cell_text`); a cell with a
formula reads as its formula text ("=SUM(A1,2)"), as openpyxl reads it, since a file written by a tool
that does not compute has no result to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import IO, Any

from openpyxl.formula.translate import Translator
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

from sheetsync.backends.xlsx_package import Package

CHUNK = 1 << 20

_ENTITY = re.compile(rb"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_ENTITY_VALUES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}
_X_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ATTR = re.compile(rb"""\s([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData[\s/>]")
_COORD = re.compile(r"([A-Z]{1,3})([0-9]+)$")
_ROW_R = re.compile(rb"""\sr\s*=\s*["']([0-9]+)["']""")


def unescape_text(raw: bytes) -> str:
    """XML character data (the bytes between tags) → the text it stands for, Excel's escapes included."""
    if b"\r" in raw:  # XML 1.0 §2.11: a parser sees every raw line end as "\n"
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    raw_text = _ENTITY.sub(_entity, raw).decode("utf-8") if b"&" in raw else raw.decode("utf-8")
    if "_x" in raw_text:
        raw_text = _X_ESCAPE.sub(_x_char, raw_text)
    return raw_text


# What XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF) and "\r" (XML parsing
# turns a raw one into "\n"): written as Excel's own ``_xHHHH_`` escapes, which Excel, LibreOffice and this
# reader decode back to the very character. A literal "_xHHHH_" in the text gets its "_" escaped
# (``_x005F_``), so it reads back as typed.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def escape_text(text: str) -> str:
    """Text → what to put in a cell's XML so that any reader following ECMA-376 gets ``text`` back exactly
    (the XML serializer still escapes ``<``, ``&``…)."""
    if "_x" not in text and (text.isprintable() or _NEEDS_ESCAPE.search(text) is None):
        return text  # isprintable is one C pass; most text needs nothing
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def _escape_char(m: re.Match[str]) -> str:
    return f"_x{ord(m.group(0)):04X}_"


def _entity(m: re.Match[bytes]) -> bytes:
    name = m.group(1)
    if name.startswith(b"#x"):
        return chr(int(name[2:], 16)).encode("utf-8", "surrogatepass")
    if name.startswith(b"#"):
        return chr(int(name[1:])).encode("utf-8", "surrogatepass")
    return _ENTITY_VALUES[name].encode()


def _x_char(m: re.Match[str]) -> str:
    return chr(int(m.group(1), 16))


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


# ---------------------------------------------------------------------- cell values


class CellDecoder:
    """Turns one cell's XML into its text, with what the workbook says about strings and dates."""

    def __init__(self, package: Package, tags: Tags) -> None:
        self.package = package
        self.tags = tags
        self._strings: list[str] | None = None
        styles = package.styles()
        self.date_styles = styles.date_styles
        self.timedelta_styles = styles.timedelta_styles
        self.epoch = CALENDAR_MAC_1904 if package.date1904 else CALENDAR_WINDOWS_1900
        self.shared_formulas: dict[bytes, tuple[str, str]] = {}  # si -> (formula, master cell)

    def strings(self) -> list[str]:
        if self._strings is None:
            self._strings = self.package.shared_strings()
        return self._strings

    def text(self, attrs: dict[bytes, bytes], content: bytes | None, row: int, col: int) -> str:
        if content is None:
            return ""
        tags = self.tags
        kind = attrs.get(b"t", b"n")
        if tags.f_open in content:
            formula = self._formula(content, f"{_letters(col)}{row + 1}")
            if formula is not None:
                return formula
        if kind == b"inlineStr":
            at = content.find(tags.is_open)
            return rich_text(content[at:], tags) if at != -1 else ""
        raw = _between(content, tags.v_open, tags.v_end)
        if raw is None or raw == b"":
            return ""
        if kind == b"s":
            try:
                return self.strings()[int(raw)]
            except (ValueError, IndexError) as exc:
                ref = f"{_letters(col)}{row + 1}"
                raise ValueError(f"cell {ref} points at shared string {raw!r}, which does not exist") from exc
        if kind in (b"str", b"e"):
            return unescape_text(raw)
        if kind == b"b":
            return "TRUE" if raw.strip() not in (b"0", b"false") else "FALSE"
        if kind == b"d":
            from openpyxl.utils.datetime import from_ISO8601

            return cell_text(from_ISO8601(raw.decode()))
        number = raw.decode().strip()
        value: int | float = float(number) if ("." in number or "E" in number or "e" in number) else int(number)
        style = attrs.get(b"s")
        if style is not None and self.date_styles:
            index = int(style)
            if index in self.date_styles:
                try:
                    return cell_text(from_excel(value, self.epoch, timedelta=index in self.timedelta_styles))
                except (OverflowError, ValueError):
                    return "#VALUE!"  # a date serial outside what dates can be (openpyxl reads the same)
        return cell_text(value)

    def _formula(self, content: bytes, ref: str) -> str | None:
        tags = self.tags
        at = content.find(tags.f_open)
        after = content[at + len(tags.f_open) : at + len(tags.f_open) + 1]
        if after not in (b" ", b">", b"/"):
            return None
        close = content.find(b">", at)
        head = content[at : close + 1]
        attrs = attributes(head)
        if head.endswith(b"/>"):
            text = None
        else:
            end = content.find(b"</", close)
            text = unescape_text(content[close + 1 : end])
        kind = attrs.get(b"t")
        if kind == b"shared":
            si = attrs.get(b"si", b"")
            if text:
                self.shared_formulas[si] = ("=" + text, ref)
            elif si in self.shared_formulas:
                formula, master = self.shared_formulas[si]
                return Translator(formula, origin=master).translate_formula(ref)
        if kind == b"dataTable":
            return None
        return "=" + (text or "")


def rich_text(xml: bytes, tags: Tags) -> str:
    """The text of an ``<si>`` or ``<is>``: its ``<t>`` pieces in order, phonetic guides (``<rPh>``) left out."""
    if b"rPh" in xml:
        xml = tags.rph.sub(b"", xml)
    t_tag, t_end = tags.t_tag, tags.t_end
    n = len(t_tag)
    pieces: list[bytes] = []
    pos = 0
    while True:
        at = xml.find(t_tag, pos)
        if at == -1:
            break
        if xml[at + n : at + n + 1] not in (b">", b" ", b"/", b"\t", b"\n", b"\r"):
            pos = at + n  # <tabColor>… cannot be here, but a longer name starting with "t" could
            continue
        close = xml.find(b">", at)
        if xml[close - 1 : close] == b"/":
            pos = close + 1
            continue
        end = xml.find(t_end, close)
        if end == -1:
            raise ValueError("a text element is not closed")
        pieces.append(xml[close + 1 : end])
        pos = end + len(t_end)
    if len(pieces) == 1:
        return unescape_text(pieces[0])
    return "".join(unescape_text(p) for p in pieces)


def _between(data: bytes, start: bytes, end: bytes) -> bytes | None:
    at = data.find(start)
    if at == -1:
        return None
    stop = data.find(end, at)
    return data[at + len(start) : stop] if stop != -1 else None


def read_shared_strings(data: bytes) -> list[str]:
    """The shared-string table, in order (each entry's plain text)."""
    m = re.search(rb"<(?:([A-Za-z_][\w.-]*):)?sst[\s>]", data)
    prefix = (m.group(1) or b"") if m else b""
    tags = Tags.for_prefix(prefix)
    p = prefix + b":" if prefix else b""
    si_open, si_end = b"<" + p + b"si", b"</" + p + b"si>"
    out: list[str] = []
    pos = 0
    n = len(si_open)
    while True:
        start = data.find(si_open, pos)
        if start == -1:
            return out
        if data[start + n : start + n + 1] not in (b">", b" ", b"/"):
            pos = start + n
            continue
        close = data.find(b">", start)
        if data[close - 1 : close] == b"/":
            out.append("")
            pos = close + 1
            continue
        end = data.find(si_end, close)
        out.append(rich_text(data[close + 1 : end], tags))
        pos = end + len(si_end)


def cell_text(value: Any) -> str:
    """A cell value as the person sees it: what the Google backend's FORMATTED_VALUE-like reads give."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"  # Excel shows 15 significant digits: 0.1+0.2 reads "0.3"
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    text = getattr(value, "text", None)  # ArrayFormula and friends
    return text if isinstance(text, str) else str(value)


# ---------------------------------------------------------------------- reading a tab


@dataclass
class TabRead:
    """What one pass over a tab found."""

    grid: list[list[str]]  # the rows asked for (all columns, or head rows + chosen columns)
    columns: dict[int, list[str]]  # whole columns, when asked for
    last_value_row: int  # 0-based index of the last row holding any value; -1 when none
    max_row: int = -1  # the last row element, value or not
    max_col: int = -1  # the rightmost cell element
    head: bytes = b""  # the part up to its rows, and from their end on (for a write that follows)
    tail: bytes = b""

    @property
    def extents(self) -> Any:
        from sheetsync.backends.xlsx_sheet import Extents

        return Extents(self.last_value_row, self.max_row, self.max_col)


def read_tab(
    package: Package,
    part: str,
    *,
    columns: set[int] | None = None,
    head_rows: int | None = None,
) -> TabRead:
    """Stream one sheet part. ``columns=None``: every cell (``grid``). Otherwise ``grid`` holds the first
    ``head_rows`` rows in full and ``columns`` the chosen columns from row 0 down."""
    with package.open(part) as stream:
        sheet, rows = open_sheet(stream)
        decoder = CellDecoder(package, sheet.tags)
        grid: list[list[str]] = []
        cols: dict[int, list[str]] = {c: [] for c in columns or ()}
        wanted: Callable[[int], bool] | None = None if columns is None else columns.__contains__
        last_value_row = -1
        max_col = -1
        r = -1
        tags = sheet.tags
        fast = tags.fast_cell.match
        f_open = tags.f_open
        cell_tag, cell_end = tags.cell, tags.cell_end
        n_tag, n_end = len(cell_tag), len(cell_end)
        for start, inner in rows:
            mr = _ROW_R.search(start)
            r = int(mr.group(1)) - 1 if mr else r + 1
            full = wanted is None or (head_rows is not None and r < head_rows)
            c = -1
            line: dict[int, str] = {}
            any_value = False
            pos = 0
            while True:  # the cells, cut with byte searches (one regex match per usual start tag)
                at = inner.find(cell_tag, pos)
                if at == -1:
                    break
                m = fast(inner, at)
                if m is not None:
                    letters = m.group(1)
                    c = _COLUMNS.get(letters)
                    if c is None:
                        c = _COLUMNS[letters] = column_index(letters.decode())
                    tag_end = m.end()
                else:
                    if inner[at + n_tag : at + n_tag + 1] not in _AFTER_NAME:
                        pos = at + n_tag  # another element whose name starts with "c"
                        continue
                    tag_end = inner.find(b">", at) + 1
                    attrs = attributes(inner[at:tag_end])
                    ref = attrs.get(b"r")
                    mr = _COORD.match(ref.decode()) if ref is not None else None
                    c = column_index(mr.group(1)) if mr else c + 1
                if inner[tag_end - 2 : tag_end - 1] == b"/":
                    pos = tag_end  # <c …/>: no value
                    continue
                stop = inner.find(cell_end, tag_end)
                if stop == -1:
                    raise ValueError(f"a cell of row {r + 1} is not closed")
                pos = stop + n_end
                keep = full or wanted(c)  # type: ignore[misc]
                # Other cells are decoded only until the row is known to hold a value, and for formulas
                # (a shared formula's text lives in its first cell, wherever that is).
                if keep or not any_value or inner.find(f_open, tag_end, stop) != -1:
                    if m is not None:
                        attrs = {b"t": m.group(4) or b"n"}
                        if m.group(3) is not None:
                            attrs[b"s"] = m.group(3)
                    text = decoder.text(attrs, inner[tag_end:stop], r, c)
                    if text != "":
                        any_value = True
                        if keep:
                            line[c] = text
            if c > max_col:
                max_col = c
            if any_value:
                last_value_row = r
            if full and line:
                width = max(line) + 1
                row_cells = [""] * width
                for k, v in line.items():
                    row_cells[k] = v
                _put_row(grid, r, row_cells)
            if wanted is not None:
                for k, v in line.items():
                    if k in cols:
                        col = cols[k]
                        if len(col) < r:
                            col.extend([""] * (r - len(col)))
                        col.append(v)
    while grid and not grid[-1]:
        grid.pop()
    if head_rows is not None:  # the head as a full read would give it: empty rows inside it included
        grid.extend([] for _ in range(min(head_rows, last_value_row + 1) - len(grid)))
    return TabRead(grid, cols, last_value_row, r, max_col, sheet.head, rows.tail)


def _put_row(grid: list[list[str]], r: int, cells: list[str]) -> None:
    while len(grid) < r:
        grid.append([])
    if len(grid) == r:
        grid.append(cells)
    else:  # a row listed twice (not valid, but some writers do): later cells win
        merged = grid[r] + [""] * max(0, len(cells) - len(grid[r]))
        for k, v in enumerate(cells):
            if v != "":
                merged[k] = v
        grid[r] = merged


def _letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
