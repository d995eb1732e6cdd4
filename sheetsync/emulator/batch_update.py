"""spreadsheets.batchUpdate: each request kind with real semantics, applied in order and atomically.

The whole batch runs on a clone of the spreadsheet; the clone replaces the stored state only if every
request succeeded ("If any request is not valid, no requests will be applied."). Semantic errors are worded
like Google's (``Invalid requests[2].addSheet: A sheet with the name "X" already exists. ...``). A kind
the emulator does not implement is refused with a 400 naming it, never silently ignored.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from sheetsync.emulator import a1, cells
from sheetsync.emulator.cells import Cell
from sheetsync.emulator.dimensions import delete_dimension, insert_dimension, sort_rows
from sheetsync.emulator.errors import ApiError, bad_request, invalid_argument
from sheetsync.emulator.fieldmask import Mask, apply_mask, mask
from sheetsync.emulator.model import Sheet, Spreadsheet, State, new_id, new_int_id, now_iso
from sheetsync.emulator.schema import validate
from sheetsync.emulator.values import TOO_LONG

_CELL_FIELDS = ("userEnteredValue", "userEnteredFormat", "dataValidation", "note")
_READ_ONLY_CELL_FIELDS = ("effectiveValue", "formattedValue", "effectiveFormat", "hyperlink")
_NAME_RE = re.compile(r"^[A-Za-z_\\][A-Za-z0-9_.]*$")


def clean(obj: Any) -> Any:
    """Drop explicit JSON nulls: proto3 reads ``null`` as unset."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def _i(v: Any) -> int:
    return int(float(v)) if not isinstance(v, int) else v


class Ctx:
    """One request being applied: the working copy and where to point errors."""

    def __init__(self, ss: Spreadsheet, index: int, kind: str) -> None:
        self.ss = ss
        self.where = f"requests[{index}].{kind}"

    def fail(self, message: str) -> ApiError:
        return bad_request(self.where, message)

    def sheet(self, sheet_id: Any) -> Sheet:
        sid = _i(sheet_id or 0)
        sheet = self.ss.sheet_by_id(sid)
        if sheet is None:
            raise self.fail(f"No grid with id: {sid}")
        return sheet

    def grid(self, gr: dict | None) -> tuple[Sheet, int, int, int, int]:
        """A GridRange, closed at the grid's edges; 400 for an unknown sheet or a range past the grid."""
        gr = gr or {}
        sheet = self.sheet(gr.get("sheetId"))
        rc, cc = sheet.row_count, sheet.col_count
        sr = _i(gr.get("startRowIndex", 0))
        sc = _i(gr.get("startColumnIndex", 0))
        er = _i(gr.get("endRowIndex", rc))
        ec = _i(gr.get("endColumnIndex", cc))
        if min(sr, sc, er, ec) < 0 or sr > er or sc > ec:
            raise self.fail(f"Invalid range: start index must be before end index in {gr}")
        if er > rc or ec > cc:
            raise self.fail(
                f"Range ('{sheet.title}'!{a1.cell_name(sr, sc)}:{a1.cell_name(max(er - 1, sr), max(ec - 1, sc))}) "
                f"exceeds grid limits. Max rows: {rc}, max columns: {cc}"
            )
        return sheet, sr, sc, er, ec

    def dim_range(self, dr: dict | None) -> tuple[Sheet, str, int, int]:
        dr = dr or {}
        sheet = self.sheet(dr.get("sheetId"))
        dim = dr.get("dimension")
        if dim not in ("ROWS", "COLUMNS"):
            raise self.fail("dimension must be ROWS or COLUMNS")
        size = sheet.row_count if dim == "ROWS" else sheet.col_count
        start = _i(dr.get("startIndex", 0))
        end = _i(dr.get("endIndex", size))
        if start < 0 or end < start:
            raise self.fail(f"Invalid dimension range: startIndex {start}, endIndex {end}")
        return sheet, dim, start, end


# ---- cells -------------------------------------------------------------------------------------------


def _check_cell_json(ctx: Ctx, cd: dict | None) -> None:
    if not cd:
        return
    uev = cd.get("userEnteredValue")
    if uev:
        for key in ("stringValue", "formulaValue"):
            v = uev.get(key)
            if v is not None and len(v) > cells.MAX_CELL_CHARS:
                raise ctx.fail(TOO_LONG)


