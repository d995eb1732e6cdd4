"""What every batchUpdate request handler shares: null-stripping, integer coercion, and :class:`Ctx` (the
working copy, where errors point, and GridRange/DimensionRange resolution with Google's wording)."""

from __future__ import annotations

from typing import Any

from sheetsync.emulator import a1
from sheetsync.emulator.errors import ApiError, bad_request
from sheetsync.emulator.fieldmask import Mask, mask
from sheetsync.emulator.model import Sheet, Spreadsheet


def clean(obj: Any) -> Any:
    """Drop explicit JSON nulls: proto3 reads ``null`` as unset."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def as_int(v: Any) -> int:
    return int(float(v)) if not isinstance(v, int) else v


class Ctx:
    """One request being applied: the working copy and where to point errors."""

    def __init__(self, ss: Spreadsheet, index: int, kind: str) -> None:
        self.ss = ss
        self.where = f"requests[{index}].{kind}"

    @property
    def locale(self) -> str | None:
        """The spreadsheet's locale: formulas in cells and rules are parsed in it."""
        return self.ss.props.get("locale")

    def fail(self, message: str) -> ApiError:
        return bad_request(self.where, message)

    def sheet(self, sheet_id: Any) -> Sheet:
        sid = as_int(sheet_id or 0)
        sheet = self.ss.sheet_by_id(sid)
        if sheet is None:
            raise self.fail(f"No grid with id: {sid}")
        return sheet

    def grid(self, gr: dict | None) -> tuple[Sheet, int, int, int, int]:
        """A GridRange, closed at the grid's edges; 400 for an unknown sheet or a range past the grid."""
        gr = gr or {}
        sheet = self.sheet(gr.get("sheetId"))
        rc, cc = sheet.row_count, sheet.col_count
        sr = as_int(gr.get("startRowIndex", 0))
        sc = as_int(gr.get("startColumnIndex", 0))
        er = as_int(gr.get("endRowIndex", rc))
        ec = as_int(gr.get("endColumnIndex", cc))
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
        start = as_int(dr.get("startIndex", 0))
        end = as_int(dr.get("endIndex", size))
        if start < 0 or end < start:
            raise self.fail(f"Invalid dimension range: startIndex {start}, endIndex {end}")
        return sheet, dim, start, end


def fields(ctx: Ctx, req: dict) -> Mask:
    text = req.get("fields")
    if not text:
        raise ctx.fail("At least one field must be updated. Specify the fields to update in 'fields'.")
    tree = mask(text)
    assert tree is not None
    return tree
