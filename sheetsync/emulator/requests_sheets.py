"""batchUpdate requests on tabs and their rows and columns: add/delete/duplicate sheets, sheet and
spreadsheet properties, dimension properties, insert/delete/append/move dimensions, sortRange."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sheetsync.emulator import cells, locales
from sheetsync.emulator.dimensions import delete_dimension, insert_dimension, move_dimension, sort_rows
from sheetsync.emulator.errors import ApiError
from sheetsync.emulator.fieldmask import apply_mask
from sheetsync.emulator.model import Sheet, new_int_id
from sheetsync.emulator.requests_base import Ctx, as_int, fields


def _check_title(ctx: Ctx, title: str, sheet: Sheet | None = None) -> None:
    other = ctx.ss.sheet_by_title(title)
    if other is not None and other is not sheet:
        raise ctx.fail(f'A sheet with the name "{title}" already exists. Please enter another name.')
    if not title.strip():
        raise ctx.fail("Sheet names cannot be empty.")


def add_sheet(ctx: Ctx, req: dict) -> dict:
    props = copy.deepcopy(req.get("properties") or {})
    if props.get("sheetId") is not None:
        props["sheetId"] = as_int(props["sheetId"])
        if ctx.ss.sheet_by_id(props["sheetId"]) is not None:
            raise ctx.fail(f"Sheet with id {props['sheetId']} already exists.")
    if props.get("title"):
        _check_title(ctx, props["title"])
    sheet = ctx.ss.add_sheet(props)
    ctx.ss.check_cell_limit(ctx.where)
    return {"addSheet": {"properties": copy.deepcopy(sheet.props)}}


def delete_sheet(ctx: Ctx, req: dict) -> None:
    sheet = ctx.sheet(req.get("sheetId"))
    if len(ctx.ss.sheets) == 1:
        raise ctx.fail("You can't remove all the sheets in a document.")
    ctx.ss.sheets.remove(sheet)
    ctx.ss.reindex()
    sid = sheet.sheet_id
    ctx.ss.named_ranges = [n for n in ctx.ss.named_ranges if (n.get("range") or {}).get("sheetId", 0) != sid]
    ctx.ss.developer_metadata = [
        m for m in ctx.ss.developer_metadata
        if m["location"].get("sheetId") != sid and (m["location"].get("dimensionRange") or {}).get("sheetId") != sid
    ]


def update_sheet_properties(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
    props = req.get("properties") or {}
    sheet = ctx.sheet(props.get("sheetId"))
    old = sheet.props
    if "*" in tree:
        new = copy.deepcopy(props)
        new.setdefault("gridProperties", old.get("gridProperties"))
    else:
        new = apply_mask(old, props, tree) or {}
    new["sheetId"] = sheet.sheet_id
    new.setdefault("sheetType", old.get("sheetType", "GRID"))
    if new.get("title") != old["title"]:
        if not new.get("title"):
            raise ctx.fail("Sheet names cannot be empty.")
        _check_title(ctx, new["title"], sheet)
    if new.get("hidden") and all(s.props.get("hidden") or s is sheet for s in ctx.ss.sheets):
        raise ctx.fail("You can't hide all the sheets in a document.")
    gp_old, gp_new = old.get("gridProperties") or {}, new.get("gridProperties") or {}
    rows = as_int(gp_new.get("rowCount", gp_old.get("rowCount", 0)))
    cols = as_int(gp_new.get("columnCount", gp_old.get("columnCount", 0)))
    if gp_new.get("frozenRowCount", 0) >= rows > 0 or gp_new.get("frozenColumnCount", 0) >= cols > 0:
        raise ctx.fail("You can't freeze all visible rows on the sheet.")
    moving = "*" in tree or "index" in tree
    wanted = props.get("index")
    old_size = (sheet.row_count, sheet.col_count)
    sheet.props = new
    if sheet.is_grid and (rows, cols) != old_size:
        sheet.set_size(rows, cols)
        ctx.ss.check_cell_limit(ctx.where)
    if moving:
        _move_sheet(ctx.ss.sheets, sheet, len(ctx.ss.sheets) if wanted is None else as_int(wanted))
    ctx.ss.reindex()


def _move_sheet(sheets: list[Sheet], sheet: Sheet, wanted: int) -> None:
    """SheetProperties.index (sheets.v4 discovery document): "movement is considered in 'before the move'
    indexes": to move S1 ahead of S2 in (S1, S2, S3) the index is 2; a request for the current index, or
    for the current index + 1, is ignored; an index left out of the properties (but in the field mask)
    moves the sheet to the end."""
    current = sheets.index(sheet)
    wanted = min(max(0, wanted), len(sheets))
    if wanted in (current, current + 1):
        return
    sheets.remove(sheet)
    sheets.insert(wanted - 1 if wanted > current else wanted, sheet)


def update_spreadsheet_properties(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
    props = req.get("properties") or {}
    new = apply_mask(ctx.ss.props, props, tree) or {}
    if not new.get("title"):
        raise ctx.fail("Spreadsheet title cannot be empty.")
    check_locale(new.get("locale"), ctx.fail)
    ctx.ss.props = new


def check_locale(locale: Any, fail: Callable[[str], ApiError]) -> None:
    """SpreadsheetProperties.locale: "an ISO 639-1 language code such as en", "an ISO 639-2 language code
    such as fil", or "a combination of the ISO language code and country code, such as en_US" (sheets.v4
    discovery document). Google's wording for a refused locale is not known; the shape is its batchUpdate 400."""
    if locale is not None and not (isinstance(locale, str) and locales.valid(locale)):
        raise fail(f"Invalid locale: {locale!r} (expected a language code such as en, or language_COUNTRY such as de_DE)")


