"""Google's documented semantics the emulator used to soften: sheet index moves, filteredRowsIncluded,
validation spreading into inserted rows, warning-only protections, chart ranges following their rows."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import batch, error, ok


@pytest.fixture
def sh(gspread_client):
    return gspread_client.create("Fidelity")


def titles(sh) -> list[str]:
    return [w.title for w in sh.worksheets()]


def move(sheet_id: int, index: int | None) -> dict:
    props = {"sheetId": sheet_id} | ({"index": index} if index is not None else {})
    return {"updateSheetProperties": {"properties": props, "fields": "index"}}


def test_sheet_index_counts_positions_before_the_move(sh, sheets_emulator):
    s2, s3 = sh.add_worksheet("S2", 5, 5), sh.add_worksheet("S3", 5, 5)
    ok(batch(sheets_emulator, sh.id, move(0, 2)))  # the discovery document's example: S1 ahead of S2 needs 2
    assert titles(sh) == ["S2", "Sheet1", "S3"]
    ok(batch(sheets_emulator, sh.id, move(0, 1)))  # its current index: ignored
    ok(batch(sheets_emulator, sh.id, move(0, 2)))  # current index + 1: ignored
    assert titles(sh) == ["S2", "Sheet1", "S3"]
    ok(batch(sheets_emulator, sh.id, move(s3.id, 0)))
    assert titles(sh) == ["S3", "S2", "Sheet1"]
    ok(batch(sheets_emulator, sh.id, move(s3.id, None)))  # index in the mask but left out: to the end
    assert titles(sh) == ["S2", "Sheet1", "S3"]
    s2.update_index(3)  # gspread's own call: moving to the end needs len(sheets), not len - 1
    assert titles(sh) == ["Sheet1", "S3", "S2"]


def filtered_tab(sh, sheets_emulator) -> None:
    sh.sheet1.update([["state"], ["keep"], ["hide"], ["keep"], ["hide"], ["keep"]], "A1")
    ok(batch(sheets_emulator, sh.id, {"setBasicFilter": {"filter": {
        "range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 6, "startColumnIndex": 0, "endColumnIndex": 2},
        "filterSpecs": [{"columnIndex": 0, "filterCriteria": {"hiddenValues": ["hide"]}}]}}}))


def dropdown(filtered_included: bool | None = None) -> dict:
    req = {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 6, "startColumnIndex": 1, "endColumnIndex": 2},
           "rule": {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Pass"}, {"userEnteredValue": "Fail"}]},
                    "showCustomUi": True}}
    if filtered_included is not None:
        req["filteredRowsIncluded"] = filtered_included
    return {"setDataValidation": req}


def validated_rows(sheets_emulator, sid: str) -> list[int]:
    sheet = sheets_emulator.spreadsheet(sid).sheet(0)
    return [r for r in range(sheet.row_count) if (c := sheet.cell(r, 1)) is not None and c.dv is not None]


def test_validation_skips_rows_a_filter_hides_unless_asked(sh, sheets_emulator):
    filtered_tab(sh, sheets_emulator)
    meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1:A6"})["sheets"][0]["data"][0]["rowMetadata"]
    assert [i for i, m in enumerate(meta) if m.get("hiddenByFilter")] == [2, 4]
    ok(batch(sheets_emulator, sh.id, dropdown()))
    assert validated_rows(sheets_emulator, sh.id) == [1, 3, 5]
    ok(batch(sheets_emulator, sh.id, dropdown(filtered_included=True)))
    assert validated_rows(sheets_emulator, sh.id) == [1, 2, 3, 4, 5]


def test_filter_conditions_hide_rows_too(sh, sheets_emulator):
    sh.sheet1.update([["score"], [1], [5], [9]], "A1")
    ok(batch(sheets_emulator, sh.id, {"setBasicFilter": {"filter": {"range": {"sheetId": 0, "endRowIndex": 4}, "filterSpecs": [
        {"columnIndex": 0, "filterCriteria": {"condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "3"}]}}}]}}}))
    ok(batch(sheets_emulator, sh.id, dropdown()))
    assert validated_rows(sheets_emulator, sh.id) == [2, 3, 4, 5]  # row 1 (score 1) is filtered out


def insert_rows(at: int, count: int = 1, before: bool = False) -> dict:
    return {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": at, "endIndex": at + count},
                                "inheritFromBefore": before}}


def test_rows_inserted_inside_a_validated_range_inherit_the_rule(sh, sheets_emulator):
    ok(batch(sheets_emulator, sh.id, dropdown(filtered_included=True)))  # B2:B6
    ok(batch(sheets_emulator, sh.id, insert_rows(3, 2)))  # inside: rows 4-5 are new
    assert validated_rows(sheets_emulator, sh.id) == [1, 2, 3, 4, 5, 6, 7]
    ok(batch(sheets_emulator, sh.id, insert_rows(8, 1, before=True)))  # just below the range: not inside
    ok(batch(sheets_emulator, sh.id, insert_rows(1, 1)))  # just above it: not inside either
    assert validated_rows(sheets_emulator, sh.id) == [2, 3, 4, 5, 6, 7, 8]


def test_warning_only_protections_take_no_editors(sh, sheets_emulator):
    rng = {"sheetId": 0, "endRowIndex": 1}
    ok(batch(sheets_emulator, sh.id, {"addProtectedRange": {"protectedRange": {"range": rng, "warningOnly": True,
                                                                                 "editors": {"users": []}}}}))
    err = error(batch(sheets_emulator, sh.id, {"addProtectedRange": {"protectedRange": {
        "range": rng, "warningOnly": True, "editors": {"users": ["me@example.com"]}}}}))
    assert err["message"] == "Invalid requests[0].addProtectedRange: ProtectedRange is warningOnly. Editors cannot be set on it."
    stored = sheets_emulator.spreadsheet(sh.id).sheet(0).protected_ranges
    assert len(stored) == 1 and "editors" not in stored[0]


def test_chart_ranges_follow_inserted_and_deleted_rows_and_columns(sh, sheets_emulator):
    series = {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 10, "startColumnIndex": 1, "endColumnIndex": 2}
    spec = {"basicChart": {"chartType": "COLUMN", "series": [{"series": {"sourceRange": {"sources": [series]}}}]}}
    ok(batch(sheets_emulator, sh.id, {"addChart": {"chart": {"spec": spec, "position": {
        "overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 12, "columnIndex": 3}}}}}}))
    ok(batch(sheets_emulator, sh.id, insert_rows(0, 2),
             {"insertDimension": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 1}}},
             {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 5, "endIndex": 7}}}))
    chart = sh.fetch_sheet_metadata()["sheets"][0]["charts"][0]
    assert chart["spec"]["basicChart"]["series"][0]["series"]["sourceRange"]["sources"] == [
        {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 10, "startColumnIndex": 2, "endColumnIndex": 3}]
    assert chart["position"]["overlayPosition"]["anchorCell"] == {"sheetId": 0, "rowIndex": 12, "columnIndex": 4}
