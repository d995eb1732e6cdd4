"""Every Store method on both engines: what is written is read back exactly (text, NULLs, floats to the last
bit), transactions are all-or-nothing, and ids and looks are numbered once each."""

from __future__ import annotations

import pytest

from sheetsync.attribution import LabelState
from sheetsync.errors import StoreError
from sheetsync.store import Label

ROWS = [
    {"id": f"r{i}", "input": f"question {i} — ünïcode ✓ 100%? ; DROP TABLE rows", "output": f"answer {i}\nline 2",
     "fields": {"tier": "Gold" if i % 2 else "Basic", "n": i, "emoji": "🦉"}, "content_hash": f"h{i}"}
    for i in range(5)
]


def label(rid, verdict="pass", critique="A critique long enough to teach a judge something.", chash=None):
    return Label(rid, verdict, verdict.title() if verdict else "", critique, "", "", chash or f"h{rid[1:]}")


def test_rows_kept_in_full_and_marked_when_they_leave_the_dataset(make_store):
    store = make_store()
    store.save_rows(ROWS, present_ids={r["id"] for r in ROWS})
    got = store.rows()
    assert {rid: (r["input"], r["output"], r["fields"], r["content_hash"]) for rid, r in got.items()} == {
        r["id"]: (r["input"], r["output"], r["fields"], r["content_hash"]) for r in ROWS}
    assert all(r["in_dataset"] for r in got.values())
    changed = {**ROWS[0], "output": "a new answer", "content_hash": "h0b"}
    store.save_rows([changed], present_ids={"r0", "r1"})
    got = make_store().rows()  # a second connection sees the committed state
    assert got["r0"]["output"] == "a new answer" and got["r0"]["content_hash"] == "h0b"
    assert {rid for rid, r in got.items() if r["in_dataset"]} == {"r0", "r1"}
    assert len(got) == 5  # rows no longer in the dataset are kept


def test_rows_by_id_read_in_chunks_give_exactly_those_rows(make_store):
    store = make_store()
    many = [{**ROWS[i % 5], "id": f"x{i}", "content_hash": f"x{i}"} for i in range(1_203)]
    store.save_rows(many, present_ids={r["id"] for r in many})
    wanted = [f"x{i}" for i in range(0, 1_203, 2)] + ["absent", "x0"]  # 602 ids: two chunks and a bit
    got = store.rows(wanted)
    assert set(got) == {f"x{i}" for i in range(0, 1_203, 2)}
    assert got["x1202"] == store.rows()["x1202"] and got["x4"]["fields"] == ROWS[4]["fields"]
    assert store.rows([]) == {}


def test_pulls_are_numbered_and_each_keeps_its_labels(make_store):
    store = make_store()
    store.save_rows(ROWS, present_ids={r["id"] for r in ROWS})
    assert store.latest_pull_id() is None and store.labels() == {} and store.pull_count() == 0
    first = store.save_pull("labels.xlsx", [label("r0"), label("r1", "fail")], {"r0": LabelState("s0", "h0")})
    second = store.save_pull("labels.xlsx", [label("r0", "fail", "Changed my mind: the fee is wrong."),
                                             label("r2", None, "")], {"r0": None, "r1": LabelState("s1", "h1", "x")})
    assert (first, second) == (1, 2) and store.pull_count() == 2
    assert store.latest_pull_id() == 2 and store.latest_pull_id(before=2) == 1
    assert store.labels(1) == {"r0": label("r0"), "r1": label("r1", "fail")}
    assert store.labels()["r0"].critique == "Changed my mind: the fee is wrong." and store.labels()["r2"].verdict is None
    assert store.label_states() == {"r1": LabelState("s1", "h1", "x")}


def test_fresh_labels_leave_out_stale_and_removed_rows(make_store):
    store = make_store()
    store.save_rows(ROWS, present_ids={"r0", "r1", "r2", "r3"})
    store.save_pull("x", [label("r0"), label("r1", "fail", chash="old"), label("r2", None), label("r4")])
    fresh, stale = store.fresh_labels()
    assert set(fresh) == {"r0"} and stale == ["r1"]


def test_a_push_records_rows_shown_states_and_meta_together(make_store):
    store = make_store()
    states = {"r0": LabelState("s0", "h0", ""), "r1": LabelState("s1", "", "h1")}
    shown = {r["id"]: (r["content_hash"], "d" + r["id"]) for r in ROWS}
    store.record_push(ROWS, present_ids={r["id"] for r in ROWS}, shown=shown, states=states,
                      meta={"annotate_layout": '{"context": ["tier"]}', "spreadsheet": "labels.xlsx"})
    other = make_store()
    assert other.shown() == shown and other.label_states() == states and len(other.rows()) == 5
    assert other.get_meta("annotate_layout") == '{"context": ["tier"]}' and other.get_meta("missing") is None


