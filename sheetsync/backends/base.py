"""The small interface every place a workbook can live (Google Sheets, a local .xlsx) implements.

Workflow modules talk to a ``Workbook`` only; they never import gspread or openpyxl. Each method is one
round trip, so the number of API requests a command makes is visible in the code that calls it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from sheetsync.layout import TabSpec

Grid = list[list[str]]
"""A tab's values as text, row by row, as a person sees them (ragged: trailing empty cells may be absent)."""


@dataclass(frozen=True)
class ColumnsRead:
    """Part of one tab, as :meth:`Workbook.read_columns` returns it: the first rows in full (where the
    header row is looked for) and a few whole columns, so a step reads only the columns it needs."""

    head: Grid  # the tab's first ``head_rows`` rows, every column (ragged, like ``Grid``)
    columns: dict[int, list[str]]  # 0-based column index -> that column's text from row 0 down, trailing "" trimmed


@dataclass(frozen=True)
class WriteProgress:
    """Where a write that takes several requests stands, after each of them."""

    requests_done: int
    requests_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class Identity:
    """Who the backend acts as and where, for ``sheetsync auth check``. Never holds a secret."""

    kind: str  # "xlsx", "service account", "oauth user", "application default", "emulator"
    who: str  # an email, a file path, or "anonymous (emulator)"
    where: str  # spreadsheet URL or file path


class Workbook(ABC):
    """One spreadsheet (a Google Sheets document or an .xlsx file)."""

    #: What the workspace remembers so later commands need no --spreadsheet: a spreadsheet id or a path.
    locator: str
    #: Where a person opens it.
    url: str
    #: The longest text a cell may hold here (Google Sheets: 50,000; Excel: 32,767).
    max_cell_chars: int

    @abstractmethod
    def read(self, titles: list[str], *, with_layout: bool = False) -> dict[str, Grid | None]:
        """The values of these tabs in ONE read; ``None`` for a tab that does not exist.

        ``with_layout=True`` also remembers what is needed to rewrite these tabs' formatting later
        (protections, conditional formats, charts…) in the same single read, for a following ``write``.
        """

    def read_columns(self, title: str, columns: Sequence[int], *, head_rows: int = 20) -> ColumnsRead | None:
        """ONE read of a tab's first ``head_rows`` rows and of whole ``columns``; ``None`` if there is no such
        tab. This default reads the whole tab; backends override it to move only the bytes asked for."""
        grid = self.read([title])[title]
        if grid is None:
            return None
        cols: dict[int, list[str]] = {}
        for c in dict.fromkeys(columns):
            values = [row[c] if c < len(row) else "" for row in grid]
            while values and values[-1] == "":
                values.pop()
            cols[c] = values
        return ColumnsRead(head=[list(r) for r in grid[:head_rows]], columns=cols)

    @abstractmethod
    def write(self, specs: list[TabSpec]) -> None:
        """Create or update these tabs in ONE write, all or nothing.

        A ``replace`` spec rebuilds its tab; otherwise only the spec's blocks are written and every other
        cell keeps its value. Formatting, validation, protection, conditional formats and charts that
        sheetsync put on the tab before are replaced by the spec's (never duplicated).
        """

    @abstractmethod
    def tab_titles(self) -> list[str]:
        """Titles of the existing tabs, in order."""

    @abstractmethod
    def share(self, emails: list[str], *, role: str = "writer") -> None:
        """Give these people access (Google only; the xlsx backend says how to share a file instead)."""

    @abstractmethod
    def identity(self) -> Identity:
        """Who we act as, for ``sheetsync auth check``."""
