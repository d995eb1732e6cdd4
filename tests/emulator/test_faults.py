"""Scripted faults, the request log and the control endpoints (quotas: test_limits.py; tokens: test_identity.py)."""

from __future__ import annotations

import time

import pytest
import requests

from sheetsync.backends.google_http import RetriesExhaustedError, client_for_emulator
from tests.emulator.helpers import call, ok


@pytest.mark.parametrize("kind", ["500", "503", "429"])
def test_error_faults_are_retried_then_succeed(gspread_client, sheets_emulator, kind):
    sh = gspread_client.create("F")
    sheets_emulator.add_fault(kind, method="GET", path_contains="/values/", count=2)
    sh.sheet1.get_all_values()
    statuses = [e.status for e in sheets_emulator.request_log if "/values/" in e.path]
    assert statuses == [int(kind), int(kind), 200]


def test_fault_bodies(gspread_client, sheets_emulator):
    sh = gspread_client.create("F")
    for kind, status in (("500", "INTERNAL"), ("503", "UNAVAILABLE")):
        sheets_emulator.add_fault(kind)
        assert call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}").json()["error"]["status"] == status


def test_hang_past_client_timeout_and_drop(sheets_emulator):
    client = client_for_emulator(sheets_emulator.address, timeout=0.2, max_attempts=2, sleep=lambda s: None)
    sh = client.create("H")
    sheets_emulator.add_fault("hang", path_contains="/values/", seconds=1.0, count=2)
    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError, match="failed 2 time"):
        sh.sheet1.get_all_values()
    assert time.monotonic() - started < 1.8  # gave up at the client's timeouts, not after the 2 x 1 s hangs
    sheets_emulator.add_fault("drop", path_contains="/values/")
    assert sh.sheet1.get_all_values() == [[]]  # dropped once, retried
    assert [e.fault for e in sheets_emulator.request_log if e.fault][-1] == "drop"
    sheets_emulator.add_fault("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(sheets_emulator.url + "/drive/v3/files", timeout=2)


def test_request_log_counts_calls(gspread_client, sheets_emulator):
    ws = gspread_client.create("L").sheet1
    sheets_emulator.clear_log()
    ws.update([["a"]], "A1")
    ws.batch_get(["A1"])
    log = sheets_emulator.request_log
    assert [(e.method, e.kind, e.status) for e in log] == [("PUT", "write", 200), ("GET", "read", 200)]
    assert log[0].body_size > 0 and log[0].query == "valueInputOption=RAW&prettyPrint=false"


def test_http_controls_and_token(sheets_emulator, gspread_client):
    sh = gspread_client.create("C")
    ok(call(sheets_emulator, "POST", "/_emulator/faults", {"kind": "503", "count": 1}))
    assert call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}").status_code == 503
    ok(call(sheets_emulator, "POST", "/_emulator/quotas", {"write_per_minute": 0}))
    assert call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}:batchUpdate", {"requests": []}).status_code == 429
    entries = ok(call(sheets_emulator, "GET", "/_emulator/log"))["entries"]
    assert {"method", "path", "status", "body_size", "kind"} <= set(entries[0])
    assert ok(call(sheets_emulator, "GET", f"/_emulator/spreadsheets/{sh.id}"))["spreadsheetId"] == sh.id
    ok(call(sheets_emulator, "POST", "/_emulator/reset"))
    assert call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}").status_code == 404


def test_answers_are_indented_unless_the_request_says_prettyprint_false(gspread_client, sheets_emulator):
    """Google's system parameter prettyPrint defaults to true: an answer is indented JSON. sheetsync's
    transport asks for compact answers; a request that does not gets what Google would send."""
    import requests

    sh = gspread_client.create("P")
    url = f"http://{sheets_emulator.address}/v4/spreadsheets/{sh.id}?fields=properties.title"
    assert requests.get(url, timeout=5).text == '{\n  "properties": {\n    "title": "P"\n  }\n}'
    assert requests.get(url + "&prettyPrint=false", timeout=5).text == '{"properties":{"title":"P"}}'
    sheets_emulator.clear_log()
    sh.fetch_sheet_metadata({"fields": "properties.title"})
    assert "prettyPrint=false" in sheets_emulator.request_log[0].query