def test_a_failed_transaction_writes_nothing(make_store):
    store = make_store()
    store.set_meta("kept", "1")
    with pytest.raises(RuntimeError), store.transaction():
        store.save_rows(ROWS, present_ids={r["id"] for r in ROWS})
        store.save_pull("x", [label("r0")])
        store.set_meta("kept", "2")
        raise RuntimeError("the command failed half-way")
    other = make_store()
    assert other.rows() == {} and other.pull_count() == 0 and other.get_meta("kept") == "1"
    store.set_meta("kept", "3")  # the connection is usable afterwards
    assert other.get_meta("kept") == "3"


def test_meta_default_keeps_the_first_value(make_store):
    a, b = make_store(), make_store()
    assert a.meta_default("marker_salt", "first") == "first"
    assert b.meta_default("marker_salt", "second") == "first"
    b.set_meta("marker_salt", "replaced")
    assert a.get_meta("marker_salt") == "replaced"


def test_cache_is_shared_by_every_connection(make_store):
    a, b = make_store(), make_store()
    assert a.get("k") is None
    value = {"value": {"verdict": "fail", "critique": "ünï ✓"}, "text": "{\"verdict\": \"fail\"}", "prompt_tokens": 7}
    a.put("k", value)
    assert b.get("k") == value
    b.put("k", {**value, "prompt_tokens": 8})
    assert a.get("k")["prompt_tokens"] == 8


def _run(store, run_id, split="dev"):
    return store.start_run(run_id, model="m", params={"split": split, "temperature": 0.0}, template="T {{ row }}",
                           template_hash="t", split=split, n_rows=2)


def test_runs_verdicts_and_their_order(make_store):
    store = make_store()
    assert [_run(store, "b-run"), _run(store, "a-run", "test")] == [1, 2]  # store order, not id order
    latency = 0.1 + 0.2  # 0.30000000000000004: a 4-byte float would come back as 0.30000001192092896
    store.save_verdict("b-run", "r0", verdict="pass", critique="fine", error=None, latency=latency, prompt_tokens=10,
                       completion_tokens=3, cached=False, level="json_schema", note=None, cached_tokens=2)
    store.save_verdict("b-run", "r0", verdict="fail", critique="second answer wins", error=None, latency=latency,
                       prompt_tokens=10, completion_tokens=3, cached=True)
    store.save_verdict("a-run", "r0", verdict=None, critique=None, error="timeout", latency=60.0, prompt_tokens=0,
                       completion_tokens=0, cached=False, note="cut to fit")
    store.finish_run("b-run", "done", {"format_level": "json_schema", "errors": 0})
    runs = make_store().runs()
    assert [r["run_id"] for r in runs] == ["b-run", "a-run"]
    assert runs[0]["status"] == "done" and runs[0]["finished_at"] and runs[1]["status"] == "running"
    assert '"format_level": "json_schema"' in runs[0]["params"] and '"temperature": 0.0' in runs[0]["params"]
    v = store.run_verdicts("b-run")["r0"]
    assert v["verdict"] == "fail" and v["cached"] == 1 and v["latency"] == latency and v["cached_tokens"] == 0
    latest = store.latest_verdicts()["r0"]
    assert latest["run_id"] == "a-run" and latest["error"] == "timeout" and latest["note"] == "cut to fit"


def test_test_looks_count_each_run_once(make_store):
    store = make_store()
    for run_id, split in [("1", "dev"), ("2", "test"), ("3", "all"), ("4", "unlabeled"), ("5", "test")]:
        _run(store, run_id, split)
    assert store.test_looks() == 3
    assert [store.test_looks(r) for r in ("2", "3", "5")] == [1, 2, 3]


@pytest.mark.parametrize("engine", ["postgresql"])  # an SQLite store is one file per workspace
def test_workspaces_in_one_database_see_nothing_of_each_other(make_store):
    support, billing = make_store("support-bot"), make_store("billing-bot")
    support.save_rows(ROWS, present_ids={r["id"] for r in ROWS})
    support.save_pull("x", [label("r0")])
    support.put("k", {"v": 1})
    _run(support, "run-1", "test")
    assert billing.rows() == {} and billing.labels() == {} and billing.get("k") is None and billing.runs() == []
    assert billing.save_pull("y", [label("r9")]) == 1  # numbered in its own workspace
    assert make_store("support-bot").labels() == {"r0": label("r0")} and support.test_looks() == 1


def test_sql_text_reaches_both_engines_unchanged(make_store):
    """The store's SQL is written once with ? placeholders; a literal % or ? in it means itself on both."""
    store = make_store()
    assert store.db.one("SELECT '100% sure?'") == ("100% sure?",)
    assert store.db.one("SELECT '50%?' AS \"odd?\", ?", ("x?%",)) == ("50%?", "x?%")
    store.db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", iter([("a%", "1?"), ("b", "%s")]))
    assert (store.get_meta("a%"), store.get_meta("b")) == ("1?", "%s")


def test_driver_errors_become_store_errors(make_store):
    store = make_store()
    with pytest.raises(StoreError), store.transaction() as db:
        db.execute("SELECT no_such_column FROM rows")
    store.set_meta("still", "usable")
    assert store.get_meta("still") == "usable"
