"""Backend-neutral descriptions of tabs: values, formatting, validation, protection and charts.

Workflow modules describe *what* a tab looks like with these specs; each backend renders a spec its own
way (Google Sheets: one ``spreadsheets.batchUpdate``; xlsx: one atomic file write). Nothing here does I/O.

Coordinates are 0-based and half-open, relative to the tab, like the Sheets API's ``GridRange``:
``Range(1, 0, None, 3)`` is every row from the second one down, columns A to C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CellValue = str | int | float | bool | None
"""A cell's value. Strings are always written as literal text, never parsed as formulas or numbers."""

# Colours used across tabs, so every tab speaks the same visual language.
PASS_GREEN = "#D9EAD3"
FAIL_RED = "#F4CCCC"
WARN_AMBER = "#FCE5CD"
EXPERT_BLUE = "#EAF1FB"
HEADER_GREY = "#E8EAED"
MUTED_GREY = "#F3F3F3"


@dataclass(frozen=True)
class Range:
    """A rectangle in a tab; ``None`` as an end means "to the end of the grid"."""

    row0: int
    col0: int
    row1: int | None = None
    col1: int | None = None

    def resolve(self, n_rows: int, n_cols: int) -> tuple[int, int, int, int]:
        """The concrete bounds, with open ends closed at the given grid size."""
        return (
            self.row0,
            self.col0,
            n_rows if self.row1 is None else self.row1,
            n_cols if self.col1 is None else self.col1,
        )


@dataclass(frozen=True)
class Style:
    """Formatting applied to a range. ``None`` leaves an attribute as the backend's default."""

    range: Range
    bold: bool | None = None
    italic: bool | None = None
    wrap: bool | None = None
    background: str | None = None  # "#RRGGBB"
    color: str | None = None
    font_size: int | None = None
    number_format: str | None = None  # e.g. "0.0%", "0.000"
    halign: Literal["left", "center", "right"] | None = None
    valign: Literal["top", "middle", "bottom"] | None = None


@dataclass(frozen=True)
class Validation:
    """A dropdown. ``strict=False`` still accepts free text (shown with a warning), so the expert is never
    blocked: root causes are discovered while annotating."""

    range: Range
    choices: tuple[str, ...]
    strict: bool = False
    input_message: str | None = None


@dataclass(frozen=True)
class Protection:
    """A protected range. Warning-only by default: editing shows a warning but is never refused."""

    range: Range
    description: str
    warning_only: bool = True


OWNER_TAG = 'N("sheetsync")=0'
"""Always true (``N`` of text is 0 in Sheets, Excel and LibreOffice): marks a conditional-format rule as
sheetsync's, since neither format lets a rule carry an owner. A write replaces only tagged rules, so
highlighting the expert added to the Annotate tab stays."""


@dataclass(frozen=True)
class ConditionalFormat:
    """Highlight the cells of ``range`` where ``formula`` is true.

    The formula is written for the range's top-left cell with A1 references, as both Google Sheets and
    Excel expect (e.g. ``=LOWER($F2)="fail"``). Formulas are authored by sheetsync only, never from data.
    """

    range: Range
    formula: str
    background: str
    color: str | None = None
    bold: bool | None = None

    def tagged_formula(self) -> str:
        """The formula as written to the sheet: the condition, and-ed with :data:`OWNER_TAG`."""
        return f"=AND({self.formula.removeprefix('=')},{OWNER_TAG})"


def is_sheetsync_rule(formula: str) -> bool:
    """Whether a conditional-format formula read back from a sheet is one sheetsync wrote."""
    return OWNER_TAG in formula.replace(" ", "")


@dataclass(frozen=True)
class Chart:
    """A chart over data in the same tab. ``domain`` and each of ``series`` are single columns whose first
    row is a header (the series name)."""

    kind: Literal["line", "bar", "column"]
    title: str
    domain: Range
    series: tuple[Range, ...]
    anchor: tuple[int, int]  # (row, col) of the chart's top-left corner
    x_title: str | None = None
    y_title: str | None = None
    width: int = 600
    height: int = 320
    #: One "#RRGGBB" per series (empty: the program's palette). Line charts also mark every point, so a
    #: series with one value (a split judged once) still shows.
    colors: tuple[str, ...] = ()
    y_range: tuple[float, float] | None = None  # the value axis from, to (e.g. rates: 0 to 1)


