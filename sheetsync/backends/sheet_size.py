"""How big a tab must be for a spec, and how long a cell's text may be: checked before any request is sent."""

from __future__ import annotations

from sheetsync.errors import UserInputError
from sheetsync.layout import CellValue, Range, TabSpec

#: Google Sheets refuses longer cell text.
MAX_CELL_CHARS = 50_000
#: Every tab sheetsync sizes has at least this many rows (Google's own new tabs have 1,000): a read of a
#: tab's first rows (where the header is looked for) never reaches past the grid, which Google refuses.
MIN_ROWS = 100


def check_row_lengths(
    spec: TabSpec, rows: list[list[CellValue]], *, where: str, first: int = 0, col: int = 0
) -> None:
    """Refuse text longer than a Google Sheets cell holds, naming the tab, row and column."""
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise UserInputError(
                    f"tab {spec.title!r}, {where} {first + r + 1}, column {col + c + 1}: {len(value):,} characters, "
                    f"more than the {MAX_CELL_CHARS:,} a Google Sheets cell holds (cut long text before writing it)"
                )


def needed_size(spec: TabSpec) -> tuple[int, int]:
    """Rows/columns the spec needs: its declared size, every block, chart anchor and bounded range, and
    one row/column beyond the frozen ones (Google refuses to freeze every row of a tab)."""
    rows, cols = max(spec.n_rows, 1), max(spec.n_cols, 1)
    for b in spec.blocks:
        if b.values:
            rows = max(rows, b.row + len(b.values))
            cols = max(cols, b.col + max((len(r) for r in b.values), default=0))
    for ch in spec.charts:
        rows, cols = max(rows, ch.anchor[0] + 1), max(cols, ch.anchor[1] + 1)
    ranges: list[Range] = [s.range for s in spec.styles]
    ranges += [v.range for v in spec.validations] + [p.range for p in spec.protections]
    ranges += [c.range for c in spec.conditional_formats]
    for ch in spec.charts:
        ranges += [ch.domain, *ch.series]
    if spec.basic_filter is not None:
        ranges.append(spec.basic_filter)
    for r in ranges:
        rows = max(rows, r.row0 + 1 if r.row1 is None else r.row1)
        cols = max(cols, r.col0 + 1 if r.col1 is None else r.col1)
    if spec.column_widths:
        cols = max(cols, max(spec.column_widths) + 1)
    if spec.hidden_columns:
        cols = max(cols, max(spec.hidden_columns) + 1)
    return max(rows, spec.frozen_rows + 1), max(cols, spec.frozen_cols + 1)
