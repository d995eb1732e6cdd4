"""Writing a tab with answer columns (:mod:`sheetsync.answer_tab`): what to write, the tab's look, and the
check after the write.

A first write builds the tab whole (``replace``: refused by the backend if a tab of that name exists that
sheetsync did not make). Every later write updates it in place: only the rows whose sheetsync cells
change, in whole rows of sheetsync's cells (the id cell and the answers never are part of it), and new
rows appended. On Google, where the expert may sort while the write is in flight, the id and key columns
are read again after it and any row whose text landed beside another id is put back (bounded rounds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sheetsync.answer_tab import (
    ANSWERS,
    KEY,
    RESOLUTION,
    STATUS,
    AnswerSheet,
    AnswerTab,
    AnswerTabError,
    WantedRow,
    read_answer_tab,
)
from sheetsync.backends.base import Workbook
from sheetsync.layout import (
    EXPERT_BLUE,
    FAIL_RED,
    HEADER_GREY,
    MUTED_GREY,
    PASS_GREEN,
    Block,
    CellValue,
    ConditionalFormat,
    PageSetup,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    column_letter,
)

REPAIR_ROUNDS = 3
GREY_TEXT = "#80868B"
#: Status words that grey a row out: the expert has nothing (more) to do there.
GREY_STATUSES = ("answered", "closed")


@dataclass
class Columns:
    """The tab's headers after this write (the expert's own columns kept where they are) and where the
    sheetsync columns that went missing are inserted again."""

    headers: list[str]
    inserts: tuple[int, ...] = ()

    def index(self, name: str) -> int:
        return self.headers.index(name)


def columns_for(tab: AnswerTab, sheet: AnswerSheet | None) -> Columns:
    """Each missing column goes right after the column that precedes it in sheetsync's layout, so nothing
    moves into a column the expert uses (even one without a header)."""
    if sheet is None:
        return Columns(tab.headers)
    headers = list(sheet.headers)
    final = list(headers)
    inserts: list[int] = []
    for i, name in enumerate(tab.headers):
        if name in final:
            continue
        earlier = tab.headers[:i][::-1]
        in_final = next((h for h in earlier if h in final), None)
        in_tab = next((h for h in earlier if h in headers), None)
        final.insert(final.index(in_final) + 1 if in_final is not None else 0, name)
        inserts.append(headers.index(in_tab) + 1 if in_tab is not None else 0)
    return Columns(final, tuple(inserts))


@dataclass
class Plan:
    writes: list[tuple[int, dict[str, CellValue]]] = field(default_factory=list)  # (row, sheetsync cells)
    appends: list[WantedRow] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)


def plan(tab: AnswerTab, sheet: AnswerSheet, wanted: dict[str, WantedRow], *, rewrite_all: bool = False) -> Plan:
    """The rows to rewrite (their key is not the one they should show) and to append. Rows without an id
    that hold only sheetsync's text are tidied; rows without an id that hold an answer are left alone."""
    out = Plan()
    ours = [h for h in tab.ours if h != KEY]
    for r in sheet.rows:
        if not r.id:
            if not r.answered and (r.key_text or r.status):
                out.writes.append((r.row, {**{h: None for h in ours}, KEY: None}))
            continue
        want = wanted.get(r.id)
        if want is None:
            continue
        if rewrite_all or r.key_text != want.key or r.status != (want.cells.get(STATUS) or ""):
            if r.key_text and r.misplaced:
                out.repaired.append(r.id)
            out.writes.append((r.row, {**{h: want.cells.get(h) for h in ours}, KEY: want.key}))
    in_sheet = sheet.by_id()
    out.appends = [w for rid, w in wanted.items() if rid not in in_sheet]
    return out


def _blocks(writes: list[tuple[int, dict[str, CellValue]]], cols: Columns) -> list[Block]:
    """One block per run of adjacent sheetsync columns per row: nothing outside them is ever written."""
    blocks: list[Block] = []
    for row, cells in sorted(writes, key=lambda w: w[0]):
        idx = sorted(cols.index(h) for h in cells)
        run: list[int] = []
        for c in idx + [-10]:
            if run and c != run[-1] + 1:
                blocks.append(Block(row, run[0], [[cells[cols.headers[i]] for i in run]]))
                run = []
            if c >= 0:
                run.append(c)
    return blocks


def _row_values(tab: AnswerTab, want: WantedRow, cols: Columns) -> list[CellValue]:
    values: dict[str, CellValue] = {tab.id_header: want.id, **want.cells, KEY: want.key}
    return [None if h in ANSWERS else values.get(h) for h in cols.headers]


