"""`store export` / `store import` move a workspace's whole history between engines losslessly: a populated
store goes SQLite -> file -> PostgreSQL -> file -> SQLite and every table compares equal at every step.
"Every table" is the schema's, not a list here: tests/store/fill.py puts rows into each table (and a value
into each column) a migration created, so a table another branch adds is compared with no edit here."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from sheetsync.attribution import LabelState
from sheetsync.cli import cli
from sheetsync.store import Label, Store, open_store
from sheetsync.store.conn import quote
from sheetsync.store.transfer import copy_store
from tests.store.conftest import workspace_config
from tests.store.fill import fill_every_table
from tests.store.test_migrations import legacy_store


def contents(store: Store) -> dict[str, list[tuple]]:
    """Every table, every column (by name) and every row: what "lossless" is checked against."""
    out = {}
    with store.reading() as db:
        for table in db.tables():
            if table == "sheetsync_schema":  # each store's own record of when it was migrated
                continue
            cols = sorted(db.columns(table))
            rows = db.all(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(table)}")
            out[table] = [tuple(cols)] + sorted((tuple(r) for r in rows), key=repr)
    return out


def populate(store: Store) -> None:
    """More of everything on top of the legacy store through the Store's methods (awkward text, floats that a
    4-byte float would change), then rows for every table still empty and a value for every column still NULL."""
    rows = [{"id": f"p{i}", "input": "multi\nline\ttext, \"quotes\", 'single', %s ? :name — ✓", "output": "x" * 5000,
             "fields": {"context": None, "list": [1, 2.5]}, "content_hash": f"c{i}"} for i in range(50)]
    store.record_push(rows, present_ids={r["id"] for r in rows}, shown={"p0": ("c0", "d0")},
                      states={"p1": LabelState("s", "c1", "c1")}, meta={"annotate_layout": json.dumps({"ü": 1})})
    store.save_pull("labels.xlsx", [Label(f"p{i}", "fail", "FAIL", "Wrong.", "wrong tone", "", f"c{i}")
                                    for i in range(20)])
    store.start_run("t-run", model="m", params={"x": math.pi}, template="T", template_hash="h", split="test", n_rows=1)
    store.save_verdict("t-run", "p0", verdict="fail", critique="c", error=None, latency=1 / 3, prompt_tokens=2**31 - 1,
                       completion_tokens=0, cached=False, level="instructions", note="", cached_tokens=None)
    store.put("k" * 64, {"value": {"verdict": "pass"}, "float": 1e-300})
    fill_every_table(store)


def assert_every_table_and_column_held(want: dict[str, list[tuple]], store: Store) -> None:
    """The round trip compared something everywhere: each of the schema's tables has rows, each column a value."""
    assert set(want) == set(store.db.tables()) - {"sheetsync_schema"}
    for table, (cols, *rows) in want.items():
        assert rows, f"table {table} is empty: the round trip would compare nothing there"
        empty = [c for j, c in enumerate(cols) if all(r[j] is None for r in rows)]
        assert not empty, f"{table}: column(s) {empty} hold only NULLs"


def test_round_trip_through_postgresql_compares_every_table(tmp_path, postgres_url):
    local = Store(legacy_store(tmp_path / "a" / "state.db"))
    populate(local)
    want = contents(local)
    assert_every_table_and_column_held(want, local)
    assert set(want) >= {"meta", "rows", "pulls", "labels", "runs", "verdicts", "cache", "label_state", "shown",
                         "revisions", "answers", "questions", "verdicts_shown"}
    team = open_store(workspace_config(tmp_path / "team", postgres_url))
    assert copy_store(local, team)["labels"] == 25
    assert contents(team) == want
    back = Store(tmp_path / "b" / "state.db")
    copy_store(team, back)
    assert contents(back) == want
    assert back.test_looks() == 3 and back.fresh_labels() == local.fresh_labels() == team.fresh_labels()


def test_the_commands_move_a_workspace_and_refuse_to_overwrite(tmp_path, store_url, monkeypatch):
    """export from the local store, import into the configured one (either engine), export again: identical."""
    src = tmp_path / "solo"
    src.mkdir()
    populate(Store(legacy_store(src / ".sheetsync" / "state.db")))
    runner = CliRunner()
    monkeypatch.chdir(src)
    out = runner.invoke(cli, ["store", "export", "history.db"])
    assert out.exit_code == 0, out.output + out.stderr
    assert "rows: 56" in out.output and "labels: 25" in out.output
    again = runner.invoke(cli, ["store", "export", "history.db"])
    assert again.exit_code == 2 and "already exists" in again.stderr

    team = tmp_path / "team"
    workspace_config(team, store_url)
    monkeypatch.chdir(team)
    done = runner.invoke(cli, ["store", "import", str(src / "history.db")])
    assert done.exit_code == 0, done.output + done.stderr
    twice = runner.invoke(cli, ["store", "import", str(src / "history.db")])
    assert twice.exit_code == 2 and "already holds history" in twice.stderr and "Traceback" not in twice.output
    assert runner.invoke(cli, ["store", "export", "roundtrip.db"]).exit_code == 0
    assert contents(Store(team / "roundtrip.db")) == contents(Store(src / "history.db"))
    info = runner.invoke(cli, ["store", "info", "--json"])
    assert info.exit_code == 0 and json.loads(info.output)["tables"]["labels"] == 25
    assert "pg-test-secret" not in info.output + done.output + twice.output + done.stderr


def test_export_of_a_workspace_with_no_store_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["store", "export", "x.db"])
    assert out.exit_code == 2 and "nothing to export" in out.stderr
    assert not (tmp_path / ".sheetsync").exists() and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("engine", ["postgresql"])
def test_a_failed_import_writes_nothing(tmp_path, store_url):
    src = Store(legacy_store(tmp_path / "a.db"))
    src.db.execute("INSERT INTO labels (pull_id, id, verdict, raw_verdict, critique, root_cause, notes, content_hash) "
                   "VALUES (99, 'orphan', NULL, '', '', '', '', '')")  # a label of a pull that does not exist
    dst = open_store(workspace_config(tmp_path / "team", store_url))
    with pytest.raises(Exception, match="pull"):
        copy_store(src, dst)
    assert {t: rows[1:] for t, rows in contents(dst).items() if t != "sheetsync_schema"} == {
        t: [] for t in dst.db.tables() if t != "sheetsync_schema"}
