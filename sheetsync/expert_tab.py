"""A tab where the expert answers beside sheetsync's text (Root-cause proposals, and any later tab like it):
the Annotate tab's rules, for a tab described by its headers.

* Rows are matched by id and columns by exact header (surrounding spaces aside; case counts), wherever the
  expert moved them. A header that is a near-miss of one sheetsync expects is reported by name, never read
  as "no such column": a renamed Decision column can never be read as "no decisions".
* sheetsync writes only its own cells. The expert's cells are never part of a write after the row was
  added, and an existing row's id cell is never written, so answers stay with their ids.
* New rows are appended (``TabSpec.append_rows``: placed below the last row with data when the write is
  applied), never written at positions read a moment earlier.
* The tab is created once and then updated in place (``replace=False``): it is never rebuilt, so nothing the
  expert typed — in sheetsync's columns or in columns of their own — is lost.
* A hidden key column, ``<digest of sheetsync's cells>:<id>``, says whose text each row shows. Ids and
  answers move together when the expert sorts, so a key naming another id means a write landed while the
  expert moved rows: that row's text is rewritten by the next update, and the reader marks it
  ``misplaced`` so an answer given beside another row's text is not trusted.

Workflow modules describe a tab with :class:`ExpertTabLayout`, read it with :func:`read_expert_tab` and
get the write with :func:`update_spec`; the backend does the I/O.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from sheetsync.backends.base import Workbook
from sheetsync.layout import (
    EXPERT_BLUE,
    HEADER_GREY,
    Block,
    CellValue,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    column_letter,
)

KEY = "sheetsync key"
HEAD_ROWS = 20  # the header row is looked for in the first rows (someone may insert rows above it)


class TabStructureError(ValueError):
    """The tab cannot be read safely: a column sheetsync needs is renamed, repeated or gone."""


@dataclass(frozen=True)
class Choice:
    """A dropdown on an expert column. ``strict=False`` still accepts free text (e.g. "Rename to X")."""

    choices: tuple[str, ...]
    strict: bool = False
    message: str | None = None


@dataclass(frozen=True)
class ExpertTabLayout:
    """What the tab holds: the id column, sheetsync's columns and the expert's, in their first order."""

    title: str
    id_header: str
    own: tuple[str, ...]
    expert: tuple[str, ...]
    widths: Mapping[str, int] = field(default_factory=dict)
    choices: Mapping[str, Choice] = field(default_factory=dict)
    index: int | None = None  # where the tab goes among the tabs when it is created
    row_height: int | None = None

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.id_header, *self.own, *self.expert, KEY)

    @property
    def sheetsync_headers(self) -> tuple[str, ...]:
        return (self.id_header, *self.own, KEY)


@dataclass
class ExpertRow:
    """One row as read, wherever the expert moved it. Texts are exactly as read (nothing trimmed)."""

    row: int  # 0-based position in the tab
    id: str
    key: str  # the hidden key's text
    own: dict[str, str]
    expert: dict[str, str]

    @property
    def answered(self) -> bool:
        return any(v.strip() for v in self.expert.values())

    @property
    def misplaced(self) -> bool:
        """The row shows another row's text (or text sheetsync cannot vouch for): its key names another id."""
        return key_id(self.key) != self.id


@dataclass
class ExpertTab:
    header_row: int
    headers: list[str]  # the header row, trimmed ("" for unnamed columns)
    at: dict[str, int]  # header -> column, for every named column
    rows: list[ExpertRow]  # rows with an id, or with the expert's text but no id
    last_row: int  # last row holding anything (the header row if none)
    missing: list[str] = field(default_factory=list)  # sheetsync's columns not found (added back by a write)

    def by_id(self) -> dict[str, ExpertRow]:
        return {r.id: r for r in self.rows if r.id}


def make_key(own: Mapping[str, CellValue], rid: str, headers: tuple[str, ...]) -> str:
    basis = "\x1f".join(f"{h}\x1e{'' if own.get(h) is None else own.get(h)}" for h in headers)
    return f"{hashlib.sha256(basis.encode()).hexdigest()[:8]}:{rid}"


def key_id(text: str) -> str | None:
    digest, sep, rid = text.partition(":")
    return rid if sep and len(digest) == 8 else None


