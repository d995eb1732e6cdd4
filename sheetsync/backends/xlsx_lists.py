"""The dropdowns' choice lists of an .xlsx write, kept on the hidden ``_lists`` tab, one list per column.

A dropdown whose choices cannot be written inline (Excel rejects an inline list longer than 255 characters,
and one holding a comma or quote; see xlsx_sheet) points at a column of ``_lists`` instead. Other tabs'
dropdowns may point at any of its columns, so the tab is content-addressed and append-only: a list already
there is reused, and a column is never rewritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sheetsync.backends.xlsx_package import LISTS_SHEET
from sheetsync.backends.xlsx_read import read_tab
from sheetsync.layout import Block, TabSpec, column_letter

if TYPE_CHECKING:
    from sheetsync.backends.xlsx_write import PackageWriter


class ChoiceLists:
    """The ``_lists`` tab's columns as they were before this write, plus the lists this write adds."""

    def __init__(self, writer: PackageWriter) -> None:
        self.writer = writer
        self.columns: dict[tuple[str, ...], int] = {}
        self.values: list[list[str]] = []
        self.added = False
        ref = writer.pkg.sheet(LISTS_SHEET)
        if ref is not None and ref.kind == "worksheet":
            grid = read_tab(writer.pkg, ref.part).grid
            width = max((len(r) for r in grid), default=0)
            for c in range(width):
                values = [row[c] if c < len(row) else "" for row in grid]
                while values and values[-1] == "":
                    values.pop()
                self.values.append(values)
                self.columns.setdefault(tuple(values), c)

    def reference(self, choices: tuple[str, ...]) -> str:
        """The range a dropdown of ``choices`` points at: the column that holds them, added if none does."""
        index = self.columns.get(tuple(choices))
        if index is None:
            index = len(self.values)
            self.values.append(list(choices))
            self.columns[tuple(choices)] = index
            self.added = True
        letter = column_letter(index)
        return f"'{LISTS_SHEET}'!${letter}$1:${letter}${len(choices)}"

    def finish(self) -> None:
        """Write the tab, if this write added a list (the package writer then moves it last and hides it)."""
        if not self.added:
            return
        height = max(len(v) for v in self.values)
        rows = [[col[r] if r < len(col) else None for col in self.values] for r in range(height)]
        self.writer.apply(TabSpec(title=LISTS_SHEET, blocks=[Block(0, 0, rows)], n_rows=height,
                                  n_cols=len(self.values)))
