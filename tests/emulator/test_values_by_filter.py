"""values:batchUpdateByDataFilter and values:batchClearByDataFilter: values addressed by developer metadata
follow their column (or row) wherever it moved; the rules of sheetsync/emulator/values_filter.py."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import batch, call, error, ok

KEY = "test.column"


@pytest.fixture
def sh(gspread_client, sheets_emulator):
    sh = gspread_client.create("By filter")
    sh.sheet1.resize(rows=4, cols=4)
    sh.sheet1.update([["id", "Critique", "input"], ["r1", "keep me", "in1"], ["r2", "", "in2"]], "A1")
    ok(_mark(sheets_emulator, sh.id, sh.sheet1.id, "input", 2))
    return sh


def _mark(em, sid: str, sheet_id: int, value: str, at: int, dim: str = "COLUMNS"):
    return batch(em, sid, {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": KEY, "metadataValue": value, "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": sheet_id, "dimension": dim, "startIndex": at, "endIndex": at + 1}}}}})


def _write(em, sid: str, *data: dict, option: str | None = "RAW", **extra):
    body = {"data": list(data), **extra}
    if option:
        body["valueInputOption"] = option
    return call(em, "POST", f"/v4/spreadsheets/{sid}/values:batchUpdateByDataFilter", body)


def _column(value: str, cells: list) -> dict:
    return {"dataFilter": {"developerMetadataLookup": {"metadataKey": KEY, "metadataValue": value}},
            "majorDimension": "COLUMNS", "values": [cells]}


def _move(em, sid: str, sheet_id: int, start: int, dest: int):
    ok(batch(em, sid, {"moveDimension": {"source": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": start,
                                                    "endIndex": start + 1}, "destinationIndex": dest}}))


def test_a_write_follows_its_column_and_skips_nulls(sh, sheets_emulator):
    _move(sheets_emulator, sh.id, sh.sheet1.id, 2, 1)  # input now B, Critique C
    reply = ok(_write(sheets_emulator, sh.id, _column("input", [None, "=1+1", None, ""])))
    assert sh.sheet1.get_all_values() == [["id", "input", "Critique"], ["r1", "=1+1", "keep me"], ["r2", "in2", ""]]
    assert reply["totalUpdatedCells"] == 2 and reply["totalUpdatedColumns"] == 1
    (resp,) = reply["responses"]
    assert resp["updatedRange"] == "Sheet1!B1:B4"
    assert resp["dataFilter"] == _column("input", [])["dataFilter"]
    # RAW: the formula-looking text is text
    got = ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/Sheet1!B2", valueRenderOption="FORMULA"))
    assert got["values"] == [["=1+1"]]


def test_values_past_the_marked_column_fail_the_whole_request(sh, sheets_emulator):
    ok(_mark(sheets_emulator, sh.id, sh.sheet1.id, "id", 0))
    before = sh.sheet1.get_all_values()
    err = error(_write(sheets_emulator, sh.id, _column("id", ["x"]), _column("input", [None] * 4 + ["too far"])))
    assert err["status"] == "INVALID_ARGUMENT" and "tried writing to row [5]" in err["message"]
    assert sh.sheet1.get_all_values() == before  # the first range was not written either


def test_a_filter_whose_column_was_deleted_writes_nothing(sh, sheets_emulator):
    ok(batch(sheets_emulator, sh.id, {"deleteDimension": {"range": {
        "sheetId": sh.sheet1.id, "dimension": "COLUMNS", "startIndex": 2, "endIndex": 3}}}))
    before = sh.sheet1.get_all_values()
    reply = ok(_write(sheets_emulator, sh.id, _column("input", [None, "lost?"])))
    assert "responses" not in reply and "totalUpdatedCells" not in reply
    assert sh.sheet1.get_all_values() == before


def test_every_range_a_filter_matches_is_written(sh, sheets_emulator):
    ok(_mark(sheets_emulator, sh.id, sh.sheet1.id, "input", 3))  # a second column with the same mark
    reply = ok(_write(sheets_emulator, sh.id, _column("input", [None, None, "both"])))
    assert [r["updatedRange"] for r in reply["responses"]] == ["Sheet1!C1:C3", "Sheet1!D1:D3"]  # the rows given
    assert sh.sheet1.get_all_values()[2] == ["r2", "", "both", "both"]


def test_rows_by_metadata_and_user_entered(sh, sheets_emulator):
    ok(_mark(sheets_emulator, sh.id, sh.sheet1.id, "row r2", 2, dim="ROWS"))
    ok(batch(sheets_emulator, sh.id, {"insertDimension": {"range": {
        "sheetId": sh.sheet1.id, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}, "inheritFromBefore": True}}))
    row = {"dataFilter": {"developerMetadataLookup": {"metadataKey": KEY, "metadataValue": "row r2"}},
           "majorDimension": "ROWS", "values": [[None, "007"]]}
    ok(_write(sheets_emulator, sh.id, row, option="USER_ENTERED", includeValuesInResponse=True))
    assert sh.sheet1.get_all_values()[3] == ["r2", "7", "in2"]  # USER_ENTERED: parsed as typed


def test_refusals(sh, sheets_emulator):
    assert "valueInputOption" in error(_write(sheets_emulator, sh.id, _column("input", ["x"]), option=None))["message"]
    bad = error(_write(sheets_emulator, sh.id, {"dataFilter": {"developerMetadataLookup": {"metadataKey": KEY}},
                                                "value": [["x"]]}))
    assert bad["status"] == "INVALID_ARGUMENT" and "value" in bad["message"]
    assert "data filter" in error(_write(sheets_emulator, sh.id, {"values": [["x"]]}))["message"]
    nested = error(_write(sheets_emulator, sh.id, _column("input", [["x"]])))
    assert "list_value" in nested["message"]


def test_clear_by_row_metadata(sh, sheets_emulator):
    ok(_mark(sheets_emulator, sh.id, sh.sheet1.id, "row r1", 1, dim="ROWS"))
    reply = ok(call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}/values:batchClearByDataFilter",
                    {"dataFilters": [{"developerMetadataLookup": {"metadataKey": KEY, "metadataValue": "row r1"}}]}))
    assert reply["clearedRanges"] == ["Sheet1!A2:D2"]
    assert sh.sheet1.get_all_values()[1:] == [["", "", ""], ["r2", "", "in2"]]
