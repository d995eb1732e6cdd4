"""The spreadsheet locator, as a user types it: a near-miss of a .xlsx path or a Sheets URL without its id is
refused with the likely fix (exit 2, no traceback) — instead of silently creating a Google spreadsheet with
that text as its title. A plain title still means "find or create by title"."""

import pytest
from click.testing import CliRunner

from sheetsync.backends.google_http import client_for_emulator
from sheetsync.cli import cli
from sheetsync.errors import ConfigError
from sheetsync.locator import check_locator


@pytest.fixture
def workspace(tmp_path, monkeypatch, sheets_emulator):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    (tmp_path / "data.csv").write_text("id,input,output\n1,a,b\n")
    return tmp_path


def google_titles(sheets_emulator) -> list[str]:
    return [f["name"] for f in client_for_emulator(sheets_emulator.address).list_spreadsheet_files()]


def assert_refused(workspace, sheets_emulator, result, *messages):
    output = result.output + result.stderr
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    for message in messages:
        assert message in result.stderr, result.stderr
    assert google_titles(sheets_emulator) == [], "a Google spreadsheet was created"
    assert sorted(p.name for p in workspace.iterdir()) == sorted(
        [".env.example", ".gitignore", "data.csv", "dimensions.toml", "prompts", "sheetsync.toml"]
    ), "something was written in the workspace"


@pytest.mark.parametrize(
    "value,messages",
    [
        ("labels.xls", ["`labels.xls` looks like a file but does not end in .xlsx, so it would be taken as the title "
                        "of a Google spreadsheet", "save it as one", "pass `labels.xlsx`"]),
        ("labels.xlsm", ["pass `labels.xlsx`"]),
        ("labels.xslx", ["Did you mean `labels.xlsx`?"]),
        ("labels.xlx", ["Did you mean `labels.xlsx`?"]),
        ("out/labels.xlsxx", ["Did you mean `out/labels.xlsx`?"]),
        ("labels.csv", ["It is a data file: push it with `sheetsync push labels.csv`"]),
        ("out/labels", ["`out/labels` looks like a path but does not end in .xlsx", "e.g. out/labels.xlsx"]),
        ("C:\\work\\labels", ["looks like a path but does not end in .xlsx"]),
        ("https://docs.google.com/spreadsheets/d/", ["has no spreadsheet id", "spreadsheets/d/ID/edit"]),
        ("https://docs.google.com/spreadsheets/u/0/", ["has no spreadsheet id: it is the Google Sheets home page"]),
        ("https://docs.google.com/spreadsheets/d/e/2PACX-1vQx7/pubhtml", ["a link published to the web"]),
        ("https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz/view", ["is not a Google Sheets spreadsheet URL"]),
    ],
)
def test_near_misses_are_refused_with_the_fix(workspace, sheets_emulator, value, messages):
    result = CliRunner().invoke(cli, ["push", "data.csv", "--spreadsheet", value])
    assert_refused(workspace, sheets_emulator, result, "Invalid value for '--spreadsheet'", *messages)


def test_the_config_and_the_environment_are_checked_too(workspace, sheets_emulator, monkeypatch):
    toml = workspace / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('spreadsheet = ""', 'spreadsheet = "labels.xls"', 1))
    result = CliRunner().invoke(cli, ["push", "data.csv"])
    assert_refused(workspace, sheets_emulator, result, f"{toml}: spreadsheet: `labels.xls` looks like a file")
    toml.write_text(toml.read_text().replace('spreadsheet = "labels.xls"', 'spreadsheet = ""', 1))
    monkeypatch.setenv("SHEETSYNC_SPREADSHEET", "https://docs.google.com/spreadsheets/d/")
    result = CliRunner().invoke(cli, ["pull"])
    assert_refused(workspace, sheets_emulator, result, "SHEETSYNC_SPREADSHEET: `https://docs.google.com/spreadsheets/d/`")


def test_init_refuses_a_near_miss_before_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "ws", "--spreadsheet", "labels.xls"])
    assert result.exit_code == 2 and "pass `labels.xlsx`" in result.stderr, result.output + result.stderr
    assert not (tmp_path / "ws").exists()


def test_titles_and_real_locators_still_work(workspace, sheets_emulator):
    """A plain title (no slash, no file-like extension) is found or created by title; dots that are not an
    extension (a version number) and quotes are fine; a .xlsx path may carry spaces around it."""
    runner = CliRunner()
    for title in ("Support labels v1.2", 'Bob "QA" labels'):
        result = runner.invoke(cli, ["push", "data.csv", "--spreadsheet", title])
        assert result.exit_code == 0, result.output + result.stderr
    assert sorted(google_titles(sheets_emulator)) == ['Bob "QA" labels', "Support labels v1.2"]
    key = client_for_emulator(sheets_emulator.address).open("Support labels v1.2").id
    for locator in (key, f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0"):
        result = runner.invoke(cli, ["push", "data.csv", "--spreadsheet", locator])
        assert result.exit_code == 0 and "0 new, 0 updated" in result.output, result.output + result.stderr
    result = runner.invoke(cli, ["push", "data.csv", "--spreadsheet", " labels.XLSX "])
    assert result.exit_code == 0 and (workspace / "labels.XLSX").exists(), result.output + result.stderr
    assert len(google_titles(sheets_emulator)) == 2


@pytest.mark.parametrize("title", ["Q3 review", "labels", "Team.labels", "2024.05 round", "x" * 30 + " y"])
def test_plain_titles_are_not_mistaken_for_files(title):
    assert check_locator(f"  {title} ", "--spreadsheet") == title



def test_the_library_refuses_what_the_cli_refuses():
    with pytest.raises(ConfigError, match="--spreadsheet: `./labels` looks like a path"):
        check_locator("./labels", "--spreadsheet")
