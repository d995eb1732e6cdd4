"""The cell-value requests of a write: ``updateCells`` per block, ``appendCells`` for new rows. Pure: no I/O.

Rules that protect the expert's work:

* Strings are always ``stringValue`` (never ``formulaValue``): ``=IMPORTXML(…)``, ``007``, ``TRUE`` stay text.
* ``fields: userEnteredValue``: only the spec's blocks are written, formatting untouched; every other cell
  keeps its value.
"""

from __future__ import annotations

import math
from typing import Any

from sheetsync.backends.sheet_size import check_row_lengths
from sheetsync.layout import CellValue, Range, TabSpec

Request = dict[str, Any]


def grid_range(sheet_id: int, rng: Range) -> dict[str, int]:
    """A ``GridRange``; an open end (``None``) is omitted, which the API reads as "to the end of the grid"
    (so a dropdown on ``Range(1, 5, None, 6)`` also covers rows the expert adds later)."""
    out = {"sheetId": sheet_id, "startRowIndex": rng.row0, "startColumnIndex": rng.col0}
    if rng.row1 is not None:
        out["endRowIndex"] = rng.row1
    if rng.col1 is not None:
        out["endColumnIndex"] = rng.col1
    return out


def cell_data(value: CellValue) -> dict[str, Any]:
    """One ``CellData`` for a value. Text is ALWAYS ``stringValue`` (never parsed as a formula or number);
    ``None`` and NaN give ``{}``, which under ``fields: userEnteredValue`` clears the cell."""
    if value is None:
        return {}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        f = float(value)
        if math.isnan(f):
            return {}
        if math.isinf(f):  # JSON has no infinity: keep it visible as text
            return {"userEnteredValue": {"stringValue": "inf" if f > 0 else "-inf"}}
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def value_requests(sheet_id: int, spec: TabSpec) -> list[Request]:
    """One ``updateCells`` per block (``fields: userEnteredValue``: formatting untouched, cells outside the
    block untouched)."""
    out = []
    for block in spec.blocks:
        if not block.values:
            continue
        check_row_lengths(spec, block.values, where="row", first=block.row, col=block.col)
        out.append(
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": block.row, "columnIndex": block.col},
                    "rows": [{"values": [cell_data(v) for v in row]} for row in block.values],
                    "fields": "userEnteredValue",
                }
            }
        )
    return out


def append_requests(sheet_id: int, spec: TabSpec) -> list[Request]:
    """``spec.append_rows`` as one ``appendCells``: Google places them after the last row with data when it
    applies the request, so rows the expert added meanwhile are neither overwritten nor paired with them."""
    if not spec.append_rows:
        return []
    check_row_lengths(spec, spec.append_rows, where="appended row")
    return [
        {
            "appendCells": {
                "sheetId": sheet_id,
                "rows": [{"values": [cell_data(v) for v in row]} for row in spec.append_rows],
                "fields": "userEnteredValue",
            }
        }
    ]
