"""Row heights that fit wrapped text, estimated from characters: no spreadsheet does it for a written file.

Excel and LibreOffice draw a row at the height the file gives it (a row without one is one line tall, and
its wrapped text overprints the next row); Google keeps the height a write sets. So sheetsync sizes the rows
of the tabs it builds itself, from the text, the column widths and the font size.

The estimate wraps words greedily at an average character width measured for the fonts the tabs use
(Calibri 11 in Excel, its metric twin Carlito in LibreOffice, Arial 10 on Google), rounded up so text is
never cut: a row may end a line taller than it needs, never a line shorter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sheetsync.layout import CellValue, TabSpec

CHAR_PX = 6.0  # average width of a character of mixed text at 11 pt, measured in LibreOffice with Carlito
BOLD_CHAR_PX = 6.6
ITALIC_CHAR_PX = 5.7
WRAP_WASTE = 4  # characters a line of whole words leaves empty, on average (about half a word)
LINE_PX = 20  # one line of 11 pt text in Excel (15 pt); LibreOffice and Google need a little less
PADDING_PX = 6  # above and below the text
CELL_PADDING_PX = 8  # left and right of the text
MIN_ROW_PX = 21  # Google's default row; Excel's is 20
MAX_ROW_PX = 545  # Excel's limit: 409 points
DEFAULT_COLUMN_PX = 100  # Google's default width (Excel's is 64 px: specs give every column its width)


def lines(text: str, width_px: int, *, bold: bool = False, italic: bool = False, font_size: int = 11) -> int:
    """How many lines ``text`` takes in a wrapped cell ``width_px`` wide."""
    scale = font_size / 11
    per_char = (BOLD_CHAR_PX if bold else ITALIC_CHAR_PX if italic else CHAR_PX) * scale
    room = max(1, int((width_px - CELL_PADDING_PX) / per_char))
    total = 0
    for paragraph in text.split("\n"):
        if len(paragraph) <= room:
            total += 1
            continue
        if len(paragraph) > 4 * room:  # long text: estimated, each line holding a few characters less
            total += math.ceil(len(paragraph) / max(room - WRAP_WASTE, 1))
            continue
        used, count = 0, 1
        for word in paragraph.split(" "):
            size = len(word)
            while size > room:  # a word longer than the line breaks anywhere
                if used:
                    count += 1
                count += 1
                size -= room
                used = 0
            need = size if not used else used + 1 + size
            if need > room:
                count += 1
                used = size
            else:
                used = need
        total += count
    return total


def row_px(n_lines: int, font_size: int = 11) -> int:
    return min(MAX_ROW_PX, max(MIN_ROW_PX, math.ceil(n_lines * LINE_PX * font_size / 11) + PADDING_PX))


def fit_rows(spec: TabSpec, *, first_row: int = 0) -> TabSpec:
    """``spec`` with ``row_heights`` for every row from ``first_row`` that holds wrapped text (rows the spec
    already sizes keep their height). Reads the spec's blocks, wrap styles, column widths and merges."""
    wrapped = _styled(spec, "wrap")
    bold = _styled(spec, "bold")
    italic = _styled(spec, "italic")
    sizes = _font_sizes(spec)
    width = _widths(spec)
    merged = {(m.row0, m.col0): sum(width(c) for c in range(m.col0, m.col1 if m.col1 is not None else spec.n_cols))
              for m in spec.merges}
    heights = dict(spec.row_heights)
    for block in spec.blocks:
        for i, row in enumerate(block.values):
            r = block.row + i
            if r < first_row or r in spec.row_heights:
                continue
            need = 0
            for j, value in enumerate(row):
                c = block.col + j
                if value is None or value == "" or not wrapped(r, c):
                    continue
                size = sizes(r, c)
                n = lines(_text(value), merged.get((r, c)) or width(c), bold=bold(r, c), italic=italic(r, c),
                          font_size=size)
                if n > 1 or size > 11:
                    need = max(need, row_px(n, size))
            if need > MIN_ROW_PX:
                heights[r] = max(heights.get(r, 0), need)
    spec.row_heights = heights
    return spec


def _text(value: CellValue) -> str:
    return value if isinstance(value, str) else str(value)


def _widths(spec: TabSpec) -> Callable[[int], int]:
    return lambda c: spec.column_widths.get(c, DEFAULT_COLUMN_PX)


def _styled(spec: TabSpec, attr: str) -> Callable[[int, int], bool]:
    """Whether the last style covering a cell that sets ``attr`` sets it true."""
    ranges = [(s.range.resolve(spec.n_rows, spec.n_cols), getattr(s, attr)) for s in spec.styles
              if getattr(s, attr) is not None]

    def check(r: int, c: int) -> bool:
        on = False
        for (r0, c0, r1, c1), value in ranges:
            if r0 <= r < r1 and c0 <= c < c1:
                on = bool(value)
        return on

    return check


def _font_sizes(spec: TabSpec) -> Callable[[int, int], int]:
    ranges = [(s.range.resolve(spec.n_rows, spec.n_cols), s.font_size) for s in spec.styles if s.font_size]

    def size(r: int, c: int) -> int:
        found = 11
        for (r0, c0, r1, c1), value in ranges:
            if r0 <= r < r1 and c0 <= c < c1:
                found = value
        return found

    return size


def column_px(header: str, texts: list[str], *, low: int = 70, high: int = 300) -> int:
    """A width for a column from what it holds: its header and nine in ten of its values fit on one line,
    up to ``high`` (longer text wraps in it)."""
    longest = sorted(max((len(line) for line in t.split("\n")), default=0) for t in texts) or [0]
    typical = longest[int(0.9 * (len(longest) - 1))]
    need = max(math.ceil(typical * CHAR_PX), math.ceil(len(header) * BOLD_CHAR_PX)) + CELL_PADDING_PX * 2
    return max(low, min(high, need))


def typical_row_px(rows: list[dict[str, str]], widths: dict[str, int], *, low: int = 120, high: int = 320) -> int:
    """One height for rows of wrapped text: tall enough for four rows in five of ``rows`` (a sample)."""
    if not rows:
        return low
    needs = sorted(max((row_px(lines(text, widths[h])) for h, text in row.items() if h in widths and text),
                       default=MIN_ROW_PX) for row in rows)
    return max(low, min(high, needs[int(0.8 * (len(needs) - 1))]))