def read_expert_tab(wb: Workbook, layout: ExpertTabLayout) -> ExpertTab | None:
    """The tab in one read (``None`` if it does not exist). Raises :class:`TabStructureError` saying what to do."""
    grid = wb.read([layout.title])[layout.title]
    if grid is None:
        return None
    header_row, headers = _find_header(grid, layout)
    at = _locate(headers, layout)
    missing = [h for h in (*layout.own, KEY) if h not in at]
    rows: list[ExpertRow] = []
    seen: dict[str, int] = {}
    dupes: list[str] = []
    last = header_row
    for r in range(header_row + 1, len(grid)):
        line = grid[r]

        def cell(header: str, line: list[str] = line) -> str:
            c = at.get(header)
            return line[c] if c is not None and c < len(line) else ""

        if any(v.strip() for v in line):
            last = r
        rid = cell(layout.id_header).strip()
        expert = {h: cell(h) for h in layout.expert}
        key = cell(KEY)
        if not rid and not key and not any(v.strip() for v in expert.values()):
            continue
        if rid in seen:
            dupes.append(f"{rid} (rows {seen[rid] + 1} and {r + 1})")
        elif rid:
            seen[rid] = r
        rows.append(ExpertRow(r, rid, key.strip(), {h: cell(h) for h in layout.own}, expert))
    if dupes:
        raise TabStructureError(
            f"tab “{layout.title}”: id(s) appear on more than one row: {', '.join(dupes[:10])}. Delete the "
            "duplicate rows (keep the one with your answer), then run the command again."
        )
    return ExpertTab(header_row, headers, at, rows, last, missing)


def _find_header(grid: list[list[str]], layout: ExpertTabLayout) -> tuple[int, list[str]]:
    for i, row in enumerate(grid[:HEAD_ROWS]):
        cells = [c.strip() for c in row]
        if layout.id_header in cells:
            return i, cells
    near = [c.strip() for row in grid[:HEAD_ROWS] for c in row if c.strip()]
    close = difflib.get_close_matches(layout.id_header, near, n=1, cutoff=0.6)
    hint = f" A column is headed “{close[0]}”: rename it back to “{layout.id_header}”." if close else ""
    raise TabStructureError(
        f"tab “{layout.title}”: no header row with “{layout.id_header}” in the first {HEAD_ROWS} rows.{hint} "
        "Restore the header row (undo the change), or, if this tab is not sheetsync's, rename it or give "
        "sheetsync's tab another name in sheetsync.toml [tabs]. Nothing was read or written."
    )


def _locate(headers: list[str], layout: ExpertTabLayout) -> dict[str, int]:
    named = [h for h in headers if h]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise TabStructureError(f"tab “{layout.title}”: header(s) {', '.join(repeated)} appear twice; rename or "
                                "delete the copy, then run the command again.")
    at = {h: i for i, h in enumerate(headers) if h}
    others = [h for h in named if h not in layout.headers]
    for want in layout.headers:
        if want in at:
            continue
        close = [h for h in others if h.casefold() == want.casefold()] or difflib.get_close_matches(
            want, others, n=1, cutoff=0.8)
        if close:
            raise TabStructureError(
                f"tab “{layout.title}”: column {column_letter(at[close[0]])} is headed “{close[0]}”, which looks "
                f"like sheetsync's “{want}”. Headers are matched exactly: rename it back to “{want}”, then run "
                "the command again. Nothing was read or written."
            )
    gone = [h for h in layout.expert if h not in at]
    if gone:
        raise TabStructureError(
            f"tab “{layout.title}”: the expert's column(s) {', '.join(f'“{h}”' for h in gone)} are missing. Undo "
            "the deletion (Edit → Undo, or File → Version history), or add an empty column with that exact header. "
            "sheetsync never reads a missing column as “no answers”; nothing was read or written."
        )
    return at


def update_spec(layout: ExpertTabLayout, tab: ExpertTab | None, rows: Mapping[str, Mapping[str, CellValue]],
                first_answers: Mapping[str, Mapping[str, CellValue]] | None = None) -> TabSpec | None:
    """The write that brings the tab up to date with ``rows`` (id -> sheetsync's cells), or None when it
    already is. A new tab is built whole; an existing one gets only its changed rows, the appended ones and
    any of sheetsync's columns that went missing (added at the right end, never over the expert's). Ids
    in the tab but not in ``rows`` are left exactly as they are.

    ``first_answers`` (id -> expert header -> text) fill the expert's cells of rows this write adds — the
    answers the store kept for a row the expert deleted — and are never written into an existing row."""
    answers = first_answers or {}
    if tab is None:
        headers = list(layout.headers)
        values: list[list[CellValue]] = [headers]
        values += [_row_values(headers, layout, rid, own, answers.get(rid)) for rid, own in rows.items()]
        return _spec(layout, headers, [Block(0, 0, values)], len(values), replace=True, top=0)
    headers = [*tab.headers, *tab.missing]
    inserts = (len(tab.headers),) * len(tab.missing)
    at = {h: i for i, h in enumerate(headers) if h}
    blocks = [Block(tab.header_row, at[h], [[h]]) for h in tab.missing]
    in_tab = tab.by_id()
    for rid, own in rows.items():
        srow = in_tab.get(rid)
        if srow is None:
            continue
        key = make_key(own, rid, layout.own)
        if srow.key == key and not tab.missing:
            continue
        cells = {at[h]: own.get(h) for h in layout.own} | {at[KEY]: key}
        blocks += _runs(srow.row, cells)
    appends = [_row_values(headers, layout, rid, own, answers.get(rid)) for rid, own in rows.items()
               if rid not in in_tab]
    if not blocks and not appends:
        return None
    n_rows = max(tab.last_row + 1, tab.header_row + 2) + len(appends)
    return _spec(layout, headers, blocks, n_rows, replace=False, top=tab.header_row, appends=appends,
                 inserts=inserts)


