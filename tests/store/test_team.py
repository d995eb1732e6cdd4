"""The team store end to end, through the real CLI: a second clone sees the first engineer's history, the CI
gate runs from a fresh checkout against it (and never passes when it cannot reach it), and two processes
pulling and judging one workspace at once record every label, verdict and look exactly once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.judge import split_of
from sheetsync.store import open_store
from sheetsync.testing.fake_openai import FakeOpenAI
from sheetsync.testing.postgres import PASSWORD
from sheetsync.workspace import init_workspace
from tests.test_judge import perfect_judge, rows, write_csv
from tests.test_roundtrip_google import GoogleExpert

TITLE = "Team labels"
KEY = "sk-test-not-a-real-key"


def make_clone(root: Path, workspace: str = "team-labels") -> Path:
    """A workspace as its repository holds it: sheetsync.toml (naming the workspace, not the URL) and prompts/."""
    init_workspace(root, spreadsheet=TITLE)
    toml = root / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('workspace = ""', f'workspace = "{workspace}"', 1))
    return root


def git_clone(src: Path, dst: Path) -> Path:
    """What a teammate's `git clone` gets: the committed files, not the git-ignored .sheetsync/ or .env."""
    dst.mkdir(parents=True)
    shutil.copy(src / "sheetsync.toml", dst)
    shutil.copytree(src / "prompts", dst / "prompts")
    return dst


def cli_in(root: Path, monkeypatch, *args: str):
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, list(args))
    return result


def ok(result):
    assert result.exit_code == 0, result.output + result.stderr
    return result


def expert_labels() -> dict[str, tuple[str, str, str]]:
    """What the expert types for each of the 40 rows: verdict, critique, root cause (BAD outputs fail)."""
    labels = {}
    for r in rows():
        bad = r["output"].startswith("BAD")
        labels[r["id"]] = ("Fail" if bad else "Pass", f"Expert critique for {r['id']}: the answer is "
                           f"{'wrong on the fee' if bad else 'right'} because policy says so clearly.",
                           "policy misapplied" if bad else "")
    return labels


def labelled(root: Path, monkeypatch, gspread_client) -> dict[str, str]:
    """Engineer A pushes 40 rows, the expert labels them all in Google Sheets (BAD outputs fail), A pulls."""
    write_csv(root / "data.csv", rows())
    ok(cli_in(root, monkeypatch, "push", "data.csv"))
    labels = expert_labels()
    GoogleExpert(gspread_client, TITLE).label(labels)
    ok(cli_in(root, monkeypatch, "pull"))
    return {rid: verdict.lower() for rid, (verdict, _critique, _cause) in labels.items()}


@pytest.fixture
def team(monkeypatch, sheets_emulator, store_url):
    """The team's store (either engine: a PostgreSQL database, or one SQLite file both clones name), Google
    through the emulator, the LLM through the real openai client against the fake."""
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", store_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(responder=perfect_judge) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake


def test_a_second_clone_sees_the_first_engineers_history(team, tmp_path, monkeypatch, gspread_client):
    a = make_clone(tmp_path / "alice")
    labelled(a, monkeypatch, gspread_client)
    first = json.loads(ok(cli_in(a, monkeypatch, "judge", "--split", "dev", "--json")).stdout)
    assert first["calls_made"] == first["n_rows"] > 0 and team.call_count == first["n_rows"]
    looked = json.loads(ok(cli_in(a, monkeypatch, "judge", "--split", "test", "--json")).stdout)
    assert looked["test_runs"] == 1 and looked["calls_made"] == looked["n_rows"] > 0
    paid = first["n_rows"] + looked["n_rows"]

    b = git_clone(a, tmp_path / "bob")
    bob = open_store(load_config(b / "sheetsync.toml"))  # Alice's labels, as the expert wrote them
    assert {rid: (lb.raw_verdict, lb.critique, lb.root_cause) for rid, lb in bob.labels().items()} == expert_labels()
    assert bob.test_looks() == 1
    bob.close()
    again = json.loads(ok(cli_in(b, monkeypatch, "judge", "--split", "dev", "--json")).stdout)
    assert (again["calls_made"], again["cache_hits"]) == (0, first["n_rows"])  # paid for once, by Alice
    assert team.call_count == paid and again["agreement"] == first["agreement"]
    peek = json.loads(ok(cli_in(b, monkeypatch, "judge", "--split", "test", "--json")).stdout)
    assert (peek["calls_made"], peek["test_runs"]) == (0, 2)  # Bob's look is the second, not a first
    assert team.call_count == paid

    # Alice changes a labelled row and pushes: Bob sees the stale flag her push recorded
    changed = rows()
    changed[5]["output"] += " (edited)"
    write_csv(a / "data.csv", changed)
    ok(cli_in(a, monkeypatch, "push", "data.csv"))
    bob = open_store(load_config(b / "sheetsync.toml"))
    fresh, stale = bob.fresh_labels()
    assert stale == [changed[5]["id"]] and len(fresh) == 39 and bob.label_states()[changed[5]["id"]].flagged_for
    assert [r["run_id"] for r in bob.runs()] == [first["run_id"], looked["run_id"], again["run_id"], peek["run_id"]]
    assert bob.pull_count() == 1
    bob.close()
    pulled = json.loads(ok(cli_in(b, monkeypatch, "pull", "--json")).stdout)
    assert pulled["pull_id"] == 2 and pulled["stale"] == [changed[5]["id"]]
    assert not (b / ".sheetsync" / "state.db").exists() and not (a / ".sheetsync" / "state.db").exists()


