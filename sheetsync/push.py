"""``sheetsync push``: build or update the expert's Instructions and Annotate tabs from a dataset.

A first push builds the Annotate tab whole. A re-push reads the tab's id, Status, key and expert columns
(one request), writes only the rows whose sheetsync cells change and appends the new ones
(:mod:`sheetsync.push_plan` says why each rule keeps labels attached to their ids), and never writes an
expert cell. On Google every cell is written by column identity (developer metadata that moves with its
column; :mod:`sheetsync.backends.google_identity`), new rows are inserted blank and filled by row identity,
and the formatting — addressed by column position — is re-sent only when the layout changed since the last
push formatted it, so a column the expert inserts, moves or deletes meanwhile never receives sheetsync's
text. Rows stay addressed by position: where a write may land while the expert sorts, inserts or deletes
rows, the push then reads the id and key columns again and puts back any row whose text landed beside another id
(bounded; each repair is itself a whole-row write). On .xlsx a write replaces the file only if nobody
saved it since it was read, so nothing can land out of place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sheetsync.annotate import (
    EXPERT_HEADERS,
    KEY,
    LEGACY_KEY,
    ROW_HEIGHT,
    STATUS,
    AnnotateColumns,
    annotate_spec,
    default_columns,
    fit_to_data,
    instructions_spec,
)
from sheetsync.annotate_sheet import HEADER_ROW, AnnotateSheet, SheetStructureError, read_annotate
from sheetsync.attribution import LabelState
from sheetsync.backends import Workbook
from sheetsync.backends.base import WriteProgress
from sheetsync.config import Config
from sheetsync.conversation import cell_text
from sheetsync.conversation import truncate as truncate  # where other modules have imported it from
from sheetsync.dataset import Dataset, content_hash, load_dataset
from sheetsync.errors import UserInputError
from sheetsync.layout import Block, CellValue
from sheetsync.push_plan import PushRow, UpdatePlan, append_values, plan_update, write_blocks
from sheetsync.review.questions import questions_text
from sheetsync.sampling import IMPORTED, PROBABILITY_COLUMN, SHOWN_WHOLE, draw
from sheetsync.store import Store
from sheetsync.taxonomy import with_taxonomy
from sheetsync.workspace import open_store, open_workspace_workbook, remember_spreadsheet

LAYOUT_KEY = "annotate_layout"
HINT_KEY = "annotate_columns"  # where the last read found each needed column: the next read is one request
INSTRUCTIONS_KEY = "instructions_hash"
CAUSES_KEY = "annotate_root_causes"  # the Root cause dropdown's list as last written (it grows with the taxonomy)
INSTRUCTIONS_ROWS_KEY = "instructions_rows"  # the row count the Instructions tab states
REPAIR_ROUNDS = 3
_KEPT = (PROBABILITY_COLUMN,)  # not shown, but kept in the store: `import --sample` drew the row with this chance


@dataclass
class PushResult:
    url: str
    locator: str
    added: list[str] = field(default_factory=list)
    updated: int = 0  # existing rows whose shown text or layout changed
    stale: list[str] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)  # stale rows whose flag the expert cleared: current again
    removed: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # rows that showed another row's text, put back
    truncated: list[str] = field(default_factory=list)  # "id: column (N characters)"
    warnings: list[str] = field(default_factory=list)
    shared_with: list[str] = field(default_factory=list)
    focus: dict[str, int] = field(default_factory=dict)  # --focus fails: {"flagged": n, "random": n}
    requests: int = 0  # write requests sent
    bytes_sent: int = 0

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def push(
    cfg: Config,
    data: str | Path,
    *,
    spreadsheet: str | None = None,
    share: tuple[str, ...] = (),
    sample: int | None = None,
    stratify_by: tuple[str, ...] = (),
    seed: int = 0,
    focus: str | None = None,
    random_share: float = 0.3,
    store: Store | None = None,
    workbook: Workbook | None = None,
    progress: Callable[[WriteProgress], None] | None = None,
    only_ids: set[str] | None = None,
) -> PushResult:
    """Validate the dataset, then upsert it into the Annotate tab by id (see the module docstring).

    ``only_ids`` keeps just those rows of the dataset (a second rater's workbook shows the rows the
    principal expert has, and no other).

    ``focus="fails"`` (with ``sample``) over-samples rows the latest judge run failed or disagreed with
    the expert on, keeping ``random_share`` of the batch random; rows already annotated are never re-sent.
    """
    ds = load_dataset(data, cfg.columns)
    if only_ids is not None:
        ds.frame = ds.frame[ds.frame[ds.id].isin(only_ids)].reset_index(drop=True)
    _check_headers(ds)
    _check_options(ds, sample, stratify_by, focus, random_share)
    store = store or open_store(cfg)
    configured = json.dumps(list(cfg.labels.root_causes), ensure_ascii=False)
    cfg = with_taxonomy(cfg, store)  # the Root cause dropdown offers the causes the expert accepted too
    causes = json.dumps(list(cfg.labels.root_causes), ensure_ascii=False)
    wb = workbook or open_workspace_workbook(cfg, store, spreadsheet)
    if progress is not None and hasattr(wb, "progress"):
        wb.progress = progress  # type: ignore[attr-defined]
    layout = json.loads(store.get_meta(LAYOUT_KEY) or "{}")
    id_header = layout.get("id", ds.id)
    sheet = _read(wb, cfg, id_header, json.loads(store.get_meta(HINT_KEY) or "{}"), ds)
    if sheet is not None and id_header != ds.id:
        raise UserInputError(
            f"{ds.path}: [columns] id is “{ds.id}”, but the Annotate tab's ids are the “{id_header}” column. "
            f"Set [columns] id = \"{id_header}\" (a push under other ids would add every row again); "
            "nothing was written."
        )
    result = PushResult(url=wb.url, locator=wb.locator)
    unused = unused_columns(ds)
    if unused:
        result.warnings.append(unused)
    in_sheet = sheet.by_id() if sheet else {}
    frame, provenance = _frame(ds, store, in_sheet, result, sample, stratify_by, seed, focus, random_share)
    rows = _push_rows(ds, frame, wb.max_cell_chars, result)
    if sheet is not None:
        _check_identity(sheet, ds, result)
    cols, inserts = _columns(ds, sheet)
    fit = _fit(ds, frame, cols)
    states, shown = store.label_states(), store.shown()
    specs = []
    plan: UpdatePlan | None = None
    identity = bool(getattr(wb, "column_identity", False))
    formatted = json.loads(store.get_meta(HINT_KEY) or "{}")  # the layout the last push left (and formatted)
    if sheet is None:
        specs.append(_first_spec(cfg, cols, rows, fit, identity=identity))
        result.added = list(rows)
    else:
        pushed = {} if inserts else _pushed_before(ds, store, sheet, rows, wb.max_cell_chars)
        plan = plan_update(sheet, rows, states=states, shown=shown, cols=cols, rewrite_all=bool(inserts),
                           pushed=pushed)
        _report(plan, result)
        dropdown_changed = (store.get_meta(CAUSES_KEY) or configured) != causes
        if plan.writes or plan.appends or inserts or dropdown_changed:
            # Formatting is addressed by column positions: sent only when it would change (google_identity)
            formats = (_hint(cols, sheet) != formatted or dropdown_changed
                       or [layout.get("widths"), layout.get("row_height")] != [fit[0], fit[1]])
            specs.append(_update_spec(cfg, cols, sheet, plan, inserts, fit, identity=identity, formats=formats))
    instructions = instructions_spec(cfg, n_rows=len(in_sheet) + len(result.added), dimensions=ds.dimensions,
                                     questions=questions_text(store))
    instructions_hash = content_hash(json.dumps(instructions.blocks[0].values, ensure_ascii=False))
    if specs or store.get_meta(INSTRUCTIONS_KEY) != instructions_hash:
        specs.insert(0, instructions)
    if specs:
        _write(wb, specs, result)
        if plan is not None:
            _unwritten(wb, cfg, plan, result)
    shown_now = {rid: (pr.content, pr.display) for rid, pr in rows.items()}
    if plan is not None and (plan.writes or (identity and plan.appends)) and not getattr(wb, "atomic_writes", False):
        plan = _verify(wb, cfg, id_header, ds, rows, plan, cols, result, sheet, fit, identity=identity)
        shown_now = {rid: v for rid, v in shown_now.items() if rid not in plan.unsettled}
    remember_spreadsheet(store, wb)
    store.record_push(
        _store_rows(ds),
        present_ids=set(ds.frame[ds.id]),
        shown=shown_now,
        states=plan.states if plan is not None else {},
        meta={
            LAYOUT_KEY: json.dumps({"id": ds.id, "input": ds.input, "output": ds.output, "context": ds.context,
                                    "dimensions": ds.dimensions, "widths": fit[0], "row_height": fit[1]}),
            INSTRUCTIONS_KEY: instructions_hash,
            INSTRUCTIONS_ROWS_KEY: str(len(in_sheet) + len(result.added)),  # judge/report rewrite it alike
            HINT_KEY: json.dumps(_hint(cols, sheet)),
            CAUSES_KEY: causes,
        },
        provenance=provenance,
    )
    if share:
        wb.share(list(share))
        result.shared_with = list(share)
    return result


def unused_columns(ds: Dataset) -> str | None:
    """Columns of the data that no [columns] role shows to the expert, and how to show them (None if none)."""
    unused = [c for c in ds.frame.columns if c not in ds.shown_columns]
    if not unused:
        return None
    return (f"{ds.path.name}: {len(unused)} column(s) are not shown to the expert, because no role in [columns] "
            f"names them: {', '.join(unused)}. To show one, add it to [columns] context (what the expert needs "
            "to judge a row) or dimensions (how results are sliced) in sheetsync.toml and push again.")


def _check_options(ds: Dataset, sample, stratify_by, focus, random_share) -> None:
    missing = [c for c in stratify_by if c not in ds.frame.columns]
    if missing:
        raise UserInputError(f"{ds.path}: --stratify-by column(s) {', '.join(missing)} not found.")
    if sample is not None and sample < 1:
        raise UserInputError("--sample must be at least 1.")
    if focus is not None and (focus not in ("fails", "uncertain") or sample is None):
        raise UserInputError(f"--focus {focus} needs --sample N (the size of the review batch).")
    if not 0.0 <= random_share <= 1.0:
        raise UserInputError("--random-share must be between 0 and 1.")


def _read(wb: Workbook, cfg: Config, id_header: str, hint: dict[str, int], ds: Dataset) -> AnnotateSheet | None:
    try:
        return read_annotate(wb, cfg.tabs.annotate, id_header=id_header, hint=hint, data_headers=ds.shown_columns)
    except SheetStructureError as exc:
        raise UserInputError(f"{wb.url}: {exc} Nothing was written.") from exc


def _check_headers(ds: Dataset) -> None:
    """The Annotate tab finds columns by header, so every header must be unique and none may take the
    name of a column sheetsync or the expert owns."""
    shown = ds.shown_columns
    repeated = sorted({c for c in shown if shown.count(c) > 1})
    if repeated:
        raise UserInputError(
            f"{ds.path}: column(s) {', '.join(repeated)} are given more than one role (id, input, output, "
            "context, dimensions); give each column one role in [columns]."
        )
    reserved = sorted(set(shown) & {*EXPERT_HEADERS, STATUS, KEY, LEGACY_KEY})
    if reserved:
        raise UserInputError(
            f"{ds.path}: column(s) {', '.join(reserved)} clash with the Annotate tab's own columns "
            f"({', '.join((*EXPERT_HEADERS, STATUS))}); rename them in the data or leave them out of [columns]."
        )


def _check_identity(sheet: AnnotateSheet, ds: Dataset, result: PushResult) -> None:
    """A push under the wrong ids would mark every labelled row removed and add them all again: stop."""
    labelled = [r.id for r in sheet.rows if r.id and r.labelled]
    dataset_ids = set(ds.frame[ds.id])
    if labelled and not any(rid in dataset_ids for rid in labelled):
        raise UserInputError(
            f"{ds.path}: none of the {len(labelled)} labelled ids in the Annotate tab (e.g. {labelled[0]!r}) is "
            f"in this dataset's “{ds.id}” column. Is this the right file, and [columns] id the right column? "
            "A push would mark every labelled row removed and add all the rows again; nothing was written. "
            "For a new dataset, use another spreadsheet (--spreadsheet)."
        )


def _frame(ds, store, in_sheet, result, sample, stratify_by, seed, focus, random_share):
    """The dataset rows to show — all of them, or (``--sample``) those in the tab plus a fresh sample — and
    how each newly shown row was chosen, for the store (sheetsync.sampling.draw: label provenance)."""
    frame = ds.frame
    old = {rid: (IMPORTED, "", None) for rid in in_sheet}  # kept as recorded; "imported" only if never recorded
    if sample is None:
        new = [rid for rid in frame[ds.id] if rid not in in_sheet]
        design = {"method": SHOWN_WHOLE, "pool": len(new), "drawn": len(new)}
        return frame, (design, {**old, **{rid: (SHOWN_WHOLE, "", 1.0) for rid in new}})
    annotated = set(in_sheet) | {rid for rid, lb in store.labels().items() if lb.verdict}
    fresh = frame[~frame[ds.id].isin(annotated)].reset_index(drop=True)
    flagged = None
    if focus:
        from sheetsync.label_next import flagged_ids

        flags = flagged_ids(store, focus, frame=frame, id_column=ds.id, dimensions=ds.dimensions)
        flagged = [rid in flags for rid in fresh[ds.id]]
    d = draw(fresh, sample, list(stratify_by), seed=seed, flagged=flagged, random_share=random_share, focus=focus)
    result.focus, ids = d.focus, fresh[ds.id].tolist()
    result.warnings += d.warnings
    picked = {ids[p]: d.rows[p] for p in d.positions}
    return pd.concat([frame[frame[ds.id].isin(in_sheet.keys())], fresh.iloc[d.positions]]), (d.design, {**old, **picked})


def _records(frame: pd.DataFrame):
    """The frame's rows as dicts, one at a time (``to_dict(orient="records")`` would make them all at once)."""
    names = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        yield dict(zip(names, values, strict=True))


