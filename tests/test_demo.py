"""The first run: `sheetsync demo` on a fresh folder, with no Google account and no API key, shows the whole
loop — a stratified sample labelled by the example expert, three prompt iterations of a replayed judge, the
final check on test, the unlabelled rows counted — and every tab filled; with a local LLM server it uses that
instead; against the Sheets emulator it works the same."""

import json
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.demo import DIMENSIONS, SAMPLE, example_path, run_demo
from sheetsync.replay import CRITIQUE_MARK, REPLAY_MODEL
from sheetsync.testing.fake_openai import FakeOpenAI

EVERY_TAB = ["Instructions", "Annotate", "Judge", "Review", "Summary", "Agreement", "Disagreements", "Root causes",
             "Error analysis"]


def text_of(ws) -> str:
    return "\n".join(str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None)


def rows_of(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def table_after(ws, heading: str) -> tuple[list, list[list]]:
    grid = rows_of(ws)
    start = next(i for i, r in enumerate(grid) if r and r[0] and str(r[0]).startswith(heading)) + 1
    header = grid[start]
    body = []
    for r in grid[start + 1:]:
        if not r or r[0] is None or all(c is None for c in r[1:]):  # a blank row, or a note under the table
            break
        body.append(r)
    return header, body


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run with nothing configured (the replayed judge), shared by the tests that read it."""
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    env = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "SHEETS_EMULATOR_HOST": ""}
    result = CliRunner(env=env).invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    return out, result.output, openpyxl.load_workbook(out / "annotations.xlsx")


def test_every_tab_is_filled(demo):
    out, output, wb = demo
    assert wb.sheetnames == EVERY_TAB
    for title in EVERY_TAB:
        assert wb[title].max_row > 3, title
    for title in ("Agreement", "Disagreements", "Error analysis", "Summary"):
        assert "no judge run yet" not in text_of(wb[title]).lower(), title


def test_the_expert_labels_a_stratified_sample(demo):
    _, output, wb = demo
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    shown = pd.DataFrame(rows_of(ws)[1:], columns=header)
    assert len(shown) == SAMPLE < len(example)
    for dim in DIMENSIONS:  # every value of every dimension is in the sample
        assert set(shown[dim]) == set(example[dim]), dim
    assert (shown["Pass/Fail"].isin(["Pass", "Fail"])).all() and (shown["Critique"].str.len() > 50).all()
    assert f"Pushed a stratified sample of {SAMPLE} of the {len(example)} interactions" in output


def test_the_judge_is_replayed_and_says_so_wherever_it_shows(demo):
    _, output, wb = demo
    note = "replayed example judge — set OPENAI_API_KEY or OPENAI_BASE_URL to judge with a real model"
    assert note in output
    for title in ("Summary", "Agreement", "Error analysis"):  # the tabs with a preamble
        assert note in text_of(wb[title]), title
    judge = pd.DataFrame(rows_of(wb["Judge"])[1:], columns=rows_of(wb["Judge"])[0])
    assert set(judge["model"]) == {REPLAY_MODEL}
    # the table tabs: every judge critique says it was replayed, where it is read
    for title in ("Judge", "Review", "Disagreements"):
        table = pd.DataFrame(rows_of(wb[title])[1:], columns=rows_of(wb[title])[0])
        assert len(table) > 3 and table["judge critique"].str.startswith(CRITIQUE_MARK).all(), title
    # every row but the judge's own examples (train) has a verdict: dev, test and the unlabelled rows
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    assert set(judge["split"]) == {"dev", "test", "unlabeled"}
    assert (judge["split"] == "unlabeled").sum() == len(example) - SAMPLE
    labelled = judge[judge["split"] != "unlabeled"]
    agree = (labelled["agree?"] == "yes").mean()
    assert 0.7 < agree < 1.0  # most rows, not all, as a real judge


def test_three_prompt_iterations_make_a_history_with_one_line_per_split(demo):
    out, output, wb = demo
    ws = wb["Agreement"]
    header, runs = table_after(ws, "History of judge runs")
    h = {name: [r[i] for r in runs] for i, name in enumerate(header)}
    assert [r[0] for r in runs] == ["#1 dev", "#2 dev", "#3 dev", "#4 test", "#5 unlabeled"]
    assert len(set(h["prompt"][:3])) == 3 and h["prompt"][2] == h["prompt"][3] == h["prompt"][4]
    assert h["TNR"][0] < h["TNR"][2]  # the lessons helped
    (chart,) = ws._charts
    titles = [s.tx.strRef.f for s in chart.series]
    assert len(titles) == 4  # TPR and TNR, for dev and for test: never one line joining the two splits
    summary_charts = wb["Summary"]._charts
    assert len(summary_charts) == 1 and len(summary_charts[0].series) == 4
    prompts = sorted(p.name for p in (out / "prompts").glob("judge*.md"))
    assert prompts == ["judge-1.md", "judge-2.md", "judge-3.md", "judge.md"]
    assert (out / "prompts" / "judge.md").read_text() == (out / "prompts" / "judge-3.md").read_text()


def test_the_headline_is_the_corrected_pass_rate_on_the_unlabelled_rows(demo):
    _, output, wb = demo
    row = next(r for r in rows_of(wb["Summary"]) if r[0] == "Estimated pass rate (corrected)")
    theta, low, high, n = row[1:5]
    assert isinstance(theta, float) and low < theta < high and n == 180
    hidden = float(re.search(r"which the demo kept from the judge: ([\d.]+)% pass", output).group(1)) / 100
    assert low <= hidden <= high  # the example's own labels for those rows fall inside the interval
    # the README's first screen quotes this run's figures: they stay what the demo prints
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"in the demo run above, ([\d.]+)% estimated, ([\d.]+)% true", readme)
    assert quoted, "the README no longer quotes the demo's headline"
    assert (float(quoted.group(1)), float(quoted.group(2))) == (round(theta * 100, 1), round(hidden * 100, 1))
    ea = text_of(wb["Error analysis"])
    assert all(f"\n{d}\n" in f"\n{ea}\n" for d in DIMENSIONS)


def test_the_last_lines_name_only_tabs_that_exist_and_say_what_to_look_at_first(demo):
    _, output, wb = demo
    lines = output.rstrip().splitlines()
    opened = next(i for i, line in enumerate(lines) if line.startswith("Open "))
    named = [line.split()[0] if not line.strip().startswith(("Root", "Error")) else " ".join(line.split()[:2])
             for line in lines[opened + 1:] if line.startswith("  ")]
    assert named[0] == "Summary" and set(named) <= set(wb.sheetnames) and len(named) == 8


def test_example_data_is_labelled_as_example_data(demo):
    _, _, wb = demo
    for title in ("Instructions", "Summary", "Agreement", "Root causes", "Error analysis"):
        assert "EXAMPLE DATA" in text_of(wb[title]), title


def test_every_tab_prints_landscape_one_page_wide_with_its_header_on_every_page(demo):
    _, _, wb = demo
    for title in EVERY_TAB:
        ws = wb[title]
        assert ws.page_setup.orientation == "landscape", title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, title
        assert ws.page_setup.fitToHeight == 0, title
    for title in ("Annotate", "Judge", "Review", "Disagreements"):
        assert wb[title].print_title_rows == "$1:$1", title


def test_wrapped_critiques_get_rows_tall_enough(demo):
    _, _, wb = demo
    ws = wb["Judge"]
    header = [c.value for c in ws[1]]
    col = header.index("expert critique") + 1
    for r in range(2, 12):
        text = ws.cell(r, col).value or ""
        assert ws.row_dimensions[r].height is not None, r
        # about 55 characters per line in a 340 px column, 15 points a line
        assert ws.row_dimensions[r].height >= 15 * (len(text) // 60), (r, len(text))


def test_demo_with_a_local_llm_uses_it_instead(tmp_path, monkeypatch):
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    verdict_of = dict(zip(example["output"], example["expert_verdict"], strict=True))

    def judge(request):
        user = request["messages"][-1]["content"]
        verdict = next((v for out, v in verdict_of.items() if out in user), "pass")
        return {"critique": "As the expert would say.", "verdict": verdict}

    with FakeOpenAI(responder=judge) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        made = run_demo(tmp_path / "demo", echo=lambda s: None, progress=False)
        assert fake.call_count > 0
    assert made["judge"]["replayed"] is False and made["judge"]["model"] == "gpt-4.1-mini"
    wb = openpyxl.load_workbook(tmp_path / "demo" / "annotations.xlsx")
    assert "replayed" not in text_of(wb["Summary"])
    assert made["report"]["summary"]["corrected_pass_rate"] is not None


def test_demo_against_the_emulator(tmp_path, monkeypatch, sheets_emulator, gspread_client):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    result = CliRunner(env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}).invoke(
        cli, ["demo", "--out", str(tmp_path / "d"), "--spreadsheet", "Nordlys demo"])
    assert result.exit_code == 0, result.output + result.stderr
    book = gspread_client.open("Nordlys demo")
    values = book.worksheet("Annotate").get_all_values()
    assert len(values) == SAMPLE + 1 and values[0][0] == "id"
    assert [ws.title for ws in book.worksheets()] == EVERY_TAB


def test_demo_twice_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    first = run_demo(tmp_path / "demo", echo=lambda s: None, progress=False)
    lines: list[str] = []
    second = run_demo(tmp_path / "demo", echo=lines.append, progress=False)
    assert first["labels"] == second["labels"] == SAMPLE
    assert len(second["report"]["agreement"]["history"]) == len(first["report"]["agreement"]["history"]) == 5
    assert any("nothing to push" in line for line in lines) and any("not run again" in line for line in lines)
    wb = openpyxl.load_workbook(tmp_path / "demo" / "annotations.xlsx")
    assert wb.sheetnames.count("Annotate") == 1
    assert json.dumps(second, default=str)
