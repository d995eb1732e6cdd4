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
from dataclasses import dataclass

from sheetsync.backends.xlsx_package import Package
from sheetsync.backends.xlsx_scan import Tags, attributes, column_index, iter_cells, open_sheet
from sheetsync.backends.xlsx_text import cell_text, escape_text, unescape_text
from sheetsync.layout import column_letter

__all__ = ["Tags", "attributes", "cell_text", "column_index", "escape_text", "iter_cells", "open_sheet",
           "read_tab", "unescape_text"]

_COORD = re.compile(r"([A-Z]{1,3})([0-9]+)$")
_ROW_R = re.compile(rb"""\sr\s*=\s*["']([0-9]+)["']""")
_COLUMNS: dict[bytes, int] = {}
_AFTER_NAME = (b" ", b">", b"/", b"\t", b"\n", b"\r")


# ---------------------------------------------------------------------- cell values


class CellDecoder:
    """Turns one cell's XML into its text, with what the workbook says about strings and dates."""

    def __init__(self, package: Package, tags: Tags) -> None:
        self.package = package
        self.tags = tags
        self._strings: list[str] | None = None
        self._dates: tuple[set[int], set[int]] | None = None  # styles.xml is read at the first styled number
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
            formula = self._formula(content, f"{column_letter(col)}{row + 1}")
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
                ref = f"{column_letter(col)}{row + 1}"
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
        if style is not None and style != b"0":
            if self._dates is None:
                styles = self.package.styles()
                self._dates = (styles.date_styles, styles.timedelta_styles)
            index = int(style)
            if index in self._dates[0]:
                from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

                epoch = CALENDAR_MAC_1904 if self.package.date1904 else CALENDAR_WINDOWS_1900
                try:
                    return cell_text(from_excel(value, epoch, timedelta=index in self._dates[1]))
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
                from openpyxl.formula.translate import Translator

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


# ---------------------------------------------------------------------- reading a tab


@dataclass
class Extents:
    """What a pass over the original rows learnt: needed before the rows are rewritten."""

    last_value_row: int = -1  # 0-based; -1: no value anywhere
    max_row: int = -1  # last row element, value or not
    max_col: int = -1


@dataclass
class Scan:
    """What a read learnt about a tab, kept so the write that follows need not read it again."""

    extents: Extents
    head: bytes
    tail: bytes


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
    def extents(self) -> Extents:
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
        cells = _RowCells(CellDecoder(package, sheet.tags), sheet.tags, None if columns is None else columns)
        grid: list[list[str]] = []
        cols: dict[int, list[str]] = {c: [] for c in columns or ()}
        last_value_row = -1
        max_col = -1
        r = -1
        for start, inner in rows:
            mr = _ROW_R.search(start)
            r = int(mr.group(1)) - 1 if mr else r + 1
            full = columns is None or (head_rows is not None and r < head_rows)
            line, any_value, c = cells.read(inner, r, full)
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
            if columns is not None:
                _extend_columns(cols, r, line)
    while grid and not grid[-1]:
        grid.pop()
    if head_rows is not None:  # the head as a full read would give it: empty rows inside it included
        grid.extend([] for _ in range(min(head_rows, last_value_row + 1) - len(grid)))
    return TabRead(grid, cols, last_value_row, r, max_col, sheet.head, rows.tail)


class _RowCells:
    """The cells of one row element, cut with byte searches (one regex match per usual start tag)."""

    def __init__(self, decoder: CellDecoder, tags: Tags, wanted: set[int] | None) -> None:
        self.decoder, self.wanted = decoder, wanted
        self.fast, self.f_open = tags.fast_cell.match, tags.f_open
        self.cell_tag, self.cell_end = tags.cell, tags.cell_end

    def read(self, inner: bytes, r: int, full: bool) -> tuple[dict[int, str], bool, int]:
        """(column -> text of the cells kept, whether any cell holds a value, the last cell's column). With
        ``full`` every cell is kept, else only the wanted columns."""
        fast, f_open, decoder, wanted = self.fast, self.f_open, self.decoder, self.wanted
        cell_tag, cell_end = self.cell_tag, self.cell_end
        n_tag, n_end = len(cell_tag), len(cell_end)
        c = -1
        line: dict[int, str] = {}
        any_value = False
        pos = 0
        while True:
            at = inner.find(cell_tag, pos)
            if at == -1:
                return line, any_value, c
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
            keep = full or c in wanted  # type: ignore[operator]
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


def _extend_columns(cols: dict[int, list[str]], r: int, line: dict[int, str]) -> None:
    """Row ``r``'s cells of the chosen columns, each column padded with "" down to the row."""
    for k, v in line.items():
        if k in cols:
            col = cols[k]
            if len(col) < r:
                col.extend([""] * (r - len(col)))
            col.append(v)


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