def _push_rows(ds: Dataset, frame: pd.DataFrame, limit: int, result: PushResult) -> dict[str, PushRow]:
    rows: dict[str, PushRow] = {}
    for rec in _records(frame):
        rows[rec[ds.id]] = _push_row(ds, rec, limit, result.truncated)
    return rows


def _push_row(ds: Dataset, rec: dict, limit: int, truncated: list[str]) -> PushRow:
    rid = rec[ds.id]
    cells: dict[str, CellValue] = {}
    for header in ds.shown_columns:
        text, cut = cell_text(rec[header], limit)  # conversations folded, as every tab shows them
        if cut:
            truncated.append(f"{rid}: {header} ({len(rec[header]):,} characters)")
        cells[header] = text
    display = content_hash(*(f"{h}\x1e{v}" for h, v in cells.items()))[:8]
    return PushRow(rid, cells, _content(ds, rec), display)


def _pushed_before(ds: Dataset, store: Store, sheet: AnnotateSheet, rows: dict[str, PushRow],
                   limit: int) -> dict[str, PushRow]:
    """The rows to rewrite as an earlier push showed them, rebuilt from the store, so that only their cells
    that change are sent. ``plan_update`` uses one only where the row's key says the tab shows exactly it
    (the same display hash): a row the store remembers otherwise is rewritten whole."""
    ids = [r.id for r in sheet.rows if r.id in rows and r.key_text != rows[r.id].key and not r.misplaced]
    out = {}
    for rid, old in store.rows(ids).items():
        rec = {**old["fields"], ds.input: old["input"], ds.output: old["output"], ds.id: rid}
        if all(isinstance(rec.get(h), str) for h in ds.shown_columns):  # else: rewritten whole
            out[rid] = _push_row(ds, rec, limit, [])
    return out


