"""Commands import only what they use (issue 12, "fixed costs"): `--help`, `--version`, `pull` and `auth check`
load no pandas, numpy, openai or openpyxl unless the step needs them, and `--version`/`--help` no
importlib.metadata. Checked the way a user runs them: a fresh `python -X importtime -m sheetsync …`."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli

HEAVY = {"pandas", "numpy", "openai", "openpyxl"}


def imported(args: list[str], cwd, env: dict[str, str] | None = None) -> set[str]:
    """The top-level names of every module a fresh process imports to run ``sheetsync ARGS``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sheetsync", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "sheetsync.cli" in names, proc.stderr[-2000:]
    return names


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["pull", "--help"], ["judge", "--help"]])
def test_help_and_version_import_nothing_heavy(tmp_path, args):
    names = imported(args, tmp_path)
    assert not top(names) & HEAVY
    assert "importlib.metadata" not in names  # the version is a literal; reading it from metadata was half the start
    assert not any(n.startswith(("gspread", "google", "jinja2", "sqlite3")) for n in names)


@pytest.fixture
def workspaces(tmp_path, monkeypatch, sheets_emulator):
    """One workspace on .xlsx and one on the emulator, each pushed once (in-process: the subprocesses
    measured below are the only fresh processes)."""
    runner = CliRunner()
    out = {}
    for name, spreadsheet in (("xlsx", "labels.xlsx"), ("google", "Import test")):
        ws = tmp_path / name
        ws.mkdir()
        monkeypatch.chdir(ws)
        if name == "google":
            monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
        assert runner.invoke(cli, ["init", "--spreadsheet", spreadsheet]).exit_code == 0
        (ws / "data.csv").write_text("id,input,output\n1,a,b\n2,c,d\n")
        result = runner.invoke(cli, ["push", "data.csv"])
        assert result.exit_code == 0, result.output + result.stderr
        out[name] = ws
    monkeypatch.delenv("SHEETS_EMULATOR_HOST")
    return out, {"SHEETS_EMULATOR_HOST": sheets_emulator.address}


@pytest.mark.parametrize("args", [["pull"], ["auth", "check"]])
def test_pull_and_auth_check_against_google_import_no_heavy_module(workspaces, args):
    paths, env = workspaces
    names = imported(args, paths["google"], env)
    assert "gspread" in names
    assert not top(names) & HEAVY, sorted(top(names) & HEAVY)


@pytest.mark.parametrize("args", [["pull"], ["auth", "check"]])
def test_pull_and_auth_check_against_xlsx_import_no_heavy_module(workspaces, args):
    """The .xlsx backend reads the file's XML itself: openpyxl (and the numpy it pulls in) is loaded only to
    write, or to read a date or a shared formula."""
    paths, _ = workspaces
    names = imported(args, paths["xlsx"])
    assert not top(names) & (HEAVY | {"gspread", "jinja2"}), sorted(top(names) & (HEAVY | {"gspread", "jinja2"}))
