"""The JSON ``spreadsheets.get`` returns for a stored spreadsheet: properties, sheets, grid data with
rowMetadata/columnMetadata, and what is anchored to each sheet, before any ``fields`` mask."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sheetsync.emulator import cells, filters
from sheetsync.emulator.cells import Cell
from sheetsync.emulator.model import deep_merge

if TYPE_CHECKING:
    from sheetsync.emulator.model import Sheet, Spreadsheet

DEFAULT_ROW_PX = 21
DEFAULT_COL_PX = 100


def to_resource(
    self: Spreadsheet,
    include_grid_data: bool = False,
    ranges: list[tuple[Sheet, int | None, int | None, int | None, int | None]] | None = None,
) -> dict[str, Any]:
    """The Spreadsheet JSON Google returns from spreadsheets.get (before any ``fields`` mask)."""
    out: dict[str, Any] = {"spreadsheetId": self.id, "properties": copy.deepcopy(self.props)}
    sheets_out = []
    for sheet in self.sheets:
        wanted = None
        if ranges is not None:
            wanted = [r for r in ranges if r[0] is sheet]
            if not wanted:
                continue
        sheets_out.append(_sheet_resource(self, sheet, include_grid_data, wanted))
    out["sheets"] = sheets_out
    if self.named_ranges:
        out["namedRanges"] = copy.deepcopy(self.named_ranges)
    top_md = self.metadata_for()
    if top_md:
        out["developerMetadata"] = copy.deepcopy(top_md)
    out["spreadsheetUrl"] = f"https://docs.google.com/spreadsheets/d/{self.id}/edit"
    return out

def _sheet_resource(self: Spreadsheet, sheet: Sheet, grid: bool, wanted: list | None) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": copy.deepcopy(sheet.props)}
    if grid and sheet.is_grid:
        blocks = wanted or [(sheet, None, None, None, None)]
        out["data"] = [_grid_data(self, sheet, *b[1:]) for b in blocks]
    for key, value in (
        ("merges", sheet.merges),
        ("conditionalFormats", sheet.conditional_formats),
        ("protectedRanges", sheet.protected_ranges),
        ("charts", sheet.charts),
    ):
        if value:
            out[key] = copy.deepcopy(value)
    if sheet.basic_filter:
        out["basicFilter"] = copy.deepcopy(sheet.basic_filter)
    md = self.metadata_for(sheet.sheet_id)
    if md:
        out["developerMetadata"] = copy.deepcopy(md)
    return out

def _grid_data(self: Spreadsheet, sheet: Sheet, sr: int | None, sc: int | None, er: int | None, ec: int | None) -> dict:
    sr = sr or 0
    sc = sc or 0
    er = min(er if er is not None else sheet.row_count, sheet.row_count)
    ec = min(ec if ec is not None else sheet.col_count, sheet.col_count)
    data: dict[str, Any] = {}
    if sr:
        data["startRow"] = sr
    if sc:
        data["startColumn"] = sc
    default = self.props.get("defaultFormat") or {}
    row_data = []
    last_nonempty = -1
    for r in range(sr, er):
        row = sheet.rows[r] if r < len(sheet.rows) else []
        vals = []
        last_cell = -1
        for c in range(sc, min(ec, len(row))):
            cell = row[c]
            cd = cell_data(cell, default) if cell is not None else {}
            if cd:
                last_cell = c - sc
            vals.append(cd)
        del vals[last_cell + 1 :]
        if vals:
            row_data.append({"values": vals})
            last_nonempty = r - sr
        else:
            row_data.append({})
    del row_data[last_nonempty + 1 :]
    if row_data:
        data["rowData"] = row_data
    rows_md = {}
    for md in self.metadata_for(sheet.sheet_id, "ROWS"):
        dr = md["location"]["dimensionRange"]
        for i in range(dr.get("startIndex", 0), dr.get("endIndex", sheet.row_count)):
            rows_md.setdefault(i, []).append(md)
    cols_md = {}
    for md in self.metadata_for(sheet.sheet_id, "COLUMNS"):
        dr = md["location"]["dimensionRange"]
        for i in range(dr.get("startIndex", 0), dr.get("endIndex", sheet.col_count)):
            cols_md.setdefault(i, []).append(md)
    data["rowMetadata"] = [_dim_props(sheet.row_props.get(i), DEFAULT_ROW_PX, rows_md.get(i)) for i in range(sr, er)]
    for i in filters.hidden_rows(sheet):  # DimensionProperties.hiddenByFilter (read-only)
        if sr <= i < er:
            data["rowMetadata"][i - sr]["hiddenByFilter"] = True
    data["columnMetadata"] = [_dim_props(sheet.col_props.get(i), DEFAULT_COL_PX, cols_md.get(i)) for i in range(sc, ec)]
    return data


def _dim_props(props: dict | None, default_px: int, md: list | None) -> dict:
    out = {"pixelSize": default_px}
    if props:
        out.update(copy.deepcopy(props))
    if md:
        out["developerMetadata"] = copy.deepcopy(md)
    return out


def cell_data(cell: Cell, default_format: dict) -> dict[str, Any]:
    """CellData JSON for one stored cell (what spreadsheets.get returns with grid data)."""
    out: dict[str, Any] = {}
    v = cell.value
    if v is not None:
        out["userEnteredValue"] = cells.extended(v)
        out["effectiveValue"] = cells.effective(v)
        out["formattedValue"] = cells.formatted(v, cell.fmt)
    if cell.fmt:
        out["userEnteredFormat"] = copy.deepcopy(cell.fmt)
    if v is not None or cell.fmt:
        out["effectiveFormat"] = deep_merge(default_format, cell.fmt or {})
    if cell.dv is not None:
        out["dataValidation"] = copy.deepcopy(cell.dv)
    if cell.note is not None:
        out["note"] = cell.note
    if cell.extra:
        out.update(copy.deepcopy(cell.extra))
    return out