def _content(ds: Dataset, rec: dict) -> str:
    return content_hash(rec[ds.input], rec[ds.output], *(rec[c] for c in ds.context))


def _store_rows(ds: Dataset):
    """The whole dataset, in full, so the judge can score rows the sheet does not show."""
    for rec in _records(ds.frame):
        yield {
            "id": rec[ds.id], "input": rec[ds.input], "output": rec[ds.output], "content_hash": _content(ds, rec),
            "fields": {c: rec[c] for c in (*ds.dimensions, *ds.context, *_KEPT) if c in rec},
        }


def _columns(ds: Dataset, sheet: AnnotateSheet | None) -> tuple[AnnotateColumns, tuple[int, ...]]:
    """The tab's columns after this push, and where new ones are inserted.

    A column sheetsync adds (a new dimension or context column, or one of its own that was deleted) is
    inserted where its role puts it — right after the column that precedes it in sheetsync's layout — so
    nothing moves into a column the expert uses, even one without a header.
    """
    default = default_columns(ds.id, ds.dimensions, ds.context, ds.input, ds.output)
    if sheet is None:
        return default, ()
    headers = [KEY if h == LEGACY_KEY else h for h in sheet.headers]
    inserts: list[int] = []
    final = list(headers)
    for i, name in enumerate(default.headers):
        if name in final:
            continue
        earlier = default.headers[:i][::-1]
        in_final = next((h for h in earlier if h in final), None)
        in_tab = next((h for h in earlier if h in headers), None)
        final.insert(final.index(in_final) + 1 if in_final is not None else 0, name)
        inserts.append(headers.index(in_tab) + 1 if in_tab is not None else 0)
    return AnnotateColumns(
        headers=final, id_header=ds.id, data_headers=default.data_headers, dimensions=default.dimensions,
        input_header=ds.input, output_header=ds.output,
    ), tuple(inserts)


