"""`sheetsync judge` and `generate` as a user meets real servers: the level used is shown everywhere, prompts
share their prefix, runs that failed say so with a non-zero exit, over-long rows and critiques are handled,
outages pause the run, and secrets never reach the output, the store or the sheet."""

from __future__ import annotations

import json
import re
import sqlite3

import openpyxl
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.errors import UserInputError
from sheetsync.judge import judge, split_of
from sheetsync.store import Store
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_judge import N, labelled_workspace, perfect_judge

KEY = "sk-live-ECHOED-0123456789abcdef"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return labelled_workspace(tmp_path)


def serve(monkeypatch, **kwargs):
    fake = FakeOpenAI(responder=perfect_judge, **kwargs).start()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return fake


def judge_tab(path):
    ws = openpyxl.load_workbook(path)["Judge"]
    header = [c.value for c in ws[1]]
    return {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}


def dev_ids():
    return sorted(f"c{i:03d}" for i in range(N) if split_of(f"c{i:03d}") == "dev")


def test_system_message_is_byte_identical_across_rows_and_the_row_fence_comes_last(workspace, monkeypatch):
    fake = serve(monkeypatch)
    try:
        judge(workspace, split="all", progress=False)
    finally:
        fake.close()
    systems = {r["messages"][0]["content"] for r in fake.chat_requests}
    assert len(systems) == 1  # the shared prefix: instructions, criteria, few-shot examples
    system = systems.pop()
    for request in fake.chat_requests:
        user = request["messages"][1]["content"]
        row_marker = re.search(r"<data-([0-9a-f]{12}) name=\"input\">", user).group(1)
        assert row_marker not in system  # what makes the row's fence unguessable is in the row's part only
        assert set(re.findall(r"</data-([0-9a-f]{12})>", user)) == {row_marker}
    example_markers = set(re.findall(r"<data-([0-9a-f]{12}) name=", system))
    assert len(example_markers) == 1


def test_level_is_printed_in_text_json_run_history_and_judge_tab(workspace, monkeypatch, tmp_path):
    fake = serve(monkeypatch, profile="llama-cpp-python")
    try:
        text = CliRunner().invoke(cli, ["judge", "--split", "dev"])
        as_json = CliRunner().invoke(cli, ["judge", "--split", "test", "--json"])
    finally:
        fake.close()
    assert text.exit_code == 0, text.output
    assert "structured output: json_object" in text.stdout
    out = json.loads(as_json.stdout)
    assert out["format_level"] == "json_object" and out["errors"] == []
    runs = Store.for_workspace(workspace.state_dir).runs()
    assert [json.loads(r["params"])["format_level"] for r in runs] == ["json_object", "json_object"]
    assert {row["format"] for row in judge_tab(tmp_path / "labels.xlsx").values()} == {"json_object"}


def no_retries(tmp_path):
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("max_retries = 4", "max_retries = 0"))


def test_a_run_where_every_row_failed_exits_1_with_errors_by_cause(workspace, monkeypatch, tmp_path):
    no_retries(tmp_path)
    fake = serve(monkeypatch)
    fake.fail_next("500", count=10_000)
    try:
        result = CliRunner().invoke(cli, ["judge", "--split", "dev", "--concurrency", "4"])
    finally:
        fake.close()
    assert result.exit_code == 1, result.output
    assert "every row ended in error" in result.stderr and "server error (5xx)" in result.stderr
    assert "Traceback" not in result.output
    assert Store.for_workspace(workspace.state_dir).runs()[-1]["status"] == "failed"


def test_a_few_errors_below_the_share_still_exit_0(workspace, monkeypatch, tmp_path):
    no_retries(tmp_path)
    fake = serve(monkeypatch)
    fake.fail_next("500", count=100, match=f"answer number {int(dev_ids()[0][1:])}\n")
    try:
        result = CliRunner().invoke(cli, ["judge", "--split", "dev"])
    finally:
        fake.close()
    assert result.exit_code == 0 and "1 errors" in result.stdout


def test_a_key_echoed_by_the_server_never_reaches_output_store_or_sheet(workspace, monkeypatch, tmp_path):
    fake = serve(monkeypatch)
    fake.fail_next("401", count=2)  # two rows get an error body quoting the key in full
    try:
        result = CliRunner().invoke(cli, ["judge", "--split", "dev"])
    finally:
        fake.close()
    assert "Incorrect API key provided: ***" in result.stderr
    assert KEY not in result.stdout + result.stderr
    db = workspace.state_dir / "state.db"
    with sqlite3.connect(db) as con:
        dump = "\n".join(con.iterdump())
    assert "Incorrect API key" in dump and KEY not in dump
    cells = json.dumps(judge_tab(tmp_path / "labels.xlsx"))
    assert "Incorrect API key" in cells and KEY not in cells


