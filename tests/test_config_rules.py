"""Config validated as a whole at load, as a user meets it: every value type- and range-checked, tab names
and label words that would collide refused — exit 2, the file (or variable) and the key named, no
traceback, and nothing written."""

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import Judge, Labels, Tabs, load_config
from sheetsync.errors import ConfigError
from tests.test_strict_input import assert_refused


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    (tmp_path / "data.csv").write_text("id,input,output\n1,a,b\n2,c,d\n")
    return tmp_path


def set_in_toml(workspace, section: str, assignments: str) -> None:
    """Replace the template's [section] header with the header plus these lines (TOML: the later
    duplicate key would be an error, so the template's own line for the key is removed)."""
    toml = workspace / "sheetsync.toml"
    lines = toml.read_text().splitlines()
    keys = {a.split("=")[0].strip() for a in assignments.splitlines() if "=" in a}
    out, current = [], ""
    for line in lines:
        if line.startswith("["):
            current = line.strip()
        if current == f"[{section}]" and "=" in line and line.split("=")[0].strip() in keys:
            continue
        out.append(line)
        if line.strip() == f"[{section}]":
            out.extend(assignments.splitlines())
    toml.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize(
    "section,lines,message",
    [
        # a traceback today (gspread/httpx refuse a zero timeout deep inside the first request)
        ("google", "timeout = 0", "[google] timeout = 0 is not valid: must be between 0.5 and 3600."),
        ("google", "timeout = -5", "[google] timeout = -5 is not valid: must be between 0.5 and 3600."),
        ("judge", "concurrency = 0", "[judge] concurrency = 0 is not valid: must be between 1 and 256."),
        ("judge", "timeout = 2", None),  # valid: a whole number is a number
        ("judge", "max_retries = 2.5", "[judge] max_retries = 2.5 is not valid: expected a whole number."),
        ("judge", "temperature = true", "[judge] temperature = True is not valid: expected a number."),
        ("judge", "test = 1.5\ndev = -0.5\ntrain = 0", "[judge] test = 1.5 is not valid: must be between 0 and 1."),
        ("judge", "model = '  '", "[judge] model = '  ' is not valid: must not be empty."),
        ("report", "target = 1.2", "[report] target = 1.2 is not valid: must be between 0 and 1."),
        ("report", "floor = 0.95", "[report] floor (0.95) is above [report] target (0.9)"),
        ("labels", "min_critique_words = -1", "[labels] min_critique_words = -1 is not valid: must be at least 0."),
        ("labels", "pass = 1", "[labels] pass = 1 is not valid: expected text (in quotes)."),
        ("labels", "fail = ''", "[labels] fail = '' is not valid: must not be empty."),
        # pass word equal to the fail word: every Fail was recorded as a pass
        ("labels", "pass = 'FAIL'", "[labels] pass = 'FAIL' is not valid: a word the expert types for a fail"),
        ("labels", "pass = 'Good'\nfail = 'good.'",
         "[labels] fail = 'good.' is not valid: the same as [labels] pass: pull could not tell a pass from a fail"),
        ("labels", "fail = 'yes'", "[labels] fail = 'yes' is not valid: a word the expert types for a pass"),
        ("labels", "root_causes = ['tone', '']", "[labels] root_causes = ['tone', ''] is not valid: item 2 ('') must "
         "not be empty."),
        ("labels", "root_causes = ['tone', 'Tone ']", "[labels] root_causes = ['tone', 'Tone '] is not valid: lists 'tone' and 'Tone ', which are the same."),
        ("labels", "root_causes = ['tone; style']", "[labels] root_causes = ['tone; style'] is not valid: item 1 ('tone; style') must not contain ';' (they "
         "separate several causes in one cell)."),
        ("labels", "root_causes = [1, 2]", "[labels] root_causes = [1, 2] is not valid: expected a list of text"),
        # two tabs given one name: a traceback today; a [tabs] setting naming Annotate: judge/report replaced it
        ("tabs", "summary = 'Agreement'",
         "[tabs] summary = 'Agreement' is not valid: the same as [tabs] agreement: each tab needs a name of its own"),
        ("tabs", "judge = 'annotate'", "[tabs] judge = 'annotate' is not valid: the same as [tabs] annotate"),
        ("tabs", "root_causes = 'Instructions'", "[tabs] root_causes = 'Instructions' is not valid: the same as [tabs] instructions"),
        ("tabs", "judge = ' Judge'", "[tabs] judge = ' Judge' is not valid: must not start or end with a space."),
        ("columns", "context = ['input']\ninput = 'input'", "[columns] context = ['input'] is not valid: names `input`, which [columns] input names "
         "too: give each column one role."),
        ("columns", "dimensions = ['tier', 'tier']", "[columns] dimensions = ['tier', 'tier'] is not valid: lists 'tier' and "
         "'tier', which are the same."),
    ],
)
def test_bad_values_are_refused_with_file_and_key(workspace, section, lines, message):
    set_in_toml(workspace, section, lines)
    result = CliRunner().invoke(cli, ["push", "data.csv"])
    if message is None:
        assert result.exit_code == 0, result.output + result.stderr
        return
    assert_refused(workspace, result, f"{workspace / 'sheetsync.toml'}: {message}")


