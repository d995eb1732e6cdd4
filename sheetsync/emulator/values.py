"""The spreadsheets.values endpoints: get, batchGet, update, batchUpdate, append, clear, batchClear.

Reads trim trailing empty cells and rows, keep interior empty rows as ``[]``, omit ``values`` when nothing is
there, and echo the range clamped to the grid (a whole-sheet read of a 1000x26 tab echoes
``Sheet1!A1:Z1000``). Writes keep each cell's format, validation and note; ``""`` clears a value, ``null``
leaves it alone; data past the end of the grid grows the grid (like Google) unless an explicit multi-cell
range is too small for it.
"""

from __future__ import annotations

import functools
from typing import Any

from sheetsync.emulator import a1, cells
from sheetsync.emulator.cells import Cell
from sheetsync.emulator.errors import invalid_argument
from sheetsync.emulator.model import Sheet, Spreadsheet, State
from sheetsync.emulator.params import Params
from sheetsync.emulator.schema import validate

RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
INPUT = ("RAW", "USER_ENTERED")
MAJOR = ("ROWS", "COLUMNS")
DATETIME = ("SERIAL_NUMBER", "FORMATTED_STRING")
TOO_LONG = "Your input contains more than the maximum of 50000 characters in a single cell."

Bounds = tuple[Sheet, int | None, int | None, int | None, int | None]


# ---- reading -----------------------------------------------------------------------------------------


def read_block(sheet: Sheet, sr: int, sc: int, er: int, ec: int, render: str, major: str) -> list[list[Any]]:
    """Rendered values of a bounded block, trimmed like Google (trailing cells, trailing rows)."""
    out: list[list[Any]] = []
    rendered = cells.rendered
    rows = sheet.rows
    last_nonempty = -1
    for r in range(sr, min(er, len(rows))):
        row = rows[r]
        vals: list[Any] = []
        end = min(ec, len(row))
        last = -1
        for c in range(sc, end):
            cell = row[c]
            if cell is None or cell.value is None:
                vals.append("")
            else:
                vals.append(rendered(cell.value, cell.fmt, render))
                last = c - sc
        if last >= 0:
            del vals[last + 1 :]
            out.append(vals)
            last_nonempty = r - sr
        else:
            out.append([])
    del out[last_nonempty + 1 :]
    if major == "COLUMNS" and out:
        width = max(len(r) for r in out)
        cols = []
        for c in range(width):
            col = [row[c] if c < len(row) else "" for row in out]
            while col and col[-1] == "":
                col.pop()
            cols.append(col)
        out = cols
    return out


def clamp_read(bounds: Bounds, text: str) -> tuple[Sheet, int, int, int, int]:
    """Close open sides at the grid edge; a range reaching past the grid is a 400, as on Google."""
    sheet, sr, sc, er, ec = bounds
    rc, cc = sheet.row_count, sheet.col_count
    if (er is not None and er > rc) or (ec is not None and ec > cc) or (sr is not None and sr >= rc and rc) or (
        sc is not None and sc >= cc and cc
    ):
        shown = text.split("!", 1)[1] if "!" in text else text
        raise invalid_argument(
            f"Range ('{sheet.title}'!{shown}) exceeds grid limits. Max rows: {rc}, max columns: {cc}"
        )
    return sheet, sr or 0, sc or 0, er if er is not None else rc, ec if ec is not None else cc


def value_range(ss: Spreadsheet, text: str, render: str, major: str) -> dict[str, Any]:
    sheet, sr, sc, er, ec = clamp_read(ss.resolve_a1(text), text)
    out: dict[str, Any] = {"range": _echo(sheet, sr, sc, er, ec), "majorDimension": major}
    vals = read_block(sheet, sr, sc, er, ec, render, major)
    if vals:
        out["values"] = vals
    return out


def _echo(sheet: Sheet, sr: int, sc: int, er: int, ec: int) -> str:
    if er <= sr or ec <= sc:
        return a1.quote_title(sheet.title)
    return a1.format_range(sheet.title, sr, sc, er, ec)