@pytest.mark.parametrize("engine", ["postgresql"])  # the gate's store is the team's server
def test_the_ci_gate_runs_from_a_fresh_checkout_and_never_passes_without_the_store(
        team, tmp_path, monkeypatch, gspread_client, postgres_server):
    a = make_clone(tmp_path / "alice")
    labelled(a, monkeypatch, gspread_client)
    ok(cli_in(a, monkeypatch, "judge", "--split", "test"))
    ci = git_clone(a, tmp_path / "ci")
    env = {**os.environ, "CI": "true"}
    gate = subprocess.run([sys.executable, "-m", "sheetsync", "report", "--fail-under", "0.8"], cwd=ci, env=env,
                          capture_output=True, text=True, timeout=300)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "Report written to" in gate.stdout
    no_google = {k: v for k, v in env.items() if k != "SHEETS_EMULATOR_HOST"}  # a CI job without Google access
    alone = subprocess.run([sys.executable, "-m", "sheetsync", "report", "--fail-under", "0.8", "--no-tabs", "--json"],
                           cwd=ci, env=no_google, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    figures = json.loads(alone.stdout)
    assert figures["gate"]["failures"] == [] and figures["url"] is None and figures["gate"]["basis"] == "test"

    down = postgres_server.url("nowhere").replace(f":{postgres_server.port}/", f":{_closed_port()}/")
    wrong = postgres_server.url(postgres_url_db(os.environ["SHEETSYNC_STORE_URL"]), password="not-the-password-xyz")
    for url, says in ((down, "cannot reach the team store"), (wrong, "refused the login")):
        run = subprocess.run([sys.executable, "-m", "sheetsync", "report", "--fail-under", "0.8"], cwd=ci,
                             env={**env, "SHEETSYNC_STORE_URL": url}, capture_output=True, text=True, timeout=300)
        assert run.returncode == 2, run.stdout + run.stderr
        assert says in run.stderr and "Traceback" not in run.stderr and "Report written" not in run.stdout
        assert "postgresql://***@127.0.0.1:" in run.stderr
        assert PASSWORD not in run.stdout + run.stderr and "not-the-password-xyz" not in run.stdout + run.stderr

    other = subprocess.run([sys.executable, "-m", "sheetsync", "report", "--fail-under", "0.8"], cwd=ci,
                           env={**env, "SHEETSYNC_STORE_WORKSPACE": "a-workspace-with-no-history"},
                           capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "nothing to report" in other.stderr

    # a job whose secret is missing (a fork's pull request) finds only an empty local store: exit 2, and why
    unset = {k: v for k, v in env.items() if k != "SHEETSYNC_STORE_URL"}
    bare = subprocess.run([sys.executable, "-m", "sheetsync", "report", "--fail-under", "0.8", "--no-tabs"], cwd=ci,
                          env=unset, capture_output=True, text=True, timeout=300)
    assert bare.returncode == 2 and "nothing to report" in bare.stderr and "SHEETSYNC_STORE_URL" in bare.stderr
    assert not (ci / ".sheetsync").exists()  # and it left nothing behind in the checkout


def postgres_url_db(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


PULL_AND_JUDGE = "set -e; {py} -m sheetsync pull --json; echo '---'; {py} -m sheetsync judge --split test --concurrency 1 --json"


@pytest.mark.timeout(900)
def test_two_processes_pull_and_judge_one_workspace_at_once(engine, store_url, tmp_path, monkeypatch,
                                                            sheets_emulator, gspread_client):
    """Both judges are held mid-run until the other has sent a call too (counted, not timed), so their writes
    to the store interleave for real; then every label, verdict and look is there exactly once."""
    lock, first_calls, both = threading.Lock(), [], threading.Event()

    def responder(request):
        with lock:
            first = len(first_calls) < 2  # with one call in flight per judge, the first two are one from each
            if first:
                first_calls.append(request)
            if len(first_calls) == 2:
                both.set()
        if first:
            both.wait(timeout=600)
        return perfect_judge(request)

    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", store_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ws = make_clone(tmp_path / "ws")
    verdicts = labelled(ws, monkeypatch, gspread_client)
    with FakeOpenAI(responder=perfect_judge) as fake:  # the Judge tab exists before two judges rewrite it at once
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        ok(cli_in(ws, monkeypatch, "judge", "--split", "dev"))
    test_ids = sorted(rid for rid in verdicts if split_of(rid, 0.2, 0.4) == "test")
    with FakeOpenAI(responder=responder) as fake:
        # a call held for the other judge must not time out and be retried (that retry would count as "the other")
        env = {**os.environ, "OPENAI_BASE_URL": fake.base_url, "SHEETSYNC_JUDGE_TIMEOUT": "900"}
        procs = [subprocess.Popen(["bash", "-c", PULL_AND_JUDGE.format(py=sys.executable)], cwd=ws, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=800) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert both.is_set()  # the two judges were running at the same time
    pulls = [json.loads(o[0].split("---")[0]) for o in outs]
    judged = [json.loads(o[0].split("---")[1]) for o in outs]
    assert sorted(p["pull_id"] for p in pulls) == [2, 3]  # the setup's pull was 1
    assert sorted(j["test_runs"] for j in judged) == [1, 2]  # each look counted once, by whoever made it
    assert all(j["errors"] == [] and j["n_rows"] == len(test_ids) for j in judged)
    assert len(test_ids) <= fake.call_count <= 2 * len(test_ids)

    store = open_store(load_config(ws / "sheetsync.toml"))
    for pull_id in (1, 2, 3):
        got = store.labels(pull_id)
        assert {rid: lb.verdict for rid, lb in got.items()} == verdicts, pull_id
    assert store.db.one("SELECT COUNT(*) FROM labels")[0] == 3 * len(verdicts)  # each pull's labels, once
    assert store.pull_count() == 3 and store.test_looks() == 2
    for j in judged:
        got = store.run_verdicts(j["run_id"])
        assert sorted(got) == test_ids and all(v["verdict"] == verdicts[rid] for rid, v in got.items())
        assert store.db.one("SELECT COUNT(*) FROM verdicts WHERE run_id = ?", (j["run_id"],))[0] == len(test_ids)
    assert [r["status"] for r in store.runs()] == ["done", "done", "done"]
    judged_ids = [rid for rid in verdicts if split_of(rid, 0.2, 0.4) in ("dev", "test")]  # the setup judged dev
    assert store.db.one("SELECT COUNT(*) FROM cache")[0] == len(judged_ids)  # one entry per call, however paid
    store.close()