def apply_cell(old: Cell | None, cd: dict | None, tree: Mask | None, memo: dict | None = None) -> Cell | None:
    """Apply CellData under a field mask to a stored cell; fields outside the mask stay as they were."""
    cd = cd or {}
    if tree is None or "*" in tree:
        extra = {k: v for k, v in cd.items() if k not in _CELL_FIELDS and k not in _READ_ONLY_CELL_FIELDS and v is not None}
        new = Cell(cells.from_extended(cd.get("userEnteredValue")), cd.get("userEnteredFormat") or None,
                   cd.get("dataValidation"), cd.get("note"), extra or None)
        return None if new.is_empty() else new
    value, fmt, dv, note, extra = (None, None, None, None, None) if old is None else (
        old.value, old.fmt, old.dv, old.note, old.extra)
    for key, sub in tree.items():
        if key == "userEnteredValue":
            value = cells.from_extended(cd.get("userEnteredValue"))
        elif key == "userEnteredFormat":
            if sub is None:
                fmt = cd.get("userEnteredFormat") or None
            elif memo is not None:
                mk = id(fmt)
                if mk not in memo:
                    memo[mk] = (fmt, apply_mask(fmt, cd.get("userEnteredFormat"), sub))
                fmt = memo[mk][1]
            else:
                fmt = apply_mask(fmt, cd.get("userEnteredFormat"), sub)
        elif key == "dataValidation":
            dv = cd.get("dataValidation")
        elif key == "note":
            note = cd.get("note")
        elif key in _READ_ONLY_CELL_FIELDS:
            continue
        else:
            extra = dict(extra or {})
            if cd.get(key) is not None:
                extra[key] = cd[key]
            else:
                extra.pop(key, None)
            extra = extra or None
    new = Cell(value, fmt, dv, note, extra)
    return None if new.is_empty() else new


def _fields(ctx: Ctx, req: dict) -> Mask:
    text = req.get("fields")
    if not text:
        raise ctx.fail("At least one field must be updated. Specify the fields to update in 'fields'.")
    tree = mask(text)
    assert tree is not None
    return tree


