"""The report on Google Sheets, through the local emulator: every tab and chart exists exactly once after two
runs, each run is one batchUpdate, and the figures read back are the ones written."""

import pytest

from sheetsync.backends.google import spreadsheet_key
from sheetsync.report import report
from sheetsync.testing.emulator import _sheets_emulator_server, gspread_client, sheets_emulator  # noqa: F401
from tests.test_report import REPORT_TABS, expected, judged, reference, templates  # noqa: F401


@pytest.fixture
def emulated(judged, sheets_emulator, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    return judged


def batch_updates(em):
    return [e for e in em.request_log if ":batchUpdate" in e.path and "/values" not in e.path]


def test_report_on_google_sheets_twice_keeps_one_of_each(emulated, sheets_emulator, gspread_client):  # noqa: F811
    first = report(emulated, spreadsheet="Stakeholder report")
    key = spreadsheet_key(first.url)  # the emulator's own URL for it
    n_writes = len(batch_updates(sheets_emulator))
    second = report(emulated, spreadsheet=key)
    assert len(batch_updates(sheets_emulator)) == n_writes + 1  # all tabs in ONE batchUpdate

    meta = gspread_client.open_by_key(key).fetch_sheet_metadata()
    titles = [s["properties"]["title"] for s in meta["sheets"]]
    assert [t for t in titles if t in REPORT_TABS] == REPORT_TABS and len(titles) == len(set(titles))
    charts = {s["properties"]["title"]: s.get("charts", []) for s in meta["sheets"]}
    assert {t: len(charts[t]) for t in REPORT_TABS} == {"Summary": 1, "Agreement": 1, "Disagreements": 0,
                                                         "Root causes": 1, "Error analysis": 0}
    kinds = {charts[t][0]["spec"]["basicChart"]["chartType"] for t in ("Summary", "Agreement")}
    assert kinds == {"LINE"} and charts["Root causes"][0]["spec"]["basicChart"]["chartType"] == "BAR"
    assert len(charts["Agreement"][0]["spec"]["basicChart"]["series"]) == 4  # TPR, TNR × dev, test

    ws = gspread_client.open_by_key(key).worksheet("Agreement")
    grid = ws.get_all_values(value_render_option="UNFORMATTED_VALUE")
    tpr = next(r for r in grid if r and r[0] == "TPR (pass recall)")
    assert tpr[1] == pytest.approx(reference(*expected(["test"]))["tpr"], abs=1e-9)
    assert second.to_dict()["tabs"] == REPORT_TABS
