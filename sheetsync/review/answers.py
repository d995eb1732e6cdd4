"""The expert's answers as sheetsync reads them: which choice a Resolution cell holds, which judge run (or
rater label) an answer was given for, and the criteria questions that "Unclear" answers open and later
answers settle. Pure: from what was read and what the store remembers.

An answer is attributed like a label (:mod:`sheetsync.attribution`): one seen before, unchanged, keeps what
it was given for; a new or changed one was given for what its row shows now — the instance its key
names, when the key names the row's own id, else nothing sheetsync can vouch for.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from sheetsync.answer_tab import RESOLUTION, WHY, AnswerSheet
from sheetsync.store import Answer, Question

JUDGE_RIGHT = "Judge is right"
LABEL_STANDS = "My label stands"
UNCLEAR = "Unclear"
RATER_RIGHT = "Rater is right"
REVIEW_CHOICES = (JUDGE_RIGHT, LABEL_STANDS, UNCLEAR)
CALIBRATION_CHOICES = (RATER_RIGHT, LABEL_STANDS, UNCLEAR)
#: The answers that say "the other side is right": the expert changes their own label in Annotate.
OTHER_IS_RIGHT = (JUDGE_RIGHT, RATER_RIGHT)


def choice(text: str, choices: tuple[str, ...]) -> str | None:
    """The choice a Resolution cell holds (case and spaces ignored), or None (empty or not a choice)."""
    key = " ".join(text.split()).casefold()
    return next((c for c in choices if c.casefold() == key), None)


def answer_signature(resolution: str, why: str) -> str:
    """Changes whenever either text changes, byte for byte."""
    return hashlib.sha256(f"{resolution}\x1f{why}".encode()).hexdigest()[:16]


def observe(kind: str, sheet: AnswerSheet, latest: dict[str, Answer]) -> list[Answer]:
    """The answers in ``sheet`` that are new or changed since ``latest``. An emptied answer is not read as
    withdrawn (a row the expert deleted comes back blank): to take an answer back, change it. Rows
    without an id are never attributed."""
    found: list[Answer] = []
    for r in sheet.rows:
        if not r.id:
            continue
        res, why = r.answers.get(RESOLUTION, ""), r.answers.get(WHY, "")
        sig = answer_signature(res, why)
        before = latest.get(r.id)
        if before is not None and before.sig == sig:
            continue
        if not (res.strip() or why.strip()):
            continue  # a blank row never withdraws an answer: sheetsync adds a deleted row back blank
        instance = r.key.instance if r.key is not None and not r.misplaced else ""
        found.append(Answer(kind, r.id, instance, res, why, sig))
    return found


def question_changes(new: list[Answer], open_questions: list[Question], choices: tuple[str, ...],
                     stamp: str) -> tuple[list[Question], list[Question]]:
    """Questions to open (or re-word) and to settle, from the new answers: "Unclear" opens one (its Why is the
    question); any other answer in that row settles it (its Why is the decision)."""
    open_by_row = {(q.tab, q.id): q for q in open_questions}
    asked: list[Question] = []
    settled: list[Question] = []
    for a in new:
        q = open_by_row.get((a.tab, a.id))
        text = " ".join(a.why.split()) or "(no reason given)"
        if choice(a.resolution, choices) == UNCLEAR:
            if q is None:
                asked.append(Question(a.tab, a.id, stamp, text))
            elif q.question != text:
                asked.append(replace(q, question=text))
        elif q is not None and (a.resolution.strip() or a.why.strip()):
            settled.append(replace(q, settled_at=stamp, settled_as=a.resolution.strip(), decision=a.why.strip()))
    return asked, settled
