"""batchUpdate requests on cells: updateCells, repeatCell, appendCells, setDataValidation, updateBorders.

A field mask decides which parts of a cell change; the rest of each stored cell stays as it was."""

from __future__ import annotations

from sheetsync.emulator import a1, cells, filters, formulas
from sheetsync.emulator.cells import Cell
from sheetsync.emulator.fieldmask import Mask, apply_mask
from sheetsync.emulator.requests_base import Ctx, as_int, fields
from sheetsync.emulator.values import TOO_LONG

_CELL_FIELDS = ("userEnteredValue", "userEnteredFormat", "dataValidation", "note")
_READ_ONLY_CELL_FIELDS = ("effectiveValue", "formattedValue", "effectiveFormat", "hyperlink")


def _check_cell_json(ctx: Ctx, cd: dict | None) -> None:
    if not cd:
        return
    uev = cd.get("userEnteredValue")
    if uev:
        for key in ("stringValue", "formulaValue"):
            v = uev.get(key)
            if v is not None and len(v) > cells.MAX_CELL_CHARS:
                raise ctx.fail(TOO_LONG)


def apply_cell(old: Cell | None, cd: dict | None, tree: Mask | None, memo: dict | None = None,
               locale: str | None = None) -> Cell | None:
    """Apply CellData under a field mask to a stored cell; fields outside the mask stay as they were."""
    cd = cd or {}
    if tree is None or "*" in tree:
        extra = {k: v for k, v in cd.items() if k not in _CELL_FIELDS and k not in _READ_ONLY_CELL_FIELDS and v is not None}
        new = Cell(cells.from_extended(cd.get("userEnteredValue"), locale), cd.get("userEnteredFormat") or None,
                   cd.get("dataValidation"), cd.get("note"), extra or None)
        return None if new.is_empty() else new
    value, fmt, dv, note, extra = (None, None, None, None, None) if old is None else (
        old.value, old.fmt, old.dv, old.note, old.extra)
    for key, sub in tree.items():
        if key == "userEnteredValue":
            value = cells.from_extended(cd.get("userEnteredValue"), locale)
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


def update_cells(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
    rows = req.get("rows") or []
    if "start" in req and "range" in req:
        raise ctx.fail("Only one of start or range may be set.")
    if "range" in req:
        sheet, sr, sc, er, ec = ctx.grid(req["range"])
    else:
        start = req.get("start") or {}
        sheet = ctx.sheet(start.get("sheetId"))
        sr, sc = as_int(start.get("rowIndex", 0)), as_int(start.get("columnIndex", 0))
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
    locale = ctx.locale
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
                value = from_extended(uev, locale)
                if type(value) is str and len(value) > limit:
                    raise ctx.fail(TOO_LONG)
                old = target[c]
                if old is None:
                    target[c] = Cell(value) if value is not None else None
                else:
                    target[c] = apply_cell(old, cd, tree, locale=locale)
                continue
            _check_cell_json(ctx, cd)
            target[c] = apply_cell(None if whole else target[c], cd, tree, locale=locale)
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
    tree = fields(ctx, req)
    sheet, sr, sc, er, ec = ctx.grid(req.get("range"))
    cd = req.get("cell") or {}
    _check_cell_json(ctx, cd)
    memo: dict = {}
    for r in range(sr, er):
        row = sheet.row_for_write(r, ec)
        for c in range(sc, ec):
            row[c] = apply_cell(row[c], cd, tree, memo, ctx.locale)
        while row and row[-1] is None:
            row.pop()


def append_cells(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
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
        why = formulas.condition_problem(cond, ctx.locale)  # parsed in the locale: see requests_objects
        if why:
            raise ctx.fail(why)
    # filteredRowsIncluded defaults to false: rows the basic filter hides are skipped (see filters.py)
    skipped = set() if req.get("filteredRowsIncluded") else filters.hidden_rows(sheet)
    for r in range(sr, er):
        if r in skipped:
            continue
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
