"""The expert's answers to the judge (and to a second rater) in the store: every answer seen on the Review and
Calibration tabs, the criteria questions they open and settle, every label revision, and which rows' judge
verdicts the expert could have seen (blind labelling). No answer ever lives only in the sheet.

Ids (answers, questions, revisions) are numbered inside the write transaction, as pulls are, so both
engines number the same way and two commands writing at once never take one id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sheetsync.store.base import StoreBase, now
from sheetsync.store.conn import Conn


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
    source: str = "annotate"  # "review" / "calibration": the expert's answer there says the other side is right
    pull_id: int = 0
    at: str = ""


@dataclass(frozen=True)
class Answer:
    """The expert's answer in one row of a tab with answer columns, as last seen. ``instance`` names what it
    answers (the judge run, or the rater's label); "" when sheetsync cannot vouch for it."""

    tab: str
    id: str
    instance: str
    resolution: str
    why: str
    sig: str
    seen_at: str = ""


@dataclass(frozen=True)
class Question:
    """A criteria question (an answer "Unclear"), open until the expert settles it."""

    tab: str
    id: str
    asked_at: str
    question: str
    settled_at: str | None = None
    settled_as: str | None = None
    decision: str | None = None


_ANSWER = "SELECT tab, id, instance, resolution, why, sig, seen_at FROM answers"


def _next_id(db: Conn, table: str, column: str) -> int:
    row = db.one(f"SELECT MAX({column}) FROM {table}")
    return int(row[0] or 0) + 1 if row else 1


class ReviewStore(StoreBase):
    def latest_answers(self, tab: str) -> dict[str, Answer]:
        """For each row of ``tab`` ("review", "calibration"), the answer as last seen."""
        return {r[1]: Answer(*r) for r in self.db.all(f"{_ANSWER} WHERE tab = ? ORDER BY answer_id", (tab,))}

    def answers(self) -> list[Answer]:
        """Every answer ever seen (each change once), oldest first."""
        return [Answer(*r) for r in self.db.all(f"{_ANSWER} ORDER BY answer_id")]

    def questions(self, *, open_only: bool = False) -> list[Question]:
        where = " WHERE settled_at IS NULL" if open_only else ""
        return [Question(*r) for r in self.db.all(
            f"SELECT tab, id, asked_at, question, settled_at, settled_as, decision FROM questions{where} "
            "ORDER BY question_id")]

    def revisions(self) -> list[Revision]:
        """Every label revision, oldest first."""
        return [Revision(*r) for r in self.db.all(
            """SELECT id, verdict_before, verdict_after, critique_before, critique_after, root_cause_before,
               root_cause_after, reason, source, pull_id, at FROM revisions ORDER BY revision_id""")]

    def save_review(self, *, answers: Iterable[Answer] = (), asked: Iterable[Question] = (),
                    settled: Iterable[Question] = (), revisions: Iterable[Revision] = ()) -> None:
        """What one read of the answer tabs (and one pull) learnt, in one transaction: new or changed answers,
        questions opened (or re-worded: same tab, id and time) and settled, label revisions."""
        stamp = now()
        with self.db.write() as db:
            n = _next_id(db, "answers", "answer_id")
            for i, a in enumerate(answers):
                db.execute("INSERT INTO answers (answer_id, tab, id, instance, resolution, why, sig, seen_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (n + i, a.tab, a.id, a.instance, a.resolution, a.why, a.sig, a.seen_at or stamp))
            for q in asked:
                found = db.one("SELECT question_id FROM questions WHERE tab = ? AND id = ? AND asked_at = ?",
                               (q.tab, q.id, q.asked_at))
                if found:
                    db.execute("UPDATE questions SET question = ? WHERE question_id = ?", (q.question, found[0]))
                else:
                    db.execute("INSERT INTO questions (question_id, tab, id, asked_at, question) VALUES (?, ?, ?, ?, ?)",
                               (_next_id(db, "questions", "question_id"), q.tab, q.id, q.asked_at or stamp,
                                q.question))
            db.executemany(
                """UPDATE questions SET settled_at = ?, settled_as = ?, decision = ?
                   WHERE tab = ? AND id = ? AND asked_at = ? AND settled_at IS NULL""",
                ((q.settled_at or stamp, q.settled_as, q.decision, q.tab, q.id, q.asked_at) for q in settled),
            )
            n = _next_id(db, "revisions", "revision_id")
            for i, r in enumerate(revisions):
                db.execute(
                    """INSERT INTO revisions (revision_id, pull_id, id, at, verdict_before, verdict_after,
                       critique_before, critique_after, root_cause_before, root_cause_after, reason, source)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (n + i, r.pull_id, r.id, r.at or stamp, r.verdict_before, r.verdict_after, r.critique_before,
                     r.critique_after, r.root_cause_before, r.root_cause_after, r.reason, r.source))

    # -- which rows' judge verdicts the expert could have seen (blind labelling) ---------------------------
    def record_verdicts_shown(self, ids: Iterable[str]) -> None:
        """These rows' judge verdicts were just written where the expert sees them (the first time is kept)."""
        ids = list(ids)
        if not ids:
            return
        known = self.verdicts_shown()
        ids = [i for i in dict.fromkeys(ids) if i not in known]  # most were shown before: no write for them
        if not ids:
            return
        with self.db.write() as db:
            row = db.one("SELECT MAX(pull_id) FROM pulls")
            after = int(row[0] or 0) if row else 0
            stamp = now()
            db.executemany("INSERT INTO verdicts_shown (id, after_pull, shown_at) VALUES (?, ?, ?) "
                           "ON CONFLICT (id) DO NOTHING", ((i, after, stamp) for i in ids))

    def verdicts_shown(self) -> dict[str, int]:
        """id -> the latest pull before its judge verdict was first shown to the expert (0: before any pull)."""
        return {r[0]: r[1] for r in self.db.all("SELECT id, after_pull FROM verdicts_shown")}