def _read_options(params: Params) -> tuple[str, str]:
    render = params.enum("valueRenderOption", RENDER, "FORMATTED_VALUE")
    major = params.enum("majorDimension", MAJOR, "ROWS")
    params.enum("dateTimeRenderOption", DATETIME, "SERIAL_NUMBER")
    assert render is not None and major is not None
    return render, major


def get(state: State, sid: str, range_text: str, params: Params) -> dict[str, Any]:
    ss = state.get(sid)
    render, major = _read_options(params)
    return value_range(ss, range_text, render, major)


def batch_get(state: State, sid: str, params: Params) -> dict[str, Any]:
    ss = state.get(sid)
    render, major = _read_options(params)
    return {"spreadsheetId": sid, "valueRanges": [value_range(ss, r, render, major) for r in params.all("ranges")]}


# ---- writing -----------------------------------------------------------------------------------------


def check_values(values: Any, where: str = "values") -> list[list[Any]]:
    if values is None:
        return []
    for i, row in enumerate(values):
        if row is None:
            continue
        for j, v in enumerate(row):
            if isinstance(v, dict):
                raise invalid_argument(f"Invalid {where}[{i}][{j}]: struct_value")
            if isinstance(v, list):
                raise invalid_argument(f"Invalid {where}[{i}][{j}]: list_value")
            if cells.too_long(v):
                raise invalid_argument(TOO_LONG)
    return [row or [] for row in values]


def write_values(
    ss: Spreadsheet, bounds: Bounds, is_anchor: bool, values: list[list[Any]], major: str, option: str, text: str
) -> dict[str, Any]:
    """Write a 2-D block at the range's top-left; returns the UpdateValuesResponse (without data)."""
    sheet, sr, sc, er, ec = bounds
    sr = sr or 0
    sc = sc or 0
    rows = values
    if major == "COLUMNS":
        width = max((len(c) for c in values), default=0)
        rows = [[col[r] if r < len(col) else None for col in values] for r in range(width)]
    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    if not is_anchor:
        if er is not None and sr + n_rows > er:
            raise invalid_argument(
                f"Requested writing within range [{text}], but tried writing to row [{sr + n_rows}]"
            )
        if ec is not None and sc + n_cols > ec:
            raise invalid_argument(
                f"Requested writing within range [{text}], but tried writing to column [{a1.col_letters(sc + n_cols - 1)}]"
            )
    if sr + n_rows > sheet.row_count or sc + n_cols > sheet.col_count:
        sheet.set_size(max(sheet.row_count, sr + n_rows), max(sheet.col_count, sc + n_cols))
        ss.check_cell_limit("")
    locale = ss.props.get("locale")
    parse = functools.partial(cells.parse_user_entered, locale=locale) if option == "USER_ENTERED" else None
    updated_cells = 0
    touched_rows = 0
    max_col = -1
    for i, row in enumerate(rows):
        if not row:
            continue
        target = sheet.row_for_write(sr + i, sc + len(row))
        wrote = False
        for j, v in enumerate(row):
            if v is None:
                continue
            c = sc + j
            old = target[c]
            fmt = old.fmt if old is not None else None
            if v == "":
                value = None
            elif parse is not None:
                value, nf = parse(v)
                if nf is not None and not (fmt or {}).get("numberFormat"):
                    fmt = dict(fmt or {}) | {"numberFormat": nf}
            else:
                value = cells.parse_raw(v)
            if old is None:
                target[c] = Cell(value, fmt) if (value is not None or fmt) else None
            else:
                target[c] = old.replace(value=value, fmt=fmt)
            updated_cells += 1
            wrote = True
            max_col = max(max_col, j)
        touched_rows += wrote
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if updated_cells:
        out.update(
            {
                "updatedRange": a1.format_range(sheet.title, sr, sc, sr + n_rows, sc + max_col + 1),
                "updatedRows": touched_rows,
                "updatedColumns": max_col + 1,
                "updatedCells": updated_cells,
            }
        )
    else:
        out["updatedRange"] = a1.format_range(sheet.title, sr, sc, sr + 1, sc + 1)
    return out


