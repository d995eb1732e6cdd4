"""``sheetsync push``: build or update the expert's Instructions and Annotate tabs from a dataset.

A re-push is an upsert by id. The expert's cells are never part of the write: sheetsync writes only its
own columns (found by header, wherever the expert moved them) at the rows where each id now is, and
appends new rows below. One read and one write per push.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sheetsync.annotate import (
    EXPERT_HEADERS,
    HASH,
    REMOVED,
    STALE,
    STATUS,
    AnnotateColumns,
    ParsedAnnotate,
    annotate_spec,
    default_columns,
    instructions_spec,
    parse_annotate,
)
from sheetsync.backends import Workbook
from sheetsync.config import Config
from sheetsync.dataset import Dataset, content_hash, load_dataset
from sheetsync.errors import UserInputError
from sheetsync.layout import Block, CellValue
from sheetsync.sampling import focus_sample, stratified_sample
from sheetsync.store import Store
from sheetsync.workspace import open_store, open_workspace_workbook, remember_spreadsheet

LAYOUT_KEY = "annotate_layout"
STALE_KEY = "stale_ids"  # the rows the last push flagged: an empty Status cell there means "re-checked"


@dataclass
class PushResult:
    url: str
    locator: str
    added: list[str] = field(default_factory=list)
    updated: int = 0
    stale: list[str] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)  # stale rows whose flag the expert cleared: current again
    removed: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)  # "id: column (N characters)"
    warnings: list[str] = field(default_factory=list)
    shared_with: list[str] = field(default_factory=list)
    focus: dict[str, int] = field(default_factory=dict)  # --focus fails: {"flagged": n, "random": n}

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut text to fit a cell, with a marker the expert can see; the full text stays in the local store."""
    if len(text) <= limit:
        return text, False
    marker = "\n… [cut by sheetsync: {:,} more characters; full text in .sheetsync/state.db]"
    keep = limit - len(marker.format(len(text)))  # the marker never gets longer than this
    return text[:keep] + marker.format(len(text) - keep), True


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
) -> PushResult:
    """Validate the dataset, then upsert it into the Annotate tab by id (see the module docstring).

    ``focus="fails"`` (with ``sample``) over-samples rows the latest judge run failed or disagreed with
    the expert on, keeping ``random_share`` of the batch random; rows already annotated are never re-sent.
    """
    ds = load_dataset(data, cfg.columns)
    _check_headers(ds)
    missing = [c for c in stratify_by if c not in ds.frame.columns]
    if missing:
        raise UserInputError(f"{ds.path}: --stratify-by column(s) {', '.join(missing)} not found.")
    if sample is not None and sample < 1:
        raise UserInputError("--sample must be at least 1.")
    if focus is not None and (focus != "fails" or sample is None):
        raise UserInputError("--focus fails needs --sample N (the size of the review batch).")
    if not 0.0 <= random_share <= 1.0:
        raise UserInputError("--random-share must be between 0 and 1.")
    store = store or open_store(cfg)
    wb = workbook or open_workspace_workbook(cfg, store, spreadsheet)
    tabs = cfg.tabs
    grids = wb.read([tabs.instructions, tabs.annotate], with_layout=True)
    grid = grids.get(tabs.annotate)

    parsed: ParsedAnnotate | None = None
    if grid:
        try:
            parsed = parse_annotate(grid, id_header=_id_header(store, ds), tab=tabs.annotate)
        except ValueError as exc:
            raise UserInputError(f"{wb.url}: {exc} Nothing was written.") from exc
    cols = _columns(ds, parsed)
    result = PushResult(url=wb.url, locator=wb.locator)

    in_sheet = {r.id: r for r in parsed.rows if r.id} if parsed else {}
    frame = ds.frame
    if sample is not None:
        annotated = set(in_sheet) | {rid for rid, lb in store.labels().items() if lb.verdict}
        fresh = frame[~frame[ds.id].isin(annotated)].reset_index(drop=True)
        if focus:
            flagged = _judge_flagged(store)
            picked, warnings, result.focus = focus_sample(
                fresh, sample, [rid in flagged for rid in fresh[ds.id]], random_share=random_share,
                by=list(stratify_by), seed=seed,
            )
        else:
            picked, warnings = stratified_sample(fresh, sample, list(stratify_by), seed=seed)
        result.warnings += warnings
        frame = pd.concat([frame[frame[ds.id].isin(in_sheet.keys())], fresh.iloc[picked]])  # existing + new
    limit = wb.max_cell_chars
    placed: dict[str, dict[str, CellValue]] = {}
    full_rows = [  # the whole dataset, in full, so the judge can score rows the sheet does not show
        {
            "id": rec[ds.id], "input": rec[ds.input], "output": rec[ds.output],
            "content_hash": content_hash(rec[ds.input], rec[ds.output], *(rec[c] for c in ds.context)),
            "fields": {c: rec[c] for c in (*ds.dimensions, *ds.context)},
        }
        for rec in ds.frame.to_dict(orient="records")
    ]
    hashes = {r["id"]: r["content_hash"] for r in full_rows}
    # id -> the content the last push showed with a stale flag: clearing the flag confirms that content only
    flagged_before: dict[str, str] = json.loads(store.get_meta(STALE_KEY) or "{}")
    for rec in frame.to_dict(orient="records"):
        rid = rec[ds.id]
        chash = hashes[rid]
        values: dict[str, CellValue] = {}
        for header in ds.shown_columns:
            text, cut = truncate(rec[header], limit)
            if cut:
                result.truncated.append(f"{rid}: {header} ({len(rec[header]):,} characters)")
            values[header] = text
        values[STATUS], values[HASH] = "", chash
        existing = in_sheet.get(rid)
        if existing is not None:
            labelled = any(existing.cells.get(h, "").strip() for h in EXPERT_HEADERS)
            old_hash = existing.cells.get(HASH, "").strip()
            if labelled and old_hash and old_hash != chash:
                if flagged_before.get(rid) == chash and not existing.cells.get(STATUS, "").strip():
                    result.rechecked.append(rid)  # the expert re-checked it and cleared the flag
                else:
                    values[HASH] = old_hash  # the content the label was given for
                    values[STATUS] = STALE
                    result.stale.append(rid)
            elif labelled and old_hash:
                values[HASH] = old_hash
            result.updated += 1
        else:
            result.added.append(rid)
        placed[rid] = values

    dataset_ids = set(ds.frame[ds.id])
    top = parsed.header_row if parsed else 0
    used = parsed.n_rows if parsed else 1
    new_ids = [rid for rid in placed if rid not in in_sheet]
    end = used + len(new_ids)
    by_row: dict[int, dict[str, CellValue]] = {}
    if parsed:
        for srow in parsed.rows:
            if srow.id in placed:
                by_row[srow.row] = placed[srow.id]
            else:  # not in this dataset (or no id): write back exactly what is there, flagging removed ids
                kept: dict[str, CellValue] = dict(srow.cells)
                if srow.id and srow.id not in dataset_ids:
                    kept[STATUS] = REMOVED
                    result.removed.append(srow.id)
                by_row[srow.row] = kept
    for offset, rid in enumerate(new_ids):
        by_row[used + offset] = placed[rid]

    blocks = _blocks(cols, by_row, top=top, end=end, first_new=used, grid=grid or [])
    specs = [
        instructions_spec(cfg, n_rows=len(in_sheet) + len(new_ids), dimensions=ds.dimensions),
        annotate_spec(cfg, cols, blocks, end, replace=parsed is None, top=top),
    ]
    wb.write(specs)
    remember_spreadsheet(store, wb)
    store.set_meta(LAYOUT_KEY, json.dumps({"id": ds.id, "input": ds.input, "output": ds.output,
                                           "context": ds.context, "dimensions": ds.dimensions}))
    store.save_rows(full_rows, present_ids=dataset_ids)
    store.set_meta(STALE_KEY, json.dumps({rid: hashes[rid] for rid in result.stale}))
    if share:
        wb.share(list(share))
        result.shared_with = list(share)
    return result


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
    reserved = sorted(set(shown) & {*EXPERT_HEADERS, STATUS, HASH})
    if reserved:
        raise UserInputError(
            f"{ds.path}: column(s) {', '.join(reserved)} clash with the Annotate tab's own columns "
            f"({', '.join((*EXPERT_HEADERS, STATUS))}); rename them in the data or leave them out of [columns]."
        )