def _runs(row: int, cells: dict[int, CellValue]) -> list[Block]:
    """One block per run of adjacent columns: columns the expert put in between are never written."""
    blocks: list[Block] = []
    for c in sorted(cells):
        if blocks and blocks[-1].col + len(blocks[-1].values[0]) == c:
            blocks[-1].values[0].append(cells[c])
        else:
            blocks.append(Block(row, c, [[cells[c]]]))
    return blocks


def _row_values(headers: list[str], layout: ExpertTabLayout, rid: str, own: Mapping[str, CellValue],
                answers: Mapping[str, CellValue] | None = None) -> list[CellValue]:
    values: dict[str, CellValue] = {**own, layout.id_header: rid, KEY: make_key(own, rid, layout.own)}
    given = answers or {}
    return [(given.get(h) or None) if h in layout.expert else values.get(h) for h in headers]


def _spec(layout: ExpertTabLayout, headers: list[str], blocks: list[Block], n_rows: int, *, replace: bool,
          top: int, appends: list[list[CellValue]] | None = None, inserts: tuple[int, ...] = ()) -> TabSpec:
    """Formatting follows the headers' current positions and runs to the end of the tab, so it covers the
    rows appended by this write wherever they land, and stays right after the expert moves columns."""
    at = {h: i for i, h in enumerate(headers) if h}
    n_cols = len(headers)
    first = top + 1

    def body(c: int) -> Range:
        return Range(first, c, None, c + 1)

    styles = [Style(Range(top, 0, first, n_cols), bold=True, background=HEADER_GREY, wrap=True, valign="middle"),
              Style(Range(first, 0, None, n_cols), wrap=True, valign="top")]
    for h in layout.expert:
        styles.append(Style(body(at[h]), background=EXPERT_BLUE))
        styles.append(Style(Range(top, at[h], first, at[h] + 1), background="#C9DAF8", bold=True))
    protections = [Protection(Range(top, 0, first, n_cols),
                              "sheetsync: header row (columns are matched by these names)")]
    protections += [Protection(body(at[h]), f"sheetsync: {h} is written by sheetsync") for h in layout.sheetsync_headers]
    validations = [Validation(body(at[h]), c.choices, strict=c.strict, input_message=c.message)
                   for h, c in layout.choices.items()]
    id_col = column_letter(at[layout.id_header])
    key_col = column_letter(at[KEY])
    # a row whose hidden key names another id shows another row's text: amber until the next write fixes it
    misplaced = ConditionalFormat(
        Range(first, 0, None, n_cols),
        f'=AND(LEN(${id_col}{first + 1})>0,LEN(${key_col}{first + 1})>0,'
        f'MID(${key_col}{first + 1},10,LEN(${key_col}{first + 1}))<>${id_col}{first + 1})',
        "#FCE5CD",
    )
    return TabSpec(
        title=layout.title, blocks=blocks, n_rows=max(n_rows, 2), n_cols=n_cols, replace=replace,
        column_widths={at[h]: w for h, w in layout.widths.items() if h in at},
        row_height=layout.row_height, frozen_rows=first, frozen_cols=1, hidden_columns=(at[KEY],),
        styles=styles, validations=validations, protections=protections, conditional_formats=[misplaced],
        basic_filter=Range(top, 0, None, n_cols), index=layout.index if replace else None,
        append_rows=appends or [], insert_columns=inserts,
    )


__all__ = ["KEY", "Choice", "ExpertRow", "ExpertTab", "ExpertTabLayout", "TabStructureError", "key_id",
           "make_key", "read_expert_tab", "update_spec"]
