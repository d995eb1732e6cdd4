"""spreadsheets.batchUpdate: each request kind with real semantics, applied in order and atomically.

The whole batch runs on a clone of the spreadsheet; the clone replaces the stored state only if every
request succeeded ("If any request is not valid, no requests will be applied."). Semantic errors are worded
like Google's (``Invalid requests[2].addSheet: A sheet with the name "X" already exists. ...``). A kind
the emulator does not implement is refused with a 400 naming it, never silently ignored. The handlers live
in ``requests_cells`` / ``requests_sheets`` / ``requests_objects`` / ``requests_meta``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sheetsync.emulator.errors import bad_request, invalid_argument
from sheetsync.emulator.model import Spreadsheet, State, now_iso
from sheetsync.emulator.requests_base import Ctx, clean
from sheetsync.emulator.requests_cells import (
    append_cells,
    apply_cell,
    repeat_cell,
    set_data_validation,
    update_borders,
    update_cells,
)
from sheetsync.emulator.requests_meta import (
    add_named_range,
    create_developer_metadata,
    delete_developer_metadata,
    delete_named_range,
    lookup_matches,
    update_developer_metadata,
    update_named_range,
)
from sheetsync.emulator.requests_objects import (
    add_chart,
    add_conditional_format_rule,
    add_protected_range,
    clear_basic_filter,
    delete_conditional_format_rule,
    delete_embedded_object,
    delete_protected_range,
    merge_cells,
    set_basic_filter,
    unmerge_cells,
    update_chart_spec,
    update_conditional_format_rule,
    update_protected_range,
)
from sheetsync.emulator.requests_sheets import (
    add_sheet,
    append_dimension,
    auto_resize_dimensions,
    delete_dimension_req,
    delete_sheet,
    duplicate_sheet,
    insert_dimension_req,
    move_dimension_req,
    sort_range,
    update_dimension_properties,
    update_sheet_properties,
    update_spreadsheet_properties,
)
from sheetsync.emulator.schema import validate

__all__ = ["HANDLERS", "apply_cell", "apply_requests", "batch_update", "clean", "lookup_matches"]


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
    "moveDimension": move_dimension_req,
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
