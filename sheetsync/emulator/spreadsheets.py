"""spreadsheets.create / get / getByDataFilter and developerMetadata get / search."""

from __future__ import annotations

import copy
from typing import Any

from sheetsync.emulator import batch_update as bu
from sheetsync.emulator.errors import invalid_argument, not_found
from sheetsync.emulator.fieldmask import mask, project
from sheetsync.emulator.identity import ANONYMOUS_EMAIL
from sheetsync.emulator.model import Spreadsheet, State, new_id, new_spreadsheet
from sheetsync.emulator.params import Params
from sheetsync.emulator.requests_sheets import check_locale
from sheetsync.emulator.schema import validate


def create(state: State, body: dict | None, owner: str = ANONYMOUS_EMAIL, locale: str = "en_US") -> dict[str, Any]:
    """spreadsheets.create: properties, sheets (with optional starting grid data), named ranges. The new
    file sits in ``owner``'s My Drive; without ``properties.locale`` it gets the emulator's default."""
    from sheetsync.emulator.drive_permissions import owner_permission

    body = bu.clean(body or {})
    validate(body, "Spreadsheet")
    title = (body.get("properties") or {}).get("title") or "Untitled spreadsheet"
    sheets = body.get("sheets") or []
    ss = new_spreadsheet(title, new_id()) if not sheets else Spreadsheet(new_id(), title)
    ss.props["locale"] = locale
    ss.props.update({k: v for k, v in (body.get("properties") or {}).items() if k != "title"})
    check_locale(ss.props.get("locale"), invalid_argument)
    ss.owner, ss.permissions, ss.viewers = owner, [owner_permission(owner)], [owner.lower()]
    work_requests = []
    for i, sh in enumerate(sheets):
        props = dict(sh.get("properties") or {})
        props.setdefault("sheetId", 0 if i == 0 and "sheetId" not in props else None)
        work_requests.append({"addSheet": {"properties": {k: v for k, v in props.items() if v is not None}}})
    bu.apply_requests(ss, work_requests)
    more = []
    for sh, sheet in zip(sheets, ss.sheets, strict=False):
        for gd in sh.get("data") or []:
            more.append({"updateCells": {"rows": gd.get("rowData") or [], "fields": "*", "start": {
                "sheetId": sheet.sheet_id, "rowIndex": gd.get("startRow", 0), "columnIndex": gd.get("startColumn", 0)}}})
    for nr in body.get("namedRanges") or []:
        more.append({"addNamedRange": {"namedRange": nr}})
    bu.apply_requests(ss, more)
    state.spreadsheets[ss.id] = ss
    return ss.to_resource()


def _resource(ss: Spreadsheet, include: bool, ranges: list[str], fields: str | None) -> dict[str, Any]:
    resolved = [ss.resolve_a1(r) for r in ranges] or None
    tree = mask(fields)
    grid = include or bool(tree and _mentions_data(tree))
    return project(ss.to_resource(grid, resolved), tree)


def _mentions_data(tree: dict) -> bool:
    sheets = tree.get("sheets", {})
    return "sheets" in tree and (sheets is None or "data" in sheets)


def get(state: State, sid: str, params: Params) -> dict[str, Any]:
    ss = state.get(sid)
    return _resource(ss, params.bool("includeGridData"), params.all("ranges"), params.get("fields"))