def duplicate_sheet(ctx: Ctx, req: dict) -> dict:
    src = ctx.sheet(req.get("sourceSheetId"))
    title = req.get("newSheetName") or f"Copy of {src.title}"
    _check_title(ctx, title)
    new_sid = req.get("newSheetId")
    if new_sid is not None and ctx.ss.sheet_by_id(as_int(new_sid)) is not None:
        raise ctx.fail(f"Sheet with id {new_sid} already exists.")
    copy_ = src.clone()
    props = dict(copy_.props, title=title, sheetId=as_int(new_sid) if new_sid is not None else None)
    props.pop("index", None)
    if req.get("insertSheetIndex") is not None:
        props["index"] = as_int(req["insertSheetIndex"])
    added = ctx.ss.add_sheet(props)
    added.rows, added.row_props, added.col_props = copy_.rows, copy_.row_props, copy_.col_props
    sid = added.sheet_id

    def rehome(gr: dict) -> dict:
        return dict(gr, sheetId=sid)

    added.merges = [rehome(m) for m in copy_.merges]
    added.conditional_formats = [dict(r, ranges=[rehome(g) for g in r.get("ranges", [])]) for r in copy_.conditional_formats]
    added.protected_ranges = [dict(p, protectedRangeId=new_int_id(), range=rehome(p["range"])) for p in copy_.protected_ranges if "range" in p]
    added.basic_filter = dict(copy_.basic_filter, range=rehome(copy_.basic_filter.get("range", {}))) if copy_.basic_filter else None
    ctx.ss.check_cell_limit(ctx.where)
    return {"duplicateSheet": {"properties": copy.deepcopy(added.props)}}


# ---- dimensions ----------------------------------------------------------------------------------------


