"""The first run: `sheetsync demo` on a fresh folder, with no Google account and no API key; with a local
LLM server; and against the Sheets emulator."""

import json

import openpyxl
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.demo import run_demo
from sheetsync.testing.fake_openai import FakeOpenAI


def test_demo_without_llm_makes_a_workbook_worth_opening(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Skipped the judge: no LLM configured" in result.output and "OPENAI_BASE_URL" in result.output
    assert "Played the example expert" in result.output
    wb = openpyxl.load_workbook(out / "annotations.xlsx")
    assert wb.sheetnames[:2] == ["Instructions", "Annotate"]
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    assert {"feature", "scenario", "persona", "policy_facts", "Pass/Fail", "Critique", "Root cause"} <= set(header)
    assert ws.max_row >= 121
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation]
    assert '"Pass,Fail"' in lists
    colours = {rule.dxf.fill.fgColor.rgb[-6:] for rng in ws.conditional_formatting for rule in rng.rules
               if rule.dxf and rule.dxf.fill is not None}
    assert {"D9EAD3", "F4CCCC"} <= colours  # Pass green, Fail red
    verdicts = [r[header.index("Pass/Fail")] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert verdicts.count("Pass") == 67 and verdicts.count("Fail") == 53
    # the report tabs are there even before any judge run, and say what to do next
    assert {"Summary", "Agreement", "Root causes", "Error analysis"} <= set(wb.sheetnames)
    charts = wb["Root causes"]._charts
    assert len(charts) == 1 and charts[0].tagname == "barChart"
    summary_text = " ".join(str(c) for row in wb["Summary"].iter_rows(values_only=True) for c in row if c)
    assert "sheetsync judge" in summary_text


def test_demo_with_a_local_llm_runs_the_judge(tmp_path, monkeypatch):
    def judge(request):
        user = request["messages"][-1]["content"]
        return {"critique": "checked", "verdict": "fail" if "refund" in user.lower() else "pass"}

    with FakeOpenAI(responder=judge) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        made = run_demo(tmp_path / "demo", echo=lambda s: None, progress=False)
        assert fake.call_count > 0
    assert made["judge_dev"]["n"] > 0 and made["judge_test"]["n"] > 0
    wb = openpyxl.load_workbook(tmp_path / "demo" / "annotations.xlsx")
    assert "Judge" in wb.sheetnames


def test_demo_against_the_emulator(tmp_path, monkeypatch, sheets_emulator, gspread_client):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--spreadsheet", "Nordlys demo"])
    assert result.exit_code == 0, result.output + result.stderr
    ws = gspread_client.open("Nordlys demo").worksheet("Annotate")
    values = ws.get_all_values()
    assert len(values) == 121 and values[0][0] == "id"


def test_demo_twice_is_idempotent(tmp_path):
    first = run_demo(tmp_path / "demo", echo=lambda s: None)
    second = run_demo(tmp_path / "demo", echo=lambda s: None)
    assert first["labels"] == second["labels"] == 120
    wb = openpyxl.load_workbook(tmp_path / "demo" / "annotations.xlsx")
    assert wb.sheetnames.count("Annotate") == 1
    assert json.dumps(second, default=str)