def update_cells(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    rows = req.get("rows") or []
    if "start" in req and "range" in req:
        raise ctx.fail("Only one of start or range may be set.")
    if "range" in req:
        sheet, sr, sc, er, ec = ctx.grid(req["range"])
    else:
        start = req.get("start") or {}
        sheet = ctx.sheet(start.get("sheetId"))
        sr, sc = _i(start.get("rowIndex", 0)), _i(start.get("columnIndex", 0))
        er, ec = sheet.row_count, sheet.col_count
        width = max((len((r or {}).get("values") or []) for r in rows), default=0)
        if sr + len(rows) > er or sc + width > ec:
            raise ctx.fail(
                f"Range ('{sheet.title}'!{a1.cell_name(sr, sc)}:{a1.cell_name(sr + max(len(rows), 1) - 1, sc + max(width, 1) - 1)}) "
                f"exceeds grid limits. Max rows: {er}, max columns: {ec}"
            )
    whole = tree is None or "*" in tree
    values_only = tree == {"userEnteredValue": None}
    limit = cells.MAX_CELL_CHARS
    from_extended = cells.from_extended
    for i, rd in enumerate(rows):
        r = sr + i
        if r >= er:
            raise ctx.fail(f"Attempting to write row: {r}, beyond the last requested row of: {er - 1}")
        vals = (rd or {}).get("values") or []
        if not vals:
            continue
        if sc + len(vals) > ec:
            raise ctx.fail(f"Attempting to write column: {sc + len(vals) - 1}, beyond the last requested column of: {ec - 1}")
        target = sheet.row_for_write(r, sc + len(vals))
        for j, cd in enumerate(vals):
            c = sc + j
            if values_only and cd and len(cd) == 1 and (uev := cd.get("userEnteredValue")):  # the bulk-write fast path
                value = from_extended(uev)
                if type(value) is str and len(value) > limit:
                    raise ctx.fail(TOO_LONG)
                old = target[c]
                if old is None:
                    target[c] = Cell(value) if value is not None else None
                else:
                    target[c] = apply_cell(old, cd, tree)
                continue
            _check_cell_json(ctx, cd)
            target[c] = apply_cell(None if whole else target[c], cd, tree)
        while target and target[-1] is None:
            target.pop()
    if "range" in req:  # cells of the range not covered by rows have the masked fields cleared
        for r in range(sr, min(er, len(sheet.rows))):
            covered = len((rows[r - sr] or {}).get("values") or []) if r - sr < len(rows) else 0
            row = sheet.rows[r]
            for c in range(sc + covered, min(ec, len(row))):
                if row[c] is not None:
                    row[c] = apply_cell(row[c], {}, tree)


def repeat_cell(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    cd = req.get("cell") or {}
    _check_cell_json(ctx, cd)
    memo: dict = {}
    for r in range(sr, er):
        row = sheet.row_for_write(r, ec)
        for c in range(sc, ec):
            row[c] = apply_cell(row[c], cd, tree, memo)
        while row and row[-1] is None:
            row.pop()


def append_cells(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    sheet = ctx.sheet(req.get("sheetId"))
    start, _ = sheet.data_extent()
    rows = req.get("rows") or []
    width = max((len((r or {}).get("values") or []) for r in rows), default=0)
    if start + len(rows) > sheet.row_count or width > sheet.col_count:
        sheet.set_size(max(sheet.row_count, start + len(rows)), max(sheet.col_count, width))
    update_cells(ctx, {"rows": rows, "fields": req.get("fields"), "start": {"sheetId": sheet.sheet_id, "rowIndex": start}})
    del tree


def set_data_validation(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    rule = req.get("rule")
    if rule is not None:
        cond = rule.get("condition") or {}
        if cond.get("type") in ("ONE_OF_LIST", "ONE_OF_RANGE") and not cond.get("values"):
            raise ctx.fail(f"Invalid ConditionValue.values: {cond.get('type')} requires at least one value.")
    for r in range(sr, er):
        row = sheet.row_for_write(r, ec) if rule is not None else (sheet.rows[r] if r < len(sheet.rows) else [])
        for c in range(sc, min(ec, len(row))):
            old = row[c]
            if old is None and rule is None:
                continue
            new = (old or Cell()).replace(dv=rule)
            row[c] = None if new.is_empty() else new


def update_borders(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    for r in range(sr, er):
        row = sheet.row_for_write(r, ec)
        for c in range(sc, ec):
            sides = {}
            if r == sr and "top" in req:
                sides["top"] = req["top"]
            if r == er - 1 and "bottom" in req:
                sides["bottom"] = req["bottom"]
            if c == sc and "left" in req:
                sides["left"] = req["left"]
            if c == ec - 1 and "right" in req:
                sides["right"] = req["right"]
            if "innerHorizontal" in req:
                if r > sr:
                    sides["top"] = req["innerHorizontal"]
                if r < er - 1:
                    sides["bottom"] = req["innerHorizontal"]
            if "innerVertical" in req:
                if c > sc:
                    sides["left"] = req["innerVertical"]
                if c < ec - 1:
                    sides["right"] = req["innerVertical"]
            if not sides:
                continue
            old = row[c] or Cell()
            borders = dict((old.fmt or {}).get("borders") or {})
            for side, border in sides.items():
                if border.get("style") == "NONE":
                    borders.pop(side, None)
                else:
                    borders[side] = border
            fmt = dict(old.fmt or {})
            if borders:
                fmt["borders"] = borders
            else:
                fmt.pop("borders", None)
            new = old.replace(fmt=fmt or None)
            row[c] = None if new.is_empty() else new


# ---- sheets and spreadsheet properties -----------------------------------------------------------------


def _check_title(ctx: Ctx, title: str, sheet: Sheet | None = None) -> None:
    other = ctx.ss.sheet_by_title(title)
    if other is not None and other is not sheet:
        raise ctx.fail(f'A sheet with the name "{title}" already exists. Please enter another name.')
    if not title.strip():
        raise ctx.fail("Sheet names cannot be empty.")


def add_sheet(ctx: Ctx, req: dict) -> dict:
    props = copy.deepcopy(req.get("properties") or {})
    if props.get("sheetId") is not None:
        props["sheetId"] = _i(props["sheetId"])
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
    tree = _fields(ctx, req)
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
    rows = _i(gp_new.get("rowCount", gp_old.get("rowCount", 0)))
    cols = _i(gp_new.get("columnCount", gp_old.get("columnCount", 0)))
    if gp_new.get("frozenRowCount", 0) >= rows > 0 or gp_new.get("frozenColumnCount", 0) >= cols > 0:
        raise ctx.fail("You can't freeze all visible rows on the sheet.")
    index = new.get("index", old.get("index"))
    old_size = (sheet.row_count, sheet.col_count)
    sheet.props = new
    if sheet.is_grid and (rows, cols) != old_size:
        sheet.set_size(rows, cols)
        ctx.ss.check_cell_limit(ctx.where)
    if index is not None and index != ctx.ss.sheets.index(sheet):
        ctx.ss.sheets.remove(sheet)
        ctx.ss.sheets.insert(min(max(0, _i(index)), len(ctx.ss.sheets)), sheet)
    ctx.ss.reindex()


def update_spreadsheet_properties(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    props = req.get("properties") or {}
    new = apply_mask(ctx.ss.props, props, tree) or {}
    if not new.get("title"):
        raise ctx.fail("Spreadsheet title cannot be empty.")
    ctx.ss.props = new


def duplicate_sheet(ctx: Ctx, req: dict) -> dict:
    src = ctx.sheet(req.get("sourceSheetId"))
    title = req.get("newSheetName") or f"Copy of {src.title}"
    _check_title(ctx, title)
    new_sid = req.get("newSheetId")
    if new_sid is not None and ctx.ss.sheet_by_id(_i(new_sid)) is not None:
        raise ctx.fail(f"Sheet with id {new_sid} already exists.")
    copy_ = src.clone()
    props = dict(copy_.props, title=title, sheetId=_i(new_sid) if new_sid is not None else None)
    props.pop("index", None)
    if req.get("insertSheetIndex") is not None:
        props["index"] = _i(req["insertSheetIndex"])
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
    tree = _fields(ctx, req)
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
    length = _i(req.get("length", 0))
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


def sort_range(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    specs = req.get("sortSpecs") or []
    for spec in specs:
        col = _i(spec.get("dimensionIndex", 0))
        if not sc <= col < ec:
            raise ctx.fail(f"Sort dimension index {col} is outside the range being sorted.")
        spec["dimensionIndex"] = col
    sort_rows(ctx.ss, sheet, sr, sc, er, ec, specs)


# ---- protections, formats, charts, filters, merges, names, metadata ------------------------------------


def _all_protected(ss: Spreadsheet) -> list[dict]:
    return [p for s in ss.sheets for p in s.protected_ranges]


def _check_editors(ctx: Ctx, pr: dict) -> None:
    ed = pr.get("editors") or {}
    if pr.get("warningOnly") and (ed.get("users") or ed.get("groups") or ed.get("domainUsersCanEdit")):
        raise ctx.fail("ProtectedRange is warningOnly. Editors cannot be set on it.")


def _protected_sheet(ctx: Ctx, pr: dict) -> tuple[Sheet, dict]:
    if pr.get("namedRangeId"):
        for nr in ctx.ss.named_ranges:
            if nr.get("namedRangeId") == pr["namedRangeId"]:
                return ctx.sheet(nr["range"].get("sheetId")), nr["range"]
        raise ctx.fail(f"No named range with id {pr['namedRangeId']}.")
    gr = pr.get("range") or {}
    sheet = ctx.grid(gr)[0]
    return sheet, gr


def add_protected_range(ctx: Ctx, req: dict) -> dict:
    pr = copy.deepcopy(req.get("protectedRange") or {})
    _check_editors(ctx, pr)
    sheet, _ = _protected_sheet(ctx, pr)
    if pr.get("protectedRangeId") is not None:
        pr["protectedRangeId"] = _i(pr["protectedRangeId"])
        if any(p["protectedRangeId"] == pr["protectedRangeId"] for p in _all_protected(ctx.ss)):
            raise ctx.fail(f"A protected range with ID {pr['protectedRangeId']} already exists.")
    else:
        pr["protectedRangeId"] = new_int_id()
    for u in pr.get("unprotectedRanges") or []:
        ctx.grid(u)
    pr["requestingUserCanEdit"] = True
    if not pr.get("warningOnly"):
        pr["editors"] = pr.get("editors") or {}
    else:
        pr.pop("editors", None)
    order = ["protectedRangeId", "range", "namedRangeId", "description", "warningOnly", "requestingUserCanEdit"]
    pr = {k: pr[k] for k in order if k in pr} | {k: v for k, v in pr.items() if k not in order}
    sheet.protected_ranges.append(pr)
    return {"addProtectedRange": {"protectedRange": copy.deepcopy(pr)}}


def _find_protected(ctx: Ctx, prid: Any) -> tuple[Sheet, int]:
    prid = _i(prid)
    for s in ctx.ss.sheets:
        for i, p in enumerate(s.protected_ranges):
            if p["protectedRangeId"] == prid:
                return s, i
    raise ctx.fail(f"No protected range with id: {prid}")


def update_protected_range(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    pr = req.get("protectedRange") or {}
    sheet, i = _find_protected(ctx, pr.get("protectedRangeId"))
    new = apply_mask(sheet.protected_ranges[i], pr, tree) or {}
    new["protectedRangeId"] = sheet.protected_ranges[i]["protectedRangeId"]
    new["requestingUserCanEdit"] = True
    _check_editors(ctx, new)
    target, _ = _protected_sheet(ctx, new)
    del sheet.protected_ranges[i]
    target.protected_ranges.append(new)


def delete_protected_range(ctx: Ctx, req: dict) -> None:
    sheet, i = _find_protected(ctx, req.get("protectedRangeId"))
    del sheet.protected_ranges[i]


def _rule_sheet(ctx: Ctx, rule: dict) -> Sheet:
    ranges = rule.get("ranges") or []
    if not ranges:
        raise ctx.fail("A conditional format rule needs at least one range.")
    sheets = {ctx.grid(r)[0].sheet_id for r in ranges}
    if len(sheets) > 1:
        raise ctx.fail("All ranges of a conditional format rule must be on the same sheet.")
    if ("booleanRule" in rule) == ("gradientRule" in rule):
        raise ctx.fail("A conditional format rule needs exactly one of booleanRule or gradientRule.")
    return ctx.sheet(ranges[0].get("sheetId"))


def add_conditional_format_rule(ctx: Ctx, req: dict) -> None:
    rule = copy.deepcopy(req.get("rule") or {})
    sheet = _rule_sheet(ctx, rule)
    index = _i(req.get("index", 0))
    sheet.conditional_formats.insert(min(index, len(sheet.conditional_formats)), rule)


def _cf_at(ctx: Ctx, req: dict) -> tuple[Sheet, int]:
    sheet = ctx.sheet(req.get("sheetId"))
    index = _i(req.get("index", 0))
    if not 0 <= index < len(sheet.conditional_formats):
        raise ctx.fail(f"No conditional format on sheet {sheet.sheet_id} at index {index}")
    return sheet, index


def update_conditional_format_rule(ctx: Ctx, req: dict) -> dict:
    sheet, index = _cf_at(ctx, req)
    old = sheet.conditional_formats[index]
    if "rule" in req:
        rule = copy.deepcopy(req["rule"])
        target = _rule_sheet(ctx, rule)
        del sheet.conditional_formats[index]
        target.conditional_formats.insert(index, rule)
        return {"updateConditionalFormatRule": {"newRule": rule, "newIndex": index, "oldRule": old, "oldIndex": index}}
    new_index = _i(req.get("newIndex", index))
    del sheet.conditional_formats[index]
    sheet.conditional_formats.insert(new_index, old)
    return {"updateConditionalFormatRule": {"newRule": old, "newIndex": new_index, "oldRule": old, "oldIndex": index}}


def delete_conditional_format_rule(ctx: Ctx, req: dict) -> dict:
    sheet, index = _cf_at(ctx, req)
    rule = sheet.conditional_formats.pop(index)
    return {"deleteConditionalFormatRule": {"rule": rule}}


def _check_sources(ctx: Ctx, node: Any) -> None:
    """Every GridRange a chart spec reads from must exist."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "sources" and isinstance(v, list):
                for gr in v:
                    ctx.grid(gr)
            else:
                _check_sources(ctx, v)
    elif isinstance(node, list):
        for v in node:
            _check_sources(ctx, v)


def _all_charts(ss: Spreadsheet) -> list[tuple[Sheet, dict]]:
    return [(s, c) for s in ss.sheets for c in s.charts]


def add_chart(ctx: Ctx, req: dict) -> dict:
    chart = copy.deepcopy(req.get("chart") or {})
    if not chart.get("spec"):
        raise ctx.fail("A chart needs a spec.")
    _check_sources(ctx, chart["spec"])
    if chart.get("chartId") is not None:
        chart["chartId"] = _i(chart["chartId"])
        if any(c["chartId"] == chart["chartId"] for _, c in _all_charts(ctx.ss)):
            raise ctx.fail(f"An object with id {chart['chartId']} already exists.")
    else:
        chart["chartId"] = new_int_id()
    pos = chart.get("position") or {}
    if pos.get("newSheet"):
        sheet = ctx.ss.add_sheet({"sheetType": "OBJECT", "title": _next_title(ctx.ss, "Chart")})
        sheet.props.pop("gridProperties", None)
        chart["position"] = {"sheetId": sheet.sheet_id}
    elif "overlayPosition" in pos:
        op = pos["overlayPosition"]
        anchor = op.get("anchorCell") or {}
        sheet = ctx.sheet(anchor.get("sheetId"))
        for k, default in (("offsetXPixels", 0), ("offsetYPixels", 0), ("widthPixels", 600), ("heightPixels", 371)):
            op.setdefault(k, default)
        anchor.setdefault("sheetId", sheet.sheet_id)
        op["anchorCell"] = anchor
    elif "sheetId" in pos:
        sheet = ctx.sheet(pos["sheetId"])
    else:
        raise ctx.fail("A chart needs a position.")
    chart.setdefault("border", {"color": {"red": 1, "green": 1, "blue": 1}, "colorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}})
    sheet.charts.append(chart)
    return {"addChart": {"chart": copy.deepcopy(chart)}}


def _next_title(ss: Spreadsheet, prefix: str) -> str:
    n = 1
    while ss.sheet_by_title(f"{prefix}{n}") is not None:
        n += 1
    return f"{prefix}{n}"


def update_chart_spec(ctx: Ctx, req: dict) -> None:
    cid = _i(req.get("chartId", 0))
    for _, chart in _all_charts(ctx.ss):
        if chart["chartId"] == cid:
            _check_sources(ctx, req.get("spec") or {})
            chart["spec"] = copy.deepcopy(req.get("spec") or {})
            return
    raise ctx.fail(f"No chart with id: {cid}")


def delete_embedded_object(ctx: Ctx, req: dict) -> None:
    oid = _i(req.get("objectId", 0))
    for sheet, chart in _all_charts(ctx.ss):
        if chart["chartId"] == oid:
            sheet.charts.remove(chart)
            if sheet.props.get("sheetType") == "OBJECT" and not sheet.charts and len(ctx.ss.sheets) > 1:
                ctx.ss.sheets.remove(sheet)
                ctx.ss.reindex()
            return
    raise ctx.fail(f"No object with id {oid}")


def set_basic_filter(ctx: Ctx, req: dict) -> None:
    flt = copy.deepcopy(req.get("filter") or {})
    sheet, sr, sc, er, ec = ctx.grid(flt.get("range"))
    flt["range"] = dict(flt.get("range") or {}, sheetId=sheet.sheet_id)
    specs = flt.get("sortSpecs")
    if specs and er - sr > 1:  # Google sorts the data under the header when a filter carries sort specs
        sort_rows(ctx.ss, sheet, sr + 1, sc, er, ec, [dict(s, dimensionIndex=_i(s.get("dimensionIndex", 0))) for s in specs])
    sheet.basic_filter = flt


def clear_basic_filter(ctx: Ctx, req: dict) -> None:
    ctx.sheet(req.get("sheetId")).basic_filter = None


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _box(gr: dict) -> tuple[int, int, int, int]:
    return gr.get("startRowIndex", 0), gr.get("startColumnIndex", 0), gr["endRowIndex"], gr["endColumnIndex"]


def merge_cells(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    kind = req.get("mergeType") or "MERGE_ALL"
    if kind == "MERGE_ALL":
        boxes = [(sr, sc, er, ec)]
    elif kind == "MERGE_COLUMNS":
        boxes = [(sr, c, er, c + 1) for c in range(sc, ec)]
    else:
        boxes = [(r, sc, r + 1, ec) for r in range(sr, er)]
    boxes = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) > 1]
    whole = (sr, sc, er, ec)
    kept = []
    for m in sheet.merges:
        mb = _box(m)
        if _overlaps(mb, whole):
            if mb[0] >= sr and mb[1] >= sc and mb[2] <= er and mb[3] <= ec:
                continue  # swallowed by the new merge
            raise ctx.fail("You can't merge cells that partially overlap an existing merge.")
        kept.append(m)
    for b in boxes:
        for r in range(b[0], min(b[2], len(sheet.rows))):
            row = sheet.rows[r]
            for c in range(b[1], min(b[3], len(row))):
                if (r, c) != (b[0], b[1]) and row[c] is not None and row[c].value is not None:
                    new = row[c].replace(value=None)
                    row[c] = None if new.is_empty() else new
        kept.append({"sheetId": sheet.sheet_id, "startRowIndex": b[0], "endRowIndex": b[2],
                     "startColumnIndex": b[1], "endColumnIndex": b[3]})
    sheet.merges = kept


def unmerge_cells(ctx: Ctx, req: dict) -> None:
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    sheet.merges = [m for m in sheet.merges if not _overlaps(_box(m), (sr, sc, er, ec))]


def _check_range_name(ctx: Ctx, name: str, skip: str | None = None) -> None:
    if not name or not _NAME_RE.match(name) or re.match(r"^[A-Za-z]{1,3}\d+$", name) or re.match(r"^[Rr]\d*[Cc]\d*$", name):
        raise ctx.fail(f'Invalid name "{name}" for a named range.')
    for nr in ctx.ss.named_ranges:
        if nr["name"].lower() == name.lower() and nr["namedRangeId"] != skip:
            raise ctx.fail(f"Named range with name {name} already exists.")


def add_named_range(ctx: Ctx, req: dict) -> dict:
    nr = copy.deepcopy(req.get("namedRange") or {})
    _check_range_name(ctx, nr.get("name", ""))
    sheet = ctx.grid(nr.get("range"))[0]
    nr["range"] = dict(nr.get("range") or {}, sheetId=sheet.sheet_id)
    if nr.get("namedRangeId"):
        if any(x["namedRangeId"] == nr["namedRangeId"] for x in ctx.ss.named_ranges):
            raise ctx.fail(f"Named range with id {nr['namedRangeId']} already exists.")
    else:
        nr["namedRangeId"] = new_id()[:12]
    nr = {"namedRangeId": nr["namedRangeId"], "name": nr["name"], "range": nr["range"]}
    ctx.ss.named_ranges.append(nr)
    return {"addNamedRange": {"namedRange": copy.deepcopy(nr)}}


def _find_named(ctx: Ctx, nrid: str | None) -> int:
    for i, nr in enumerate(ctx.ss.named_ranges):
        if nr["namedRangeId"] == nrid:
            return i
    raise ctx.fail(f"No named range with id {nrid}")


def update_named_range(ctx: Ctx, req: dict) -> None:
    tree = _fields(ctx, req)
    src = req.get("namedRange") or {}
    i = _find_named(ctx, src.get("namedRangeId"))
    new = apply_mask(ctx.ss.named_ranges[i], src, tree) or {}
    new["namedRangeId"] = ctx.ss.named_ranges[i]["namedRangeId"]
    _check_range_name(ctx, new.get("name", ""), skip=new["namedRangeId"])
    ctx.grid(new.get("range"))
    ctx.ss.named_ranges[i] = new


def delete_named_range(ctx: Ctx, req: dict) -> None:
    del ctx.ss.named_ranges[_find_named(ctx, req.get("namedRangeId"))]


def normalize_location(ctx: Ctx, loc: dict) -> dict:
    if loc.get("spreadsheet"):
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if "dimensionRange" in loc:
        dr = dict(loc["dimensionRange"])
        sheet, dim, start, end = ctx.dim_range(dr)
        return {"locationType": "ROW" if dim == "ROWS" else "COLUMN",
                "dimensionRange": {"sheetId": sheet.sheet_id, "dimension": dim, "startIndex": start, "endIndex": end}}
    if "sheetId" in loc:
        return {"locationType": "SHEET", "sheetId": ctx.sheet(loc["sheetId"]).sheet_id}
    raise ctx.fail("Developer metadata needs a location.")


def create_developer_metadata(ctx: Ctx, req: dict) -> dict:
    md = copy.deepcopy(req.get("developerMetadata") or {})
    if not md.get("metadataKey"):
        raise ctx.fail("Developer metadata must have a key.")
    if md.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise ctx.fail("Developer metadata must have a visibility of DOCUMENT or PROJECT.")
    md["location"] = normalize_location(ctx, md.get("location") or {})
    if md.get("metadataId") is not None:
        md["metadataId"] = _i(md["metadataId"])
        if any(m["metadataId"] == md["metadataId"] for m in ctx.ss.developer_metadata):
            raise ctx.fail(f"Developer metadata with id {md['metadataId']} already exists.")
    else:
        md["metadataId"] = new_int_id()
    order = ["metadataId", "metadataKey", "metadataValue", "location", "visibility"]
    md = {k: md[k] for k in order if k in md}
    ctx.ss.developer_metadata.append(md)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(md)}}


def lookup_matches(md: dict, lookup: dict) -> bool:
    """DeveloperMetadataLookup matching (exact location matching)."""
    if "metadataId" in lookup and md["metadataId"] != _i(lookup["metadataId"]):
        return False
    if "metadataKey" in lookup and md.get("metadataKey") != lookup["metadataKey"]:
        return False
    if "metadataValue" in lookup and md.get("metadataValue") != lookup["metadataValue"]:
        return False
    if "visibility" in lookup and md.get("visibility") != lookup["visibility"]:
        return False
    if "locationType" in lookup and md["location"].get("locationType") != lookup["locationType"]:
        return False
    loc = lookup.get("metadataLocation")
    if loc:
        mloc = md["location"]
        if loc.get("spreadsheet") and not mloc.get("spreadsheet"):
            return False
        if "sheetId" in loc and mloc.get("sheetId", (mloc.get("dimensionRange") or {}).get("sheetId")) != _i(loc["sheetId"]):
            return False
        if "dimensionRange" in loc:
            want, have = loc["dimensionRange"], mloc.get("dimensionRange") or {}
            if any(have.get(k) != want.get(k) for k in ("sheetId", "dimension", "startIndex", "endIndex") if k in want):
                return False
    return True


def _metadata_matching(ctx: Ctx, data_filters: list[dict]) -> list[dict]:
    out = []
    for df in data_filters:
        lookup = df.get("developerMetadataLookup")
        if lookup is None:
            raise ctx.fail("Only developerMetadataLookup data filters are supported for developer metadata.")
        out.extend(m for m in ctx.ss.developer_metadata if lookup_matches(m, lookup) and m not in out)
    return out


def delete_developer_metadata(ctx: Ctx, req: dict) -> dict:
    gone = _metadata_matching(ctx, [req.get("dataFilter") or {}])
    ctx.ss.developer_metadata = [m for m in ctx.ss.developer_metadata if m not in gone]
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": gone}}


def update_developer_metadata(ctx: Ctx, req: dict) -> dict:
    tree = _fields(ctx, req)
    src = dict(req.get("developerMetadata") or {})
    if "location" in src:
        src["location"] = normalize_location(ctx, src["location"])
    hits = _metadata_matching(ctx, req.get("dataFilters") or [])
    out = []
    for md in hits:
        new = apply_mask(md, src, tree) or {}
        new["metadataId"] = md["metadataId"]
        ctx.ss.developer_metadata[ctx.ss.developer_metadata.index(md)] = new
        out.append(new)
    return {"updateDeveloperMetadata": {"developerMetadata": out}}


Handler = Callable[[Ctx, dict], "dict | None"]
HANDLERS: dict[str, Handler] = {
    "addSheet": add_sheet,
    "deleteSheet": delete_sheet,
    "duplicateSheet": duplicate_sheet,
    "updateSheetProperties": update_sheet_properties,
    "updateSpreadsheetProperties": update_spreadsheet_properties,
    "updateCells": update_cells,
    "appendCells": append_cells,
    "repeatCell": repeat_cell,
    "updateBorders": update_borders,
    "updateDimensionProperties": update_dimension_properties,
    "autoResizeDimensions": auto_resize_dimensions,
    "appendDimension": append_dimension,
    "insertDimension": insert_dimension_req,
    "deleteDimension": delete_dimension_req,
    "sortRange": sort_range,
    "setDataValidation": set_data_validation,
    "addProtectedRange": add_protected_range,
    "updateProtectedRange": update_protected_range,
    "deleteProtectedRange": delete_protected_range,
    "addConditionalFormatRule": add_conditional_format_rule,
    "updateConditionalFormatRule": update_conditional_format_rule,
    "deleteConditionalFormatRule": delete_conditional_format_rule,
    "addChart": add_chart,
    "updateChartSpec": update_chart_spec,
    "deleteEmbeddedObject": delete_embedded_object,
    "setBasicFilter": set_basic_filter,
    "clearBasicFilter": clear_basic_filter,
    "mergeCells": merge_cells,
    "unmergeCells": unmerge_cells,
    "addNamedRange": add_named_range,
    "updateNamedRange": update_named_range,
    "deleteNamedRange": delete_named_range,
    "createDeveloperMetadata": create_developer_metadata,
    "updateDeveloperMetadata": update_developer_metadata,
    "deleteDeveloperMetadata": delete_developer_metadata,
}
_KEEP_NULLS_IN = ("updateCells", "appendCells")


def apply_requests(ss: Spreadsheet, requests: list[dict]) -> list[dict]:
    """Apply requests in order to ``ss`` (a working copy); returns the replies."""
    replies = []
    for i, raw in enumerate(requests):
        kinds = [k for k, v in (raw or {}).items() if v is not None]
        if not kinds:
            raise invalid_argument(f"Invalid requests[{i}]: No request set.")
        if len(kinds) > 1:
            message = f"Invalid JSON payload received. Oneof field 'kind' is already set. Cannot set '{kinds[1]}'"
            raise invalid_argument(message, [(f"requests[{i}]", message)])
        kind = kinds[0]
        handler = HANDLERS.get(kind)
        if handler is None:
            raise bad_request(f"requests[{i}].{kind}", "this request kind is not supported by the sheetsync emulator.")
        body = raw[kind]
        if kind in _KEEP_NULLS_IN:
            req = {k: (v if k == "rows" else clean(v)) for k, v in body.items() if v is not None}
        else:
            req = clean(body)
        replies.append(handler(Ctx(ss, i, kind), req) or {})
    return replies


def batch_update(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "BatchUpdateSpreadsheetRequest")
    ss = state.get(sid)
    work = ss.clone()
    replies = apply_requests(work, body.get("requests") or [])
    work.modified = now_iso()
    ss.replace_state(work)
    out: dict[str, Any] = {"spreadsheetId": sid, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        ranges = [ss.resolve_a1(r) for r in body.get("responseRanges") or []] or None
        out["updatedSpreadsheet"] = ss.to_resource(bool(body.get("responseIncludeGridData")), ranges)
    return out
