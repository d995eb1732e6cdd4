"""spreadsheets.values through real gspread calls, plus raw HTTP for what gspread never sends."""

from __future__ import annotations

import gspread
import pytest

from tests.emulator.helpers import call, error, ok


@pytest.fixture
def sh(gspread_client):
    return gspread_client.create("Values")


def test_update_and_read_back_shapes(sh, sheets_emulator):
    ws = sh.sheet1
    ws.update([["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "d4"]], "A1")
    assert ws.get_all_values() == [["A1", "B1", "", "D1"], ["", "b2", "", ""], ["", "", "", ""], ["A4", "B4", "", "d4"]]
    body = ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/Sheet1"))
    assert body["range"] == "Sheet1!A1:Z1000"
    assert body["values"] == [["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "d4"]]
    empty = ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/Sheet1!F1:G2"))
    assert empty == {"range": "Sheet1!F1:G2", "majorDimension": "ROWS"}
    assert ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/A2:2"))["range"] == "Sheet1!A2:Z2"
    cols = ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/A1:B4", majorDimension="COLUMNS"))
    assert cols["values"] == [["A1", "", "", "A4"], ["B1", "b2", "", "B4"]]


def test_quoted_titles_and_raw_path_routing(sh, sheets_emulator):
    for title in ("My tab", "a/b:c", "D3", "It's"):
        ws = sh.add_worksheet(title, 5, 5)
        resp = ws.update([["x", "y"]], "A1")
        assert resp["updatedRange"].endswith("!A1:B1")
        assert ws.get("A1:B1") == [["x", "y"]]
        ws.append_rows([["z"]])
        assert ws.col_values(1) == ["x", "z"]
    assert ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/%27My%20tab%27%21A1"))["range"] == "'My tab'!A1"
    assert ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/%27D3%27"))["range"] == "'D3'!A1:E5"
    # a literal colon inside a range (not encoded) is still a range, not a verb
    assert ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/Sheet1!A1:B2"))["range"] == "Sheet1!A1:B2"


def test_raw_keeps_text_user_entered_parses(sh):
    ws = sh.sheet1
    risky = ["=IMPORTXML(\"http://evil\",\"//a\")", "+1", "@x", "007", "TRUE", "1/2", "'quoted", "50%"]
    ws.update([risky], "A1", value_input_option=gspread.utils.ValueInputOption.raw)
    assert ws.get("A1:H1", value_render_option="FORMULA") == [risky]
    ws.update([risky], "A2", value_input_option=gspread.utils.ValueInputOption.user_entered)
    formulas = ws.get("A2:H2", value_render_option="FORMULA")[0]
    assert formulas[0] == risky[0]  # stored as a live formula: injection is observable
    assert formulas[1:6] == [1, "@x", 7, True, formulas[5]] and isinstance(formulas[5], int)
    assert formulas[6] == "quoted" and formulas[7] == 0.5
    formatted = ws.get("A2:H2")[0]
    assert formatted[0] == "#NAME?" and formatted[4] == "TRUE" and formatted[7] == "50%"


def test_stored_formula_kind_visible_in_grid_data(sh, sheets_emulator):
    sh.sheet1.update_acell("A1", "=1+1")  # gspread always sends USER_ENTERED here
    sh.sheet1.update([["=1+1"]], "B1")  # RAW
    data = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1:B1"})
    a, b = data["sheets"][0]["data"][0]["rowData"][0]["values"]
    assert a["userEnteredValue"] == {"formulaValue": "=1+1"} and a["formattedValue"] == "#NAME?"
    assert b["userEnteredValue"] == {"stringValue": "=1+1"}


def test_render_options_and_numbers(sh):
    ws = sh.sheet1
    ws.update([[1, 2.5, True, "t", 1e20]], "A1")
    assert ws.get("A1:E1", value_render_option="UNFORMATTED_VALUE") == [[1, 2.5, True, "t", 1e20]]
    assert ws.get("A1:E1") == [["1", "2.5", "TRUE", "t", "1E+20"]]


def test_nulls_skip_and_empty_string_clears(sh, sheets_emulator):
    ws = sh.sheet1
    ws.update([["a", "b", "c"]], "A1")
    ok(call(sheets_emulator, "PUT", f"/v4/spreadsheets/{sh.id}/values/A1?valueInputOption=RAW",
            {"values": [[None, "", "C"]], "majorDimension": None}))
    assert ws.get_all_values() == [["a", "", "C"]]


def test_update_errors(sh, sheets_emulator, gspread_client):
    base = f"/v4/spreadsheets/{sh.id}/values"
    assert "required" in error(call(sheets_emulator, "PUT", f"{base}/A1", {"values": [["x"]]}))["message"]
    err = error(call(sheets_emulator, "PUT", f"{base}/A1?valueInputOption=RAW", {"values": "X"}))
    assert err["message"] == "Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), \"X\""
    assert err["details"][0]["fieldViolations"][0]["field"] == "data.values"
    err = error(call(sheets_emulator, "PUT", f"{base}/A1?valueInputOption=RAW", {"values": [["x" * 50_001]]}))
    assert err["message"] == "Your input contains more than the maximum of 50000 characters in a single cell."
    assert error(call(sheets_emulator, "GET", f"{base}/Nope!A1"))["message"] == "Unable to parse range: Nope!A1"
    assert error(call(sheets_emulator, "GET", f"{base}/Sheet1!A1:ZZ2"))["message"].endswith(
        "exceeds grid limits. Max rows: 1000, max columns: 26")
    err = error(call(sheets_emulator, "PUT", f"{base}/A1:B1?valueInputOption=RAW", {"values": [["a", "b", "c"]]}))
    assert "tried writing to column [C]" in err["message"]
    err = error(call(sheets_emulator, "GET", "/v4/spreadsheets/missing/values/A1"), 404)
    assert err == {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gspread_client.open_by_key("missing")


def test_writes_past_the_grid_grow_it(sh):
    ws = sh.add_worksheet("Small", 2, 2)
    ws.update([["a", "b", "c"]] * 3, "A1")
    assert ws.get_all_values() == [["a", "b", "c"]] * 3
    assert sh.worksheet("Small").row_count == 3


def test_append_table_detection(sh, sheets_emulator):
    ws = sh.sheet1
    first = ws.append_rows([["x", "", "y"]])
    assert first["updates"]["updatedRange"] == "Sheet1!A1:C1" and "tableRange" not in first
    second = ws.append_rows([["x", "", "y"]])
    assert second["tableRange"] == "Sheet1!C1" and second["updates"]["updatedRange"] == "Sheet1!C2:E2"
    third = ws.append_rows([["q"]], table_range="A1")
    assert third["updates"]["updatedRange"] == "Sheet1!A2"


def test_append_insert_rows_shifts_below(sh):
    ws = sh.sheet1
    ws.update([["h"], ["r1"], [], ["below"]], "A1")
    ws.append_rows([["new"]], table_range="A1", insert_data_option="INSERT_ROWS")
    assert ws.col_values(1) == ["h", "r1", "new", "", "below"]
    assert sh.sheet1.row_count == 1001


def test_batch_get_batch_update_clear(sh):
    ws = sh.sheet1
    resp = ws.batch_update([{"range": "A1:B1", "values": [["a", "b"]]}, {"range": "D3", "values": [["d"]]}])
    assert resp["totalUpdatedCells"] == 3 and len(resp["responses"]) == 2
    got = ws.batch_get(["A1:B1", "D3", "E5:F6"])
    assert [list(v) for v in got] == [[["a", "b"]], [["d"]], []]
    ws.format("A1", {"textFormat": {"bold": True}})
    ws.batch_clear(["A1:B1"])
    assert ws.get("A1:D3") == [[], [], ["", "", "", "d"]]
    fmt = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1"})["sheets"][0]["data"][0]
    assert fmt["rowData"][0]["values"][0]["userEnteredFormat"]["textFormat"]["bold"] is True  # clear keeps formats
    cleared = ws.clear()
    assert cleared["clearedRange"] == "Sheet1!A1:Z1000" and ws.get_all_values() == [[]]


def test_batch_update_values_is_atomic(sh, sheets_emulator):
    err = error(call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}/values:batchUpdate", {
        "valueInputOption": "RAW", "data": [{"range": "A1", "values": [["ok"]]}, {"range": "Nope!A1", "values": [["x"]]}]}))
    assert err["message"].startswith("Unable to parse range")
    assert sh.sheet1.get_all_values() == [[]]


def test_query_booleans_any_case(sh, sheets_emulator):
    for flag in ("True", "false", "TRUE"):
        ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}", includeGridData=flag))
    resp = ok(call(sheets_emulator, "PUT", f"/v4/spreadsheets/{sh.id}/values/A1",
                   {"values": [["v"]]}, valueInputOption="RAW", includeValuesInResponse="True"))
    assert resp["updatedData"] == {"range": "Sheet1!A1", "majorDimension": "ROWS", "values": [["v"]]}
