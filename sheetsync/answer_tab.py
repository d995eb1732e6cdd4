"""Tabs sheetsync rebuilds in place whose rows also carry the expert's answer columns — the Review tab (the
expert answers the judge) and the Calibration tab (the principal expert settles a second rater's labels).

They follow the Annotate tab's rules, for the same reasons (see :mod:`sheetsync.push_plan`): rows are
matched by id and columns by header; an existing row's id cell and the answer columns are never written;
new rows are appended where Google puts them when it applies the write; once the tab exists it is
updated, never rebuilt. This module holds the layout and the reading; :mod:`sheetsync.answer_write` the
writing.

Each row has a hidden key, ``<instance>.<display>:<id>``: which thing the row shows for the expert to
answer (a judge run's verdict, a rater's label), a hash of every cell sheetsync wrote there, and whose row
it is. A key naming another id means the row's text is another row's (a write landed while the expert
sorted): the next write puts it back, and an answer given there is attributed to nothing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from sheetsync.backends.base import Workbook
from sheetsync.dataset import content_hash
from sheetsync.layout import CellValue, column_letter

STATUS = "Status"
RESOLUTION = "Resolution"
WHY = "Why"
KEY = "sheetsync key"
ANSWERS = (RESOLUTION, WHY)
HEAD_ROWS = 20
HEADER_ROW = "\x00header row"
_KEY_RE = re.compile(r"([A-Za-z0-9_-]*)\.([0-9a-f]{8}):(.+)", re.DOTALL)


class AnswerTabError(ValueError):
    """The tab cannot be read safely: a column sheetsync needs is renamed, gone or repeated, or ids repeat."""


@dataclass(frozen=True)
class AnswerTab:
    """One tab's layout: the id, sheetsync's columns, Status, the expert's Resolution and Why, the key."""

    title: str
    kind: str  # the store's name for it: "review", "calibration"
    shown: tuple[str, ...]  # sheetsync's columns between the id and Status
    choices: tuple[str, ...]  # the Resolution dropdown
    id_header: str = "id"
    verdicts: tuple[str, ...] = ()  # columns coloured pass/fail
    widths: dict[str, int] = field(default_factory=dict)
    long: tuple[str, ...] = ()  # columns of long text (wrapped)

    @property
    def headers(self) -> list[str]:
        return [self.id_header, *self.shown, STATUS, *ANSWERS, KEY]

    @property
    def ours(self) -> list[str]:
        """Every column sheetsync writes in an existing row (all but the id and the answers)."""
        return [*self.shown, STATUS, KEY]


@dataclass(frozen=True)
class TabKey:
    instance: str
    display: str
    id: str


def make_key(instance: str, display: str, rid: str) -> str:
    return f"{instance}.{display}:{rid}"


def parse_key(text: str) -> TabKey | None:
    m = _KEY_RE.fullmatch(text)
    return TabKey(m.group(1), m.group(2), m.group(3)) if m else None


@dataclass(frozen=True)
class WantedRow:
    """What sheetsync shows in one row: its cells (sheetsync's columns and Status) and what it asks about."""

    id: str
    cells: dict[str, CellValue]
    instance: str  # the judge run, or the rater's label, the row asks the expert about

    @property
    def display(self) -> str:
        return content_hash(*(f"{h}\x1e{'' if v is None else v}" for h, v in sorted(self.cells.items())))[:8]

    @property
    def key(self) -> str:
        return make_key(self.instance, self.display, self.id)


@dataclass
class AnswerRow:
    """One row as read: texts exactly as the expert left them."""

    row: int
    id: str
    key: TabKey | None
    key_text: str
    status: str
    answers: dict[str, str]

    @property
    def answered(self) -> bool:
        return any(v.strip() for v in self.answers.values())

    @property
    def misplaced(self) -> bool:
        return self.key is None or self.key.id != self.id


@dataclass
class AnswerSheet:
    header_row: int
    headers: list[str]
    at: dict[str, int]
    rows: list[AnswerRow]
    last_row: int
    missing: list[str] = field(default_factory=list)  # sheetsync columns not found (put back by the next write)

    def by_id(self) -> dict[str, AnswerRow]:
        return {r.id: r for r in self.rows if r.id}

    def hint(self) -> dict[str, int]:
        return {**self.at, HEADER_ROW: self.header_row}

    @property
    def without_id(self) -> list[str]:
        """Rows holding an answer but no id: left as they are, never attributed."""
        return [f"row {r.row + 1}" for r in self.rows if not r.id and r.answered]


