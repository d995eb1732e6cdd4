"""Google as it really is, end to end: pushes of every size under the 10 MiB request limit and inside the
per-minute quota, Google's 10 million cells, formulas in comma-decimal locales, and the expert's own
objects on the Annotate tab surviving re-pushes. Through the real gspread client against the emulator."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from sheetsync.backends.google import connect
from sheetsync.backends.google_http import client_for_emulator
from sheetsync.backends.google_pacing import Pacer
from sheetsync.backends.google_writes import DEFAULT_BODY_LIMIT
from sheetsync.config import load_config
from sheetsync.errors import UserInputError
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.workspace import init_workspace
from tests.test_backend_google import EMU_PRINCIPAL

WORDS = ["the", "booking", "fare", "change", "refund", "baggage", "hotel", "flight", "customer", "policy", "free", "fee", "date", "agent", "seat"]


class FakeTime:
    """A clock that only moves when someone sleeps: minutes of quota traffic in milliseconds."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def realistic(n: int, *, version: int = 0) -> list[dict[str, str]]:
    """~500-character inputs, ~1,500-character outputs, 3 dimensions; version 1: 10% of the outputs
    changed and 5% new rows."""
    rng = random.Random(n)

    def text(chars: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(chars // 6))

    rows = [{"id": f"r{i:06d}", "feature": f"f{i % 5}", "scenario": f"s{i % 7}", "persona": f"p{i % 3}",
             "input": text(500), "output": text(1500)} for i in range(n)]
    if version:
        for r in rows[::10]:
            r["output"] = "Revised. " + r["output"]
        rows += [{**r, "id": f"n{i:06d}"} for i, r in enumerate(realistic(max(1, n // 20)))]
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def workspace(tmp_path, monkeypatch, sheets_emulator):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    init_workspace(tmp_path, spreadsheet="Reality")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["feature", "scenario", "persona"]'))
    return load_config(toml)


def paced_workbook(em, gc, t: FakeTime):
    """A workbook whose requests are paced to Google's 60 + 60 a minute on a clock the emulator's quota
    buckets share: the quota is enforced exactly as on Google, without waiting minutes for real."""
    em.quotas.clock = t.clock
    em.set_quotas(60, 60)
    client = client_for_emulator(em.address, pacer=Pacer(60, 60, clock=t.clock, sleep=t.sleep), sleep=t.sleep,
                                 timeout=120)
    return connect(client, gc.create("Reality").id, EMU_PRINCIPAL)


@pytest.mark.timeout(900)  # 100,000 rows are 240 MB through HTTP, twice over: minutes on a busy 2-core machine
@pytest.mark.parametrize("n", [100, 1_000, 20_000, 100_000])
def test_pushes_of_every_size_fit_googles_limits_and_quota(n, workspace, tmp_path, sheets_emulator, gspread_client):
    t = FakeTime()
    wb = paced_workbook(sheets_emulator, gspread_client, t)
    write_rows(tmp_path / "data.csv", realistic(n))
    sheets_emulator.clear_log()
    first = push(workspace, tmp_path / "data.csv", workbook=wb)
    log = sheets_emulator.request_log
    assert len(first.added) == n and not [e for e in log if e.status == 429]  # paced: Google never refused
    assert max(e.body_size for e in log) <= DEFAULT_BODY_LIMIT
    assert first.requests <= -(-first.bytes_sent // DEFAULT_BODY_LIMIT) + 2

    write_rows(tmp_path / "data.csv", realistic(n, version=1))
    sheets_emulator.clear_log()
    again = push(workspace, tmp_path / "data.csv", workbook=wb)
    assert (again.updated, len(again.added)) == (n // 10, max(1, n // 20))
    assert not [e for e in sheets_emulator.request_log if e.status == 429]
    assert max(e.body_size for e in sheets_emulator.request_log) <= DEFAULT_BODY_LIMIT

    ws = gspread_client.open_by_key(wb.key).worksheet("Annotate")
    header = ws.row_values(1)
    ids = ws.col_values(header.index("id") + 1)[1:]
    assert len(ids) == len(set(ids)) == n + max(1, n // 20)
    probe = [0, n // 2, n - 1]
    cells = ws.batch_get([f"A{i + 2}:F{i + 2}" for i in probe])
    expected = realistic(n, version=1)
    for i, got in zip(probe, cells, strict=True):
        assert got[0] == [expected[i][h] for h in ("id", "feature", "scenario", "persona", "input", "output")]
    assert pull(workspace, workbook=wb).rows == n + max(1, n // 20)


def test_a_push_past_googles_ten_million_cells_stops_before_writing(workspace, tmp_path, sheets_emulator,
                                                                   gspread_client):
    sh = gspread_client.create("Reality")
    sheets_emulator.act(sh.id, [{"updateSheetProperties": {  # the expert's own tab is nearly full
        "properties": {"sheetId": 0, "title": "Raw logs", "gridProperties": {"rowCount": 99_990, "columnCount": 100}},
        "fields": "title,gridProperties(rowCount,columnCount)"}}])
    write_rows(tmp_path / "data.csv", realistic(100))
    sheets_emulator.clear_log()
    with pytest.raises(UserInputError, match=r"needs 10,0\d\d,\d\d\d cells .* at most 10,000,000\. Push fewer rows"):
        push(workspace, tmp_path / "data.csv", spreadsheet=sh.url)
    assert not [e for e in sheets_emulator.request_log if e.kind == "write"]
    assert [w.title for w in gspread_client.open_by_key(sh.id).worksheets()] == ["Raw logs"]


@pytest.mark.parametrize(("locale", "separator"), [("en_US", ","), ("de_DE", ";"), ("fr_FR", ";")])
def test_rules_parse_in_the_spreadsheets_locale(locale, separator, workspace, tmp_path, sheets_emulator,
                                                gspread_client):
    """Google parses custom formulas as the user would type them: in de_DE and fr_FR a "," between
    arguments is refused (the emulator refuses the whole batch, as Google does)."""
    sheets_emulator.default_locale = locale
    write_rows(tmp_path / "data.csv", realistic(5))
    push(workspace, tmp_path / "data.csv")
    meta = gspread_client.open("Reality").fetch_sheet_metadata({"fields": "properties.locale,sheets(properties.title,"
                                                                "conditionalFormats)"})
    assert meta["properties"]["locale"] == locale
    rules = next(s for s in meta["sheets"] if s["properties"]["title"] == "Annotate")["conditionalFormats"]
    formulas = [r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in rules]
    assert len(formulas) == 4 and all(f'{separator}N("sheetsync")=0)' in f for f in formulas)
    write_rows(tmp_path / "data.csv", realistic(6))
    push(workspace, tmp_path / "data.csv")  # a re-push recognises its own rules in that locale: no duplicates
    meta = gspread_client.open("Reality").fetch_sheet_metadata({"fields": "sheets(properties.title,conditionalFormats)"})
    assert len(next(s for s in meta["sheets"] if s["properties"]["title"] == "Annotate")["conditionalFormats"]) == 4


def test_the_experts_own_chart_rule_and_dropdown_survive_three_re_pushes(workspace, tmp_path, sheets_emulator,
                                                                          gspread_client):
    write_rows(tmp_path / "data.csv", realistic(12))
    push(workspace, tmp_path / "data.csv")
    sh = gspread_client.open("Reality")
    annotate = sh.worksheet("Annotate")
    sid, mine = annotate.id, annotate.col_count  # the expert adds a column of their own at the right
    sheets_emulator.act(sh.id, [
        {"appendDimension": {"sheetId": sid, "dimension": "COLUMNS", "length": 1}},
        {"updateCells": {"start": {"sheetId": sid, "rowIndex": 0, "columnIndex": mine},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "My flag"}}]}],
                         "fields": "userEnteredValue"}},
        {"setDataValidation": {"range": {"sheetId": sid, "startRowIndex": 1, "startColumnIndex": mine,
                                         "endColumnIndex": mine + 1},
                               "rule": {"condition": {"type": "ONE_OF_LIST", "values": [
                                   {"userEnteredValue": "check"}, {"userEnteredValue": "ok"}]}, "showCustomUi": True}}},
        {"addConditionalFormatRule": {"index": 0, "rule": {
            "ranges": [{"sheetId": sid, "startRowIndex": 1, "startColumnIndex": 5, "endColumnIndex": 6}],
            "booleanRule": {"condition": {"type": "TEXT_CONTAINS", "values": [{"userEnteredValue": "refund"}]},
                            "format": {"backgroundColor": {"red": 1, "green": 1, "blue": 0}}}}}},
        {"addChart": {"chart": {"spec": {"title": "My chart", "basicChart": {
            "chartType": "COLUMN", "domains": [{"domain": {"sourceRange": {"sources": [
                {"sheetId": sid, "startRowIndex": 0, "endRowIndex": 13, "startColumnIndex": 1, "endColumnIndex": 2}]}}}],
            "series": [{"series": {"sourceRange": {"sources": [
                {"sheetId": sid, "startRowIndex": 0, "endRowIndex": 13, "startColumnIndex": 2, "endColumnIndex": 3}]}}}]}},
            "position": {"overlayPosition": {"anchorCell": {"sheetId": sid, "rowIndex": 2, "columnIndex": 2}}}}}},
    ])
    before = _experts_objects(gspread_client, sh.id)
    for version in (13, 14, 15):  # three re-pushes, each with a new row and a changed one
        rows = realistic(version)
        rows[0]["output"] = f"changed {version}"
        write_rows(tmp_path / "data.csv", rows)
        push(workspace, tmp_path / "data.csv")
    assert _experts_objects(gspread_client, sh.id) == before


def _experts_objects(gc, key: str) -> dict:
    meta = gc.open_by_key(key).fetch_sheet_metadata({
        "includeGridData": "true", "ranges": "'Annotate'!A2:Z2",
        "fields": "sheets(properties.title,charts(chartId,spec.title),conditionalFormats,"
                  "data.rowData.values.dataValidation)"})
    (sheet,) = meta["sheets"]
    validations = [v.get("dataValidation") for v in sheet["data"][0]["rowData"][0]["values"]]
    return {
        "charts": [c for c in sheet.get("charts", []) if c["spec"]["title"] == "My chart"],
        "rules": [r for r in sheet["conditionalFormats"] if r["booleanRule"]["condition"]["type"] == "TEXT_CONTAINS"],
        "dropdown": json.dumps([v for v in validations if v and "check" in json.dumps(v)]),
    }


def test_a_long_write_shows_its_progress_on_stderr(workspace, tmp_path, sheets_emulator, monkeypatch):
    from click.testing import CliRunner

    from sheetsync.cli import cli

    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("[google]", "[google]\nmax_request_bytes = 65536", 1))
    write_rows(tmp_path / "data.csv", realistic(200))
    result = CliRunner().invoke(cli, ["push", "data.csv", "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Writing: request")]
    total = json.loads(result.stdout)["requests"]
    assert total > 5 and lines[-1].startswith(f"Writing: request {total} of {total} (") and lines[-1].endswith("done")
    assert "Writing" not in result.stdout  # machine output stays machine output
