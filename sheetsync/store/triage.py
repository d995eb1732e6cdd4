"""Steps 6 and 7's side of the store: sheetsync's root-cause proposals, the expert's decisions on them (kept
per pull, like labels: no decision lives only in the sheet) and the classifier's root causes per run.

The taxonomy itself is not stored: it is recomputed from the config's causes and the decisions of the last
pull that read the Root-cause proposals tab (``sheetsync.taxonomy``), so nothing here can drift from what the
expert typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sheetsync.store.base import StoreBase, now, upsert
from sheetsync.store.conn import Conn

DECISIONS_PULL_KEY = "decisions_pull"  # the last pull that read the Root-cause proposals tab
_PROPOSAL = ("INSERT INTO proposals (proposal_id, name, definition, critique_ids, first_proposed_at, proposed_at, "
             "triage_run, current, seq) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (proposal_id) DO UPDATE SET "
             "name = excluded.name, definition = excluded.definition, critique_ids = excluded.critique_ids, "
             "proposed_at = excluded.proposed_at, triage_run = excluded.triage_run, current = 1")
_CLASSIFICATION = upsert("classifications", ("run_id", "id", "causes", "reason", "error"), ("run_id", "id"))


@dataclass(frozen=True)
class Decision:
    """The expert's cells of one Root-cause proposals row, as pulled, exactly as typed. ``trusted`` is False
    when the row showed another proposal's text (a write landed mid-sort): such a decision is not applied."""

    proposal_id: str
    decision: str
    definition: str
    trusted: bool = True


def save_decisions(db: Conn, pull_id: int, decisions: list[Decision]) -> None:
    """A pull's decisions, inside the pull's own transaction (``LabelsStore.save_pull``)."""
    db.executemany(
        "INSERT INTO decisions (pull_id, proposal_id, decision, definition, trusted) VALUES (?, ?, ?, ?, ?)",
        ((pull_id, d.proposal_id, d.decision, d.definition, int(d.trusted)) for d in decisions),
    )
    db.execute(upsert("meta", ("key", "value"), ("key",)), (DECISIONS_PULL_KEY, str(pull_id)))


class TriageStore(StoreBase):
    def save_proposals(self, run_id: str, proposals: list[dict[str, Any]]) -> None:
        """One triage's proposals (``proposal_id``, ``name``, ``definition``, ``critique_ids``): upserted by id;
        proposals of earlier triages stay (with the expert's decisions), no longer ``current``."""
        stamp = now()
        with self.db.write() as db:
            row = db.one("SELECT MAX(seq) FROM proposals")
            seq = int(row[0] or 0) if row else 0
            db.execute("UPDATE proposals SET current = 0")
            db.executemany(_PROPOSAL, ((p["proposal_id"], p["name"], p["definition"], json.dumps(p["critique_ids"]),
                                        stamp, stamp, run_id, seq + i) for i, p in enumerate(proposals, start=1)))

    def proposals(self) -> dict[str, dict[str, Any]]:
        """Every proposal ever made, first proposed first."""
        cur = self.db.execute(
            """SELECT proposal_id, name, definition, critique_ids, first_proposed_at, proposed_at, triage_run, current
               FROM proposals ORDER BY seq"""
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
        with self.db.read() as db:
            row = db.one("SELECT value FROM meta WHERE key = ?", (DECISIONS_PULL_KEY,))
            if row is None:
                return {}
            cur = db.execute("SELECT proposal_id, decision, definition, trusted FROM decisions WHERE pull_id = ?",
                             (int(row[0]),))
            return {r[0]: Decision(r[0], r[1], r[2], bool(r[3])) for r in cur}

    def save_classification(self, run_id: str, row_id: str, *, causes: list[str] | None, reason: str | None,
                            error: str | None) -> None:
        """One row's root causes, committed at once: an interrupted run keeps every finished row."""
        with self.db.write() as db:
            db.execute(_CLASSIFICATION, (run_id, row_id, None if causes is None else json.dumps(causes,
                                         ensure_ascii=False), reason, error))

    def run_classifications(self, run_id: str) -> dict[str, dict[str, Any]]:
        cur = self.db.execute("SELECT id, causes, reason, error FROM classifications WHERE run_id = ?", (run_id,))
        return {r[0]: {"causes": None if r[1] is None else json.loads(r[1]), "reason": r[2], "error": r[3]}
                for r in cur}