def read_answer_tab(wb: Workbook, tab: AnswerTab, hint: dict[str, int] | None = None) -> AnswerSheet | None:
    """The tab's id, Status, key and answer columns (``None`` if there is no such tab): ONE request when
    ``hint`` (:meth:`AnswerSheet.hint` of the last read) is right, two when the expert moved columns.
    Raises :class:`AnswerTabError` saying what to do."""
    wanted = {tab.id_header, STATUS, KEY, *ANSWERS}
    hint = hint or {}
    cols = sorted({c for h, c in hint.items() if h in wanted})
    head_rows = hint[HEADER_ROW] + 1 if HEADER_ROW in hint else HEAD_ROWS
    for _ in range(3):
        got = wb.read_columns(tab.title, cols, head_rows=head_rows)
        if got is None:
            return None
        try:
            header_row, headers = _find_header(got.head, tab)
        except AnswerTabError:
            if head_rows >= HEAD_ROWS:
                raise
            head_rows = HEAD_ROWS
            continue
        at = _locate(headers, tab)
        need = sorted({c for h, c in at.items() if h in wanted})
        if set(need) <= set(got.columns):
            return _rows(got.columns, header_row, headers, at, tab)
        cols, head_rows = need, header_row + 1
    raise AnswerTabError(f"tab “{tab.title}”: its columns kept moving while sheetsync read it; run the command again.")


def _find_header(head: list[list[str]], tab: AnswerTab) -> tuple[int, list[str]]:
    for i, row in enumerate(head):
        cells = [c.strip() for c in row]
        if tab.id_header in cells and RESOLUTION in cells:
            return i, cells
    seen = [c.strip() for row in head for c in row if c.strip()]
    hint = ""
    for want in (tab.id_header, RESOLUTION):
        close = [] if want in seen else difflib.get_close_matches(want, seen, n=1, cutoff=0.6)
        if close:
            hint = f" A column is headed “{close[0]}”: rename it back to “{want}” (headers are matched exactly)."
            break
    raise AnswerTabError(
        f"tab “{tab.title}”: no header row with “{tab.id_header}” and “{RESOLUTION}” in the first {HEAD_ROWS} rows."
        f"{hint} If the tab is yours (not sheetsync's), rename it or set another name in sheetsync.toml [tabs]; "
        "if it is sheetsync's, restore the header row (undo the change), then run the command again."
    )


def _locate(headers: list[str], tab: AnswerTab) -> dict[str, int]:
    named = [h for h in headers if h]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise AnswerTabError(f"tab “{tab.title}”: header(s) {', '.join(repeated)} appear twice; rename or delete "
                             "the copy, then run the command again.")
    at = {h: i for i, h in enumerate(headers) if h}
    expected = tab.headers
    others = [h for h in named if h not in expected]
    for want in expected:
        if want in at:
            continue
        close = [h for h in others if h.casefold() == want.casefold()] or difflib.get_close_matches(
            want, others, n=1, cutoff=0.8)
        if close:
            raise AnswerTabError(
                f"tab “{tab.title}”: column {column_letter(at[close[0]])} is headed “{close[0]}”, which looks like "
                f"sheetsync's “{want}”. Headers are matched exactly: rename it back to “{want}”, then run the "
                "command again. Nothing was read into the store or written to the sheet."
            )
    if WHY not in at:
        raise AnswerTabError(
            f"tab “{tab.title}”: the expert's column “{WHY}” is missing. Undo the deletion (Edit → Undo, or File → "
            f"Version history), or add an empty column headed “{WHY}”; sheetsync never reads a missing column as "
            "“no answers”. Nothing was read into the store or written to the sheet."
        )
    return at


def _rows(columns: dict[int, list[str]], header_row: int, headers: list[str], at: dict[str, int],
          tab: AnswerTab) -> AnswerSheet:
    missing = [h for h in (STATUS, KEY) if h not in at]

    def col(name: str) -> list[str]:
        return columns.get(at[name], []) if name in at else []

    ids, keys, statuses = col(tab.id_header), col(KEY), col(STATUS)
    answers = {h: col(h) for h in ANSWERS}
    height = max((len(v) for v in (ids, keys, statuses, *answers.values())), default=0)
    rows: list[AnswerRow] = []
    seen: dict[str, int] = {}
    dupes: list[str] = []
    last = header_row
    for r in range(header_row + 1, height):
        def cell(values: list[str], r: int = r) -> str:
            return values[r] if r < len(values) else ""

        rid, key_text, status = cell(ids).strip(), cell(keys), cell(statuses)
        texts = {h: cell(v) for h, v in answers.items()}
        if rid or key_text or status or any(texts.values()):
            last = r
        if not rid and not key_text and not status and not any(t.strip() for t in texts.values()):
            continue
        if rid in seen:
            dupes.append(f"{rid} (rows {seen[rid] + 1} and {r + 1})")
        elif rid:
            seen[rid] = r
        rows.append(AnswerRow(r, rid, parse_key(key_text) if key_text else None, key_text, status, texts))
    if dupes:
        raise AnswerTabError(
            f"tab “{tab.title}”: id(s) appear on more than one row: {', '.join(dupes[:10])}. Delete the copy (keep "
            "the row with your answer), then run the command again."
        )
    return AnswerSheet(header_row, headers, at, rows, last, missing)