def test_a_row_too_long_for_the_context_is_recorded_and_can_be_cut_to_fit(workspace, monkeypatch, tmp_path):
    store = Store.for_workspace(workspace.state_dir)
    rid = dev_ids()[0]
    with store.transaction() as db:  # one output of 120,000 characters (~30,000 tokens)
        db.execute("UPDATE rows SET output = ? WHERE id = ?", ("BAD: " + "very long answer " * 7_000, rid))
    fake = serve(monkeypatch, profile="llama.cpp", slots=1, context=16_000)
    try:
        out = judge(workspace, split="dev", progress=False)
        assert [e.split(":")[0] for e in out.errors] == [rid] and "too long for the model's context" in out.errors[0]
        assert "fit_context = true" in out.errors[0] and out.errors_by_cause == {"context": 1}
        toml = tmp_path / "sheetsync.toml"
        toml.write_text(toml.read_text().replace("fit_context = false", "fit_context = true"))
        cut = judge(load_config(toml), split="dev", progress=False)
    finally:
        fake.close()
    assert not cut.errors and cut.notes and cut.notes[0].startswith(f"{rid}: output cut to fit")
    row = judge_tab(tmp_path / "labels.xlsx")[rid]
    assert row["note"].startswith("output cut to fit the model's context") and row["judge verdict"] == "fail"


def test_a_critique_longer_than_a_cell_is_cut_in_the_judge_tab_and_kept_whole_in_the_store(workspace, monkeypatch,
                                                                                          tmp_path):
    long = "The answer is wrong because " + "of reasons " * 4_000  # 44,000 characters > 32,767 (Excel)
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("max_tokens = 1024", "max_tokens = 20000"))
    fake = serve(monkeypatch)
    fake.script("answer number", {"critique": long, "verdict": "fail"})
    try:
        result = CliRunner().invoke(cli, ["judge", "--split", "dev"])
    finally:
        fake.close()
    assert result.exit_code == 0, result.output
    assert "too long for the sheet and were cut" in result.stderr
    row = judge_tab(tmp_path / "labels.xlsx")[dev_ids()[0]]
    assert "[cut by sheetsync:" in row["judge critique"] and len(row["judge critique"]) <= 32_767
    stored = Store.for_workspace(workspace.state_dir).latest_verdicts()[dev_ids()[0]]["critique"]
    assert stored == long


def test_a_missing_prompt_file_is_an_error_naming_it(workspace, tmp_path, monkeypatch):
    (tmp_path / "prompts" / "judge.md").unlink()
    with pytest.raises(UserInputError, match=r"prompts/judge\.md: the judge prompt .* `sheetsync init`"):
        judge(workspace, split="dev", progress=False)
    result = CliRunner().invoke(cli, ["judge", "--split", "dev", "--dry-run"])
    assert result.exit_code == 2 and "judge.md" in result.stderr


@pytest.mark.parametrize("failure", ["401", "refused"])
def test_batch_against_a_server_that_refuses_the_key_or_the_connection_is_exit_2(workspace, monkeypatch, failure):
    fake = serve(monkeypatch)
    if failure == "refused":
        fake.close()  # nothing listens on that port any more
    else:
        fake.fail_next("401")  # the fake's 401 applies to chat calls: make uploads fail with it too
        monkeypatch.setattr(fake, "_batch_api", lambda h, *a: fake._send_error(
            h, 401, f"Incorrect API key provided: {KEY}", "invalid_request_error", "invalid_api_key"))
    try:
        result = CliRunner().invoke(cli, ["judge", "--split", "dev", "--batch", "--poll-interval", "0"])
    finally:
        fake.close()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and KEY not in result.output + result.stderr
    assert ("refused the API key" if failure == "401" else "could not reach") in result.stderr


def test_an_outage_longer_than_the_wait_stops_the_run_resumably(workspace, monkeypatch, tmp_path):
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("outage_wait = 300", "outage_wait = 0.3")
                    .replace("probe_interval = 5", "probe_interval = 0.1"))
    fake = serve(monkeypatch)
    fake.close()
    result = CliRunner().invoke(cli, ["judge", "--split", "dev"])
    assert result.exit_code == 1 and "did not answer for 0.3s" in result.stderr and "run the same command" in result.stderr
    store = Store.for_workspace(workspace.state_dir)
    run = store.runs()[-1]
    assert run["status"] == "interrupted" and store.run_verdicts(run["run_id"]) == {}  # no row recorded as an error
