"""The judge's side of the store: runs, verdicts, the looks at the test split, and the judge-call cache.

On a team store the cache is everyone's: a call one engineer (or CI) paid for is a hit for the next, because
its key is everything that determines the answer (``sheetsync.llm.cache_key``). Each verdict is committed as
soon as it exists — one upsert, atomic on its own, so no write lock and one round trip to a team server — so
an interrupted run keeps every finished row, and a teammate's run started meanwhile finds them in the cache.
"""

from __future__ import annotations

import json
from typing import Any

from sheetsync.store.base import StoreBase, now, upsert

_CACHE = upsert("cache", ("key", "value", "created_at"), ("key",))
_VERDICT_COLUMNS = ("run_id", "id", "verdict", "critique", "error", "latency", "prompt_tokens", "completion_tokens",
                    "cached", "level", "note", "cached_tokens")
_VERDICT = upsert("verdicts", _VERDICT_COLUMNS, ("run_id", "id"))
#: The splits whose runs are looks at the test rows (every look makes the test figures more optimistic).
TEST_SPLITS = ("test", "all")


class RunsStore(StoreBase):
    # -- judge-call cache (implements sheetsync.llm.Cache) ---------------------------------------------
    def get(self, key: str) -> dict | None:
        row = self.db.one("SELECT value FROM cache WHERE key = ?", (key,))
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        self.db.execute(_CACHE, (key, json.dumps(value, ensure_ascii=False), now()))  # one statement: atomic

    # -- judge runs ------------------------------------------------------------------------------------
    def start_run(self, run_id: str, *, model: str, params: dict, template: str, template_hash: str,
                  split: str, n_rows: int, judge: str = "") -> int:
        """Record a run as started; its place in the workspace's order of runs (1, 2, …), numbered under the
        write lock so two runs started at once by two people get two places. ``judge``: "" for the judge, a
        ``[judges.NAME]`` name, or sheetsync's own "(classifier)": every judge shares these tables."""
        with self.db.write() as db:
            row = db.one("SELECT MAX(seq) FROM runs")
            seq = int(row[0] or 0) + 1 if row else 1
            db.execute(
                """INSERT INTO runs (run_id, started_at, model, params, template, template_hash, split, n_rows,
                   status, seq, judge) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)""",
                (run_id, now(), model, json.dumps(params, sort_keys=True), template, template_hash, split, n_rows,
                 seq, judge),
            )
        return seq

    def test_looks(self, run_id: str | None = None, judge: str = "") -> int:
        """How many runs of one judge looked at the test split, by anyone: all of them, or those up to and
        including ``run_id`` (so each of two runs started at once counts its own look, 1 and 2, not both 2).
        A specialized judge's looks are its own: they say nothing about the judge's prompt."""
        sql = f"SELECT COUNT(*) FROM runs WHERE split IN ({', '.join('?' for _ in TEST_SPLITS)})"
        params: list[Any] = list(TEST_SPLITS)
        if run_id is not None:
            sql += (" AND seq <= (SELECT seq FROM runs WHERE run_id = ?)"
                    " AND judge = (SELECT judge FROM runs WHERE run_id = ?)")
            params += [run_id, run_id]
        else:
            sql += " AND judge = ?"
            params.append(judge)
        return int(self.db.one(sql, params)[0])  # type: ignore[index]

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        """End a run; ``summary`` (e.g. the structured-output level it ended on) joins its params."""
        with self.db.write() as db:
            if summary:
                row = db.one("SELECT params FROM runs WHERE run_id = ?", (run_id,))
                params = {**json.loads(row[0] if row else "{}"), **summary}
                db.execute("UPDATE runs SET params = ? WHERE run_id = ?", (json.dumps(params, sort_keys=True), run_id))
            db.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", (now(), status, run_id))

    def save_verdict(self, run_id: str, row_id: str, *, verdict: str | None, critique: str | None,
                     error: str | None, latency: float, prompt_tokens: int, completion_tokens: int,
                     cached: bool, level: str | None = None, note: str | None = None,
                     cached_tokens: int = 0) -> None:
        """One row's judgement, committed at once: an interrupted run keeps every finished verdict."""
        self.db.execute(_VERDICT, (run_id, row_id, verdict, critique, error, latency, prompt_tokens,
                                   completion_tokens, int(cached), level, note, cached_tokens))

    def runs(self, judge: str = "") -> list[dict[str, Any]]:
        """The runs of one judge ("" = the judge), in the order they were started."""
        cur = self.db.execute(
            """SELECT run_id, started_at, finished_at, model, params, template_hash, split, n_rows, status
               FROM runs WHERE judge = ? ORDER BY seq""", (judge,)
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
               JOIN runs r ON r.run_id = v.run_id WHERE r.judge = ? ORDER BY r.seq""", (judge,)
        )
        out: dict[str, dict[str, Any]] = {}
        for rid, verdict, critique, error, run_id, level, note in cur:
            out[rid] = {"verdict": verdict, "critique": critique, "error": error, "run_id": run_id, "level": level,
                        "note": note}
        return out
