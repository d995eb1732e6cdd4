"""spreadsheets.values batchUpdateByDataFilter and batchClearByDataFilter: values addressed by a DataFilter
(an A1 range, a GridRange, or the rows/columns/tab that developer metadata marks), so a write can follow a
column wherever the expert moved it.

The rules, each from the sheets.v4 discovery document (sheets-api.md §4 says where it is bundled):

* ``BatchUpdateValuesByDataFilterRequest.data``: "If more than one range is matched by the specified
  DataFilter the specified values are applied to all of those ranges."
* ``DataFilterValueRange.values``: "If the provided values exceed any of the ranges matched by the data
  filter then the request fails. If the provided values are less than the matched ranges only the
  specified values are written, existing values in the matched ranges remain unaffected." A column
  marked by metadata is the whole column (row 1 to the grid's last row), so a write past the grid is a
  400 here, not a grown grid as with an A1 anchor.
* ``ValueRange.values``: "Null values will be skipped" — a ``null`` leaves its cell as it is, ``""``
  clears it.
* ``DeveloperMetadata``: "If the associated object is deleted its metadata is deleted too." A filter whose
  metadata went with its column matches nothing. What Google answers then is not documented; the
  emulator writes nothing for it and lists no response for it ("responses: The response for each range
  updated"). sheetsync's client does not depend on it: it treats a 400 the same way (nothing landed).
* The whole request is applied or nothing is (values.batchUpdate is all-or-nothing in the emulator too).
"""

from __future__ import annotations

from typing import Any

from sheetsync.emulator import values
from sheetsync.emulator.errors import invalid_argument
from sheetsync.emulator.model import State
from sheetsync.emulator.requests_base import clean
from sheetsync.emulator.schema import validate
from sheetsync.emulator.spreadsheets import filter_ranges


def _ranges(ss: Any, df: Any, where: str) -> list[str]:
    if not isinstance(df, dict) or not df:
        raise invalid_argument(f"Invalid {where}: No data filter specified.")
    return filter_ranges(ss, [df])


def batch_update_by_data_filter(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = body or {}
    validate(body, "BatchUpdateValuesByDataFilterRequest")
    data = body.get("data") or []
    body = {k: v for k, v in clean(body).items() if k != "data"}
    ss = state.get(sid)
    option = values.input_option(body.get("valueInputOption"))
    include = bool(body.get("includeValuesInResponse"))
    render = body.get("responseValueRenderOption") or "FORMATTED_VALUE"
    work = ss.clone()
    responses = []
    for i, dvr in enumerate(data):
        df = clean((dvr or {}).get("dataFilter"))
        major = (dvr or {}).get("majorDimension") or "ROWS"
        rows = values.check_values((dvr or {}).get("values"), f"data[{i}].values")
        for text in _ranges(work, df, f"data[{i}].dataFilter"):
            resp = values.write_values(work, work.resolve_a1(text), False, rows, major, option, text)
            resp.pop("spreadsheetId", None)
            if "updatedCells" not in resp:
                resp = {"updatedRange": resp["updatedRange"]}
            resp = values.with_data(work, resp, include, render, major)
            responses.append({**resp, "dataFilter": df})
    ss.replace_state(work)
    out: dict[str, Any] = {"spreadsheetId": sid, **values.batch_totals(responses)}
    if responses:
        out["responses"] = responses
    return out


def batch_clear_by_data_filter(state: State, sid: str, body: dict | None) -> dict[str, Any]:
    body = clean(body or {})
    validate(body, "BatchClearValuesByDataFilterRequest")
    ss = state.get(sid)
    work = ss.clone()
    cleared = []
    for i, df in enumerate(body.get("dataFilters") or []):
        cleared += [values.clear_range(work, text) for text in _ranges(work, df, f"dataFilters[{i}]")]
    ss.replace_state(work)
    return {"spreadsheetId": sid, "clearedRanges": cleared}