def _is_anchor(text: str) -> bool:
    parsed = a1.parse_a1(text)
    return (
        not parsed.whole_sheet
        and parsed.end_row is not None
        and parsed.end_col is not None
        and parsed.end_row - (parsed.start_row or 0) == 1
        and parsed.end_col - (parsed.start_col or 0) == 1
    )


def input_option(params_value: str | None) -> str:
    if params_value is None:
        raise invalid_argument("'valueInputOption' is required but not specified")
    if params_value not in INPUT:
        raise invalid_argument(
            f"Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), \"{params_value}\""
        )
    return params_value


def with_data(ss: Spreadsheet, resp: dict, include: bool, render: str, major: str) -> dict:
    if include and "updatedRange" in resp:
        resp["updatedData"] = value_range(ss, resp["updatedRange"], render, major)
    return resp


def update(state: State, sid: str, range_text: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "ValueRange", "data")
    ss = state.get(sid)
    option = input_option(params.get("valueInputOption"))
    include = params.bool("includeValuesInResponse")
    render = params.enum("responseValueRenderOption", RENDER, "FORMATTED_VALUE") or "FORMATTED_VALUE"
    work = ss.clone()
    resp = _update_one(work, range_text, body, option, include, render)
    ss.replace_state(work)
    return resp


def _update_one(ss: Spreadsheet, range_text: str, body: dict, option: str, include: bool, render: str) -> dict:
    if body.get("range") and body["range"] != range_text:
        body_bounds = ss.resolve_a1(body["range"])
        url_bounds = ss.resolve_a1(range_text)
        if body_bounds != url_bounds:
            raise invalid_argument(
                f"Requested writing within range [{range_text}], but tried writing to [{body['range']}]"
            )
    major = body.get("majorDimension") or "ROWS"
    values = check_values(body.get("values"))
    bounds = ss.resolve_a1(range_text)
    resp = write_values(ss, bounds, _is_anchor(range_text), values, major, option, range_text)
    return with_data(ss, resp, include, render, major)


def batch_update(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "BatchUpdateValuesRequest")
    ss = state.get(sid)
    option = input_option(body.get("valueInputOption"))
    include = bool(body.get("includeValuesInResponse"))
    render = body.get("responseValueRenderOption") or "FORMATTED_VALUE"
    work = ss.clone()
    responses = []
    for i, vr in enumerate(body.get("data") or []):
        if not vr.get("range"):
            raise invalid_argument(f"Invalid data[{i}]: No range specified.")
        responses.append(_update_one(work, vr["range"], vr, option, include, render))
    ss.replace_state(work)
    out: dict[str, Any] = {"spreadsheetId": sid, **batch_totals(responses)}
    out["responses"] = responses
    return out


def batch_totals(responses: list[dict[str, Any]]) -> dict[str, int]:
    """The totals block of a values batch reply (batchUpdate and batchUpdateByDataFilter alike), summed over
    the responses that wrote cells; none when nothing was written (the reply then carries no totals)."""
    written = [r for r in responses if "updatedCells" in r]
    if not written:
        return {}
    return {
        "totalUpdatedRows": sum(r["updatedRows"] for r in written),
        "totalUpdatedColumns": sum(r["updatedColumns"] for r in written),
        "totalUpdatedCells": sum(r["updatedCells"] for r in written),
        "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in written}),
    }


# ---- append (Google's table detection) -----------------------------------------------------------------


def _filled(sheet: Sheet, r: int, c: int) -> bool:
    cell = sheet.cell(r, c)
    return cell is not None and cell.value is not None


