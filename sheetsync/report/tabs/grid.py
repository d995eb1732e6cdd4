"""A tab laid out top to bottom with its formatting, so each tab builder reads like the tab it writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sheetsync.config import Config
from sheetsync.layout import (
    FAIL_RED,
    HEADER_GREY,
    PASS_GREEN,
    WARN_AMBER,
    CellValue,
    Chart,
    ConditionalFormat,
    Range,
    Style,
    TabSpec,
    column_letter,
)

NOTE_TEXT = "#5F6368"
CHART_ROWS = 17  # rows a 320 px chart covers at the default row height, plus one


class Grid:
    """Rows, styles, conditional formats and charts of one report tab, in the order they are added."""

    def __init__(self) -> None:
        self.rows: list[list[CellValue]] = []
        self.styles: list[Style] = []
        self.cfs: list[ConditionalFormat] = []
        self.charts: list[Chart] = []

    @property
    def row(self) -> int:
        return len(self.rows)

    def line(self, *cells: CellValue, **style: Any) -> int:
        r = self.row
        self.rows.append(list(cells))
        if style:
            self.style(r, 0, r + 1, max(len(cells), 1), **style)
        return r

    def title(self, text: str) -> int:
        return self.line(text, bold=True, font_size=14)

    def heading(self, text: str) -> int:
        if self.rows and self.rows[-1]:
            self.line()
        return self.line(text, bold=True, font_size=11)

    def note(self, text: str) -> int:
        return self.line(text, italic=True, color=NOTE_TEXT)

    def pad_to(self, row: int) -> None:
        while self.row < row:
            self.line()

    def table(self, header: Sequence[str], rows: Sequence[Sequence[CellValue]],
              formats: dict[int, str] | None = None) -> tuple[int, int]:
        """Header + rows; returns (header row, end row) with end exclusive."""
        h = self.line(*header, bold=True, background=HEADER_GREY)
        for r in rows:
            self.rows.append(list(r))
        end = self.row
        for col, fmt in (formats or {}).items():
            if end > h + 1:
                self.style(h + 1, col, end, col + 1, number_format=fmt)
        return h, end

    def style(self, r0: int, c0: int, r1: int, c1: int, **style: Any) -> None:
        """Style rows r0..r1 and columns c0..c1 (ends exclusive)."""
        self.styles.append(Style(Range(r0, c0, r1, c1), **style))

    def cell_style(self, r: int, c: int, **style: Any) -> None:
        self.style(r, c, r + 1, c + 1, **style)

    def rate_colours(self, r0: int, r1: int, cfg: Config, *cols: int) -> None:
        """Green at or above the aim, amber between floor and aim, red below the floor; text cells untouched."""
        if r1 <= r0:
            return
        t, f = cfg.report.target, cfg.report.floor
        for col in cols:
            ref = f"{column_letter(col)}{r0 + 1}"
            rng = Range(r0, col, r1, col + 1)
            self.cfs += [
                ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}>={t})", PASS_GREEN),
                ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}>={f},{ref}<{t})", WARN_AMBER),
                ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}<{f})", FAIL_RED),
            ]

    def spec(self, title: str, widths: dict[int, int], **kw: Any) -> TabSpec:
        return TabSpec.table(title, self.rows or [[""]], replace=True, column_widths=widths, styles=self.styles,
                             conditional_formats=self.cfs, charts=self.charts, **kw)
