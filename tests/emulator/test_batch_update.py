"""spreadsheets.batchUpdate kinds, validation and atomicity."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import batch, call, error, ok


@pytest.fixture
def sh(gspread_client):
    return gspread_client.create("Batch")


def grid(sh, rng: str) -> dict:
    return sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": rng})["sheets"][0]


def test_misspelled_field_rejected_with_path(sh, sheets_emulator):
    err = error(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"titel": "x"}}}))
    msg = 'Invalid JSON payload received. Unknown name "titel" at \'requests[0].add_sheet.properties\': Cannot find field.'
    assert err["message"] == msg and err["status"] == "INVALID_ARGUMENT"
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert err["details"][0]["fieldViolations"][0] == {"field": "requests[0].add_sheet.properties", "description": msg}
    err = error(batch(sheets_emulator, sh.id, {"setDataValidation": {"range": {"sheetId": 0}, "rule": {
        "condition": {"type": "ONE_OF_LISTS"}}}}))
    assert "requests[0].set_data_validation.rule.condition.type" in err["message"] and '"ONE_OF_LISTS"' in err["message"]


def test_oneof_and_unsupported_kinds(sh, sheets_emulator):
    assert "Oneof" in error(batch(sheets_emulator, sh.id, {"addSheet": {}, "deleteSheet": {"sheetId": 0}}))["message"]
    assert "No request set" in error(batch(sheets_emulator, sh.id, {}))["message"]
    assert "not supported" in error(batch(sheets_emulator, sh.id, {"randomizeRange": {}}))["message"]


def test_atomic_second_request_invalid(sh, sheets_emulator):
    err = error(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"title": "New"}}},
                      {"deleteSheet": {"sheetId": 999}}))
    assert err["message"] == "Invalid requests[1].deleteSheet: No grid with id: 999"
    assert [w.title for w in sh.worksheets()] == ["Sheet1"]


def test_add_sheet_client_id_and_duplicates(sh, sheets_emulator):
    reply = ok(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"sheetId": 42, "title": "Tab"}}},
                     {"repeatCell": {"range": {"sheetId": 42, "endRowIndex": 1}, "cell": {"userEnteredFormat": {
                         "textFormat": {"bold": True}}}, "fields": "userEnteredFormat.textFormat.bold"}}))
    props = reply["replies"][0]["addSheet"]["properties"]
    assert props == {"sheetId": 42, "title": "Tab", "index": 1, "sheetType": "GRID",
                     "gridProperties": {"rowCount": 1000, "columnCount": 26}}
    assert reply["replies"][1] == {}
    assert "already exists" in error(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"title": "tab"}}}))["message"]
    assert "already exists" in error(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"sheetId": 42}}}))["message"]
    ws = sh.add_worksheet("Auto", 3, 3)
    assert ws.id not in (0, 42)


def test_repeat_cell_format_only_keeps_values(sh):
    ws = sh.sheet1
    ws.update([["a", "b"]], "A1")
    ws.format("A1:B1", {"textFormat": {"bold": True}, "backgroundColor": {"red": 1}})
    ws.format("A1", {"textFormat": {"italic": True}})
    assert ws.get_all_values() == [["a", "b"]]
    cells = grid(sh, "A1:B1")["data"][0]["rowData"][0]["values"]
    assert cells[0]["userEnteredFormat"]["textFormat"] == {"italic": True}
    assert cells[0]["userEnteredFormat"]["backgroundColor"] == {"red": 1}
    assert cells[1]["userEnteredFormat"]["textFormat"] == {"bold": True}
    assert cells[1]["effectiveFormat"]["textFormat"]["fontFamily"] == "arial"


def test_update_cells_values_formats_notes(sh, sheets_emulator):
    ok(batch(sheets_emulator, sh.id, {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1}, "rows": [
        {"values": [{"userEnteredValue": {"stringValue": "s"}, "note": "hi"}, {"userEnteredValue": {"numberValue": 2}},
                    {"userEnteredValue": {"boolValue": False}}, {"userEnteredValue": {"formulaValue": "=A1"}}]}],
        "fields": "userEnteredValue,note"}}))
    assert sh.sheet1.get("B2:E2", value_render_option="FORMULA") == [["s", 2, False, "=A1"]]
    assert sh.sheet1.get_note("B2") == "hi"
    ok(batch(sheets_emulator, sh.id, {"updateCells": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 2,
                                                                "startColumnIndex": 1, "endColumnIndex": 5},
                                                      "rows": [{"values": [{"userEnteredValue": {"stringValue": "t"}}]}],
                                                      "fields": "userEnteredValue"}}))
    assert sh.sheet1.get("B2:E2") == [["t"]]  # the rest of the range was cleared
    assert sh.sheet1.get_note("B2") == "hi"
    err = error(batch(sheets_emulator, sh.id, {"updateCells": {"start": {"sheetId": 0}, "rows": [
        {"values": [{"userEnteredValue": {"stringValue": "x" * 50_001}}]}], "fields": "*"}}))
    assert "maximum of 50000 characters" in err["message"]


def test_sheet_and_spreadsheet_properties(sh, sheets_emulator):
    ws = sh.sheet1
    ws.freeze(rows=1, cols=2)
    ws.update_title("Renamed")
    ok(batch(sheets_emulator, sh.id, {"updateSheetProperties": {"properties": {"sheetId": 0, "gridProperties": {
        "rowCount": 50}, "tabColorStyle": {"rgbColor": {"red": 1}}}, "fields": "gridProperties(rowCount),tabColorStyle"}}))
    sh.update_title("New title")
    meta = sh.fetch_sheet_metadata()
    props = meta["sheets"][0]["properties"]
    assert props["title"] == "Renamed" and props["gridProperties"] == {
        "rowCount": 50, "columnCount": 26, "frozenRowCount": 1, "frozenColumnCount": 2}
    assert props["tabColorStyle"] == {"rgbColor": {"red": 1}}
    assert meta["properties"]["title"] == "New title" and meta["properties"]["locale"] == "en_US"
    err = error(batch(sheets_emulator, sh.id, {"updateSheetProperties": {"properties": {"sheetId": 0, "hidden": True},
                                                                          "fields": "hidden"}}))
    assert err["message"] == "Invalid requests[0].updateSheetProperties: You can't hide all the sheets in a document."
    assert "above the limit of 10000000 cells" in error(batch(sheets_emulator, sh.id, {"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"columnCount": 300000}}, "fields": "gridProperties.columnCount"}}))["message"]


def test_ten_million_cells(sh, sheets_emulator):
    err = error(batch(sheets_emulator, sh.id, {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 400_000}}))
    assert "above the limit of 10000000 cells" in err["message"]


def test_fields_masks_on_get(sh, sheets_emulator):
    sh.sheet1.update([["a"]], "A1")
    sh.sheet1.update_note("A1", "n")
    base = f"/v4/spreadsheets/{sh.id}"
    assert ok(call(sheets_emulator, "GET", base, fields="sheets.properties.title")) == {"sheets": [{"properties": {"title": "Sheet1"}}]}
    assert ok(call(sheets_emulator, "GET", base, fields="sheets(properties(sheetId,title))"))["sheets"][0]["properties"] == {
        "sheetId": 0, "title": "Sheet1"}
    notes = ok(call(sheets_emulator, "GET", base, fields="sheets/data/rowData/values/note", ranges="A1"))
    assert notes == {"sheets": [{"data": [{"rowData": [{"values": [{"note": "n"}]}]}]}]}
    assert set(ok(call(sheets_emulator, "GET", base, fields="spreadsheetId,properties.title"))) == {"spreadsheetId", "properties"}


def _annotate(sh, sheets_emulator):
    """Header + 3 rows with a validation, a note, a protected range, row metadata and a conditional format."""
    ws = sh.sheet1
    ws.update([["id", "score"], ["b", 2], ["c", 3], ["a", 1]], "A1")
    ws.add_validation("B3", gspread.utils.ValidationConditionType.one_of_list, ["1", "2", "3"], showCustomUi=True)
    ws.update_note("A3", "note on c")
    ok(batch(sheets_emulator, sh.id,
             {"addProtectedRange": {"protectedRange": {"range": {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 4},
                                                       "warningOnly": True, "protectedRangeId": 7}}},
             *[{"createDeveloperMetadata": {"developerMetadata": {"metadataId": 100 + r, "metadataKey": "row", "metadataValue": v,
                                                                  "visibility": "DOCUMENT", "location": {"dimensionRange": {
                                                                      "sheetId": 0, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1}}}}}
               for r, v in ((1, "b"), (2, "c"), (3, "a"))],
             {"addConditionalFormatRule": {"index": 0, "rule": {"ranges": [{"sheetId": 0, "startRowIndex": 2, "endRowIndex": 4}],
                                                                "booleanRule": {"condition": {"type": "NOT_BLANK"}, "format": {}}}}}))


import gspread  # noqa: E402


def _row_of(sh, value: str) -> int:
    meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1:A10"})["sheets"][0]["data"][0]["rowMetadata"]
    return next(i for i, m in enumerate(meta) for d in m.get("developerMetadata", []) if d["metadataValue"] == value)


def test_sort_range_moves_cells_with_metadata(sh, sheets_emulator):
    _annotate(sh, sheets_emulator)
    sh.sheet1.sort((1, "asc"), range="A2:Z4")
    assert sh.sheet1.get_all_values() == [["id", "score"], ["a", "1"], ["b", "2"], ["c", "3"]]
    data = grid(sh, "A1:B4")["data"][0]["rowData"]
    assert data[3]["values"][0]["note"] == "note on c"
    assert data[3]["values"][1]["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    assert (_row_of(sh, "a"), _row_of(sh, "b"), _row_of(sh, "c")) == (1, 2, 3)
    ok(batch(sheets_emulator, sh.id, {"sortRange": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 5},
                                                    "sortSpecs": [{"dimensionIndex": 1, "sortOrder": "DESCENDING"}]}}))
    assert sh.sheet1.col_values(1) == ["id", "c", "b", "a"]  # the empty row 5 stays last


def test_insert_and_delete_rows_shift_everything(sh, sheets_emulator):
    _annotate(sh, sheets_emulator)
    sh.sheet1.insert_rows([["new", 9]], row=2)
    meta = grid(sh, "A1:B5")
    assert meta["protectedRanges"][0]["range"] == {"sheetId": 0, "startRowIndex": 4, "endRowIndex": 5}
    assert meta["conditionalFormats"][0]["ranges"][0] == {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 5}
    assert meta["data"][0]["rowData"][3]["values"][1]["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    assert _row_of(sh, "c") == 3
    sh.sheet1.delete_rows(5)  # deletes "a": its protection and metadata go with it
    meta = grid(sh, "A1:B4")
    assert "protectedRanges" not in meta
    assert sh.sheet1.col_values(1) == ["id", "new", "b", "c"]
    assert meta["conditionalFormats"][0]["ranges"][0] == {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 4}
    sh.sheet1.delete_columns(1)
    assert sh.sheet1.row_values(1) == ["score"]


def test_protected_ranges(sh, sheets_emulator):
    err = error(batch(sheets_emulator, sh.id, {"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 0}, "warningOnly": True, "editors": {"users": ["x@y.z"]}}}}))
    assert err["message"] == "Invalid requests[0].addProtectedRange: ProtectedRange is warningOnly. Editors cannot be set on it."
    reply = sh.sheet1.add_protected_range("A1:B2", editor_users_emails=["x@y.z"], description="mine")
    pr = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    assert isinstance(pr["protectedRangeId"], int) and pr["requestingUserCanEdit"] is True
    assert pr["editors"]["users"] == ["x@y.z"]
    assert sh.fetch_sheet_metadata()["sheets"][0]["protectedRanges"][0]["description"] == "mine"
    sh.sheet1.delete_protected_range(pr["protectedRangeId"])
    assert "protectedRanges" not in sh.fetch_sheet_metadata()["sheets"][0]
    assert "No protected range" in error(batch(sheets_emulator, sh.id, {"deleteProtectedRange": {"protectedRangeId": 1}}))["message"]


def test_validation_set_and_clear(sh, sheets_emulator):
    sh.sheet1.add_validation("C2:C3", gspread.utils.ValidationConditionType.one_of_list, ["pass", "fail"], strict=True)
    assert grid(sh, "C2")["data"][0]["rowData"][0]["values"][0]["dataValidation"]["strict"] is True
    ok(batch(sheets_emulator, sh.id, {"setDataValidation": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 3}}}))
    assert "rowData" not in grid(sh, "C2:C3")["data"][0]


def test_dimensions_props_and_resize(sh, sheets_emulator):
    ws = sh.sheet1
    ws.update([["a much longer piece of text"]], "A1")
    ok(batch(sheets_emulator, sh.id,
             {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 1, "endIndex": 2},
                                            "properties": {"pixelSize": 250}, "fields": "pixelSize"}},
             {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 2, "endIndex": 3},
                                            "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}},
             {"autoResizeDimensions": {"dimensions": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 1}}},
             {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 2}}))
    data = grid(sh, "A1:C3")["data"][0]
    assert data["columnMetadata"][1] == {"pixelSize": 250} and data["columnMetadata"][0]["pixelSize"] > 100
    assert data["rowMetadata"][2] == {"pixelSize": 21, "hiddenByUser": True}
    assert sh.sheet1.col_count == 28


def test_charts_filters_merges_names_metadata(sh, sheets_emulator):
    ws = sh.sheet1
    ws.update([["k", "v"], ["b", 2], ["a", 1], ["c", 3]], "A1")
    spec = {"title": "t", "basicChart": {"chartType": "COLUMN", "domains": [{"domain": {"sourceRange": {"sources": [
        {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 4, "startColumnIndex": 0, "endColumnIndex": 1}]}}}]}}
    reply = ok(batch(sheets_emulator, sh.id,
                     {"addChart": {"chart": {"spec": spec, "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 5}}}}}},
                     {"setBasicFilter": {"filter": {"range": {"sheetId": 0, "endRowIndex": 4, "endColumnIndex": 2},
                                                    "sortSpecs": [{"dimensionIndex": 0, "sortOrder": "ASCENDING"}]}}},
                     {"mergeCells": {"range": {"sheetId": 0, "startRowIndex": 6, "endRowIndex": 8, "endColumnIndex": 2}, "mergeType": "MERGE_ALL"}},
                     {"addNamedRange": {"namedRange": {"name": "scores", "range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 4,
                                                                                   "startColumnIndex": 1, "endColumnIndex": 2}}}},
                     {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "tab", "metadataValue": "x", "visibility": "DOCUMENT",
                                                                        "location": {"sheetId": 0}}}}))
    chart_id = reply["replies"][0]["addChart"]["chart"]["chartId"]
    assert reply["replies"][3]["addNamedRange"]["namedRange"]["name"] == "scores"
    md = reply["replies"][4]["createDeveloperMetadata"]["developerMetadata"]
    assert md["location"] == {"locationType": "SHEET", "sheetId": 0}
    meta = sh.fetch_sheet_metadata()
    s0 = meta["sheets"][0]
    assert s0["charts"][0]["chartId"] == chart_id and s0["basicFilter"]["range"]["endRowIndex"] == 4
    assert s0["merges"] == [{"sheetId": 0, "startRowIndex": 6, "endRowIndex": 8, "startColumnIndex": 0, "endColumnIndex": 2}]
    assert s0["developerMetadata"][0]["metadataKey"] == "tab" and meta["namedRanges"][0]["name"] == "scores"
    assert ws.col_values(1) == ["k", "a", "b", "c"]  # the filter's sort specs sorted the data
    assert sh.values_get("scores")["values"] == [["1"], ["2"], ["3"]]  # named ranges resolve in the values API
    found = ok(call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}/developerMetadata:search",
                    {"dataFilters": [{"developerMetadataLookup": {"metadataKey": "tab"}}]}))
    assert found["matchedDeveloperMetadata"][0]["developerMetadata"]["metadataValue"] == "x"
    ok(batch(sheets_emulator, sh.id, {"deleteEmbeddedObject": {"objectId": chart_id}}, {"clearBasicFilter": {"sheetId": 0}},
             {"unmergeCells": {"range": {"sheetId": 0}}}))
    s0 = sh.fetch_sheet_metadata()["sheets"][0]
    assert not {"charts", "basicFilter", "merges"} & set(s0)
    err = error(batch(sheets_emulator, sh.id, {"addChart": {"chart": {"spec": {"basicChart": {"domains": [{"domain": {
        "sourceRange": {"sources": [{"sheetId": 5}]}}}]}}, "position": {"newSheet": True}}}}))
    assert err["message"] == "Invalid requests[0].addChart: No grid with id: 5"


def test_conditional_format_rules(sh, sheets_emulator):
    rule = {"ranges": [{"sheetId": 0, "endRowIndex": 3}], "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [
        {"userEnteredValue": "fail"}]}, "format": {"backgroundColor": {"red": 1}}}}
    ok(batch(sheets_emulator, sh.id, {"addConditionalFormatRule": {"rule": rule, "index": 0}},
             {"addConditionalFormatRule": {"rule": dict(rule, ranges=[{"sheetId": 0, "startRowIndex": 5, "endRowIndex": 6}]), "index": 0}}))
    assert sh.fetch_sheet_metadata()["sheets"][0]["conditionalFormats"][1]["ranges"][0] == {"sheetId": 0, "endRowIndex": 3}
    reply = ok(batch(sheets_emulator, sh.id, {"deleteConditionalFormatRule": {"sheetId": 0, "index": 1}}))
    assert reply["replies"][0]["deleteConditionalFormatRule"]["rule"]["booleanRule"]["condition"]["type"] == "TEXT_EQ"


def test_delete_and_duplicate_sheet(sh, sheets_emulator):
    ws = sh.add_worksheet("Two", 5, 5)
    ws.update([["x"]], "A1")
    dup = sh.duplicate_sheet(ws.id, new_sheet_name="Three")
    assert dup.get_all_values() == [["x"]]
    sh.del_worksheet(ws)
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "Three"]
    sh.del_worksheet(dup)
    err = error(batch(sheets_emulator, sh.id, {"deleteSheet": {"sheetId": 0}}))
    assert "You can't remove all the sheets" in err["message"]


def test_big_tab_written_in_one_request_and_read_back(sh, sheets_emulator):
    """15,000 x 12 cells fit one request under Google's 10 MiB body limit (about 8.5 MB as requests sends it)."""
    rows = [{"values": [{"userEnteredValue": {"stringValue": f"r{r}c{c}"}} for c in range(12)]} for r in range(15_000)]
    ok(batch(sheets_emulator, sh.id, {"addSheet": {"properties": {"sheetId": 9, "title": "Big", "gridProperties": {
        "rowCount": 15_000, "columnCount": 12}}}}, {"updateCells": {"start": {"sheetId": 9}, "rows": rows, "fields": "userEnteredValue"}}))
    got = sh.worksheet("Big").batch_get(["A1:L15000"])
    assert len(got[0]) == 15_000 and got[0][-1][-1] == "r14999c11"


