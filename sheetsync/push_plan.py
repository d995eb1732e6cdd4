"""What a push writes into an Annotate tab that exists: only the rows whose sheetsync cells change, the rows
to append, and the stale and removed flags. Pure: computed from one read of the tab and the store.

The rules, each the answer to a way labels could be lost or misattached:

* An existing row's id cell is never written. Ids move only with the expert's labels (when the expert
  sorts, inserts or deletes rows), so a write landing at a position read a moment earlier can misplace
  sheetsync's text, never pair a label with another id.
* A row is rewritten only when its cells would change (its key says which content and layout it shows),
  or when its key names another id: its text is misplaced and is put back. A re-push with nothing changed
  writes nothing.
* New rows are appended (``appendCells``: placed below the last row with data when Google applies the
  write), never written at a position read earlier, so a row the expert typed meanwhile is kept.
* A label counts for the content it was given for (:mod:`sheetsync.attribution`); when the row's content
  changed since, the row is flagged stale until the expert re-checks it and clears the flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sheetsync.annotate import EXPERT_HEADERS, KEY, REMOVED, STALE, STATUS, AnnotateColumns
from sheetsync.annotate_sheet import AnnotateSheet, SheetRow, make_key
from sheetsync.attribution import LabelState, observe, shown_content
from sheetsync.layout import Block, CellValue


@dataclass(frozen=True)
class PushRow:
    """One dataset row as the Annotate tab shows it."""

    id: str
    cells: dict[str, CellValue]  # data header -> text (cut to fit a cell), the id included
    content: str  # hash of input, output and context: what a label is given for
    display: str  # hash of every shown cell: whether the row must be rewritten

    @property
    def key(self) -> str:
        return make_key(self.content, self.display, self.id)


@dataclass
class RowWrite:
    row: int  # 0-based position in the tab, as read
    id: str
    cells: dict[str, CellValue]  # header -> value, sheetsync's columns only (never the id)


@dataclass
class UpdatePlan:
    writes: list[RowWrite] = field(default_factory=list)
    appends: list[PushRow] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # shown content or layout changed
    repaired: list[str] = field(default_factory=list)  # the row showed another row's text
    stale: list[str] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)  # rows without id holding only sheetsync's text
    labels_without_id: list[str] = field(default_factory=list)
    states: dict[str, LabelState | None] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)  # id -> the key its row holds after the write
    unsettled: set[str] = field(default_factory=set)  # rows a verified write could not put right


def plan_update(
    sheet: AnnotateSheet,
    rows: dict[str, PushRow],
    *,
    states: dict[str, LabelState],
    shown: dict[str, tuple[str, str]],
    cols: AnnotateColumns,
    rewrite_all: bool = False,
    pushed: Mapping[str, PushRow] | None = None,
) -> UpdatePlan:
    """The writes that bring the tab up to date with ``rows``: every dataset row the tab shows or will show
    (an id in the tab but not in ``rows`` has left the dataset).

    ``pushed``: rows as an earlier push showed them (from the store). Where a row's key says it shows
    exactly that (same id, same display hash), only the cells that differ are written, with the key."""
    plan = UpdatePlan()
    key_missing = KEY in sheet.missing
    ours = [h for h in cols.data_headers if h != cols.id_header]
    in_sheet = sheet.by_id()
    for srow in sheet.rows:
        if not srow.id:
            if srow.labelled:
                plan.labels_without_id.append(_without_id(srow))
            elif srow.key_text or srow.status:  # sheetsync's text in a row whose id is gone: tidy it
                plan.cleared.append(srow.row)
                plan.writes.append(RowWrite(srow.row, "", {h: None for h in ours}))
            continue
        before = states.get(srow.id)
        remembered = shown.get(srow.id, ("", ""))[0] or None
        state = observe(srow, before, shown_content(srow, key_missing=key_missing, remembered=remembered),
                        flags_readable=STATUS not in sheet.missing)
        pr = rows.get(srow.id)
        if pr is None:  # not in the dataset any more: kept, with its label, and marked
            plan.states[srow.id] = state
            plan.removed.append(srow.id)
            if srow.status.strip() != REMOVED:
                plan.writes.append(RowWrite(srow.row, srow.id, {STATUS: REMOVED}))
            continue
        status = ""
        if state is not None and state.given_for != pr.content:
            status = STALE
            state = LabelState(state.sig, state.given_for, pr.content)
            plan.stale.append(srow.id)
        elif state is not None:
            if before is not None and before.flagged_for and before.given_for != state.given_for:
                plan.rechecked.append(srow.id)
            state = LabelState(state.sig, state.given_for, "")
        plan.states[srow.id] = state
        plan.expected[srow.id] = pr.key
        if rewrite_all or srow.key_text != pr.key or srow.status.strip() != status:
            if srow.misplaced and srow.key_text:
                plan.repaired.append(srow.id)
            elif srow.key is None or srow.key.display != pr.display or srow.key.content != pr.content:
                plan.updated.append(srow.id)
            cells = {h: pr.cells.get(h) for h in ours if h not in (STATUS, KEY)}
            cells[STATUS], cells[KEY] = status or None, pr.key
            old = (pushed or {}).get(srow.id)
            if old is not None and not rewrite_all and not srow.misplaced and srow.key.display == old.display:
                cells = _changed(cells, old, srow.status)
            plan.writes.append(RowWrite(srow.row, srow.id, cells))
    for rid, pr in rows.items():
        if rid not in in_sheet:
            plan.appends.append(pr)
            plan.expected[rid] = pr.key
    return plan


def _changed(cells: dict[str, CellValue], old: PushRow, status: str) -> dict[str, CellValue]:
    """The cells of a row that shows ``old`` (its key says so) that must change, and the key: a re-push
    moves only what changed ("move only the bytes a step needs"). The key goes with them, in the same
    request (google_identity writes whole rows), so no moment shows the new text under the old key."""
    keep = {h: v for h, v in cells.items() if h != STATUS and (h == KEY or (old.cells.get(h) or None) != (v or None))}
    if (cells[STATUS] or "") != status:
        keep[STATUS] = cells[STATUS]
    return keep


def _without_id(srow: SheetRow) -> str:
    hint = f" (its hidden key names {srow.key.id!r}: type that id back into the id cell)" if srow.key else ""
    return f"row {srow.row + 1}{hint}"


def write_blocks(writes: list[RowWrite], cols: AnnotateColumns) -> list[Block]:
    """The writes as blocks: per run of adjacent columns, per run of consecutive rows. Cells a write does
    not name (the id, the expert's columns, columns sheetsync does not know) are never inside a block."""
    blocks: list[Block] = []
    by_shape: dict[tuple[str, ...], list[RowWrite]] = {}
    for w in sorted(writes, key=lambda w: w.row):
        by_shape.setdefault(tuple(sorted(w.cells, key=cols.index)), []).append(w)
    for names, group in by_shape.items():
        for run in _column_runs([cols.index(n) for n in names]):
            headers = [cols.headers[c] for c in run]
            start, values = group[0].row, []
            prev = start - 1
            for w in group:
                if w.row != prev + 1 and values:
                    blocks.append(Block(start, run[0], values))
                    start, values = w.row, []
                values.append([w.cells[h] for h in headers])
                prev = w.row
            if values:
                blocks.append(Block(start, run[0], values))
    return blocks


def _column_runs(columns: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for c in sorted(columns):
        if runs and runs[-1][-1] == c - 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return runs


def append_values(pr: PushRow, cols: AnnotateColumns) -> list[CellValue]:
    """A new row, every column in the tab's order: sheetsync's cells, the expert's left empty."""
    values: dict[str, CellValue] = {**pr.cells, STATUS: None, KEY: pr.key}
    return [None if h in EXPERT_HEADERS else values.get(h) for h in cols.headers]