def _judge_flagged(store: Store) -> set[str]:
    """Ids the latest judgement failed, or disagreed with the expert on."""
    labels = store.labels()
    flagged = set()
    for rid, v in store.latest_verdicts().items():
        verdict = v["verdict"]
        label = labels.get(rid)
        if verdict == "fail" or (verdict and label is not None and label.verdict and label.verdict != verdict):
            flagged.add(rid)
    return flagged


def _id_header(store: Store, ds: Dataset) -> str:
    saved = store.get_meta(LAYOUT_KEY)
    return json.loads(saved)["id"] if saved else ds.id


def _columns(ds: Dataset, parsed: ParsedAnnotate | None) -> AnnotateColumns:
    """Our columns at the positions the sheet has them; any that are missing are appended at the right."""
    default = default_columns(ds.id, ds.dimensions, ds.context, ds.input, ds.output)
    if parsed is None:
        return default
    headers = list(parsed.headers)
    for header in default.headers:
        if header not in headers:
            headers.append(header)
    return AnnotateColumns(
        headers=headers,
        id_header=ds.id,
        data_headers=default.data_headers,
        dimensions=default.dimensions,
        input_header=ds.input,
        output_header=ds.output,
    )


def _blocks(
    cols: AnnotateColumns,
    by_row: dict[int, dict[str, CellValue]],
    *,
    top: int,
    end: int,
    first_new: int,
    grid: list[list[str]],
) -> list[Block]:
    """One block per run of adjacent sheetsync columns, from the header down: expert columns (and any
    column the expert added) are never inside a block, so their cells are never written.

    An existing row's id cell is never rewritten either: ids move only together with the expert's labels
    (when the expert sorts), so even a sort landing between our read and our write cannot pair a label
    with another row's id. Ids are written for new rows (from ``first_new``) only.
    """
    ours = sorted(cols.index(h) for h in cols.data_headers if h != cols.id_header)
    runs: list[list[int]] = []
    for c in ours:
        if runs and runs[-1][-1] == c - 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    blocks = []
    for run in runs:
        names = [cols.headers[c] for c in run]
        values: list[list[CellValue]] = [list(names)]
        for r in range(top + 1, end):
            row = by_row.get(r)
            if row is None:  # a row without an id: keep whatever is in our cells
                line = grid[r] if r < len(grid) else []
                values.append([line[c] if c < len(line) and line[c] != "" else None for c in run])
            else:
                values.append([(row.get(n) if row.get(n) != "" else None) for n in names])
        blocks.append(Block(top, run[0], values))
    id_col = cols.index(cols.id_header)
    blocks.append(Block(top, id_col, [[cols.id_header]]))
    if end > first_new:
        blocks.append(Block(first_new, id_col, [[by_row[r][cols.id_header]] for r in range(first_new, end)]))
    for name in EXPERT_HEADERS:  # their header cells only (needed on a first push or after a deleted column)
        blocks.append(Block(top, cols.index(name), [[name]]))
    return blocks