def test_environment_values_are_named_by_their_variable(workspace, monkeypatch):
    monkeypatch.setenv("SHEETSYNC_JUDGE_CONCURRENCY", "0")
    monkeypatch.setenv("SHEETSYNC_GOOGLE_TIMEOUT", "soon")
    result = CliRunner().invoke(cli, ["push", "data.csv"])
    assert_refused(
        workspace, result, "2 settings are not valid:",
        "SHEETSYNC_JUDGE_CONCURRENCY=0 is not valid ([judge] concurrency): must be between 1 and 256.",
        "SHEETSYNC_GOOGLE_TIMEOUT=soon is not valid ([google] timeout): expected a number.",
    )


def test_every_problem_is_reported_at_once(workspace):
    set_in_toml(workspace, "judge", "concurrency = 0\nmax_retries = -1")
    set_in_toml(workspace, "tabs", "judge = 'Annotate'")
    result = CliRunner().invoke(cli, ["pull"])
    assert_refused(workspace, result, "3 settings are not valid:", "[judge] concurrency = 0",
                   "[judge] max_retries = -1 is not valid: must be at least 0.", "[tabs] judge = 'Annotate'")


def test_environment_booleans_and_numbers_are_parsed_strictly(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETSYNC_JUDGE_TIMEOUT", " 12.5 ")
    monkeypatch.setenv("SHEETSYNC_JUDGE_CONCURRENCY", "16")
    cfg = load_config(cwd=tmp_path)
    assert (cfg.judge.timeout, cfg.judge.concurrency) == (12.5, 16)
    monkeypatch.setenv("SHEETSYNC_JUDGE_CONCURRENCY", "16.0")
    with pytest.raises(ConfigError, match="expected a whole number"):
        load_config(cwd=tmp_path)
    monkeypatch.setenv("SHEETSYNC_JUDGE_CONCURRENCY", "8")
    monkeypatch.setenv("SHEETSYNC_JUDGE_TIMEOUT", "nan")
    with pytest.raises(ConfigError, match="SHEETSYNC_JUDGE_TIMEOUT=nan is not valid"):
        load_config(cwd=tmp_path)


def test_sections_built_in_code_follow_the_same_rules():
    """A config made by a program (the demo, a test, an embedding) cannot skip the rules."""
    with pytest.raises(ConfigError, match=r"\[labels\] fail: the same as \[labels\] pass"):
        Labels(pass_label="ok", fail_label="OK")
    with pytest.raises(ConfigError, match=r"\[tabs\] judge: the same as \[tabs\] annotate"):
        Tabs(judge="ANNOTATE")
    with pytest.raises(ConfigError, match=r"\[judge\] concurrency: must be between 1 and 256"):
        Judge(concurrency=0)
    assert Labels(pass_label="Good", fail_label="Bad").pass_label == "Good"