def test_move_dimension_follows_googles_example_and_carries_what_is_anchored(sh, sheets_emulator):
    # MoveDimensionRequest's own example: A1..A5 = 0..4, rows [1, 3) to 4 -> 0, 3, 1, 2, 4
    sh.sheet1.update(values=[["0"], ["1"], ["2"], ["3"], ["4"]], range_name="A1:A5", raw=True)
    ok(batch(sheets_emulator, sh.id, {"moveDimension": {
        "source": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}, "destinationIndex": 4}}))
    assert sh.sheet1.col_values(1) == ["0", "3", "1", "2", "4"]
    # a column dragged left takes its cells, width and conditional-format range with it
    sh.sheet1.update(values=[["a", "b", "c"]], range_name="A1:C1", raw=True)
    ok(batch(sheets_emulator, sh.id,
             {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 2,
                                                      "endIndex": 3}, "properties": {"pixelSize": 333},
                                            "fields": "pixelSize"}},
             {"addConditionalFormatRule": {"index": 0, "rule": {
                 "ranges": [{"sheetId": 0, "startColumnIndex": 2, "endColumnIndex": 3}],
                 "booleanRule": {"condition": {"type": "NOT_BLANK"}, "format": {"textFormat": {"bold": True}}}}}},
             {"moveDimension": {"source": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 2, "endIndex": 3},
                                "destinationIndex": 0}}))
    assert sh.sheet1.row_values(1) == ["c", "a", "b"]
    meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1:C1"})["sheets"][0]
    assert meta["data"][0]["columnMetadata"][0]["pixelSize"] == 333
    assert meta["conditionalFormats"][0]["ranges"][0] == {"sheetId": 0, "startColumnIndex": 0, "endColumnIndex": 1}
    assert "destinationIndex" in error(batch(sheets_emulator, sh.id, {"moveDimension": {
        "source": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 1}, "destinationIndex": 5000}}))[
        "message"]