@dataclass(frozen=True)
class PageSetup:
    """How a tab prints, or exports to PDF: landscape, every column on one page width (as many pages tall as
    needed), the rows ``repeat`` (start, end: a table's header) on top of every page, the tab's name and the
    page number in the footer.

    An .xlsx file stores all of it. Google Sheets' API has no print settings at all (no request of
    ``spreadsheets.batchUpdate`` and no property of a sheet holds them): there the print dialog and the PDF
    export choose them, and the frozen header rows are what Sheets repeats on every page ("Repeat frozen
    rows", on by default); the Google backend renders nothing for this spec.
    """

    landscape: bool = True
    fit_width: bool = True
    repeat: tuple[int, int] | None = None


@dataclass(frozen=True)
class Block:
    """Values to write at a position. Cells outside every block are left exactly as they are."""

    row: int
    col: int
    values: list[list[CellValue]]


@dataclass
class TabSpec:
    """Everything about one tab.

    ``replace=True`` rebuilds the tab from scratch (all old values and formatting go; report tabs).
    ``replace=False`` writes only ``blocks`` and re-applies the formatting, so cells sheetsync does not
    own (the expert's labels) are never part of the write.

    ``append_rows`` are rows (from column 0; ``None`` leaves a cell empty) added below the last row that
    holds any value *when the write is applied*, not at a position read earlier: a row the expert typed
    or inserted meanwhile is never overwritten by, or paired with, an appended row.
    """

    title: str
    blocks: list[Block]
    n_rows: int  # grid size the tab must have (at least)
    n_cols: int
    replace: bool = True
    column_widths: dict[int, int] = field(default_factory=dict)  # col -> pixels
    row_height: int | None = None  # pixels, for rows below the frozen header
    #: Pixels for single rows (0-based, header included), over ``row_height``: rows sized to their wrapped
    #: text (``sheetsync.textfit``), since neither Excel nor LibreOffice sizes a row to its text when it opens
    #: a file, and Google keeps a row at the height a write gave it.
    row_heights: dict[int, int] = field(default_factory=dict)
    #: Ranges shown as one cell (the value sits in the top-left cell): a note that wraps across a table's width.
    merges: list[Range] = field(default_factory=list)
    page: PageSetup | None = None  # print setup; None leaves the tab's as it is
    frozen_rows: int = 0
    frozen_cols: int = 0
    hidden_columns: tuple[int, ...] = ()
    styles: list[Style] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    protections: list[Protection] = field(default_factory=list)
    conditional_formats: list[ConditionalFormat] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    basic_filter: Range | None = None
    tab_color: str | None = None
    index: int | None = None  # position among the tabs
    append_rows: list[list[CellValue]] = field(default_factory=list)
    #: Empty columns inserted before these positions (of the tab as it is before the write; a position
    #: given twice inserts two columns there) ahead of everything else; ``blocks`` and formatting then address the tab after the insertion. Inserting,
    #: not writing into "free" columns, means a column the expert added (even without a header) is never
    #: overwritten.
    insert_columns: tuple[int, ...] = ()
    #: Formatting, validation, protection, rules and filter are sent (``False``: they are right already, so
    #: nothing addressed by a column position is sent; see sheetsync.backends.google_identity).
    formats: bool = True
    # ---- column identity (backends with ``column_identity``; sheetsync.backends.google_identity) ----------
    #: Columns this write creates (the tab's, or inserted ones; col -> header, positions after the insert),
    #: marked with developer metadata in the same atomic request, so later writes find them wherever they go.
    column_marks: dict[int, str] = field(default_factory=dict)
    #: Cells written by column identity after the write: header -> {row: value}; ``None`` clears the cell.
    by_column: dict[str, dict[int, CellValue]] = field(default_factory=dict)
    #: Write ``by_column`` only if every one of its columns is found (else nothing, and the backend says so).
    all_or_nothing: bool = False
    #: Never split a row of ``by_column`` across requests, even far down a tall tab (refuse instead): cells
    #: nothing could repair if a row were written half-way (an import of the expert's labels).
    whole_rows_only: bool = False
    header_row: int = 0  # where the header row is (rows may have been inserted above it)
    #: The column whose header must be in the header row before any mark is trusted or removed (the id).
    identity_header: str = ""
    #: Headers an earlier sheetsync wrote that name the same column (old header -> current).
    header_aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def table(cls, title: str, rows: list[list[CellValue]], **kw) -> TabSpec:
        """A tab whose values are ``rows`` from A1, replacing whatever was there."""
        n_cols = max((len(r) for r in rows), default=1)
        return cls(title=title, blocks=[Block(0, 0, rows)], n_rows=max(len(rows), 1), n_cols=n_cols, **kw)


def column_letter(col: int) -> str:
    """``0 -> "A"``, ``26 -> "AA"``: for the A1 references in conditional-format formulas."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