def update_dimension_properties(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
    if "dataSourceSheetRange" in req:
        raise ctx.fail("Data source sheets are not supported by the sheetsync emulator.")
    sheet, dim, start, end = ctx.dim_range(req.get("range"))
    props = dict(req.get("properties") or {})
    props.pop("developerMetadata", None)
    tree = {k: v for k, v in tree.items() if k != "developerMetadata"}
    store = sheet.row_props if dim == "ROWS" else sheet.col_props
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    if end > size:
        raise ctx.fail(f"Invalid dimension range: endIndex {end} is past the last {dim.lower()[:-1]} ({size}).")
    for i in range(start, end):
        new = apply_mask(store.get(i), props, tree)
        if new:
            store[i] = new
        else:
            store.pop(i, None)


def auto_resize_dimensions(ctx: Ctx, req: dict) -> None:
    sheet, dim, start, end = ctx.dim_range(req.get("dimensions"))
    if dim == "COLUMNS":
        for c in range(start, min(end, sheet.col_count)):
            width = 0
            for row in sheet.rows:
                if c < len(row) and row[c] is not None and row[c].value is not None:
                    text = cells.formatted(row[c].value, row[c].fmt)
                    width = max(width, max(len(line) for line in text.split("\n")) * 7 + 10)
            if width:
                sheet.col_props[c] = dict(sheet.col_props.get(c) or {}, pixelSize=max(width, 21))
    else:
        for r in range(start, min(end, sheet.row_count)):
            row = sheet.rows[r] if r < len(sheet.rows) else []
            lines = max((cells.formatted(x.value, x.fmt).count("\n") + 1 for x in row if x is not None and x.value is not None), default=1)
            sheet.row_props[r] = dict(sheet.row_props.get(r) or {}, pixelSize=21 * lines)


def append_dimension(ctx: Ctx, req: dict) -> None:
    sheet = ctx.sheet(req.get("sheetId"))
    length = as_int(req.get("length", 0))
    if length <= 0:
        raise ctx.fail("length must be greater than 0")
    if req.get("dimension") == "ROWS":
        sheet.set_size(sheet.row_count + length, sheet.col_count)
    elif req.get("dimension") == "COLUMNS":
        sheet.set_size(sheet.row_count, sheet.col_count + length)
    else:
        raise ctx.fail("dimension must be ROWS or COLUMNS")
    ctx.ss.check_cell_limit(ctx.where)


def insert_dimension_req(ctx: Ctx, req: dict) -> None:
    sheet, dim, start, end = ctx.dim_range(req.get("range"))
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    if start > size:
        raise ctx.fail(f"Cannot insert at index {start}: the sheet has only {size} {dim.lower()}.")
    if req.get("inheritFromBefore") and start == 0:
        raise ctx.fail("Cannot inherit properties from before the first row or column.")
    insert_dimension(ctx.ss, sheet, dim, start, end - start, bool(req.get("inheritFromBefore")))
    ctx.ss.check_cell_limit(ctx.where)


def delete_dimension_req(ctx: Ctx, req: dict) -> None:
    sheet, dim, start, end = ctx.dim_range(req.get("range"))
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    end = min(end, size)
    if start == 0 and end >= size:
        kind = "rows" if dim == "ROWS" else "columns"
        raise ctx.fail(f"You can't delete all the {kind} on the sheet.")
    delete_dimension(ctx.ss, sheet, dim, start, end)


def move_dimension_req(ctx: Ctx, req: dict) -> None:
    """What dragging rows or columns in the UI sends: the source range moves to ``destinationIndex``."""
    sheet, dim, start, end = ctx.dim_range(req.get("source"))
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    if end > size or start >= end:
        raise ctx.fail(f"Invalid source range: startIndex {start}, endIndex {end} ({size} {dim.lower()}).")
    if "destinationIndex" not in req:
        raise ctx.fail("destinationIndex is required.")
    dest = as_int(req["destinationIndex"])
    if not 0 <= dest <= size:
        raise ctx.fail(f"Invalid destinationIndex {dest}: the sheet has {size} {dim.lower()}.")
    move_dimension(ctx.ss, sheet, dim, start, end, dest)


def sort_range(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    specs = req.get("sortSpecs") or []
    for spec in specs:
        col = as_int(spec.get("dimensionIndex", 0))
        if not sc <= col < ec:
            raise ctx.fail(f"Sort dimension index {col} is outside the range being sorted.")
        spec["dimensionIndex"] = col
    sort_rows(ctx.ss, sheet, sr, sc, er, ec, specs)