def _current_region(sheet: Sheet, r: int, c: int, limit: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The block of data around (r, c): grow a box while any filled cell touches it (diagonals count),
    like a spreadsheet's 'current region'. Returns half-open (sr, sc, er, ec) within ``limit``."""
    lsr, lsc, ler, lec = limit
    sr, sc, er, ec = r, c, r + 1, c + 1
    changed = True
    while changed:
        changed = False
        # down
        while er < ler and any(_filled(sheet, er, x) for x in range(max(sc - 1, lsc), min(ec + 1, lec))):
            er += 1
            changed = True
        # up
        while sr > lsr and any(_filled(sheet, sr - 1, x) for x in range(max(sc - 1, lsc), min(ec + 1, lec))):
            sr -= 1
            changed = True
        # right
        while ec < lec and any(_filled(sheet, y, ec) for y in range(max(sr - 1, lsr), min(er + 1, ler))):
            ec += 1
            changed = True
        # left
        while sc > lsc and any(_filled(sheet, y, sc - 1) for y in range(max(sr - 1, lsr), min(er + 1, ler))):
            sc -= 1
            changed = True
    return sr, sc, er, ec


def find_table(sheet: Sheet, sr: int, sc: int, er: int, ec: int) -> tuple[int, int, int, int] | None:
    """The table an append lands under: for a one-cell range, the data block around that cell; for a larger
    range, the block holding the last filled cell (row-major) inside it. None when there is no data."""
    limit = (sr, sc, er, ec)
    if er - sr == 1 and ec - sc == 1:
        if not _filled(sheet, sr, sc):
            return None
        return _current_region(sheet, sr, sc, (0, 0, sheet.row_count, sheet.col_count))
    for r in range(min(er, len(sheet.rows)) - 1, sr - 1, -1):
        row = sheet.rows[r]
        for c in range(min(ec, len(row)) - 1, sc - 1, -1):
            cell = row[c]
            if cell is not None and cell.value is not None:
                return _current_region(sheet, r, c, limit)
    return None


def append(state: State, sid: str, range_text: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "ValueRange", "data")
    ss = state.get(sid)
    option = input_option(params.get("valueInputOption"))
    insert = params.enum("insertDataOption", ("OVERWRITE", "INSERT_ROWS"), "OVERWRITE")
    include = params.bool("includeValuesInResponse")
    render = params.enum("responseValueRenderOption", RENDER, "FORMATTED_VALUE") or "FORMATTED_VALUE"
    major = body.get("majorDimension") or "ROWS"
    values = check_values(body.get("values"))
    sheet, sr, sc, er, ec = clamp_read(ss.resolve_a1(range_text), range_text)
    work = ss.clone()
    wsheet = work.sheet(sheet.sheet_id)
    table = find_table(wsheet, sr, sc, er, ec)
    out: dict[str, Any] = {"spreadsheetId": sid}
    if table is None:
        at_row, at_col = sr, sc
    else:
        tsr, tsc, ter, tec = table
        out["tableRange"] = a1.format_range(wsheet.title, tsr, tsc, ter, tec)
        at_row, at_col = ter, tsc
    n_rows = len(values) if major == "ROWS" else max((len(c) for c in values), default=0)
    if insert == "INSERT_ROWS" and n_rows and at_row < wsheet.row_count:
        from sheetsync.emulator.dimensions import insert_dimension

        insert_dimension(work, wsheet, "ROWS", at_row, n_rows, inherit_before=at_row > 0)
    bounds = (wsheet, at_row, at_col, None, None)
    resp = write_values(work, bounds, True, values, major, option, range_text)
    ss.replace_state(work)
    out["updates"] = with_data(ss, resp, include, render, major)
    return out


# ---- clearing ----------------------------------------------------------------------------------------


def clear_range(ss: Spreadsheet, text: str) -> str:
    sheet, sr, sc, er, ec = clamp_read(ss.resolve_a1(text), text)
    for r in range(sr, min(er, len(sheet.rows))):
        row = sheet.rows[r]
        for c in range(sc, min(ec, len(row))):
            cell = row[c]
            if cell is not None and cell.value is not None:
                new = cell.replace(value=None)
                row[c] = None if new.is_empty() else new
    return _echo(sheet, sr, sc, er, ec)


def clear(state: State, sid: str, range_text: str, body: dict | None) -> dict[str, Any]:
    validate(body, "ClearValuesRequest")
    ss = state.get(sid)
    work = ss.clone()
    cleared = clear_range(work, range_text)
    ss.replace_state(work)
    return {"spreadsheetId": sid, "clearedRange": cleared}


def batch_clear(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "BatchClearValuesRequest")
    ss = state.get(sid)
    work = ss.clone()
    cleared = [clear_range(work, r) for r in body.get("ranges") or []]
    ss.replace_state(work)
    return {"spreadsheetId": sid, "clearedRanges": cleared}
