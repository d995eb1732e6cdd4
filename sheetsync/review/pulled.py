"""What ``pull`` learns beyond the Annotate tab: the expert's answers on the Review and Calibration tabs (with
the criteria questions they open and settle), every label revision since the previous pull, reminders
where the expert said the other side is right but the label is unchanged, and whether each label was given
after a judge verdict for its row had been shown (blind labelling's provenance).

pull never changes a label: a reminder is all it does. The tabs are read before anything is stored, so a
tab that cannot be read safely stops the pull with nothing stored, like the Annotate tab.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from sheetsync.answer_tab import AnswerSheet, AnswerTab
from sheetsync.backends.base import Workbook
from sheetsync.config import Config
from sheetsync.review.answers import (
    CALIBRATION_CHOICES,
    OTHER_IS_RIGHT,
    REVIEW_CHOICES,
    choice,
    observe,
    question_changes,
)
from sheetsync.review.layouts import calibration_tab, review_tab
from sheetsync.review.refresh import hint_key, read_tab, written_key
from sheetsync.store import Answer, Label, Revision, Store, now


@dataclass
class ReviewPull:
    """The Review side of a pull, as ``pull --json`` shows it."""

    answers: dict[str, int] = field(default_factory=dict)  # tab -> answers new or changed in this pull
    revisions: list[str] = field(default_factory=list)  # "id: fail → pass (reason)"
    relabel_reminders: list[str] = field(default_factory=list)
    open_questions: list[str] = field(default_factory=list)
    settled_questions: list[str] = field(default_factory=list)
    answers_without_id: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def read_sheets(cfg: Config, store: Store, wb: Workbook) -> list[tuple[AnswerTab, tuple[str, ...], AnswerSheet]]:
    """The answer tabs sheetsync has written, each read by header and id (one request each)."""
    dims = list(json.loads(store.get_meta("annotate_layout") or "{}").get("dimensions", []))
    out = []
    for tab, choices in ((review_tab(cfg, dims), REVIEW_CHOICES), (calibration_tab(cfg, dims), CALIBRATION_CHOICES)):
        if not store.get_meta(written_key(tab.kind)):
            continue
        sheet = read_tab(wb, store, tab)
        if sheet is not None:
            out.append((tab, choices, sheet))
    return out


def with_provenance(labels: list[Label], previous: dict[str, Label], shown: dict[str, int]) -> list[Label]:
    """Each label with ``judge_seen``: unchanged since the previous pull, what it was then; new or changed,
    whether a judge verdict for its row had been shown to the expert before this pull (conservative: a
    verdict shown at any time before the label was seen counts as seen)."""
    out = []
    for lb in labels:
        if lb.verdict is None and not lb.critique.strip():
            out.append(lb)
            continue
        before = previous.get(lb.id)
        same = before is not None and _texts(before) == _texts(lb)
        out.append(replace(lb, judge_seen=before.judge_seen if same else lb.id in shown))
    return out


def _texts(lb: Label) -> tuple:
    return (lb.raw_verdict, lb.critique, lb.root_cause, lb.notes)


def revisions(previous: dict[str, Label], labels: list[Label], answers: dict[str, Answer], pull_id: int,
              stamp: str) -> list[Revision]:
    """Every label the expert had given and changed since the previous pull (verdict, critique or root cause);
    the reason is the expert's Why when their latest answer on the row says the other side is right, else the
    row's Notes when they changed too."""
    out = []
    for lb in labels:
        before = previous.get(lb.id)
        if before is None or (before.verdict is None and not before.critique.strip() and not before.root_cause.strip()):
            continue
        if (before.verdict, before.critique, before.root_cause) == (lb.verdict, lb.critique, lb.root_cause):
            continue
        a = answers.get(lb.id)
        picked = choice(a.resolution, REVIEW_CHOICES + CALIBRATION_CHOICES) if a is not None else None
        if a is not None and picked in OTHER_IS_RIGHT and a.why.strip():
            reason, source = a.why.strip(), a.tab
        else:
            reason, source = (lb.notes.strip() if lb.notes != before.notes else ""), "annotate"
        out.append(Revision(lb.id, before.verdict, lb.verdict, before.critique, lb.critique, before.root_cause,
                            lb.root_cause, reason, source, pull_id, stamp))
    return out


def _reminders(store: Store, labels: dict[str, Label], answers: list[Answer], rater: dict[str, str]) -> list[str]:
    """Rows where the expert said the other side is right, for the verdict the row shows, and the label in
    Annotate still says otherwise."""
    out = []
    verdicts: dict[str, dict] = {}
    for a in answers:
        picked = choice(a.resolution, REVIEW_CHOICES if a.tab == "review" else CALIBRATION_CHOICES)
        label = labels.get(a.id)
        if picked not in OTHER_IS_RIGHT or label is None or not a.instance:
            continue
        if a.tab == "review":
            if a.instance not in verdicts:
                verdicts[a.instance] = store.run_verdicts(a.instance)
            other = (verdicts[a.instance].get(a.id) or {}).get("verdict")
        else:
            other = rater.get(a.id)
        if other in ("pass", "fail") and label.verdict and label.verdict != other:
            out.append(f"{a.id}: you answered “{picked}” but its label in Annotate is still {label.verdict} — change "
                       f"it to {other} there (sheetsync never changes a label)")
    return out


def record(store: Store, sheets: list[tuple[AnswerTab, tuple[str, ...], AnswerSheet]], previous: dict[str, Label],
           labels: list[Label], pull_id: int, rater_verdicts: dict[str, str] | None = None) -> ReviewPull:
    """Store what the answer tabs and the new labels say (one transaction) and summarise it.
    ``rater_verdicts``: the second rater's verdicts, for the Calibration tab's reminders."""
    out = ReviewPull()
    stamp = now()
    open_before = store.questions(open_only=True)
    new: list[Answer] = []
    asked, settled = [], []
    for tab, choices, sheet in sheets:
        found = observe(tab.kind, sheet, store.latest_answers(tab.kind))
        a, s = question_changes(found, open_before, choices, stamp)
        new += found
        asked += a
        settled += s
        out.answers[tab.title] = len(found)
        out.answers_without_id += [f"{tab.title} {w}" for w in sheet.without_id]
    latest = {**store.latest_answers("calibration"), **store.latest_answers("review")}
    latest.update({a.id: a for a in new})
    revs = revisions(previous, labels, latest, pull_id, stamp)
    store.save_review(answers=new, asked=asked, settled=settled, revisions=revs)
    for tab, _, sheet in sheets:
        store.set_meta(hint_key(tab.kind), json.dumps(sheet.hint()))
    out.revisions = [f"{r.id}: {r.verdict_before or '—'} → {r.verdict_after or '—'}"
                     + (f" ({r.reason})" if r.reason else "") for r in revs]
    fresh = {lb.id: lb for lb in labels}
    current = [*store.latest_answers("review").values(), *store.latest_answers("calibration").values()]
    out.relabel_reminders = _reminders(store, fresh, current, rater_verdicts or {})
    out.open_questions = [f"{q.id}: {q.question}" for q in store.questions(open_only=True)]
    out.settled_questions = [f"{q.id}: {q.settled_as} — {q.decision}" for q in settled]
    return out