def filter_ranges(ss: Spreadsheet, filters: list[dict]) -> list[str]:
    """DataFilters (a1Range, gridRange, developerMetadataLookup) -> A1 strings."""
    from sheetsync.emulator import a1

    out = []
    for i, df in enumerate(filters):
        if "a1Range" in df:
            out.append(df["a1Range"])
        elif "gridRange" in df:
            gr = df["gridRange"]
            sheet = ss.sheet_by_id(gr.get("sheetId", 0))
            if sheet is None:
                raise invalid_argument(f"Invalid dataFilters[{i}]: No grid with id: {gr.get('sheetId', 0)}")
            sr, sc = gr.get("startRowIndex", 0), gr.get("startColumnIndex", 0)
            er, ec = gr.get("endRowIndex", sheet.row_count), gr.get("endColumnIndex", sheet.col_count)
            out.append(a1.format_range(sheet.title, sr, sc, er, ec))
        elif "developerMetadataLookup" in df:
            for md in ss.developer_metadata:
                if not bu.lookup_matches(md, df["developerMetadataLookup"]):
                    continue
                loc = md["location"]
                if "dimensionRange" in loc:
                    dr = loc["dimensionRange"]
                    sheet = ss.sheet(dr["sheetId"])
                    if dr["dimension"] == "ROWS":
                        out.append(a1.format_range(sheet.title, dr["startIndex"], 0, dr["endIndex"], sheet.col_count))
                    else:
                        out.append(a1.format_range(sheet.title, 0, dr["startIndex"], sheet.row_count, dr["endIndex"]))
                elif "sheetId" in loc:
                    out.append(a1.quote_title(ss.sheet(loc["sheetId"]).title))
        else:
            raise invalid_argument(f"Invalid dataFilters[{i}]: a data filter needs a1Range, gridRange or developerMetadataLookup.")
    return out


def get_by_data_filter(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = bu.clean(body or {})
    validate(body, "GetSpreadsheetByDataFilterRequest")
    ss = state.get(sid)
    ranges = filter_ranges(ss, body.get("dataFilters") or [])
    return _resource(ss, bool(body.get("includeGridData")), ranges, None)


def batch_get_by_data_filter(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    from sheetsync.emulator import values

    body = bu.clean(body or {})
    validate(body, "BatchGetValuesByDataFilterRequest")
    ss = state.get(sid)
    render = body.get("valueRenderOption") or "FORMATTED_VALUE"
    major = body.get("majorDimension") or "ROWS"
    out = []
    for df in body.get("dataFilters") or []:
        for text in filter_ranges(ss, [df]):
            out.append({"valueRange": values.value_range(ss, text, render, major), "dataFilters": [df]})
    return {"spreadsheetId": sid, "valueRanges": out}


def search_metadata(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = bu.clean(body or {})
    validate(body, "SearchDeveloperMetadataRequest")
    ss = state.get(sid)
    matched = []
    for df in body.get("dataFilters") or []:
        lookup = df.get("developerMetadataLookup")
        if lookup is None:
            raise invalid_argument("Only developerMetadataLookup data filters are supported by the emulator's search.")
        for md in ss.developer_metadata:
            if bu.lookup_matches(md, lookup):
                matched.append({"developerMetadata": copy.deepcopy(md), "dataFilters": [df]})
    return {"matchedDeveloperMetadata": matched} if matched else {}


def get_metadata(state: State, sid: str, metadata_id: str) -> dict[str, Any]:
    ss = state.get(sid)
    for md in ss.developer_metadata:
        if str(md["metadataId"]) == metadata_id:
            return copy.deepcopy(md)
    raise not_found()


def copy_to(state: State, sid: str, sheet_id: str, body: dict | None) -> dict[str, Any]:
    """sheets.copyTo: copy one sheet into another spreadsheet as "Copy of <title>"."""
    body = bu.clean(body or {})
    validate(body, "CopySheetToAnotherSpreadsheetRequest")
    src = state.get(sid)
    dest = state.get(body.get("destinationSpreadsheetId") or "")
    sheet = src.sheet_by_id(int(sheet_id))
    if sheet is None:
        raise not_found()
    clone = sheet.clone()
    title = f"Copy of {sheet.title}"
    n = 2
    while dest.sheet_by_title(title) is not None:
        title = f"Copy of {sheet.title} {n}"
        n += 1
    props = dict(clone.props, title=title)
    props.pop("sheetId")
    props.pop("index", None)
    added = dest.add_sheet(props)
    added.rows, added.row_props, added.col_props = clone.rows, clone.row_props, clone.col_props
    return copy.deepcopy(added.props)