def spec_for(tab: AnswerTab, cols: Columns, blocks: list[Block], n_rows: int, *, replace: bool, top: int = 0,
             append_rows: list[list[CellValue]] | None = None) -> TabSpec:
    """The tab with its look: sheetsync's columns grey-headed and protected (warning only), the answers blue
    with a dropdown, verdicts green/red, rows the expert is done with greyed out."""
    h = cols.headers
    at = {name: i for i, name in enumerate(h)}
    first = top + 1
    n_cols = len(h)

    def body(c: int) -> Range:
        return Range(first, c, None, c + 1)

    ref = first + 1
    status, res = column_letter(at[STATUS]), column_letter(at[RESOLUTION])
    greys = ",".join(f'LEFT(${status}{ref},{len(w)})="{w}"' for w in GREY_STATUSES)
    grey_formula = f'=OR({greys},AND(LEFT(${status}{ref},4)="open",LEN(TRIM(${res}{ref}))>0))'
    styles = [Style(Range(top, 0, first, n_cols), bold=True, background=HEADER_GREY, wrap=True, valign="middle"),
              Style(Range(first, 0, None, n_cols), valign="top")]
    styles += [Style(body(at[c]), wrap=True) for c in tab.long if c in at]
    for name in ANSWERS:
        styles += [Style(body(at[name]), background=EXPERT_BLUE, wrap=True),
                   Style(Range(top, at[name], first, at[name] + 1), background="#C9DAF8", bold=True)]
    styles.append(Style(body(at[STATUS]), italic=True, color="#7F6000", wrap=True))
    protections = [Protection(Range(top, 0, first, n_cols), "sheetsync: header row (columns are matched by these names)")]
    protections += [Protection(body(at[name]), f"sheetsync: {name} is written by sheetsync")
                    for name in (tab.id_header, *tab.ours)]
    conditional = [ConditionalFormat(Range(first, 0, None, n_cols), grey_formula, MUTED_GREY, color=GREY_TEXT)]
    for name in tab.verdicts:
        c = column_letter(at[name])
        conditional += [ConditionalFormat(body(at[name]), f'=LOWER(${c}{ref})="pass"', PASS_GREEN),
                        ConditionalFormat(body(at[name]), f'=LOWER(${c}{ref})="fail"', FAIL_RED)]
    return TabSpec(
        title=tab.title, blocks=blocks, n_rows=max(n_rows, 2), n_cols=n_cols, replace=replace,
        column_widths={i: tab.widths.get(name, 120) for i, name in enumerate(h) if name in tab.headers},
        row_height=120, frozen_rows=first, frozen_cols=1, hidden_columns=(at[KEY],), styles=styles,
        validations=[Validation(body(at[RESOLUTION]), tab.choices, strict=True,
                                input_message="Your answer to this row; then say why in the next column.")],
        protections=protections, conditional_formats=conditional, basic_filter=Range(top, 0, None, n_cols),
        append_rows=append_rows or [], insert_columns=cols.inserts, page=PageSetup(repeat=(top, first)),
    )


def first_spec(tab: AnswerTab, wanted: dict[str, WantedRow]) -> TabSpec:
    cols = Columns(tab.headers)
    values: list[list[CellValue]] = [list(cols.headers)] + [_row_values(tab, w, cols) for w in wanted.values()]
    return spec_for(tab, cols, [Block(0, 0, values)], len(values), replace=True)


def update_spec(tab: AnswerTab, sheet: AnswerSheet, p: Plan, cols: Columns) -> TabSpec | None:
    """The in-place update, or None when nothing changes (then nothing is written)."""
    if not p.writes and not p.appends and not cols.inserts:
        return None
    header_cells = [Block(sheet.header_row, cols.index(n), [[n]]) for n in tab.headers if n not in ANSWERS
                    and (cols.inserts or sheet.at.get(n) != cols.index(n))]
    appends = [_row_values(tab, w, cols) for w in p.appends]
    n_rows = max(sheet.last_row + 1, sheet.header_row + 2) + len(appends)
    return spec_for(tab, cols, _blocks(p.writes, cols) + header_cells, n_rows, replace=False,
                    top=sheet.header_row, append_rows=appends)


@dataclass
class Prepared:
    """One tab's part of a write: its spec (None: nothing to write) and how to check it afterwards."""

    tab: AnswerTab
    spec: TabSpec | None
    wanted: dict[str, WantedRow]
    hint: dict[str, int]
    repaired: list[str] = field(default_factory=list)


def prepare(tab: AnswerTab, sheet: AnswerSheet | None, wanted: dict[str, WantedRow]) -> Prepared:
    if sheet is None:
        return Prepared(tab, first_spec(tab, wanted) if wanted else None, wanted, {})
    cols = columns_for(tab, sheet)
    p = plan(tab, sheet, wanted, rewrite_all=bool(cols.inserts))
    return Prepared(tab, update_spec(tab, sheet, p, cols), wanted, sheet.hint(), p.repaired)


def verify(wb: Workbook, prepared: Prepared, warn: Callable[[str], None]) -> list[str]:
    """After a write that was not atomic (Google), read the id and key columns again and put back every row
    whose text landed beside another id. Returns the ids repaired."""
    repaired: list[str] = []
    hint = prepared.hint
    for _ in range(REPAIR_ROUNDS):
        try:
            sheet = read_answer_tab(wb, prepared.tab, hint)
        except AnswerTabError as exc:  # the expert changed a header meanwhile: the write landed, the check waits
            warn(f"{exc} (sheetsync's write landed; it checks the rows again at the next command)")
            return repaired
        if sheet is None:
            warn(f"the “{prepared.tab.title}” tab disappeared while sheetsync wrote it; the next command builds it "
                 "again (answers already pulled are kept in .sheetsync/state.db).")
            return repaired
        cols = columns_for(prepared.tab, sheet)
        hint = sheet.hint()
        if cols.inserts:
            return repaired  # a column went missing meanwhile: the next write puts it back
        p = plan(prepared.tab, sheet, prepared.wanted)
        p.appends = []  # a row missing now was deleted by the expert meanwhile: the next refresh decides about it
        spec = update_spec(prepared.tab, sheet, p, cols)
        if spec is None:
            return repaired
        repaired += [i for i in p.repaired if i not in repaired]
        wb.write([spec])
    warn(f"the “{prepared.tab.title}” tab kept changing while sheetsync wrote it; some rows may show another "
         "row's text until the next write. Answers stay with their ids.")
    return repaired


__all__ = ["AnswerTabError", "Columns", "Prepared", "columns_for", "first_spec", "plan", "prepare", "spec_for",
           "update_spec", "verify"]
