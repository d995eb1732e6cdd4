"""Few-shot examples chosen per row by similarity ([judge] examples = "similar"), through the real openai client
against the fake server's /v1/embeddings: only train rows, the nearest ones, embeddings cached like calls, the
dry run prices them, and `--examples compare` measures them against the fixed set on dev, row by row."""

import csv
import re

import pytest
from click.testing import CliRunner
from statsmodels.stats.contingency_tables import mcnemar

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.judge import judge, split_of
from sheetsync.judge.compare import compare_examples, mcnemar_exact
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.expert import Expert
from tests.fake_llm import fake_llm

TOPICS = ["baggage", "refund", "seat", "meal", "pet", "visa", "lounge", "wifi", "upgrade", "delay"]
STRICT = {"pet", "visa", "meal", "baggage"}  # the policy refuses these whatever the answer says: an "OK" answer fails
N = 160


def topic(i):
    return TOPICS[i % len(TOPICS)]


def marker(i):
    return "NO" if i % 3 == 0 else "OK"


def truth(i):
    return "fail" if topic(i) in STRICT or marker(i) == "NO" else "pass"


def follower(request):
    """A judge that learns from its examples: it copies the verdict of an example on the same topic and with
    the same answer, and otherwise goes by the answer (OK passes)."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    row = re.search(r"about (\w+): (OK|NO)", user)
    for ex_topic, ex_marker, verdict in re.findall(r"about (\w+): (OK|NO).*?Expert verdict: (\w+)", system, re.S):
        if (ex_topic, ex_marker) == row.groups():
            return {"critique": f"Like the {ex_topic} example.", "verdict": verdict}
    return {"critique": "By the answer.", "verdict": "pass" if row.group(2) == "OK" else "fail"}


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=follower) as server:
        yield server


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("max_examples = 8", "max_examples = 4"))
    with (tmp_path / "data.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "input", "output"])
        w.writeheader()
        for i in range(N):
            w.writerow({"id": f"s{i:03d}", "input": f"Question {i} on my {topic(i)} request",
                        "output": f"Answer about {topic(i)}: {marker(i)}."})
    cfg = load_config(toml)
    push(cfg, tmp_path / "data.csv")
    Expert(tmp_path / "labels.xlsx").label({
        f"s{i:03d}": (truth(i).title(), f"The {topic(i)} answer {marker(i)} is {truth(i)} by the policy on "
                      f"{topic(i)} requests, as written.", "") for i in range(N)})
    pull(cfg)
    return cfg


def test_each_row_sees_its_nearest_train_rows_and_embeddings_are_cached(workspace, fake):
    out = judge(workspace, split="dev", examples="similar", progress=False)
    train = {f"s{i:03d}" for i in range(N) if split_of(f"s{i:03d}") == "train"}
    assert out.examples == "similar" and out.embeddings["requests"] >= 1 and fake.embedding_calls >= 1
    assert out.embeddings["texts"] == len(train) + out.n_rows
    for request in fake.chat_requests:
        row_topic = re.search(r"about (\w+):", request["messages"][-1]["content"]).group(1)
        shown = re.findall(r"Question (\d+) on my (\w+)", request["messages"][0]["content"])
        assert shown and all(f"s{int(i):03d}" in train for i, _ in shown)
        assert any(t == row_topic for _, t in shown)  # the nearest rows share the row's topic
    systems = {r["messages"][0]["content"] for r in fake.chat_requests}
    assert 1 < len(systems) < len(fake.chat_requests)  # rows with the same neighbours share one system message

    fake.reset()
    again = judge(workspace, split="dev", examples="similar", progress=False)
    assert again.calls_made == 0 and fake.embedding_calls == 0 and fake.call_count == 0
    dry = judge(workspace, split="test", examples="similar", dry_run=True)
    assert dry.embeddings["needed"] == dry.n_rows and dry.embeddings["estimated_tokens"] > 0
    assert "texts to embed" in dry.token_method and fake.embedding_calls == 0
    judge(workspace, split="test", examples="fixed", progress=False)  # the fixed set's calls are cached now
    dry = judge(workspace, split="test", examples="similar", dry_run=True)
    assert dry.calls_needed == dry.n_rows > 0  # a row not embedded yet was never judged with its neighbours
    assert dry.estimated_cost is not None and dry.estimated_cost > 0
    assert judge(workspace, split="dev", examples="similar", dry_run=True).calls_needed == 0


def test_similar_is_measured_against_the_fixed_set_on_dev(workspace, fake):
    out = compare_examples(workspace, split="dev", progress=False)
    store = Store.for_workspace(workspace.state_dir)
    a, b = store.run_verdicts(out.fixed.run_id), store.run_verdicts(out.similar.run_id)
    dev = [i for i in range(N) if split_of(f"s{i:03d}") == "dev"]
    right = {name: {i: v[f"s{i:03d}"]["verdict"] == truth(i) for i in dev} for name, v in (("a", a), ("b", b))}
    only_a = sum(1 for i in dev if right["a"][i] and not right["b"][i])
    only_b = sum(1 for i in dev if right["b"][i] and not right["a"][i])
    p = out.paired
    assert p["n"] == len(dev) and (p["only_fixed_right"], p["only_similar_right"]) == (only_a, only_b)
    assert p["both_right"] + p["only_fixed_right"] + p["only_similar_right"] + p["both_wrong"] == len(dev)
    table = [[p["both_right"], only_a], [only_b, p["both_wrong"]]]
    assert p["mcnemar_p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert out.similar.agreement["tnr"] > out.fixed.agreement["tnr"], (out.similar.agreement, out.fixed.agreement)
    assert only_b > only_a

    result = CliRunner().invoke(cli, ["judge", "--split", "dev", "--examples", "compare"])
    assert result.exit_code == 0, result.output
    assert "similar examples: TPR" in result.output and f"only similar right {only_b}" in result.output


def test_mcnemar_exact_matches_statsmodels():
    for b, c in [(0, 0), (3, 0), (2, 7), (10, 12), (0, 9)]:
        assert mcnemar_exact(b, c) == pytest.approx(mcnemar([[5, b], [c, 5]], exact=True).pvalue)


def test_a_server_without_embeddings_is_a_clear_error(workspace, monkeypatch):
    with fake_llm(monkeypatch, responder=follower, embeddings=False):
        result = CliRunner().invoke(cli, ["judge", "--split", "dev", "--examples", "similar"])
    assert result.exit_code == 2 and "does not offer /v1/embeddings" in result.output
    assert 'examples = "fixed"' in result.output

