"""Label provenance end to end: push records how every row it shows was chosen and its probability of being
drawn (shown whole, random, focused), the store keeps it, and the report weights the labels by it.
Through the real openai client against the fake server, on an .xlsx workbook."""

from __future__ import annotations

import csv
import re

import pytest

from sheetsync.config import load_config
from sheetsync.judge import judge
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.report import build_report
from sheetsync.store import Store
from sheetsync.testing.fake_openai import FakeOpenAI
from sheetsync.workspace import init_workspace
from tests.expert import Expert
from tests.fake_llm import fake_llm

N = 90


def rid(i: int) -> str:
    return f"r{i:03d}"


def bad(i: int) -> bool:
    return i % 3 == 0


def responder(request):
    """A judge that fails every bad answer and, wrongly, every fifth good one."""
    i = int(re.search(r"answer number (\d+)", request["messages"][-1]["content"]).group(1))
    return {"critique": f"about {i}", "verdict": "fail" if bad(i) or i % 5 == 0 else "pass"}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    with (tmp_path / "data.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "input", "output"])
        w.writeheader()
        w.writerows({"id": rid(i), "input": f"Q{i}?", "output": f"{'BAD' if bad(i) else 'ok'}: answer number {i}"}
                    for i in range(N))
    monkeypatch.chdir(tmp_path)
    with fake_llm(monkeypatch, responder=responder):
        yield load_config(tmp_path / "sheetsync.toml"), tmp_path


def label_everything_shown(root, store):
    shown = store.provenance()
    Expert(root / "labels.xlsx").label({r: ("Fail" if bad(int(r[1:])) else "Pass",
                                           "The answer is judged on policy grounds, clearly and fully.", "")
                                        for r in shown})


def test_push_records_how_each_row_was_chosen_and_the_report_weights_by_it(workspace):
    cfg, root = workspace
    push(cfg, root / "data.csv", sample=30, seed=1)
    store = Store.for_workspace(root / ".sheetsync")
    prov = store.provenance()
    assert len(prov) == 30 and {p["method"] for p in prov.values()} == {"random"}
    assert all(p["probability"] == pytest.approx(30 / N) for p in prov.values())
    label_everything_shown(root, store)
    pull(cfg)
    judge(cfg, split="unlabeled", progress=False)
    flagged = {rid(i) for i in range(N) if (bad(i) or i % 5 == 0)} - set(prov)
    fresh = N - 30
    result = push(cfg, root / "data.csv", sample=20, focus="fails", random_share=0.3, seed=2)
    assert result.focus == {"flagged": 14, "random": 6}
    prov2 = {k: v for k, v in store.provenance().items() if k not in prov}
    assert len(prov2) == 20 and {p["method"] for p in prov2.values()} == {"focused"}
    p_rest = 6 / (fresh - 14)
    for r, p in prov2.items():
        expected = 14 / len(flagged) + (1 - 14 / len(flagged)) * p_rest if r in flagged else p_rest
        assert p["probability"] == pytest.approx(expected), r
        assert p["stratum"] == ("flagged" if r in flagged else "not flagged")
    assert [x["method"] for x in store.sample_rounds()] == ["random", "focused"]
    label_everything_shown(root, store)
    pull(cfg)
    judge(cfg, split="all", progress=False)
    fig = build_report(cfg, store).to_dict()
    assert fig["design"]["drawn_by"] == {"random": 30, "focused": 20}
    assert fig["design"]["weighted"] and "weighted by 1 / (each label's probability" in fig["design"]["note"]
    head = fig["agreement"]["headline"]
    assert head["weighted"]
    # the weighted TPR by hand: 1/probability per labelled test pass the judge passed, over all test passes
    rows = store.provenance()
    labels = store.labels()
    verdicts = store.latest_verdicts()
    from sheetsync.judge import split_of

    basis = [r for r, lb in labels.items() if lb.verdict and split_of(r) == fig["agreement"]["basis"]]
    passes = [r for r in basis if labels[r].verdict == "pass"]
    w = {r: 1 / rows[r]["probability"] for r in basis}
    tpr = sum(w[r] for r in passes if verdicts[r]["verdict"] == "pass") / sum(w[r] for r in passes)
    assert head["tpr"] == pytest.approx(tpr)
    for key in ("planning", "label_next", "consistency", "run_comparison"):
        assert key in fig


def test_a_push_without_sampling_shows_rows_whole(workspace):
    cfg, root = workspace
    push(cfg, root / "data.csv")
    prov = Store.for_workspace(root / ".sheetsync").provenance()
    assert len(prov) == N and all(p["method"] == "shown whole" and p["probability"] == 1.0 for p in prov.values())


def test_focus_uncertain_draws_flipping_rows_and_judge_fails_with_their_probabilities(workspace, monkeypatch):
    """push --focus uncertain: the focused share comes from rows whose verdict flips under judge --repeat and
    from judge fails, the rest at random, and each row's probability is recorded for the weights."""
    cfg, root = workspace
    push(cfg, root / "data.csv", sample=30, seed=1)
    store = Store.for_workspace(root / ".sheetsync")
    first = set(store.provenance())
    label_everything_shown(root, store)
    pull(cfg)

    def flaky(request):
        i = int(re.search(r"answer number (\d+)", request["messages"][-1]["content"]).group(1))
        if i % 11 == 1 and not bad(i) and i % 5:  # a good answer the judge is unsure of
            return {"critique": "unsure", "verdict": "fail" if (request.get("seed") or 0) % 2 else "pass"}
        return responder(request)

    with FakeOpenAI(responder=flaky) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        judge(cfg, split="unlabeled", repeat=3, progress=False)
    fresh = [i for i in range(N) if rid(i) not in first]
    flipped = {rid(i) for i in fresh if i % 11 == 1 and not bad(i) and i % 5}
    flagged = flipped | {rid(i) for i in fresh if bad(i) or i % 5 == 0}
    assert flipped
    fig = build_report(cfg, store).to_dict()
    top = [r["id"] for r in fig["label_next"][: len(flipped)]]
    assert set(top) == flipped  # flipping rows rank first
    result = push(cfg, root / "data.csv", sample=20, focus="uncertain", random_share=0.3, seed=3)
    assert result.focus == {"flagged": 14, "random": 6}
    prov = {k: v for k, v in store.provenance().items() if k not in first}
    p_rest = 6 / (len(fresh) - 14)
    for r, p in prov.items():
        assert p["method"] == "focused"
        expected = 14 / len(flagged) + (1 - 14 / len(flagged)) * p_rest if r in flagged else p_rest
        assert p["probability"] == pytest.approx(expected), r
    assert sum(r in flagged for r in prov) >= 14
