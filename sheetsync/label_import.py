"""Importing labels into the Annotate tab's expert cells (an earlier annotation round, or the demo playing
the expert): only rows the expert has not labelled, and on Google by column identity, all or nothing."""

from __future__ import annotations

import json

from sheetsync.annotate import (
    EXPERT_HEADERS,
    KEY,
    LEGACY_KEY,
    ROW_HEIGHT,
    AnnotateColumns,
    annotate_spec,
    default_columns,
)
from sheetsync.annotate_sheet import SheetStructureError, read_annotate
from sheetsync.backends import Workbook
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.layout import Block
from sheetsync.push import HINT_KEY, LAYOUT_KEY
from sheetsync.store import Store
from sheetsync.taxonomy import with_taxonomy


def fill_expert_cells(
    cfg: Config,
    labels: dict[str, dict[str, str]],
    *,
    workbook: Workbook,
    store: Store,
) -> int:
    """Write labels into the expert cells of rows the expert has not labelled (header -> text, by id), e.g.
    to import an earlier annotation round or to let the demo play the expert. A row where the expert typed
    anything keeps exactly what they typed: an import never adds, say, a root cause to the expert's label.

    Returns the number of cells written. One read and one write.
    """
    tab = cfg.tabs.annotate
    cfg = with_taxonomy(cfg, store)
    layout = json.loads(store.get_meta(LAYOUT_KEY) or "{}")
    id_header = layout.get("id", cfg.columns.id)
    try:
        sheet = read_annotate(workbook, tab, id_header=id_header, hint=json.loads(store.get_meta(HINT_KEY) or "{}"))
    except SheetStructureError as exc:
        raise UserInputError(f"{workbook.url}: {exc}") from exc
    if sheet is None:
        raise UserInputError(f"{workbook.url}: there is no “{tab}” tab. Run `sheetsync push DATA` first.")
    if sheet.missing:  # on .xlsx the write re-applies the formatting, which needs every column; push adds it back
        raise UserInputError(
            f"{workbook.url}: the “{tab}” tab has no {' or '.join(f'“{m}”' for m in sheet.missing)} column "
            "(renamed or deleted?). Run `sheetsync push DATA` to add it back, then run this again; nothing was "
            "written."
        )
    cols = AnnotateColumns(
        headers=[KEY if h == LEGACY_KEY else h for h in sheet.headers],
        id_header=id_header,
        data_headers=default_columns(id_header, layout["dimensions"], layout["context"], layout["input"],
                                     layout["output"]).data_headers,
        dimensions=layout["dimensions"],
        input_header=layout["input"],
        output_header=layout["output"],
    )
    blocks: list[Block] = []
    for srow in sheet.rows:
        if srow.labelled or any(srow.expert.values()):
            continue
        for header, text in labels.get(srow.id, {}).items():
            if header in EXPERT_HEADERS and text:
                blocks.append(Block(srow.row, cols.index(header), [[text]]))
    if not blocks:
        return 0
    if getattr(workbook, "column_identity", False):  # by column identity, no formatting (google_identity)
        spec = annotate_spec(cfg, cols, [], sheet.last_row + 1, replace=False, top=sheet.header_row)
        spec.formats = False
        for b in blocks:
            spec.by_column.setdefault(cols.headers[b.col], {})[b.row] = b.values[0][0]
        spec.identity_header, spec.header_row, spec.header_aliases = id_header, sheet.header_row, {LEGACY_KEY: KEY}
        spec.all_or_nothing = spec.whole_rows_only = True
        workbook.write([spec])
        gone = sorted(getattr(workbook, "unwritten", {}).get(tab, set()))
        if gone:
            raise UserInputError(
                f"{workbook.url}: the “{tab}” tab changed while sheetsync wrote: the "
                f"{' or '.join(f'“{h}”' for h in gone)} column (or the “{id_header}” header) is no longer "
                "where its header says (header cleared, renamed, or the column deleted?). Nothing was written; "
                "put the header back and run this again."
            )
    else:
        workbook.write([annotate_spec(cfg, cols, blocks, sheet.last_row + 1, replace=False, top=sheet.header_row,
                                      widths=layout.get("widths"), row_height=layout.get("row_height", ROW_HEIGHT))])
    return len(blocks)
