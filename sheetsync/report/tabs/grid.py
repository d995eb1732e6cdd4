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
    PageSetup,
    Range,
    Style,
    TabSpec,
    column_letter,
)
from sheetsync.replay import REPLAY_MODEL, REPLAY_NOTE
from sheetsync.textfit import DEFAULT_COLUMN_PX, fit_rows

NOTE_TEXT = "#5F6368"
#: Trend lines: TPR green, TNR red; dev dark, test light (and each point marked).
SPLIT_COLOURS = {"dev": {"tpr": "#38761D", "tnr": "#CC0000"}, "test": {"tpr": "#93C47D", "tnr": "#E69138"},
                 "all": {"tpr": "#3D85C6", "tnr": "#674EA7"}}
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

    def preamble(self, cfg: Config, fig: dict[str, Any]) -> None:
        """Under a tab's title: the workspace's banner ([report] banner), and a plain word when the judge
        runs shown are the demo's replayed example judge rather than a model."""
        if cfg.report.banner:
            self.line(cfg.report.banner, bold=True, background=WARN_AMBER)
        models = {h["model"] for h in fig["agreement"]["history"]}
        if REPLAY_MODEL in models:
            self.line(f"Judge: the {REPLAY_NOTE}. Its answers were recorded for the example, not made by a model.",
                      bold=True, background=WARN_AMBER)

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
        h = self.line(*header, bold=True, background=HEADER_GREY, wrap=True, valign="bottom")
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
        """The tab, laid out for reading on screen and on paper: every column given its width, a line of text
        alone in its row wrapped across the table (beside a chart, up to it), rows as tall as their wrapped
        text, and a page setup (landscape, one page wide, the frozen header on every page)."""
        rows = self.rows or [[""]]
        n_cols = max(len(r) for r in rows)
        widths = {c: widths.get(c, DEFAULT_COLUMN_PX) for c in range(max(n_cols, max(widths, default=0) + 1))}
        merges: list[Range] = []
        styles = list(self.styles)
        for r, row in enumerate(rows):
            text = row[0] if len(row) == 1 else None
            if isinstance(text, str) and text:
                span = n_cols
                for chart in self.charts:
                    if chart.anchor[0] <= r < chart.anchor[0] + CHART_ROWS:
                        span = min(span, chart.anchor[1])
                if span > 1:
                    merges.append(Range(r, 0, r + 1, span))
                styles.append(Style(Range(r, 0, r + 1, 1), wrap=True, valign="top"))
        frozen = kw.get("frozen_rows", 0)
        spec = TabSpec.table(title, rows, replace=True, column_widths=widths, styles=styles, merges=merges,
                             conditional_formats=self.cfs, charts=self.charts,
                             page=PageSetup(repeat=(frozen - 1, frozen) if frozen else None), **kw)
        return fit_rows(spec)
