"""Process entry point, persistence, and the emulator's responses checked against Google's own schemas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jsonschema

from sheetsync.backends.google_http import client_for_emulator
from sheetsync.emulator import Emulator
from sheetsync.emulator.schema import json_schema, validate
from tests.emulator.helpers import call, ok

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_module_entry_point_prints_address_fast(tmp_path):
    state = tmp_path / "state.json"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sheetsync.emulator", "--port", "0", "--state", str(state)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert time.monotonic() - started < 15.0, line  # start-up speed is measured by scripts/bench_emulator.py
        assert line.startswith("Sheets emulator listening on http://127.0.0.1:")
        host = line.strip().rsplit("//", 1)[1]
        client_for_emulator(host).create("From process")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    assert proc.returncode == 0 and "From process" in state.read_text()


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "s.json"
    with Emulator(state_file=state) as em:
        sh = client_for_emulator(em.address).create("Kept")
        sh.sheet1.update([["=1+1", "x"]], "A1", value_input_option="USER_ENTERED")
        sh.sheet1.add_protected_range("A1", warning_only=True)
    with Emulator(state_file=state) as em:
        again = client_for_emulator(em.address).open("Kept")
        assert again.sheet1.get("A1:B1", value_render_option="FORMULA") == [["=1+1", "x"]]
        assert em.spreadsheet(sh.id).sheet("Sheet1").protected_ranges[0]["warningOnly"] is True


def test_responses_fit_googles_schemas(gspread_client, sheets_emulator):
    sh = gspread_client.create("S")
    ws = sh.sheet1
    ws.update([["a", 1]], "A1")
    ws.add_protected_range("A1", warning_only=True)
    ws.format("A1", {"textFormat": {"bold": True}})
    checks = {
        "Spreadsheet": ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}", includeGridData="true")),
        "ValueRange": ok(call(sheets_emulator, "GET", f"/v4/spreadsheets/{sh.id}/values/Sheet1")),
        "AppendValuesResponse": ws.append_rows([["b"]]),
        "BatchUpdateSpreadsheetResponse": sh.batch_update({"requests": [{"addSheet": {}}]}),
        "BatchUpdateValuesResponse": ws.batch_update([{"range": "A1", "values": [["c"]]}]),
    }
    for name, body in checks.items():
        jsonschema.Draft7Validator(json_schema(name)).validate(body)


def test_fast_validator_agrees_with_jsonschema():
    bodies = [
        {"requests": [{"addSheet": {"properties": {"title": "x", "gridProperties": {"rowCount": 3}}}}]},
        {"requests": [{"addSheet": {"properties": {"titel": "x"}}}]},
        {"requests": [{"repeatCell": {"cell": {"userEnteredFormat": {"horizontalAlignment": "MIDDLE"}}}}]},
        {"requests": [{"repeatCell": {"cell": {"userEnteredFormat": {"horizontalAlignment": "CENTER"}}, "fields": None}}]},
        {"requests": [{"updateCells": {"rows": [{"values": [{"userEnteredValue": {"numberValue": "x"}}]}]}}]},
        {"requests": "nope"},
    ]
    schema = json_schema("BatchUpdateSpreadsheetRequest")
    for body in bodies:
        expected = jsonschema.Draft7Validator(schema).is_valid(body)
        try:
            validate(body, "BatchUpdateSpreadsheetRequest")
            got = True
        except Exception:
            got = False
        assert got == expected, body
