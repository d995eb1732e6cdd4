"""The expert's resolutions as judge guidance (opt-in: only dev rows, which then count as train and are never
scored), and blind labelling (no judge verdict in sight before the expert's own label; every label records
whether one had been shown)."""

from __future__ import annotations

import openpyxl
import pytest

from sheetsync.judge import judge, show_prompt, split_of
from sheetsync.pull import pull
from sheetsync.report import report
from sheetsync.store import Store
from tests.expert import Expert
from tests.test_judge import rows
from tests.test_review_cycle import World, expert_label, flight, judge_server, pick


@pytest.fixture
def world(tmp_path, monkeypatch):
    return World("xlsx", tmp_path, monkeypatch)


@pytest.fixture
def fake_judge(monkeypatch):
    with judge_server(monkeypatch) as server:
        yield server


def test_resolutions_teach_the_judge_and_leave_the_scored_rows(world, fake_judge):
    judge(world.cfg, split="all", progress=False)
    review = world.tab()
    shown = review.rows()
    a = pick(shown, mod8=1, split="dev")
    b = pick(shown, mod8=5, split="dev")
    t = next(i for i in shown if split_of(i) == "test")
    answers = {a: ("Judge is right", "The fee rule never applies to changes made online."),
               b: ("My label stands", "A Gold member is always offered priority rebooking; without it, a fail."),
               t: ("My label stands", "Test rows never teach: this reason must not reach the prompt.")}
    review.answer(answers)
    old = expert_label(a)
    world.relabel({a: ("Pass" if old[0] == "Fail" else "Fail", old[1] + " (revised)", "")})
    pull(world.cfg)

    before = judge(world.cfg, split="dev", progress=False)  # guidance is off: a and b are still dev rows
    world.reload(guidance="true")
    seen = len(fake_judge.chat_requests)
    out = judge(world.cfg, split="dev", progress=False)
    assert out.n_rows == before.n_rows - 2 and not out.warnings
    requests = fake_judge.chat_requests[seen:]
    assert len(requests) == out.n_rows  # a new system message: nothing cached
    system = requests[0]["messages"][0]["content"]
    assert answers[a][1] in system and answers[b][1] in system and answers[t][1] not in system
    assert "Resolved disagreement 2" in system
    judged = {flight(r["messages"][-1]["content"]) for r in requests}
    assert int(a[1:]) not in judged and int(b[1:]) not in judged  # they teach now: never scored
    assert all(r["messages"][0]["content"] == system for r in requests)  # one shared prefix
    assert answers[b][1] in show_prompt(world.cfg, t)[0]["content"]

    report(world.cfg)
    after = world.tab().rows()
    assert after[a]["Status"].startswith("closed: the row now teaches the judge")
    assert after[b]["Status"].startswith("closed: the row now teaches the judge")
    assert after[t]["Status"].startswith("answered: your label stands")
    assert all((after[i]["Resolution"], after[i]["Why"]) == answers[i] for i in answers)


def test_a_prompt_without_the_guidance_block_is_told(world, fake_judge):
    judge(world.cfg, split="all", progress=False)
    shown = world.tab().rows()
    b = pick(shown, mod8=5, split="dev")
    world.tab().answer({b: ("My label stands", "A reason that cannot reach an old prompt.")})
    pull(world.cfg)
    prompt = world.tmp / "prompts" / "judge.md"
    text = prompt.read_text()
    prompt.write_text(text[:text.index("{% if guidance %}")] + text[text.index("Answer with a JSON object"):])
    world.reload(guidance="true")
    out = judge(world.cfg, split="dev", progress=False)
    assert any("never uses `guidance`" in w for w in out.warnings)


@pytest.fixture
def half_labelled(tmp_path, monkeypatch):
    """A workspace whose expert labelled flights 0–19 and not yet 20–39."""
    w = World("xlsx", tmp_path, monkeypatch)
    blank = {r["id"]: ("", "", "") for r in rows() if int(r["id"][1:]) >= 20}
    w.relabel(blank)
    pull(w.cfg)
    return w


def judge_tab_ids(world) -> set[str]:
    ws = openpyxl.load_workbook(world.tmp / "labels.xlsx")["Judge"]
    return {r[0] for r in ws.iter_rows(min_row=2, values_only=True) if r[0]}


def test_blind_labelling_shows_no_verdict_before_the_experts_own_label(half_labelled, fake_judge):
    w = half_labelled
    labelled = {r["id"] for r in rows() if int(r["id"][1:]) < 20}
    w.reload(blind="true")
    judge(w.cfg, split="all", progress=False)  # the unlabelled rows are judged too: kept in the store only
    report(w.cfg)
    assert judge_tab_ids(w) and judge_tab_ids(w) <= labelled
    assert set(w.tab().rows()) <= labelled
    book = openpyxl.load_workbook(w.tmp / "labels.xlsx")
    assert "judge" not in " ".join(str(c) for r in book["Annotate"].iter_rows(values_only=True) for c in r if c).lower()
    for title in ("Judge", "Disagreements", "Review"):
        for line in book[title].iter_rows(values_only=True):
            assert not ({str(c) for c in line if c} & (set(f"c{i:03d}" for i in range(40)) - labelled)), title
    store = Store.for_workspace(w.cfg.state_dir)
    assert set(store.verdicts_shown()) <= labelled

    fresh = "c025"  # never shown: labelled blind
    changed, kept = sorted(judge_tab_ids(w))[:2]  # shown; the expert changes the first after seeing its verdict
    Expert(w.tmp / "labels.xlsx").label({fresh: expert_label(fresh),
                                         changed: ("Pass", "Changed after reading the judge: it was fine after all.", "")})
    pull(w.cfg)
    labels = store.labels()
    assert labels[fresh].judge_seen is False
    assert labels[changed].judge_seen is True
    assert labels[kept].judge_seen is False  # given before any verdict was shown, unchanged since
    assert labels["c030"].judge_seen is None  # no label: nothing to say

    w.reload(blind="false")  # without blind mode the Judge tab shows unlabelled rows' verdicts
    judge(w.cfg, split="unlabeled", progress=False)
    assert "c031" in judge_tab_ids(w)
    Expert(w.tmp / "labels.xlsx").label({"c031": expert_label("c031")})
    pull(w.cfg)
    assert store.labels()["c031"].judge_seen is True
