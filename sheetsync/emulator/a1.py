"""A1 notation: parsing ranges the way the Sheets API reads them, and echoing them the way it writes them.

Parsed ranges are 0-based and half-open, like GridRange; ``None`` marks an open side (``A:B`` has no row
bounds). Sheet titles in echoed ranges are quoted only when Google quotes them (spaces, punctuation, or a
title that could be read as a cell reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetsync.emulator.errors import invalid_argument

_CELL_RE = re.compile(r"^\$?([A-Za-z]{0,3})\$?(\d{0,7})$")
_R1C1_RE = re.compile(r"^R(\d+)C(\d+)$", re.IGNORECASE)
_SIMPLE_TITLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CELLISH_RE = re.compile(r"^([A-Za-z]{1,3}\d+|R\d*C\d*|[A-Za-z]{1,3}|true|false)$", re.IGNORECASE)


@dataclass(frozen=True)
class A1Range:
    """A range as written: the sheet part (None if absent) and 0-based half-open bounds (None = open)."""

    sheet: str | None
    start_row: int | None = None
    start_col: int | None = None
    end_row: int | None = None
    end_col: int | None = None
    whole_sheet: bool = False


def col_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def quote_title(title: str) -> str:
    """Google leaves simple titles bare (``Sheet1``) and quotes the rest (``'My tab'``, ``'D3'``)."""
    if _SIMPLE_TITLE_RE.match(title) and not _CELLISH_RE.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def cell_name(row: int, col: int) -> str:
    return f"{col_letters(col)}{row + 1}"


def format_range(title: str, sr: int, sc: int, er: int, ec: int) -> str:
    """Echo a concrete (bounded, non-empty) range: ``Sheet1!A1:B2`` or ``Sheet1!A1`` for one cell."""
    start = cell_name(sr, sc)
    if er - sr <= 1 and ec - sc <= 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{cell_name(er - 1, ec - 1)}"


def split_sheet(text: str) -> tuple[str | None, str | None]:
    """Split ``'It''s'!A1`` into (``It's``, ``A1``). Without ``!`` the whole text is returned as the sheet
    part *and* as the cell part; the caller decides (Google tries a sheet title first)."""
    if text.startswith("'"):
        i = 1
        buf = []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    buf.append("'")
                    i += 2
                    continue
                rest = text[i + 1 :]
                if rest == "":
                    return "".join(buf), None
                if rest.startswith("!"):
                    return "".join(buf), rest[1:]
                raise ValueError(text)
            buf.append(ch)
            i += 1
        raise ValueError(text)
    if "!" in text:
        sheet, _, cells = text.rpartition("!")
        return sheet, cells
    return None, text


def _endpoint(part: str) -> tuple[int | None, int | None]:
    m = _R1C1_RE.match(part)
    if m:
        return int(m.group(1)) - 1, int(m.group(2)) - 1
    m = _CELL_RE.match(part)
    if not m or (not m.group(1) and not m.group(2)):
        raise ValueError(part)
    col = col_index(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) - 1 if m.group(2) else None
    if row is not None and row < 0:
        raise ValueError(part)
    return row, col


def parse_cells(cells: str) -> tuple[int | None, int | None, int | None, int | None]:
    """Parse the cell part (``A1``, ``A1:B2``, ``A:B``, ``2:3``, ``A2:2``, ``A5:B``) into 0-based
    half-open bounds; raises ValueError when it is not a range."""
    cells = cells.strip()
    if ":" in cells:
        a, _, b = cells.partition(":")
        r1, c1 = _endpoint(a)
        r2, c2 = _endpoint(b)
        # A lone column or a lone row on one side only makes sense with the same kind on the other.
        if (r1 is None and c2 is None) or (c1 is None and r2 is None and r1 is None):
            raise ValueError(cells)
    else:
        r1, c1 = _endpoint(cells)
        if r1 is None or c1 is None:
            raise ValueError(cells)
        r2, c2 = r1, c1
    if r1 is not None and r2 is not None and r2 < r1:
        r1, r2 = r2, r1
    if c1 is not None and c2 is not None and c2 < c1:
        c1, c2 = c2, c1
    start_row = r1 if r1 is not None else (None if r2 is None else 0)
    start_col = c1 if c1 is not None else (None if c2 is None else 0)
    end_row = r2 + 1 if r2 is not None else None
    end_col = c2 + 1 if c2 is not None else None
    if r1 is None and r2 is None:
        start_row = None
    if c1 is None and c2 is None:
        start_col = None
    return start_row, start_col, end_row, end_col


def parse_a1(text: str) -> A1Range:
    """Parse a range string without knowing the spreadsheet. A text without ``!`` is kept both ways
    (``sheet=None``, ``whole_sheet`` False, bounds parsed if possible) and resolved by the caller."""
    try:
        sheet, cells = split_sheet(text)
    except ValueError:
        raise unparsable(text) from None
    if cells is None:
        return A1Range(sheet=sheet, whole_sheet=True)
    try:
        sr, sc, er, ec = parse_cells(cells)
    except ValueError:
        if sheet is None:  # maybe a bare sheet title or a named range: the caller decides
            return A1Range(sheet=text, whole_sheet=True)
        raise unparsable(text) from None
    return A1Range(sheet=sheet, start_row=sr, start_col=sc, end_row=er, end_col=ec)


def unparsable(text: str):
    return invalid_argument(f"Unable to parse range: {text}")
