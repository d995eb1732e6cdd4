"""What the scripted expert did and so expects to find (the :class:`Ledger`), and the sheet as the expert
sees it (a :class:`View` of one tab, read straight from the emulator's state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheetsync.dataset import content_hash
from sheetsync.emulator import Emulator

ANNOTATE = "Annotate"


@dataclass
class Label:
    texts: dict[str, str]  # expert header -> text exactly as typed
    given_for: str | None  # content hash of what the row showed when the expert gave (or re-checked) it


@dataclass
class Ledger:
    """What the expert did, and so what must be found afterwards."""

    labels: dict[str, Label] = field(default_factory=dict)  # id -> the label beside it
    deleted: dict[str, Label] = field(default_factory=dict)  # labels whose row the expert deleted
    orphans: list[dict[str, str]] = field(default_factory=list)  # labels typed in rows without an id
    own_column: dict[str, str] = field(default_factory=dict)  # id -> text in the expert's headerless column
    own_objects: dict[str, Any] = field(default_factory=dict)  # "chart" / "rule" / "dropdown" / "tab" / ...
    headers: dict[str, str] = field(default_factory=dict)  # sheetsync header -> what the expert made it ("" = cleared)
    deleted_columns: list[str] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)  # ids of rows the expert hid
    beside_other_text: list[str] = field(default_factory=list)  # labelled while the row showed another's text
    actions: list[str] = field(default_factory=list)  # what was actually done (an action may find nothing to do)

    def header(self, name: str) -> str:
        """What the expert's sheet calls sheetsync's column ``name`` now."""
        return self.headers.get(name, name)


# ------------------------------------------------------------------------------------------ the sheet


@dataclass
class View:
    """One tab as the expert sees it (formatted text), read straight from the emulator's state."""

    sheet_id: int
    grid: list[list[str]]
    row_count: int
    col_count: int

    @property
    def header(self) -> list[str]:
        return self.grid[0] if self.grid else []

    def col(self, name: str) -> int | None:
        return self.header.index(name) if name in self.header else None

    def cell(self, r: int, c: int | None) -> str:
        if c is None or r >= len(self.grid) or c >= len(self.grid[r]):
            return ""
        return self.grid[r][c]

    @property
    def last_row(self) -> int:
        """The last row holding anything (0: the header only)."""
        return max((r for r, row in enumerate(self.grid) if any(row)), default=0)


def view(em: Emulator, key: str | None, title: str = ANNOTATE) -> View | None:
    if key is None:
        return None
    with em.lock:
        ss = em.state.spreadsheets.get(key)
        sheet = ss.sheet_by_title(title) if ss is not None else None
        if sheet is None or sheet.props.get("hidden"):
            return None
        grid = [["" if v is None else str(v) for v in row] for row in sheet.values()]
        return View(sheet.sheet_id, grid, sheet.row_count, sheet.col_count)


def shown_content(v: View, r: int) -> str:
    """The content hash of what row ``r`` shows (input, output, context): what a label typed there is for."""
    return content_hash(*(v.cell(r, v.col(h)) for h in ("input", "output", "tier")))


def row_of(v: View, rid: str, id_header: str = "id") -> int | None:
    c = v.col(id_header)
    rows = [r for r in range(1, len(v.grid)) if v.cell(r, c) == rid]
    return rows[0] if len(rows) == 1 else None
