"""What surprised a new user on a first run, each now answered by a clear message (issue 14).

Each test follows the user's steps through the CLI, as the README has them, on a local .xlsx workspace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from tests.expert import Expert
from tests.test_roundtrip_xlsx import write_data

ROOT = Path(__file__).resolve().parents[1]


def rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"r{i:02d}", "feature": "refund" if i % 2 else "baggage", "tier": "Gold",
             "input": f"question {i}", "output": f"answer {i}", "channel": "chat", "agent_version": "v7"}
            for i in range(n)]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """`sheetsync init`, [columns] set for input/output/tier/feature, a dataset with two columns no role names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert CliRunner().invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("context = []", 'context = ["tier"]')
                    .replace("dimensions = []", 'dimensions = ["feature"]'))
    write_data(tmp_path / "traces.csv", rows(12))
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_init_says_what_to_run_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "ws")
    assert result.exit_code == 0
    assert result.output.rstrip().splitlines()[-1].strip().startswith("cd ws && sheetsync push traces.csv --spreadsheet")
    here = run("init", "--spreadsheet", "labels.xlsx")
    assert here.output.rstrip().splitlines()[-1].strip() == "sheetsync push traces.csv"


def test_help_shows_the_whole_loop():
    text = run("--help").output
    order = ["sheetsync init", "sheetsync push", "sheetsync pull", "sheetsync judge --split dev",
             "sheetsync judge --split test", "sheetsync judge --split unlabeled", "sheetsync report"]
    positions = [text.index(step) for step in order]
    assert positions == sorted(positions) and "sheetsync demo" in text


def test_judge_before_pull_says_run_pull_first(workspace):
    assert run("push", "traces.csv").exit_code == 0
    result = run("judge", "--split", "dev")
    assert result.exit_code == 2
    assert "nothing labelled yet" in result.stderr and "run `sheetsync pull` first" in result.stderr
    assert "Judged 0" not in result.output and "run None" not in result.output
    assert run("judge", "--split", "test", "--dry-run").exit_code == 2  # the same, without calling anything


def test_judge_of_a_split_without_labels_names_the_counts(workspace):
    from sheetsync.judge import split_of

    assert run("push", "traces.csv").exit_code == 0
    train_only = [r["id"] for r in rows(12) if split_of(r["id"]) == "train"][:1]
    Expert(workspace / "labels.xlsx").label({rid: ("Pass", "Right refund window and a friendly tone.", "")
                                             for rid in train_only})
    assert run("pull").exit_code == 0
    result = run("judge", "--split", "dev")
    assert result.exit_code == 2
    assert "no labelled rows in the dev split yet (1 labels: 1 train, 0 dev, 0 test" in result.stderr


def test_push_lists_the_columns_it_does_not_show(workspace):
    result = run("push", "traces.csv")
    assert result.exit_code == 0
    assert "2 column(s) are not shown to the expert" in result.stderr
    assert "channel, agent_version" in result.stderr and "[columns] context" in result.stderr
    toml = workspace / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('context = ["tier"]', 'context = ["tier", "channel", "agent_version"]'))
    again = run("push", "traces.csv")
    assert again.exit_code == 0 and "not shown to the expert" not in again.stderr


def test_a_dimension_added_later_lands_beside_the_dimensions(workspace):
    assert run("push", "traces.csv").exit_code == 0
    same = run("push", "traces.csv")
    assert "0 new, 0 updated" in same.output  # nothing the expert sees changed
    toml = workspace / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('dimensions = ["feature"]', 'dimensions = ["feature", "channel"]'))
    assert run("push", "traces.csv").exit_code == 0
    header = [c.value for c in openpyxl.load_workbook(workspace / "labels.xlsx")["Annotate"][1]]
    assert header[:4] == ["id", "feature", "channel", "tier"]
    assert header.index("channel") < header.index("Pass/Fail") < header.index("Notes")
    assert "0 new, 0 updated" in run("push", "traces.csv").output


def test_a_train_split_too_small_for_examples_is_a_warning_naming_the_labels_needed(workspace, monkeypatch):
    from sheetsync.judge import split_of
    from sheetsync.testing.fake_openai import FakeOpenAI

    assert run("push", "traces.csv").exit_code == 0
    labels = {r["id"]: ("Pass", "Right refund window and a friendly tone, as the policy says.", "")
              for r in rows(12)}
    labels[next(rid for rid in labels if split_of(rid) == "dev")] = (
        "Fail", "Quoted a baggage fee that does not exist for Gold members at all.", "hallucinated fact")
    Expert(workspace / "labels.xlsx").label(labels)
    assert run("pull").exit_code == 0
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        result = run("judge", "--split", "dev")
    assert result.exit_code == 0, result.output + result.stderr
    assert "example(s) (" in result.stderr and "0 fail)" in result.stderr
    assert "labels (you have 12)" in result.stderr and "Label more rows" in result.stderr


def test_scripts_demo_installs_only_when_something_changed(tmp_path):
    """scripts/demo against a stand-in environment whose python logs each pip call (and runs nothing)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ]; then echo "$*" >> {log}; exit 0; fi\n'
                      f'exec {sys.executable} "$@"\n')
    sheetsync = venv / "bin" / "sheetsync"
    sheetsync.write_text('#!/bin/sh\necho "demo $*"\n')
    for exe in (python, sheetsync):
        exe.chmod(0o755)
    env = {**os.environ, "SHEETSYNC_VENV": str(venv)}

    def demo() -> str:
        out = subprocess.run([str(ROOT / "scripts" / "demo"), str(tmp_path / "out")], env=env, check=True,
                             capture_output=True, text=True)
        return out.stdout

    assert demo().strip() == f"demo demo --out {tmp_path / 'out'}"
    assert log.read_text().count("pip install") == 2  # pip itself, then the package
    demo()
    assert log.read_text().count("pip install") == 2  # nothing changed: no install
    (venv / ".sheetsync-demo-install").write_text("a stamp from another pyproject.toml\n")
    demo()
    assert log.read_text().count("pip install") == 4
