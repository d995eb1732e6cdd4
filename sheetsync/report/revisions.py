"""The report's figures about the expert's side of the loop: how each judge run's change split into the
prompt's part and the label revisions' part, the revisions themselves, the open criteria questions, the
answers on the Review tab, and a second rater's agreement with the expert.

Headline agreement is always against the expert's current labels; these figures say how much the labels
moved under it, so that relabelling toward the judge cannot pass for a better prompt unnoticed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sheetsync.config import Config
from sheetsync.metrics import change_between_runs
from sheetsync.raters import agreement_with, rater_labels, registered
from sheetsync.report.data import Data
from sheetsync.review.answers import CALIBRATION_CHOICES, REVIEW_CHOICES, choice
from sheetsync.store import Store

RECENT = 20


def split_changes(data: Data, history: list[dict[str, Any]]) -> None:
    """Add to each history entry its figures against the labels of its own time (``*_then``) and, from the
    previous run on the same split, the change split into ``prompt`` and ``labels`` parts."""
    previous: dict[str, dict[str, Any]] = {}
    for entry, run in zip(history, data.runs, strict=True):
        verdicts = {i: v["verdict"] or "error" for i, v in run["verdicts"].items()}
        then = data.labels_then.get(run["run_id"], {})
        own = change_between_runs(verdicts, then, verdicts, then)
        entry["tpr_then"], entry["tnr_then"] = own["tpr"]["after"], own["tnr"]["after"]
        entry["change"] = None
        before = previous.get(run["split"])
        if before is not None:
            c = change_between_runs(before["verdicts"], before["labels"], verdicts, then)
            entry["change"] = {"from_run": before["run"], **c}
        previous[run["split"]] = {"verdicts": verdicts, "labels": then, "run": entry["run"]}


def revision_figures(store: Store) -> dict[str, Any]:
    revs = store.revisions()
    verdict_changes = [r for r in revs if r.verdict_before != r.verdict_after]
    return {
        "n": len(revs), "verdict_changes": len(verdict_changes),
        "by_source": dict(Counter(r.source for r in revs)),
        "with_reason": sum(1 for r in revs if r.reason),
        "recent": [{"id": r.id, "at": r.at, "verdict_before": r.verdict_before, "verdict_after": r.verdict_after,
                    "critique_changed": r.critique_before != r.critique_after, "reason": r.reason,
                    "source": r.source} for r in revs[-RECENT:]],
    }


def question_figures(store: Store) -> dict[str, Any]:
    qs = store.questions()
    return {"open": [{"id": q.id, "tab": q.tab, "asked_at": q.asked_at, "question": q.question}
                     for q in qs if q.settled_at is None],
            "settled": [{"id": q.id, "tab": q.tab, "settled_at": q.settled_at, "settled_as": q.settled_as,
                         "decision": q.decision} for q in qs if q.settled_at is not None]}


def answer_figures(store: Store) -> dict[str, Any]:
    """How the expert answered, per tab: counts by choice ("other": text that is not one)."""
    out = {}
    for tab, choices in (("review", REVIEW_CHOICES), ("calibration", CALIBRATION_CHOICES)):
        latest = [a for a in store.latest_answers(tab).values() if a.resolution.strip()]
        out[tab] = dict(Counter(choice(a.resolution, choices) or "other" for a in latest))
    return out


def rater_figures(cfg: Config, store: Store) -> list[dict[str, Any]]:
    out = []
    mine = store.fresh_labels()[0]
    for name in registered(store):
        a, differ = agreement_with(mine, rater_labels(cfg, name))
        out.append({"name": name, **a.to_dict(), "disagreements": differ})
    return out
