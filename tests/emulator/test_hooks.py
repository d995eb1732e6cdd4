"""Test hooks (the expert acting inside a request's window), act/act_values, and faults that apply a
request and then lose its answer."""

from __future__ import annotations

import time

import pytest
import requests

from sheetsync.backends.google_http import client_for_emulator
from sheetsync.emulator.errors import ApiError
from tests.emulator.helpers import call, ok


def insert_row(sheet_id: int, at: int) -> dict:
    return {"insertDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": at, "endIndex": at + 1}}}


def test_a_before_hook_acts_as_the_expert_before_the_request_lands(gspread_client, sheets_emulator):
    sh = gspread_client.create("H")
    ws = sh.sheet1
    ws.update([["head"], ["r1"]], "A1")
    sheets_emulator.set_quotas(write_per_minute=1)
    sheets_emulator.clear_log()
    seen = []

    def expert(info):
        seen.append((info.method, info.kind, info.body["values"]))
        sheets_emulator.act(sh.id, [insert_row(0, 1)])  # the expert inserts a row where sheetsync will write

    hook = sheets_emulator.on_request(expert, method="PUT", path_contains="/values/")
    ws.update([["new"]], "A2")
    assert ws.get_all_values() == [["head"], ["new"], ["r1"]]
    assert seen == [("PUT", "write", [["new"]])] and hook.calls == 1
    assert [(e.method, e.status) for e in sheets_emulator.request_log] == [("PUT", 200), ("GET", 200)]  # act: not logged
    # act was not charged: the client's one write of the minute went through


def test_an_after_hook_runs_once_applied_and_before_the_answer(gspread_client, sheets_emulator):
    sh = gspread_client.create("A")
    ws = sh.sheet1
    states = []

    def expert(info):
        states.append((info.status, sheets_emulator.spreadsheet(sh.id).sheet("Sheet1").values()))
        sheets_emulator.act_values(sh.id, "Sheet1!B1", [["typed by the expert"]])

    sheets_emulator.on_request(expert, kind="write", when="after")
    reply = ws.update([["written"]], "A1")
    assert states == [(200, [["written"]])]
    assert reply["updatedRange"] == "Sheet1!A1"
    assert ws.get_all_values() == [["written", "typed by the expert"]]


def test_nth_kind_and_method_select_the_request(gspread_client, sheets_emulator):
    sh = gspread_client.create("N")
    ws = sh.sheet1
    fired = []
    second_write = sheets_emulator.on_request(lambda info: fired.append(info.path), kind="write", nth=2)
    reads = sheets_emulator.on_request(lambda info: fired.append("read"), kind="read", method="GET")
    ws.update([["1"]], "A1")
    ws.update([["2"]], "B1")
    ws.update([["3"]], "C1")
    assert second_write.calls == 1 and second_write.matched == 2
    assert fired.count("read") == reads.calls == 0
    assert fired == [f"/v4/spreadsheets/{sh.id}/values/'Sheet1'!B1"]
    ws.get_all_values()
    assert reads.calls == 1
    reads.remove()
    ws.get_all_values()
    assert reads.calls == 1


def test_a_hook_may_call_the_emulator_over_http_without_deadlock_or_recursion(gspread_client, sheets_emulator):
    sh = gspread_client.create("R")
    ws = sh.sheet1
    expert = client_for_emulator(sheets_emulator.address, timeout=5)

    def typing(info):
        expert.open_by_key(sh.id).sheet1.update([["expert"]], "B1")  # HTTP from inside the server

    hook = sheets_emulator.on_request(typing, kind="write")
    ws.update([["sheetsync"]], "A1")
    assert hook.calls == 1  # the expert's own write fired no hook
    assert ws.get_all_values() == [["sheetsync", "expert"]]


def test_a_failing_hook_is_a_500_and_is_reported(gspread_client, sheets_emulator):
    sh = gspread_client.create("F")

    def broken(info):
        raise ValueError("the test's own bug")

    sheets_emulator.on_request(broken, kind="read")
    resp = call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}")
    assert resp.status_code == 500 and "the test's own bug" in resp.json()["error"]["message"]
    assert [repr(e) for e in sheets_emulator.hooks.errors] == ["ValueError(\"the test's own bug\")"]
    sheets_emulator.hooks.errors.clear()  # else the fixture fails this test at teardown, as it should


def test_act_is_validated_like_any_batch_update(gspread_client, sheets_emulator):
    sh = gspread_client.create("V")
    with pytest.raises(ApiError, match="No grid with id: 7"):
        sheets_emulator.act(sh.id, [insert_row(7, 0)])
    with pytest.raises(ApiError, match="Requested entity was not found"):
        sheets_emulator.act("nope", [])
    got = ok(call(sheets_emulator, "POST", "/_emulator/act", {"spreadsheetId": sh.id, "requests": [
        {"addSheet": {"properties": {"title": "Expert's"}}}]}))
    assert got["replies"][0]["addSheet"]["properties"]["title"] == "Expert's"
    ok(call(sheets_emulator, "POST", "/_emulator/act-values", {"spreadsheetId": sh.id, "range": "Sheet1!A1",
                                                              "values": [["=1+1"]]}))
    assert sh.sheet1.get("A1", value_render_option="FORMULA") == [["=1+1"]]  # typed, so USER_ENTERED


def drive_spreadsheets(em, title):
    return [s for s in em.state.spreadsheets.values() if s.title == title]


def test_drop_after_applies_the_create_and_a_blind_retry_makes_a_second_file(sheets_emulator):
    once = client_for_emulator(sheets_emulator.address, max_attempts=1, sleep=lambda s: None)
    sheets_emulator.add_fault("drop_after", method="POST", path_contains="/drive/v3/files")
    with pytest.raises(requests.ConnectionError):  # sheetsync's transport never repeats a create itself
        once.create("Report")
    assert len(drive_spreadsheets(sheets_emulator, "Report")) == 1  # created, though the answer was lost
    assert [e.status for e in sheets_emulator.request_log if e.fault] == [0]
    retrying = client_for_emulator(sheets_emulator.address, max_attempts=3, sleep=lambda s: None)
    sheets_emulator.add_fault("drop_after", method="POST", path_contains="/drive/v3/files")
    with pytest.raises(requests.ConnectionError):
        retrying.create("Twice")
    retrying.create("Twice")  # a blind retry, by hand
    assert len(drive_spreadsheets(sheets_emulator, "Twice")) == 2  # what Google does to a blind retry


def test_hang_after_applies_then_holds_the_answer_past_the_client_timeout(sheets_emulator):
    client = client_for_emulator(sheets_emulator.address, timeout=0.3, max_attempts=1)
    sheets_emulator.add_fault("hang_after", method="POST", path_contains="/drive/v3/files", seconds=30)
    with pytest.raises(requests.Timeout):
        client.create("Slow create")
    assert len(drive_spreadsheets(sheets_emulator, "Slow create")) == 1
    assert any(e.fault == "hang_after" for e in sheets_emulator.request_log)
    # the fixture's reset releases the held answer; it is dropped, not delivered into the next test


def test_a_request_held_across_a_reset_is_dropped_not_applied(sheets_emulator):
    sheets_emulator.add_fault("hang", method="POST", path_contains="/drive/v3/files", seconds=30)
    with pytest.raises(requests.Timeout):
        requests.post(sheets_emulator.url + "/drive/v3/files", json={"name": "late"}, timeout=0.3)
    sheets_emulator.reset()
    time.sleep(0.3)  # give the released server thread time to (wrongly) apply it
    assert ok(call(sheets_emulator, "GET", "/drive/v3/files"))["files"] == []