def fill_expert_cells(
    cfg: Config,
    labels: dict[str, dict[str, str]],
    *,
    workbook: Workbook,
    store: Store,
) -> int:
    """Write labels into EMPTY expert cells (header -> text, by id), e.g. to import an earlier annotation
    round or to let the demo play the expert. A cell the expert already filled is never changed.

    Returns the number of cells written. One read and one write.
    """
    tab = cfg.tabs.annotate
    grid = workbook.read([tab], with_layout=True)[tab]
    if not grid:
        raise UserInputError(f"{workbook.url}: there is no “{tab}” tab. Run `sheetsync push DATA` first.")
    layout = json.loads(store.get_meta(LAYOUT_KEY) or "{}")
    try:
        parsed = parse_annotate(grid, id_header=layout.get("id", cfg.columns.id), tab=tab)
    except ValueError as exc:
        raise UserInputError(f"{workbook.url}: {exc}") from exc
    cols = AnnotateColumns(
        headers=parsed.headers,
        id_header=layout["id"],
        data_headers=default_columns(layout["id"], layout["dimensions"], layout["context"], layout["input"],
                                     layout["output"]).data_headers,
        dimensions=layout["dimensions"],
        input_header=layout["input"],
        output_header=layout["output"],
    )
    blocks: list[Block] = []
    for srow in parsed.rows:
        for header, text in labels.get(srow.id, {}).items():
            if header in EXPERT_HEADERS and text and not srow.cells.get(header, "").strip():
                blocks.append(Block(srow.row, cols.index(header), [[text]]))
    if blocks:
        workbook.write([annotate_spec(cfg, cols, blocks, parsed.n_rows, replace=False, top=parsed.header_row)])
    return len(blocks)
