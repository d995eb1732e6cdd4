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
CREATE TABLE IF NOT EXISTS revisions (
    revision_id INTEGER PRIMARY KEY AUTOINCREMENT, pull_id INTEGER NOT NULL, id TEXT NOT NULL, at TEXT NOT NULL,
    verdict_before TEXT, verdict_after TEXT, critique_before TEXT NOT NULL, critique_after TEXT NOT NULL,
    root_cause_before TEXT NOT NULL, root_cause_after TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    answer_id INTEGER PRIMARY KEY AUTOINCREMENT, tab TEXT NOT NULL, id TEXT NOT NULL, instance TEXT NOT NULL,
    resolution TEXT NOT NULL, why TEXT NOT NULL, sig TEXT NOT NULL, seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    question_id INTEGER PRIMARY KEY AUTOINCREMENT, tab TEXT NOT NULL, id TEXT NOT NULL, asked_at TEXT NOT NULL,
    question TEXT NOT NULL, settled_at TEXT, settled_as TEXT, decision TEXT
);
CREATE TABLE IF NOT EXISTS verdicts_shown (id TEXT PRIMARY KEY, after_pull INTEGER NOT NULL, shown_at TEXT NOT NULL);
"""
#: Columns added to ``verdicts`` after its first release (a store written before them gains them on open):
#: the structured-output level the answer came at, what was done to the row (e.g. cut to fit the model's
#: context), and the prompt tokens the server served from its cache.
VERDICT_COLUMNS = {"level": "TEXT", "note": "TEXT", "cached_tokens": "INTEGER"}
#: Columns added to ``labels`` later: whether the expert could have seen a judge verdict for the row before
#: giving this label (NULL: pulled before sheetsync recorded it).
LABEL_COLUMNS = {"judge_seen": "INTEGER"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    judge_seen: bool | None = None  # a judge verdict for the row had been shown before this label was seen


@dataclass(frozen=True)
class Revision:
    """A change to a label the expert had given, between two pulls, and the reason when the expert gave one."""

    id: str
    verdict_before: str | None
    verdict_after: str | None
    critique_before: str
    critique_after: str
    root_cause_before: str
    root_cause_after: str
    reason: str = ""
    source: str = "annotate"  # "review": the expert answered the judge on this row; "annotate": a direct edit
    pull_id: int = 0
    at: str = ""


@dataclass(frozen=True)
class Answer:
    """The expert's answer in one row of a tab with answer columns (Review, Calibration), as last seen.
    ``instance`` names what it answers (the judge run, or the rater's label); "" when unknown."""

    tab: str
    id: str
    instance: str
    resolution: str
    why: str
    sig: str
    seen_at: str = ""


@dataclass(frozen=True)
class Question:
    """An open criteria question (an answer "Unclear"), until the expert settles it."""

    tab: str
    id: str
    asked_at: str
    question: str
    settled_at: str | None = None
    settled_as: str | None = None
    decision: str | None = None


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
        have = {r[1] for r in self.db.execute("PRAGMA table_info(labels)")}
        for name, kind in LABEL_COLUMNS.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE labels ADD COLUMN {name} {kind}")

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
        self, spreadsheet: str, labels: list[Label], states: dict[str, LabelState | None] | None = None
    ) -> int:
        """One pull's labels (and the label states it observed), in one transaction."""
        with self.transaction() as db:
            self._save_states(db, states or {})
            cur = db.execute(
                "INSERT INTO pulls (pulled_at, spreadsheet, n_rows) VALUES (?, ?, ?)", (now(), spreadsheet, len(labels))
            )
            pull_id = int(cur.lastrowid or 0)
            db.executemany(
                """INSERT INTO labels (pull_id, id, verdict, raw_verdict, critique, root_cause, notes, content_hash,
                   judge_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    (pull_id, lb.id, lb.verdict, lb.raw_verdict, lb.critique, lb.root_cause, lb.notes, lb.content_hash,
                     None if lb.judge_seen is None else int(lb.judge_seen))
                    for lb in labels
                ),
            )
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
            "SELECT id, verdict, raw_verdict, critique, root_cause, notes, content_hash, judge_seen FROM labels "
            "WHERE pull_id = ?",
            (pull_id,),
        )
        return {r[0]: Label(*r[:7], None if r[7] is None else bool(r[7])) for r in cur}

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

    def pulls(self) -> list[dict[str, Any]]:
        """Every pull, oldest first: its id and time."""
        cur = self.db.execute("SELECT pull_id, pulled_at FROM pulls ORDER BY pull_id")
        return [{"pull_id": r[0], "pulled_at": r[1]} for r in cur]

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
                  split: str, n_rows: int) -> None:
        self.db.execute(
            """INSERT INTO runs (run_id, started_at, model, params, template, template_hash, split, n_rows, status)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')""",
            (run_id, now(), model, json.dumps(params, sort_keys=True), template, template_hash, split, n_rows),
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

    def runs(self) -> list[dict[str, Any]]:
        cur = self.db.execute(
            """SELECT run_id, started_at, finished_at, model, params, template_hash, split, n_rows, status
               FROM runs ORDER BY started_at, rowid"""
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

    def latest_verdicts(self) -> dict[str, dict[str, Any]]:
        """For each row, the judgement of the most recent run that judged it (with that run's id)."""
        cur = self.db.execute(
            """SELECT v.id, v.verdict, v.critique, v.error, v.run_id, v.level, v.note FROM verdicts v
               JOIN runs r USING (run_id) ORDER BY r.started_at, r.rowid"""
        )
        out: dict[str, dict[str, Any]] = {}
        for rid, verdict, critique, error, run_id, level, note in cur:
            out[rid] = {"verdict": verdict, "critique": critique, "error": error, "run_id": run_id, "level": level,
                        "note": note}
        return out


    # -- the expert's answers to the judge and to a second rater (sheetsync.review) -------------------------
    def latest_answers(self, tab: str) -> dict[str, Answer]:
        """For each row of ``tab`` ("review", "calibration"), the answer as last seen."""
        cur = self.db.execute(
            "SELECT tab, id, instance, resolution, why, sig, seen_at FROM answers WHERE tab = ? ORDER BY answer_id",
            (tab,),
        )
        return {r[1]: Answer(*r) for r in cur}

    def answers(self) -> list[Answer]:
        """Every answer ever seen (each change once), oldest first."""
        cur = self.db.execute("SELECT tab, id, instance, resolution, why, sig, seen_at FROM answers ORDER BY answer_id")
        return [Answer(*r) for r in cur]

    def questions(self, *, open_only: bool = False) -> list[Question]:
        where = " WHERE settled_at IS NULL" if open_only else ""
        cur = self.db.execute(
            "SELECT tab, id, asked_at, question, settled_at, settled_as, decision FROM questions"
            f"{where} ORDER BY question_id"
        )
        return [Question(*r) for r in cur]

    def revisions(self) -> list[Revision]:
        """Every label revision, oldest first."""
        cur = self.db.execute(
            """SELECT id, verdict_before, verdict_after, critique_before, critique_after, root_cause_before,
               root_cause_after, reason, source, pull_id, at FROM revisions ORDER BY revision_id"""
        )
        return [Revision(*r) for r in cur]

    def save_review(
        self,
        *,
        answers: Iterable[Answer] = (),
        asked: Iterable[Question] = (),
        settled: Iterable[Question] = (),
        revisions: Iterable[Revision] = (),
    ) -> None:
        """What one read of the answer tabs (and one pull) learnt, in one transaction: new or changed
        answers, questions opened (or re-worded: same tab, id and time) and settled, label revisions."""
        stamp = now()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO answers (tab, id, instance, resolution, why, sig, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((a.tab, a.id, a.instance, a.resolution, a.why, a.sig, a.seen_at or stamp) for a in answers),
            )
            for q in asked:
                cur = db.execute("UPDATE questions SET question = ? WHERE tab = ? AND id = ? AND asked_at = ?",
                                 (q.question, q.tab, q.id, q.asked_at))
                if not cur.rowcount:
                    db.execute("INSERT INTO questions (tab, id, asked_at, question) VALUES (?, ?, ?, ?)",
                               (q.tab, q.id, q.asked_at or stamp, q.question))
            db.executemany(
                """UPDATE questions SET settled_at = ?, settled_as = ?, decision = ?
                   WHERE tab = ? AND id = ? AND asked_at = ? AND settled_at IS NULL""",
                ((q.settled_at or stamp, q.settled_as, q.decision, q.tab, q.id, q.asked_at) for q in settled),
            )
            db.executemany(
                """INSERT INTO revisions (pull_id, id, at, verdict_before, verdict_after, critique_before,
                   critique_after, root_cause_before, root_cause_after, reason, source)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                ((r.pull_id, r.id, r.at or stamp, r.verdict_before, r.verdict_after, r.critique_before,
                  r.critique_after, r.root_cause_before, r.root_cause_after, r.reason, r.source) for r in revisions),
            )

    # -- which rows' judge verdicts the expert could have seen (blind labelling) ---------------------------
    def record_verdicts_shown(self, ids: Iterable[str]) -> None:
        """These rows' judge verdicts were just written where the expert can see them (first time kept)."""
        after = self.latest_pull_id() or 0
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO verdicts_shown (id, after_pull, shown_at) VALUES (?, ?, ?)",
                ((i, after, now()) for i in ids),
            )

    def verdicts_shown(self) -> dict[str, int]:
        """id -> the latest pull before its judge verdict was first shown to the expert (0: before any pull)."""
        return {r[0]: r[1] for r in self.db.execute("SELECT id, after_pull FROM verdicts_shown")}
