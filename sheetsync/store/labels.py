"""The expert's side of the store: the pushed rows in full, every pull's labels, which content each label
was given for and what each row shows (``sheetsync.attribution``). No label ever lives only in the sheet."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sheetsync.attribution import LabelState
from sheetsync.store.base import StoreBase, now, upsert
from sheetsync.store.conn import Conn
from sheetsync.store.triage import Decision, save_decisions

_STATE = upsert("label_state", ("id", "sig", "given_for", "flagged_for"), ("id",))
_SHOWN = upsert("shown", ("id", "content", "display"), ("id",))
_META = upsert("meta", ("key", "value"), ("key",))
_ROW = """INSERT INTO rows (id, input, output, fields, content_hash, first_pushed_at, pushed_at, in_dataset)
          VALUES (?, ?, ?, ?, ?, ?, ?, 1)
          ON CONFLICT (id) DO UPDATE SET input = excluded.input, output = excluded.output, fields = excluded.fields,
            content_hash = excluded.content_hash, pushed_at = excluded.pushed_at, in_dataset = 1"""


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


class LabelsStore(StoreBase):
    # -- which content each label was given for, and what each row shows (sheetsync.attribution) -------
    def label_states(self) -> dict[str, LabelState]:
        cur = self.db.execute("SELECT id, sig, given_for, flagged_for FROM label_state")
        return {r[0]: LabelState(r[1], r[2], r[3]) for r in cur}

    def shown(self) -> dict[str, tuple[str, str]]:
        """id -> (content hash, display hash) sheetsync last wrote into that id's row and saw there."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, content, display FROM shown")}

    @staticmethod
    def _save_states(db: Conn, states: dict[str, LabelState | None]) -> None:
        db.executemany("DELETE FROM label_state WHERE id = ?", ((i,) for i, st in states.items() if st is None))
        db.executemany(_STATE, ((i, st.sig, st.given_for, st.flagged_for) for i, st in states.items() if st is not None))

    def record_push(
        self,
        rows: Iterable[dict[str, Any]],
        *,
        present_ids: set[str],
        shown: dict[str, tuple[str, str]],
        states: dict[str, LabelState | None],
        meta: dict[str, str],
        provenance: tuple[dict[str, Any] | None, dict[str, tuple[str, str, float | None]]] | None = None,
    ) -> None:
        """Everything a push learnt, in one transaction: the rows in full, what each row now shows, the
        labels it saw (and the stale flags it showed), the workspace settings it used, and how each newly
        shown row was chosen (``provenance``: the round's design and id -> (method, stratum, probability))."""
        with self.db.write() as db:
            self._save_rows(db, rows, present_ids)
            before = {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, content, display FROM shown")}
            db.executemany(_SHOWN, ((i, c, d) for i, (c, d) in shown.items() if before.get(i) != (c, d)))
            self._save_states(db, states)
            db.executemany(_META, meta.items())
            if provenance is not None:
                self._save_provenance(db, *provenance)  # type: ignore[attr-defined]  # SamplingStore

    # -- pushed rows, kept in full (a sheet cell may hold a cut version) -------------------------------
    def save_rows(self, rows: Iterable[dict[str, Any]], *, present_ids: set[str]) -> None:
        """Upsert the pushed rows; rows no longer in the dataset stay, marked ``in_dataset = 0``."""
        with self.db.write() as db:
            self._save_rows(db, rows, present_ids)

    @staticmethod
    def _save_rows(db: Conn, rows: Iterable[dict[str, Any]], present_ids: set[str]) -> None:
        """Rows whose content and fields are unchanged (and still in the dataset) are not written again: a
        re-push of 100,000 rows with nothing new would otherwise rewrite 200 MB of text."""
        stamp = now()
        known = {r[0]: (r[1], r[2], bool(r[3]))
                 for r in db.execute("SELECT id, content_hash, fields, in_dataset FROM rows")}
        changed = (
            (r["id"], r["input"], r["output"], fields, r["content_hash"], stamp, stamp)
            for r in rows
            if known.get(r["id"]) != (r["content_hash"], fields := json.dumps(r["fields"], ensure_ascii=False), True)
        )
        db.executemany(_ROW, changed)
        gone = [r[0] for r in db.execute("SELECT id FROM rows WHERE in_dataset = 1") if r[0] not in present_ids]
        db.executemany("UPDATE rows SET in_dataset = 0 WHERE id = ?", ((i,) for i in gone))

    def rows(self, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Every row the store holds, or only those with these ids (read in chunks: what a re-push needs of
        its changed rows is a small part of the store)."""
        sql = "SELECT id, input, output, fields, content_hash, in_dataset FROM rows"
        if ids is None:
            return dict(self._rows(self.db.execute(sql)))
        wanted, out = list(dict.fromkeys(ids)), {}
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            out.update(self._rows(self.db.execute(f"{sql} WHERE id IN ({', '.join('?' for _ in part)})", part)))
        return out

    @staticmethod
    def _rows(cursor: Iterable[tuple]) -> Iterator[tuple[str, dict[str, Any]]]:
        for rid, inp, outp, flds, chash, in_ds in cursor:
            yield rid, {"id": rid, "input": inp, "output": outp, "fields": json.loads(flds),
                        "content_hash": chash, "in_dataset": bool(in_ds)}

    # -- pulls -----------------------------------------------------------------------------------------
    def save_pull(
        self, spreadsheet: str, labels: list[Label], states: dict[str, LabelState | None] | None = None,
        decisions: list[Decision] | None = None,
    ) -> int:
        """One pull's labels (and the label states it observed, and the expert's decisions on root-cause
        proposals when it read them), in one transaction. Pull ids are numbered here, under the workspace's
        write lock: two engineers pulling at once get two ids, never one."""
        with self.db.write() as db:
            self._save_states(db, states or {})
            row = db.one("SELECT MAX(pull_id) FROM pulls")
            pull_id = int(row[0] or 0) + 1 if row else 1
            db.execute("INSERT INTO pulls (pull_id, pulled_at, spreadsheet, n_rows) VALUES (?, ?, ?, ?)",
                       (pull_id, now(), spreadsheet, len(labels)))
            db.executemany(
                """INSERT INTO labels (pull_id, id, verdict, raw_verdict, critique, root_cause, notes, content_hash,
                   judge_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                ((pull_id, lb.id, lb.verdict, lb.raw_verdict, lb.critique, lb.root_cause, lb.notes, lb.content_hash,
                  None if lb.judge_seen is None else int(lb.judge_seen)) for lb in labels),
            )
            if decisions is not None:
                save_decisions(db, pull_id, decisions)
        return pull_id

    def latest_pull_id(self, before: int | None = None) -> int | None:
        if before is None:
            row = self.db.one("SELECT MAX(pull_id) FROM pulls")
        else:
            row = self.db.one("SELECT MAX(pull_id) FROM pulls WHERE pull_id < ?", (before,))
        return row[0] if row and row[0] is not None else None

    def labels(self, pull_id: int | None = None) -> dict[str, Label]:
        """The labels of one pull (default: the latest), by id."""
        with self.db.read() as db:
            pull_id = self.latest_pull_id() if pull_id is None else pull_id
            if pull_id is None:
                return {}
            cur = db.execute(
                "SELECT id, verdict, raw_verdict, critique, root_cause, notes, content_hash, judge_seen FROM labels "
                "WHERE pull_id = ?", (pull_id,),
            )
            return {r[0]: Label(*r[:7], None if r[7] is None else bool(r[7])) for r in cur}

    def fresh_labels(self) -> tuple[dict[str, Label], list[str]]:
        """The latest pass/fail labels of rows still in the dataset, and the ids of stale ones.

        A label given for other content (the row's input, output or context changed after it was labelled),
        or for content sheetsync cannot vouch for (it sat beside another row's text), is not evidence about
        the row as it is now: it is left out, and its id listed, until the expert re-checks it. The judge
        and the reports share this rule. Rows and labels are read from one snapshot: a push or pull landing
        meanwhile is seen whole or not at all.
        """
        with self.db.read():
            rows, labels = self.rows(), self.labels()
        fresh: dict[str, Label] = {}
        stale: list[str] = []
        for rid, label in labels.items():
            row = rows.get(rid)
            if row is None or not row["in_dataset"] or label.verdict not in ("pass", "fail"):
                continue
            if label.content_hash != row["content_hash"]:
                stale.append(rid)
            else:
                fresh[rid] = label
        return fresh, stale

    def pull_count(self) -> int:
        return int(self.db.one("SELECT COUNT(*) FROM pulls")[0])  # type: ignore[index]

    def pulls(self) -> list[dict[str, Any]]:
        """Every pull, oldest first: its id and time."""
        return [{"pull_id": r[0], "pulled_at": r[1]} for r in self.db.all(
            "SELECT pull_id, pulled_at FROM pulls ORDER BY pull_id")]
