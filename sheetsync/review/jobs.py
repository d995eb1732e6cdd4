"""Which tabs with answer columns a command refreshes, and what their rows show — from the local store:
the Review tab always (once the judge has run), the Calibration tab when a second rater is registered."""

from __future__ import annotations

from sheetsync.answer_tab import AnswerSheet
from sheetsync.config import Config
from sheetsync.judge.splits import split_of
from sheetsync.report.data import Data, load
from sheetsync.report.figures import disagreements
from sheetsync.review.answers import REVIEW_CHOICES
from sheetsync.review.layouts import review_tab
from sheetsync.review.refresh import Job, written_key
from sheetsync.review.review_tab import review_rows
from sheetsync.store import Answer, Store


def run_numbers(store: Store) -> dict[str, int]:
    """Judge runs numbered as the Agreement tab's history numbers them (#1 the oldest)."""
    return {r["run_id"]: i for i, r in enumerate(store.runs(), start=1)}


def _any_disagreement(cfg: Config, store: Store) -> bool:
    """Whether a scored row's latest verdict differs from its label — without building the report's frame
    (a judge run over unlabelled rows only should not pay for it)."""
    latest = store.latest_verdicts()
    return any(split_of(rid, cfg.judge.train, cfg.judge.dev) in ("dev", "test")
               and (latest.get(rid) or {}).get("verdict") in ("pass", "fail") and latest[rid]["verdict"] != lb.verdict
               for rid, lb in store.fresh_labels()[0].items())


def review_job(cfg: Config, store: Store, data: Data | None = None) -> Job | None:
    """The Review tab's job, or None while there is nothing to review and no tab to keep up to date."""
    if not store.get_meta(written_key("review")) and not _any_disagreement(cfg, store):
        return None
    data = data or load(cfg, store)
    rows = disagreements(data)
    if not rows and not store.get_meta(written_key("review")):
        return None
    tab = review_tab(cfg, data.dims)
    numbers, stored = run_numbers(store), store.rows()

    def wanted(sheet: AnswerSheet | None, answers: dict[str, Answer]):
        return review_rows(tab, data, rows, answers, sheet, numbers, stored)

    return Job(tab, wanted, REVIEW_CHOICES)


def answer_jobs(cfg: Config, store: Store, data: Data | None = None) -> list[Job]:
    from sheetsync.review.calibration import calibration_job  # the second rater's store: only when registered

    jobs = [review_job(cfg, store, data), calibration_job(cfg, store)]
    return [j for j in jobs if j is not None]
