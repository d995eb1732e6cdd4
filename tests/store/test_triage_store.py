"""Steps 6 and 7 in the store, on both engines: runs per judge, proposals upserted by id, decisions kept per pull
(and applied from the last pull that read them), classifications per run."""

from __future__ import annotations

from sheetsync.store import Decision, Label


def _run(store, run_id, split="dev", judge=""):
    return store.start_run(run_id, model="m", params={}, template="t", template_hash="h", split=split, n_rows=1,
                           judge=judge)


def test_each_judge_has_its_own_runs_verdicts_and_test_looks(make_store):
    store = make_store()
    _run(store, "main-1", "test")
    _run(store, "tone-1", "test", judge="tone")
    _run(store, "tone-2", "test", judge="tone")
    for run_id, verdict in (("main-1", "pass"), ("tone-1", "fail"), ("tone-2", "pass")):
        store.save_verdict(run_id, "r0", verdict=verdict, critique="c", error=None, latency=0.1, prompt_tokens=1,
                           completion_tokens=1, cached=False)
    other = make_store()
    assert [r["run_id"] for r in other.runs()] == ["main-1"]
    assert [r["run_id"] for r in other.runs("tone")] == ["tone-1", "tone-2"]
    assert other.latest_verdicts()["r0"]["verdict"] == "pass" and other.latest_verdicts("tone")["r0"]["run_id"] == "tone-2"
    assert other.test_looks() == 1 and other.test_looks(judge="tone") == 2
    assert other.test_looks("tone-1") == 1 and other.test_looks("main-1") == 1


def test_proposals_decisions_and_classifications(make_store):
    store = make_store()
    store.save_proposals("t1", [{"proposal_id": "RC-1", "name": "Fee", "definition": "d", "critique_ids": ["r1"]},
                                {"proposal_id": "RC-2", "name": "Tone", "definition": "t", "critique_ids": []}])
    store.save_proposals("t2", [{"proposal_id": "RC-2", "name": "Tone", "definition": "t2", "critique_ids": ["r2"]}])
    got = make_store().proposals()
    assert list(got) == ["RC-1", "RC-2"] and not got["RC-1"]["current"] and got["RC-2"]["current"]
    assert got["RC-2"]["definition"] == "t2" and got["RC-2"]["critique_ids"] == ["r2"]

    assert store.decisions() == {}
    label = Label("r1", "fail", "Fail", "c", "fee", "", "h")
    store.save_pull("x.xlsx", [label], decisions=[Decision("RC-1", "Accept", "  edited ", True)])
    store.save_pull("x.xlsx", [label])  # a pull that did not read the tab keeps the decisions in force
    assert make_store().decisions() == {"RC-1": Decision("RC-1", "Accept", "  edited ", True)}
    store.save_pull("x.xlsx", [label], decisions=[Decision("RC-2", "Reject", "", False)])
    assert make_store().decisions() == {"RC-2": Decision("RC-2", "Reject", "", False)}

    _run(store, "c1", "classify", judge="(classifier)")
    store.save_classification("c1", "r1", causes=["fee", "ünï"], reason="why", error=None)
    store.save_classification("c1", "r2", causes=None, reason=None, error="timeout")
    assert make_store().run_classifications("c1") == {"r1": {"causes": ["fee", "ünï"], "reason": "why", "error": None},
                                                      "r2": {"causes": None, "reason": None, "error": "timeout"}}
