"""How each row the expert sees came to be shown (label provenance), and the judge's re-asks.

A row's provenance is written once, by the push that first showed it, and never changed: the probability it
had of being drawn then is what weights its label (``sheetsync.metrics.design_weights``). Rows that were in
the sheet before sheetsync recorded provenance are "imported", with no known probability.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sheetsync.store.base import StoreBase, now, upsert
from sheetsync.store.conn import Conn

_REPEAT = upsert("repeats", ("run_id", "id", "k", "verdict", "critique", "error", "cached"), ("run_id", "id", "k"))


class SamplingStore(StoreBase):
    @staticmethod
    def _save_provenance(db: Conn, design: dict[str, Any] | None, rows: dict[str, tuple[str, str, float | None]]
                         ) -> None:
        """Rows not recorded yet get their provenance; a sampled round (``design``) gets its number first."""
        if not rows:
            return
        have = {r[0] for r in db.execute("SELECT id FROM provenance")}
        new = {rid: v for rid, v in rows.items() if rid not in have}
        if not new:
            return
        round_no = None
        if design is not None and any(v[0] != "imported" for v in new.values()):
            row = db.one("SELECT MAX(round) FROM sample_rounds")
            round_no = int(row[0] or 0) + 1 if row else 1
            db.execute("INSERT INTO sample_rounds (round, taken_at, method, pool, drawn, design) VALUES (?, ?, ?, ?, ?, ?)",
                       (round_no, now(), design.get("method", ""), int(design.get("pool", 0)),
                        int(design.get("drawn", 0)), json.dumps(design, sort_keys=True, default=str)))
        stamp = now()
        db.executemany(
            "INSERT INTO provenance (id, round, method, stratum, probability, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            ((rid, None if m == "imported" else round_no, m, stratum, p, stamp) for rid, (m, stratum, p) in new.items()),
        )

    def provenance(self) -> dict[str, dict[str, Any]]:
        """id -> {round, method, stratum, probability} for every row sheetsync has shown."""
        cur = self.db.execute("SELECT id, round, method, stratum, probability FROM provenance")
        return {r[0]: {"round": r[1], "method": r[2], "stratum": r[3], "probability": r[4]} for r in cur}

    def sample_rounds(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT round, taken_at, method, pool, drawn, design FROM sample_rounds ORDER BY round")
        return [{"round": r[0], "taken_at": r[1], "method": r[2], "pool": r[3], "drawn": r[4],
                 "design": json.loads(r[5])} for r in cur]

    # -- the judge's re-asks (judge --repeat K): ask k = 1 .. K-1 of each row; ask 0 is the run's verdict --
    def save_repeats(self, run_id: str, rows: Iterable[tuple[str, int, str | None, str | None, str | None, bool]]
                     ) -> None:
        with self.db.write() as db:
            db.executemany(_REPEAT, ((run_id, rid, k, v, c, e, int(cached)) for rid, k, v, c, e, cached in rows))

    def repeats(self, run_id: str) -> dict[str, dict[int, str | None]]:
        """id -> {k: verdict (None for an error)} of one run's re-asks."""
        out: dict[str, dict[int, str | None]] = {}
        for rid, k, verdict in self.db.execute("SELECT id, k, verdict FROM repeats WHERE run_id = ?", (run_id,)):
            out.setdefault(rid, {})[int(k)] = verdict
        return out

    def repeated_runs(self) -> list[str]:
        """Runs that have re-asks, oldest first."""
        cur = self.db.execute("""SELECT DISTINCT r.run_id, r.seq FROM repeats p JOIN runs r ON r.run_id = p.run_id
                                 ORDER BY r.seq""")
        return [r[0] for r in cur]
