"""The commands as a user types them: emulator, auth check, report gates, focused review batches, the CLI
reference, and Ctrl-C."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.expert import Expert
from tests.test_judge import perfect_judge, rows, write_csv

ROOT = Path(__file__).resolve().parent.parent


def test_emulator_command_serves_until_interrupted(tmp_path):
    state = tmp_path / "sheets.json"
    proc = subprocess.Popen([sys.executable, "-m", "sheetsync", "emulator", "--port", "0", "--state", str(state)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Sheets emulator listening on http://127.0.0.1:")
        host = line.strip().rsplit("/", 1)[-1]
        from sheetsync.backends.google_http import client_for_emulator

        gc = client_for_emulator(host)
        gc.create("kept").sheet1.update(values=[["x"]], range_name="A1")
        assert proc.poll() is None  # still serving
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "kept" in state.read_text()


def test_auth_check_names_identity_and_reachability(tmp_path, monkeypatch, sheets_emulator):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runner.invoke(cli, ["init"])
    local = runner.invoke(cli, ["auth", "check", "--spreadsheet", "book.xlsx"])
    assert local.exit_code == 0, local.output
    assert "identity: local file (xlsx)" in local.output and "book.xlsx" in local.output
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    from sheetsync.backends.google_http import client_for_emulator

    key = client_for_emulator(sheets_emulator.address).create("Team labels").id
    google = runner.invoke(cli, ["auth", "check", "--spreadsheet", key])
    assert google.exit_code == 0, google.output
    assert "emulator" in google.output and "reachable: yes" in google.output
    missing = runner.invoke(cli, ["auth", "check", "--spreadsheet", "x" * 30])
    assert missing.exit_code == 2 and "not found" in missing.stderr


@pytest.fixture
def judged_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    write_csv(tmp_path / "data.csv", rows(60))
    assert runner.invoke(cli, ["push", "data.csv", "--sample", "30", "--seed", "1"]).exit_code == 0
    shown = Expert(tmp_path / "labels.xlsx").rows()
    Expert(tmp_path / "labels.xlsx").label({
        rid: ("Fail" if r["output"].startswith("BAD") else "Pass", "A critique long enough to teach the judge well.", "")
        for rid, r in shown.items()
    })
    assert runner.invoke(cli, ["pull"]).exit_code == 0
    with FakeOpenAI(responder=perfect_judge) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        for split in ("dev", "test", "unlabeled"):
            result = runner.invoke(cli, ["judge", "--split", split])
            assert result.exit_code == 0, result.output + result.stderr
        yield tmp_path, runner


def test_push_focus_fails_oversamples_what_the_judge_failed(judged_workspace):
    tmp_path, runner = judged_workspace
    before = set(Expert(tmp_path / "labels.xlsx").rows())
    result = runner.invoke(cli, ["push", "data.csv", "--sample", "10", "--focus", "fails", "--random-share", "0.3",
                                 "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    out = json.loads(result.stdout)
    assert out["focus"] == {"flagged": 7, "random": 3}
    added = set(out["added"])
    assert len(added) == 10 and not added & before  # nothing already annotated is sent again
    bad = {f"c{i:03d}" for i in range(60) if i % 3 == 0}
    assert len(added & bad) >= 7  # the judge (perfect here) failed exactly the BAD rows


def test_focus_needs_a_sample_size(judged_workspace):
    _, runner = judged_workspace
    result = runner.invoke(cli, ["push", "data.csv", "--focus", "fails"])
    assert result.exit_code == 2 and "--focus fails needs --sample N" in result.stderr


def test_report_gate_exit_codes(judged_workspace):
    _, runner = judged_workspace
    ok = runner.invoke(cli, ["report", "--fail-under", "0.8"])
    assert ok.exit_code == 0, ok.output + ok.stderr
    assert "Report written to" in ok.output
    strict = runner.invoke(cli, ["report", "--json", "--fail-under", "1.0"])
    data = json.loads(strict.stdout)
    assert strict.exit_code == (1 if data["gate"]["failures"] else 0)
    assert data["gate"]["basis"] == "test"


def test_report_gate_without_runs_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runner.invoke(cli, ["init", "--spreadsheet", "labels.xlsx"])
    write_csv(tmp_path / "data.csv", rows(6))
    runner.invoke(cli, ["push", "data.csv"])
    result = runner.invoke(cli, ["report", "--fail-under", "0.8"])
    assert result.exit_code == 2 and "no expert labels yet" in result.stderr


def test_ctrl_c_exits_130_with_a_message(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sheetsync.workspace.init_workspace", interrupted)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 130 and "Interrupted" in result.stderr and "Traceback" not in result.output


def test_cli_reference_is_current():
    namespace = runpy.run_path(str(ROOT / "scripts" / "cli_reference.py"))
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == namespace["render"](), (
        "docs/cli.md is out of date: run python scripts/cli_reference.py"
    )


def test_every_command_has_help():
    from click.testing import CliRunner as Runner

    for name, cmd in cli.commands.items():
        assert cmd.help, f"`sheetsync {name}` has no help text"
        assert Runner().invoke(cli, [name, "--help"]).exit_code == 0


def test_scripts_are_executable():
    for script in ("demo", "test"):
        path = ROOT / "scripts" / script
        assert os.access(path, os.X_OK), f"scripts/{script} is not executable"


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--stratify-by", "feature", "persona"], ("feature", "persona")),
        (["--stratify-by", "feature", "--stratify-by", "persona"], ("feature", "persona")),
        (["--stratify-by=feature,persona", "--seed", "3"], ("feature", "persona")),
        (["--stratify-by", "feature", "--json"], ("feature",)),
    ],
)
def test_stratify_by_takes_several_columns(monkeypatch, args, expected):
    seen = {}

    def fake_push(cfg, data, **kw):
        seen.update(kw)
        raise KeyboardInterrupt

    monkeypatch.setattr("sheetsync.push.push", fake_push)
    CliRunner().invoke(cli, ["push", "data.csv", "--sample", "5", *args])
    assert seen["stratify_by"] == expected


def test_stratify_by_needs_a_value():
    result = CliRunner().invoke(cli, ["push", "data.csv", "--stratify-by", "--json"])
    assert result.exit_code == 2 and "--stratify-by needs at least one column name" in result.output


def test_an_unwritable_file_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runner.invoke(cli, ["init", "--spreadsheet", "labels.xlsx"])
    write_csv(tmp_path / "data.csv", rows(4))
    runner.invoke(cli, ["push", "data.csv"])
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = runner.invoke(cli, ["pull", "--out", "blocker/labels.csv"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and "blocker" in result.stderr


@pytest.mark.parametrize("command", [["pull"], ["judge"], ["report"], ["judge", "--show-prompt", "x"],
                                     ["auth", "check"], ["pull", "-s", "missing.xlsx"]])
def test_read_commands_outside_a_workspace_explain_and_leave_nothing(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    assert list(tmp_path.iterdir()) == []
