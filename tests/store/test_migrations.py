"""Stores from earlier sheetsync versions open and migrate without losing anything; every migration runs on
both engines; a store from a newer sheetsync is refused untouched; two commands creating a store at once
create it once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sheetsync.errors import StoreError
from sheetsync.store import Store
from sheetsync.store.schema import LATEST, MIGRATIONS, VERSION_TABLE, version

LEGACY_DUMP = Path(__file__).parents[1] / "fixtures" / "store_before_versioning.sql"


def legacy_store(path: Path) -> Path:
    """The store main's code wrote before versioning (tests/fixtures/store_before_versioning.sql says how)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(LEGACY_DUMP.read_text(encoding="utf-8"))
    con.close()
    return path


def table_contents(path: Path) -> dict[str, list[dict]]:
    con = sqlite3.connect(path)
    out = {}
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        cur = con.execute(f'SELECT * FROM "{name}"')
        cols = [d[0] for d in cur.description]
        out[name] = sorted((dict(zip(cols, r, strict=True)) for r in cur), key=repr)
    con.close()
    return out


def test_a_store_from_before_versioning_keeps_everything(tmp_path):
    path = legacy_store(tmp_path / "state.db")
    before = table_contents(path)
    store = Store(path)
    assert version(store.db) == LATEST
    after = table_contents(path)
    assert set(after) >= set(before) | {VERSION_TABLE}
    assert not any(after[t] for t in set(after) - set(before) - {VERSION_TABLE})  # later migrations' tables: empty
    for table, rows in before.items():
        old = set(rows[0]) if rows else set()
        # columns later migrations added (labels.judge_seen) hold nothing for the rows written before them;
        # runs.judge holds "" (the judge: every run before it was the judge's)
        assert all(r[k] is None for r in after[table] for k in set(r) - old - {"seq", "judge"}), table
        got = [{k: v for k, v in r.items() if k in old} for r in after[table]]
        if table == "runs":  # gains its order, from the order SQLite kept the runs in, and its judge
            assert got == rows
            assert sorted(r["seq"] for r in after[table]) == [1, 2, 3]
            assert {r["judge"] for r in after[table]} == {""}
        else:
            assert got == rows, table
    # and the methods read it as the old code wrote it
    assert store.pull_count() == 2 and store.labels()["r1"].critique == "Wrong fee quoted; see §4."
    assert [r["split"] for r in store.runs()] == ["dev", "test", "all"] and store.test_looks() == 2
    assert store.get("key-2")["value"]["critique"] == "ünï" and store.get_meta("marker_salt") == "0123456789abcdef"
    assert not store.rows()["r5"]["in_dataset"] and store.fresh_labels()[0].keys() == {"r0", "r1"}
    assert store.save_pull("labels.xlsx", []) == 3 and store.start_run(
        "new", model="m", params={}, template="", template_hash="", split="test", n_rows=0) == 4
    store.close()
    assert version(Store(path).db) == LATEST  # opening again changes nothing


def test_a_store_older_still_gains_the_verdict_columns(tmp_path):
    """Before the LLM engineer's columns (level, note, cached_tokens) verdicts had nine."""
    path = tmp_path / "state.db"
    dump = LEGACY_DUMP.read_text(encoding="utf-8")
    con = sqlite3.connect(path)
    con.executescript(dump)
    con.executescript("""CREATE TABLE v2 AS SELECT run_id, id, verdict, critique, error, latency, prompt_tokens,
                         completion_tokens, cached FROM verdicts; DROP TABLE verdicts; ALTER TABLE v2 RENAME TO verdicts;""")
    con.close()
    store = Store(path)
    v = store.run_verdicts("20260101T000000-abc0")["r1"]
    assert v["error"] == "timeout after 60 s" and v["level"] is None and v["note"] is None


def test_every_migration_on_a_new_store(make_store):
    store = make_store()
    assert version(store.db) == LATEST == MIGRATIONS[-1].version
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))  # numbered in order, none skipped
    assert {"meta", "rows", "pulls", "labels", "runs", "verdicts", "cache", "label_state", "shown"} <= set(
        store.db.tables())


def test_a_store_from_a_newer_sheetsync_is_refused_untouched(make_store):
    store = make_store()
    store.db.execute(f"INSERT INTO {VERSION_TABLE} (version, applied_at, what) VALUES (?, ?, ?)",
                     (LATEST + 1, "later", "a table this sheetsync does not know"))
    with pytest.raises(StoreError, match="written by a newer sheetsync"):
        make_store()
    assert version(store.db) == LATEST + 1


CREATE = """
import sys
from sheetsync.config import load_config
from sheetsync.store import open_store
store = open_store(load_config(sys.argv[1]))
print(store.save_pull("x", []))
"""


def test_two_commands_creating_one_store_at_once_create_it_once(store_url, tmp_path):
    from tests.store.conftest import workspace_config

    workspace_config(tmp_path / "ws", store_url)
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, str(tmp_path / "ws" / "sheetsync.toml")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sorted(int(o[0]) for o in outs) == [1, 2, 3]