FIT_SAMPLE = 500  # rows the column widths and row height are fitted on


def _fit(ds: Dataset, frame: pd.DataFrame, cols: AnnotateColumns) -> tuple[dict[str, int], int]:
    """Widths for the dimension and context columns and one row height, fitted to (a sample of) the rows."""
    step = max(1, len(frame) // FIT_SAMPLE)
    names = [c for c in ds.shown_columns if c in frame.columns]
    sample = [dict(zip(names, values, strict=True))
              for values in frame[names].iloc[::step].itertuples(index=False, name=None)]
    return fit_to_data(cols, sample)


def _first_spec(cfg: Config, cols: AnnotateColumns, rows: dict[str, PushRow], fit: tuple[dict[str, int], int], *,
                identity: bool = False):
    values: list[list[CellValue]] = [list(cols.headers)]
    values += [append_values(pr, cols) for pr in rows.values()]
    spec = annotate_spec(cfg, cols, [Block(0, 0, values)], len(values), replace=True, widths=fit[0],
                         row_height=fit[1])
    if identity:  # the tab is new: its columns are where this write puts them, so they are marked in it
        spec.column_marks = dict(enumerate(cols.headers))
    return spec


def _update_spec(cfg: Config, cols: AnnotateColumns, sheet: AnnotateSheet, plan: UpdatePlan, inserts,
                 fit: tuple[dict[str, int], int] | None = None, *, identity: bool = False, formats: bool = True):
    """The write that brings the tab up to date. With ``identity`` (Google) every cell goes by column
    identity (google_identity), new rows are appended holding only their id, and the formatting —
    addressed by column positions — is sent only when it would change (``formats``): a column the expert
    moves while the push runs never has sheetsync's text put over it."""
    ours = [cols.index(h) for h in (*cols.data_headers, *EXPERT_HEADERS)]
    heads = [c for c in ours if c >= len(sheet.headers) or sheet.headers[c] != cols.headers[c] or inserts]
    if identity:
        return _identity_spec(cfg, cols, sheet, plan, inserts, heads, formats, fit)
    blocks = write_blocks(plan.writes, cols)
    header_cells = [Block(sheet.header_row, c, [[cols.headers[c]]]) for c in heads]
    appends = [append_values(pr, cols) for pr in plan.appends]
    n_rows = max(sheet.last_row + 1, sheet.header_row + 2) + len(appends)
    widths, height = fit or ({}, ROW_HEIGHT)
    return annotate_spec(cfg, cols, blocks + header_cells, n_rows, replace=False, top=sheet.header_row,
                         append_rows=appends, insert_columns=inserts, widths=widths, row_height=height)


def _identity_spec(cfg: Config, cols: AnnotateColumns, sheet: AnnotateSheet, plan: UpdatePlan, inserts, heads,
                   formats: bool, fit: tuple[dict[str, int], int] | None):
    by_column: dict[str, dict[int, CellValue]] = {}
    for w in sorted(plan.writes, key=lambda w: w.row):
        for h, v in w.cells.items():
            by_column.setdefault(h, {})[w.row] = v
    for c in heads:
        by_column.setdefault(cols.headers[c], {})[sheet.header_row] = cols.headers[c]
    # New rows hold only their id when appended (the one cell placed by a column position: a row has no
    # identity before it exists). Their other cells go by column identity at the rows appendCells uses when
    # nothing moved (right below the last row read); if the expert typed or sorted meanwhile, they land
    # like any row write that a sort overtook — never in an expert cell or an id cell — and the verify
    # round puts them right (and clears sheetsync's text from a row without an id).
    appends = [[pr.id if h == cols.id_header else None for h in cols.headers] for pr in plan.appends]
    for k, pr in enumerate(plan.appends, start=sheet.last_row + 1):
        for h, v in zip(cols.headers, append_values(pr, cols), strict=True):
            if h != cols.id_header and h not in EXPERT_HEADERS:
                by_column.setdefault(h, {})[k] = v
    n_rows = max(sheet.last_row + 1, sheet.header_row + 2) + len(appends)
    widths, height = fit or ({}, ROW_HEIGHT)
    spec = annotate_spec(cfg, cols, [], n_rows, replace=False, top=sheet.header_row, append_rows=appends,
                         insert_columns=inserts, widths=widths, row_height=height)
    spec.formats = formats or bool(inserts)
    # the Status flag first and the key last: a row's last text cell goes with its key (google_identity)
    spec.by_column = {h: by_column[h] for h in sorted(by_column, key=lambda h: (h != STATUS) + 2 * (h == KEY))}
    known = [KEY if h == LEGACY_KEY else h for h in sheet.headers]
    spec.column_marks = {cols.index(h): h for h in cols.headers if h and h not in known} if inserts else {}
    spec.identity_header, spec.header_row = cols.id_header, sheet.header_row
    spec.header_aliases = {LEGACY_KEY: KEY}
    return spec


def _report(plan: UpdatePlan, result: PushResult) -> None:
    result.added = [pr.id for pr in plan.appends]
    result.updated = len(plan.updated)
    result.stale, result.rechecked = plan.stale, plan.rechecked
    result.removed, result.repaired = plan.removed, plan.repaired
    if plan.labels_without_id:
        result.warnings.append(
            f"{len(plan.labels_without_id)} labelled row(s) have no id and are left as they are: "
            + "; ".join(plan.labels_without_id[:10])
        )


def _write(wb: Workbook, specs, result: PushResult) -> None:
    wb.write(specs)
    result.requests += getattr(wb, "last_write_requests", 1)
    result.bytes_sent += getattr(wb, "last_write_bytes", 0)


def _unwritten(wb: Workbook, cfg: Config, plan: UpdatePlan, result: PushResult) -> None:
    """A column the last write could not find by identity (its header cleared or renamed, or the column
    deleted, while the push ran) got none of its cells. Without the Status column no stale flag was shown:
    none is recorded as shown, or the next read would take the empty cell for the expert's re-check."""
    gone = sorted(getattr(wb, "unwritten", {}).get(cfg.tabs.annotate, set()))
    if not gone:
        return
    if STATUS in gone:
        plan.states = {rid: LabelState(st.sig, st.given_for, "") if st is not None else None
                       for rid, st in plan.states.items()}
    note = (f"the {', '.join(f'“{h}”' for h in gone)} column(s) changed while sheetsync wrote (header cleared or "
            "renamed, or the column deleted?), so their cells were not written; put the header back and run "
            "`sheetsync push` again. Labels stay with their ids.")
    if note not in result.warnings:
        result.warnings.append(note)


def _hint(cols: AnnotateColumns, sheet: AnnotateSheet | None) -> dict[str, int]:
    """Where the tab's header row and columns are after this push, for the next read."""
    return {**{h: cols.index(h) for h in cols.headers if h}, HEADER_ROW: sheet.header_row if sheet else 0}


def _verify(wb, cfg, id_header, ds, rows, plan: UpdatePlan, cols, result, sheet_before, fit=None, *,
            identity: bool = False) -> UpdatePlan:
    """Read the id and key columns again and put back every row whose text landed beside another id
    (the expert sorted, inserted or deleted rows while the write was in flight). Bounded; each round is
    whole-row writes addressed by the positions just read. Returns the last round's plan: its label
    states are the latest, and ``unsettled`` names rows still not right."""
    hint = formatted = _hint(cols, sheet_before)
    for _ in range(REPAIR_ROUNDS):
        sheet = _read(wb, cfg, id_header, hint, ds)
        if sheet is None:
            raise UserInputError(f"{wb.url}: the “{cfg.tabs.annotate}” tab disappeared during the push.")
        # The columns as they are now (the expert may have moved, inserted or deleted some meanwhile): a
        # repair written at the positions of the first read would land in other columns.
        cols, missing = _columns(ds, sheet)
        hint = {h: cols.index(h) for h in cols.headers if h}
        if missing:  # one of sheetsync's columns went away meanwhile: the next push adds it back
            break
        check = plan_update(sheet, rows, states={k: v for k, v in plan.states.items() if v}, shown={}, cols=cols)
        plan.states.update(check.states)
        if not check.writes and not check.appends:
            return plan
        new = set(result.added)  # rows appended by this push are filled here (google_identity), not repaired
        result.repaired += [w.id or f"row {w.row + 1}" for w in check.writes
                            if w.id not in result.repaired and w.id not in new]
        layout = _hint(cols, sheet)
        _write(wb, [_update_spec(cfg, cols, sheet, check, (), fit, identity=identity, formats=layout != formatted)],
               result)
        formatted = layout
        _unwritten(wb, cfg, plan, result)
    else:
        plan.unsettled = {w.id for w in check.writes} | {pr.id for pr in check.appends}
        result.warnings.append(
            "the Annotate tab kept changing while sheetsync wrote (rows sorted, inserted or deleted); some rows "
            "may show another row's text until the next push. Labels stay with their ids."
        )
        return plan
    plan.unsettled = set(rows)
    result.warnings.append(
        "one of sheetsync's columns was deleted or renamed while sheetsync wrote; run `sheetsync push` again to "
        "add it back. Labels stay with their ids."
    )
    return plan
