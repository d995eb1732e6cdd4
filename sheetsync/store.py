"""The local store, ``.sheetsync/state.db`` (SQLite): every pull, the pushed rows in full, judge runs,
verdicts and the judge-call cache. No label ever lives only in the sheet."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sheetsync.attribution import LabelState
from sheetsync.state_file import open_state_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    id TEXT PRIMARY KEY, input TEXT NOT NULL, output TEXT NOT NULL, fields TEXT NOT NULL,
    content_hash TEXT NOT NULL, first_pushed_at TEXT NOT NULL, pushed_at TEXT NOT NULL,
    in_dataset INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS pulls (
    pull_id INTEGER PRIMARY KEY AUTOINCREMENT, pulled_at TEXT NOT NULL, spreadsheet TEXT NOT NULL,
    n_rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    pull_id INTEGER NOT NULL REFERENCES pulls(pull_id), id TEXT NOT NULL, verdict TEXT, raw_verdict TEXT NOT NULL,
    critique TEXT NOT NULL, root_cause TEXT NOT NULL, notes TEXT NOT NULL, content_hash TEXT NOT NULL,
    PRIMARY KEY (pull_id, id)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, model TEXT NOT NULL,
    params TEXT NOT NULL, template TEXT NOT NULL, template_hash TEXT NOT NULL, split TEXT NOT NULL,
    n_rows INTEGER NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    run_id TEXT NOT NULL REFERENCES runs(run_id), id TEXT NOT NULL, verdict TEXT, critique TEXT, error TEXT,
    latency REAL, prompt_tokens INTEGER, completion_tokens INTEGER, cached INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS label_state (
    id TEXT PRIMARY KEY, sig TEXT NOT NULL, given_for TEXT NOT NULL, flagged_for TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shown (id TEXT PRIMARY KEY, content TEXT NOT NULL, display TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proposals (
    proposal_id TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, critique_ids TEXT NOT NULL,
    first_proposed_at TEXT NOT NULL, proposed_at TEXT NOT NULL, triage_run TEXT NOT NULL,
    current INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS decisions (
    pull_id INTEGER NOT NULL REFERENCES pulls(pull_id), proposal_id TEXT NOT NULL, decision TEXT NOT NULL,
    definition TEXT NOT NULL, trusted INTEGER NOT NULL, PRIMARY KEY (pull_id, proposal_id)
);
CREATE TABLE IF NOT EXISTS classifications (
    run_id TEXT NOT NULL REFERENCES runs(run_id), id TEXT NOT NULL, causes TEXT, reason TEXT, error TEXT,
    PRIMARY KEY (run_id, id)
);
"""
#: Columns added to ``verdicts`` after its first release (a store written before them gains them on open):
#: the structured-output level the answer came at, what was done to the row (e.g. cut to fit the model's
#: context), and the prompt tokens the server served from its cache.
VERDICT_COLUMNS = {"level": "TEXT", "note": "TEXT", "cached_tokens": "INTEGER"}
#: Columns added to ``runs`` later: which judge a run was of ("" = the judge; a ``[judges.NAME]`` name for a
#: specialized judge). Every judge shares the runs and verdicts tables: a judge is a configuration.
RUN_COLUMNS = {"judge": "TEXT NOT NULL DEFAULT ''"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


DECISIONS_PULL_KEY = "decisions_pull"  # the last pull that read the Root-cause proposals tab


@dataclass(frozen=True)
class Decision:
    """The expert's cells of one Root-cause proposals row, as pulled, exactly as typed. ``trusted`` is False
    when the row showed another proposal's text (a write landed mid-sort): such a decision is not applied."""

    proposal_id: str
    decision: str
    definition: str
    trusted: bool = True


@dataclass(frozen=True)
class Label:
    """One row's expert fields as pulled. ``verdict`` is "pass", "fail" or None (unlabelled/unreadable)."""

    id: str
    verdict: str | None
    raw_verdict: str
    critique: str
    root_cause: str
    notes: str
    content_hash: str


class Store:
    """A thin, explicit wrapper over the SQLite file. Each public method is one transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = open_state_file(self.path)  # healthy and writable, or a StoreError before anything is written
        self.db.executescript(SCHEMA)
        have = {r[1] for r in self.db.execute("PRAGMA table_info(verdicts)")}
        for name, kind in VERDICT_COLUMNS.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE verdicts ADD COLUMN {name} {kind}")
        have = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
        for name, kind in RUN_COLUMNS.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    @classmethod
    def for_workspace(cls, state_dir: Path) -> Store:
        return cls(state_dir / "state.db")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- settings remembered by the workspace ----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- which content each label was given for, and what each row shows (sheetsync.attribution) -------
    def label_states(self) -> dict[str, LabelState]:
        cur = self.db.execute("SELECT id, sig, given_for, flagged_for FROM label_state")
        return {r[0]: LabelState(r[1], r[2], r[3]) for r in cur}

    def shown(self) -> dict[str, tuple[str, str]]:
        """id -> (content hash, display hash) sheetsync last wrote into that id's row and saw there."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, content, display FROM shown")}

    def _save_states(self, db: sqlite3.Connection, states: dict[str, LabelState | None]) -> None:
        db.executemany("DELETE FROM label_state WHERE id = ?", ((i,) for i, st in states.items() if st is None))
        db.executemany(
            "INSERT OR REPLACE INTO label_state (id, sig, given_for, flagged_for) VALUES (?, ?, ?, ?)",
            ((i, st.sig, st.given_for, st.flagged_for) for i, st in states.items() if st is not None),
        )

    def record_push(
        self,
        rows: Iterable[dict[str, Any]],
        *,
        present_ids: set[str],
        shown: dict[str, tuple[str, str]],
        states: dict[str, LabelState | None],
        meta: dict[str, str],
    ) -> None:
        """Everything a push learnt, in one transaction: the rows in full, what each row now shows, the
        labels it saw (and the stale flags it showed), and the workspace settings it used."""
        with self.transaction() as db:
            self._save_rows(db, rows, present_ids)
            db.executemany(
                "INSERT OR REPLACE INTO shown (id, content, display) VALUES (?, ?, ?)",
                ((i, c, d) for i, (c, d) in shown.items()),
            )
            self._save_states(db, states)
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())

    # -- pushed rows, kept in full (a sheet cell may hold a cut version) -------------------------------
    def save_rows(self, rows: Iterable[dict[str, Any]], *, present_ids: set[str]) -> None:
        """Upsert the pushed rows; rows no longer in the dataset stay, marked ``in_dataset = 0``."""
        with self.transaction() as db:
            self._save_rows(db, rows, present_ids)

    def _save_rows(self, db: sqlite3.Connection, rows: Iterable[dict[str, Any]], present_ids: set[str]) -> None:
        stamp = now()
        db.executemany(
            """INSERT INTO rows (id, input, output, fields, content_hash, first_pushed_at, pushed_at, in_dataset)
               VALUES (:id, :input, :output, :fields, :content_hash, :stamp, :stamp, 1)
               ON CONFLICT(id) DO UPDATE SET input = excluded.input, output = excluded.output,
                 fields = excluded.fields, content_hash = excluded.content_hash, pushed_at = excluded.pushed_at,
                 in_dataset = 1""",
            ({**r, "fields": json.dumps(r["fields"], ensure_ascii=False), "stamp": stamp} for r in rows),
        )
        db.execute("CREATE TEMP TABLE IF NOT EXISTS present (id TEXT PRIMARY KEY)")
        db.execute("DELETE FROM present")
        db.executemany("INSERT INTO present VALUES (?)", ((i,) for i in present_ids))
        db.execute("UPDATE rows SET in_dataset = 0 WHERE id NOT IN (SELECT id FROM present)")

    def rows(self) -> dict[str, dict[str, Any]]:
        out = {}
        for rid, inp, outp, flds, chash, in_ds in self.db.execute(
            "SELECT id, input, output, fields, content_hash, in_dataset FROM rows"
        ):
            out[rid] = {
                "id": rid, "input": inp, "output": outp, "fields": json.loads(flds),
                "content_hash": chash, "in_dataset": bool(in_ds),
            }
        return out

    # -- pulls -----------------------------------------------------------------------------------------
    def save_pull(
        self, spreadsheet: str, labels: list[Label], states: dict[str, LabelState | None] | None = None,
        decisions: list[Decision] | None = None,
    ) -> int:
        """One pull's labels (and the label states it observed, and the expert's decisions on root-cause
        proposals when it read them), in one transaction."""
        with self.transaction() as db:
            self._save_states(db, states or {})
            cur = db.execute(
                "INSERT INTO pulls (pulled_at, spreadsheet, n_rows) VALUES (?, ?, ?)", (now(), spreadsheet, len(labels))
            )
            pull_id = int(cur.lastrowid or 0)
            db.executemany(
                """INSERT INTO labels (pull_id, id, verdict, raw_verdict, critique, root_cause, notes, content_hash)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    (pull_id, lb.id, lb.verdict, lb.raw_verdict, lb.critique, lb.root_cause, lb.notes, lb.content_hash)
                    for lb in labels
                ),
            )
            if decisions is not None:
                db.executemany(
                    "INSERT INTO decisions (pull_id, proposal_id, decision, definition, trusted) VALUES (?, ?, ?, ?, ?)",
                    ((pull_id, d.proposal_id, d.decision, d.definition, int(d.trusted)) for d in decisions),
                )
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (DECISIONS_PULL_KEY, str(pull_id)))
        return pull_id

    def latest_pull_id(self, before: int | None = None) -> int | None:
        if before is None:
            row = self.db.execute("SELECT MAX(pull_id) FROM pulls").fetchone()
        else:
            row = self.db.execute("SELECT MAX(pull_id) FROM pulls WHERE pull_id < ?", (before,)).fetchone()
        return row[0] if row and row[0] is not None else None

    def labels(self, pull_id: int | None = None) -> dict[str, Label]:
        """The labels of one pull (default: the latest), by id."""
        pull_id = self.latest_pull_id() if pull_id is None else pull_id
        if pull_id is None:
            return {}
        cur = self.db.execute(
            "SELECT id, verdict, raw_verdict, critique, root_cause, notes, content_hash FROM labels WHERE pull_id = ?",
            (pull_id,),
        )
        return {r[0]: Label(*r) for r in cur}

    def fresh_labels(self) -> tuple[dict[str, Label], list[str]]:
        """The latest pass/fail labels of rows still in the dataset, and the ids of stale ones.

        A label given for other content (the row's input, output or context changed after it was labelled),
        or for content sheetsync cannot vouch for (it sat beside another row's text), is not evidence about
        the row as it is now: it is left out, and its id listed, until the expert re-checks it. The judge
        and the reports share this rule.
        """
        rows = self.rows()
        fresh: dict[str, Label] = {}
        stale: list[str] = []
        for rid, label in self.labels().items():
            row = rows.get(rid)
            if row is None or not row["in_dataset"] or label.verdict not in ("pass", "fail"):
                continue
            if label.content_hash != row["content_hash"]:
                stale.append(rid)
            else:
                fresh[rid] = label
        return fresh, stale

    def pull_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM pulls").fetchone()[0])

    # -- judge-call cache (implements sheetsync.llm.Cache) ---------------------------------------------
    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO cache (key, value, created_at) VALUES (?, ?, ?)",
            (key, json.dumps(value, ensure_ascii=False), now()),
        )

    # -- judge runs ------------------------------------------------------------------------------------
    def start_run(self, run_id: str, *, model: str, params: dict, template: str, template_hash: str,
                  split: str, n_rows: int, judge: str = "") -> None:
        self.db.execute(
            """INSERT INTO runs (run_id, started_at, model, params, template, template_hash, split, n_rows, status,
               judge) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)""",
            (run_id, now(), model, json.dumps(params, sort_keys=True), template, template_hash, split, n_rows, judge),
        )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        """End a run; ``summary`` (e.g. the structured-output level it ended on) joins its params."""
        if summary:
            row = self.db.execute("SELECT params FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            params = {**json.loads(row[0] if row else "{}"), **summary}
            self.db.execute("UPDATE runs SET params = ? WHERE run_id = ?", (json.dumps(params, sort_keys=True), run_id))
        self.db.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", (now(), status, run_id))

    def save_verdict(self, run_id: str, row_id: str, *, verdict: str | None, critique: str | None,
                     error: str | None, latency: float, prompt_tokens: int, completion_tokens: int,
                     cached: bool, level: str | None = None, note: str | None = None,
                     cached_tokens: int = 0) -> None:
        """One row's judgement, committed at once: an interrupted run keeps every finished verdict."""
        self.db.execute(
            """INSERT OR REPLACE INTO verdicts (run_id, id, verdict, critique, error, latency, prompt_tokens,
               completion_tokens, cached, level, note, cached_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (run_id, row_id, verdict, critique, error, latency, prompt_tokens, completion_tokens, int(cached),
             level, note, cached_tokens),
        )

    def runs(self, judge: str = "") -> list[dict[str, Any]]:
        """The runs of one judge ("" = the judge; a ``[judges.NAME]`` name), oldest first."""
        cur = self.db.execute(
            """SELECT run_id, started_at, finished_at, model, params, template_hash, split, n_rows, status
               FROM runs WHERE judge = ? ORDER BY started_at, rowid""", (judge,)
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]

    def run_verdicts(self, run_id: str) -> dict[str, dict[str, Any]]:
        cur = self.db.execute(
            "SELECT id, verdict, critique, error, latency, prompt_tokens, completion_tokens, cached, level, note, "
            "cached_tokens FROM verdicts WHERE run_id = ?",
            (run_id,),
        )
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur}

    def latest_verdicts(self, judge: str = "") -> dict[str, dict[str, Any]]:
        """For each row, the judgement of the most recent run of ``judge`` that judged it (with its run id)."""
        cur = self.db.execute(
            """SELECT v.id, v.verdict, v.critique, v.error, v.run_id, v.level, v.note FROM verdicts v
               JOIN runs r USING (run_id) WHERE r.judge = ? ORDER BY r.started_at, r.rowid""", (judge,)
        )
        out: dict[str, dict[str, Any]] = {}
        for rid, verdict, critique, error, run_id, level, note in cur:
            out[rid] = {"verdict": verdict, "critique": critique, "error": error, "run_id": run_id, "level": level,
                        "note": note}
        return out

    # -- root-cause proposals (sheetsync triage) and the expert's decisions on them ----------------------
    def save_proposals(self, run_id: str, proposals: list[dict[str, Any]]) -> None:
        """One triage's proposals (``proposal_id``, ``name``, ``definition``, ``critique_ids``): upserted by id;
        proposals of earlier triages stay (with the expert's decisions), no longer ``current``."""
        stamp = now()
        with self.transaction() as db:
            db.execute("UPDATE proposals SET current = 0")
            db.executemany(
                """INSERT INTO proposals (proposal_id, name, definition, critique_ids, first_proposed_at, proposed_at,
                   triage_run, current) VALUES (?, ?, ?, ?, ?, ?, ?, 1)
                   ON CONFLICT(proposal_id) DO UPDATE SET name = excluded.name, definition = excluded.definition,
                     critique_ids = excluded.critique_ids, proposed_at = excluded.proposed_at,
                     triage_run = excluded.triage_run, current = 1""",
                ((p["proposal_id"], p["name"], p["definition"], json.dumps(p["critique_ids"]), stamp, stamp, run_id)
                 for p in proposals),
            )

    def proposals(self) -> dict[str, dict[str, Any]]:
        """Every proposal ever made, first proposed first."""
        cur = self.db.execute(
            """SELECT proposal_id, name, definition, critique_ids, first_proposed_at, proposed_at, triage_run, current
               FROM proposals ORDER BY first_proposed_at, rowid"""
        )
        cols = [d[0] for d in cur.description]
        out = {}
        for r in cur:
            rec = dict(zip(cols, r, strict=True))
            rec["critique_ids"], rec["current"] = json.loads(rec["critique_ids"]), bool(rec["current"])
            out[rec["proposal_id"]] = rec
        return out

    def decisions(self) -> dict[str, Decision]:
        """The decisions as the last pull that read the Root-cause proposals tab found them, by proposal."""
        pull_id = self.get_meta(DECISIONS_PULL_KEY)
        if pull_id is None:
            return {}
        cur = self.db.execute(
            "SELECT proposal_id, decision, definition, trusted FROM decisions WHERE pull_id = ?", (int(pull_id),)
        )
        return {r[0]: Decision(r[0], r[1], r[2], bool(r[3])) for r in cur}

    # -- root causes the classifier gave (sheetsync classify) ----------------------------------------------
    def save_classification(self, run_id: str, row_id: str, *, causes: list[str] | None, reason: str | None,
                            error: str | None) -> None:
        """One row's root causes, committed at once: an interrupted run keeps every finished row."""
        self.db.execute(
            "INSERT OR REPLACE INTO classifications (run_id, id, causes, reason, error) VALUES (?, ?, ?, ?, ?)",
            (run_id, row_id, None if causes is None else json.dumps(causes, ensure_ascii=False), reason, error),
        )

    def run_classifications(self, run_id: str) -> dict[str, dict[str, Any]]:
        cur = self.db.execute("SELECT id, causes, reason, error FROM classifications WHERE run_id = ?", (run_id,))
        return {r[0]: {"causes": None if r[1] is None else json.loads(r[1]), "reason": r[2], "error": r[3]}
                for r in cur}
