"""``sheetsync compare A B`` end to end: two versions of the AI on the same inputs, judged by the workspace's
validated judge through the real openai client against the fake server; the change in corrected pass rate
against the hand formula, per dimension, and ``--fail-if-worse`` as a CI gate (exit 1)."""

from __future__ import annotations

import csv
import json
import os
import re

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.compare import compare
from sheetsync.config import load_config
from sheetsync.judge import judge
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.testing.fake_openai import FakeOpenAI
from sheetsync.workspace import init_workspace
from tests.expert import Expert
from tests.fake_llm import fake_llm

N = 80


def responder(request):
    """Fails BAD answers, and wrongly every seventh good one."""
    text = request["messages"][-1]["content"]
    i = int(re.search(r"answer number (\d+)", text).group(1))
    return {"critique": "c", "verdict": "fail" if "BAD" in text or i % 7 == 0 else "pass"}


def write(path, bad):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "tier", "input", "output"])
        w.writeheader()
        w.writerows({"id": f"r{i:02d}", "tier": "Gold" if i % 2 else "Basic", "input": f"Q{i}?",
                     "output": f"{'BAD' if bad(i) else 'ok'}: answer number {i}"} for i in range(N))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["tier"]'))
    write(tmp_path / "a.csv", lambda i: i % 3 == 0)
    write(tmp_path / "b.csv", lambda i: i % 6 == 0)  # B fixes half of A's bad answers
    monkeypatch.chdir(tmp_path)
    cfg = load_config(toml)
    push(cfg, tmp_path / "a.csv")
    Expert(tmp_path / "labels.xlsx").label({f"r{i:02d}": ("Fail" if i % 3 == 0 else "Pass",
                                                          "Judged on the policy, clearly and with reasons.", "")
                                            for i in range(N)})
    pull(cfg)
    with fake_llm(monkeypatch, responder=responder):
        judge(cfg, split="test", progress=False)
        yield cfg, tmp_path


def test_compare_two_versions(workspace):
    cfg, root = workspace
    r = compare(cfg, root / "a.csv", root / "b.csv", progress=False)
    p_a = sum(1 for i in range(N) if not (i % 3 == 0 or i % 7 == 0)) / N
    p_b = sum(1 for i in range(N) if not (i % 6 == 0 or i % 7 == 0)) / N
    assert r.n_paired == N and r.basis == "test" and not r.warnings
    assert r.overall["p_a"] == pytest.approx(p_a) and r.overall["p_b"] == pytest.approx(p_b)
    assert r.overall["difference"] == pytest.approx((p_b - p_a) / (r.tpr + r.tnr - 1))
    assert r.overall["ci"][0] > 0 and not r.worse
    assert [c["value"] for c in r.by_dimension["tier"]] == ["Basic", "Gold"]
    assert sum(c["n"] for c in r.by_dimension["tier"]) == N
    again = compare(cfg, root / "a.csv", root / "b.csv", progress=False)
    assert again.calls_made == 0  # every verdict came from the cache


def test_fail_if_worse_exits_1(workspace):
    cfg, root = workspace
    runner = CliRunner()
    ok = runner.invoke(cli, ["compare", "a.csv", "b.csv", "--fail-if-worse", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["overall"]["difference"] > 0
    worse = runner.invoke(cli, ["compare", "b.csv", "a.csv", "--fail-if-worse"])
    assert worse.exit_code == 1 and "B is worse than A" in worse.output


def test_compare_two_judge_runs(workspace):
    """A second run with a prompt that fails everything: TNR stays 100%, TPR collapses; paired and gated."""
    cfg, root = workspace
    prompt = cfg.path(cfg.judge.prompt)
    prompt.write_text(prompt.read_text() + "\nBe harsh.\n")
    with FakeOpenAI(responder=lambda request: {"critique": "harsh", "verdict": "fail"}) as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        judge(cfg, split="test", progress=False)
    from sheetsync.compare import compare_runs

    r = compare_runs(cfg, "previous", "latest")
    assert r["tpr"]["rate_b"] == 0 and r["tpr"]["ci"][1] < 0 and r["worse"]
    assert r["tnr"]["rate_b"] == 1 and "prompt changed" in r["warnings"][0]
    b = r["tpr"]["only_a"]  # passes the first run got right and the second wrong
    assert r["tpr"]["mcnemar"]["p_value"] == pytest.approx(min(1.0, 2 * 0.5 ** b))
    out = CliRunner().invoke(cli, ["compare", "previous", "latest", "--runs", "--fail-if-worse"])
    assert out.exit_code == 1 and "run B is worse" in out.output


def test_compare_warns_when_the_judge_is_not_the_one_validated(workspace):
    """Another model, or an edited prompt, than the run validated on test: its TPR/TNR were never measured."""
    cfg, root = workspace
    toml = root / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('model = "gpt-4.1-mini"', 'model = "gpt-4.1"', 1))
    r = compare(load_config(toml), root / "a.csv", root / "b.csv", progress=False)
    assert any(w.startswith("the model differ from the judge validated on test") for w in r.warnings), r.warnings
    prompt = cfg.path(cfg.judge.prompt)
    prompt.write_text(prompt.read_text() + "\nBe brief.\n")
    out = CliRunner().invoke(cli, ["compare", "a.csv", "b.csv"])
    assert out.exit_code == 0 and "the model and prompt differ from the judge validated on test" in out.stderr


def test_compare_per_dimension_against_the_formula(workspace):
    """Each dimension value's row is the same estimator on that value's inputs only."""
    from sheetsync.metrics import corrected_difference

    cfg, root = workspace
    r = compare(cfg, root / "a.csv", root / "b.csv", progress=False)
    for cell in r.by_dimension["tier"]:
        ids = [i for i in range(N) if ("Gold" if i % 2 else "Basic") == cell["value"]]
        a = [not (i % 3 == 0 or i % 7 == 0) for i in ids]
        b = [not (i % 6 == 0 or i % 7 == 0) for i in ids]
        assert cell["n"] == len(ids) and cell["difference"] == pytest.approx((sum(b) - sum(a)) / len(ids) / (r.tpr + r.tnr - 1))
        ref = corrected_difference(a, b, r.tpr, r.tnr, r.n_pass, r.n_fail)
        assert cell["ci"] == pytest.approx(ref["ci"]) and cell["ci"][1] - cell["ci"][0] > 0
