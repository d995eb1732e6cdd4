"""Spreadsheet locale: properties.locale, and formulas parsed in it (rules refused, cells shown as #ERROR!)."""

from __future__ import annotations

import pytest

from sheetsync.backends.google_http import client_for_emulator
from sheetsync.emulator import Emulator
from tests.emulator.helpers import batch, call, error, ok

TAGGED = '=AND(A1="x",N("y")=0)'  # sheetsync's owner-tagged rule, written the en_US way
COMMA_DECIMAL = ["de_DE", "fr_FR", "pt_BR", "es_ES", "it_IT", "nl_NL", "ru_RU", "tr_TR"]


def new_sheet(em, locale: str | None = None) -> str:
    props = {"title": "L"} | ({"locale": locale} if locale else {})
    return ok(call(em, "POST", "/v4/spreadsheets", {"properties": props}))["spreadsheetId"]


def locale_of(em, sid: str) -> str:
    return ok(call(em, "GET", f"/v4/spreadsheets/{sid}", fields="properties.locale"))["properties"]["locale"]


def custom_rule(formula: str) -> dict:
    return {"addConditionalFormatRule": {"index": 0, "rule": {
        "ranges": [{"sheetId": 0, "startRowIndex": 1, "endRowIndex": 10}],
        "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                        "format": {"backgroundColor": {"red": 1}}}}}}


def test_locale_on_create_get_update_and_the_drive_default(sheets_emulator, gspread_client):
    sid = new_sheet(sheets_emulator, "de_DE")
    assert locale_of(sheets_emulator, sid) == "de_DE"
    assert locale_of(sheets_emulator, gspread_client.create("Via Drive").id) == "en_US"
    ok(batch(sheets_emulator, sid, {"updateSpreadsheetProperties": {"properties": {"locale": "fr_FR"},
                                                                    "fields": "locale"}}))
    assert locale_of(sheets_emulator, sid) == "fr_FR"
    bad = error(batch(sheets_emulator, sid, {"updateSpreadsheetProperties": {"properties": {"locale": "German"},
                                                                             "fields": "locale"}}))
    assert bad["message"].startswith("Invalid requests[0].updateSpreadsheetProperties: Invalid locale: 'German'")
    assert error(call(sheets_emulator, "POST", "/v4/spreadsheets", {"properties": {"locale": "xx-YY"}}))
    with Emulator(default_locale="de_DE") as em:
        assert locale_of(em, client_for_emulator(em.address).create("German by default").id) == "de_DE"
        assert locale_of(em, new_sheet(em)) == "de_DE"


@pytest.mark.parametrize("locale", COMMA_DECIMAL)
def test_a_comma_separated_rule_is_refused_in_comma_decimal_locales(sheets_emulator, locale):
    sid = new_sheet(sheets_emulator, locale)
    err = error(batch(sheets_emulator, sid, {"addSheet": {"properties": {"title": "Half"}}}, custom_rule(TAGGED)))
    assert err["status"] == "INVALID_ARGUMENT"
    assert err["message"].startswith(
        f"Invalid requests[1].addConditionalFormatRule: Invalid ConditionValue.userEnteredValue: {TAGGED} "
        f"(formula parse error in locale {locale}:")
    assert "';'" in err["message"]
    assert [s.title for s in sheets_emulator.spreadsheet(sid).sheets] == ["Sheet1"]  # nothing applied
    ok(batch(sheets_emulator, sid, custom_rule(TAGGED.replace(",", ";"))))


def test_en_us_takes_commas_and_semicolons_but_not_broken_formulas(sheets_emulator):
    sid = new_sheet(sheets_emulator)
    ok(batch(sheets_emulator, sid, custom_rule(TAGGED), custom_rule(TAGGED.replace(",", ";"))))
    for broken in ('=AND(A1="x",N("y")=0', '=AND(A1="x)', "=1+", "=ROUND(1,5.5.5)"):
        assert "formula parse error in locale en_US" in error(batch(sheets_emulator, sid, custom_rule(broken)))["message"]
    assert len(sheets_emulator.spreadsheet(sid).sheet(0).conditional_formats) == 2


def test_data_validation_formulas_are_parsed_in_the_locale(sheets_emulator):
    sid = new_sheet(sheets_emulator, "fr_FR")

    def validation(kind: str, value: str) -> dict:
        return {"setDataValidation": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 5},
                                      "rule": {"condition": {"type": kind, "values": [{"userEnteredValue": value}]}}}}

    err = error(batch(sheets_emulator, sid, validation("CUSTOM_FORMULA", '=OR(A2="pass",A2="fail")')))
    assert err["message"].startswith("Invalid requests[0].setDataValidation: Invalid ConditionValue.userEnteredValue")
    ok(batch(sheets_emulator, sid, validation("CUSTOM_FORMULA", '=OR(A2="pass";A2="fail")'),
             validation("ONE_OF_RANGE", "=Sheet1!Z1:Z3"), validation("NUMBER_GREATER", "=MAX(1,5;2)")))


def test_formula_cells_are_stored_and_shown_as_errors_when_they_do_not_parse(sheets_emulator, gspread_client):
    sid = new_sheet(sheets_emulator, "de_DE")
    sh = gspread_client.open_by_key(sid)
    ws = sh.sheet1
    ws.update([["=IF(B1,1,2)", "=SUM(1,5;2)", "1,5", "1.000,5"]], "A1", value_input_option="USER_ENTERED")
    assert ws.get("A1:D1", value_render_option="FORMULA") == [["=IF(B1,1,2)", "=SUM(1,5;2)", 1.5, 1000.5]]
    assert ws.get("A1:B1") == [["#ERROR!", "#NAME?"]]  # a parse error; a valid formula the emulator won't evaluate
    cell = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "A1"})["sheets"][0]["data"][0]
    assert cell["rowData"][0]["values"][0]["effectiveValue"] == {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}
    ok(batch(sheets_emulator, sid, {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1}, "fields": "userEnteredValue",
                                                    "rows": [{"values": [{"userEnteredValue": {"formulaValue": TAGGED}}]}]}}))
    assert ws.get("A2") == [["#ERROR!"]]
    us = gspread_client.create("US").sheet1
    us.update([["1,5", "=IF(B1,1;2)"]], "A1", value_input_option="USER_ENTERED")  # both separators in en_US
    assert us.get("A1:B1", value_render_option="UNFORMATTED_VALUE") == [["1,5", "#NAME?"]]


def test_broken_formulas_survive_a_restart(tmp_path):
    state = tmp_path / "s.json"
    with Emulator(state_file=state) as em:
        sid = new_sheet(em, "de_DE")
        em.act_values(sid, "Sheet1!A1", [["=IF(A2,1,2)"]])
    with Emulator(state_file=state) as em:
        assert ok(call(em, "GET", f"/v4/spreadsheets/{sid}/values/A1"))["values"] == [["#ERROR!"]]
