"""``sheetsync report``: the figures stakeholders decide from, written as report tabs in one write.

``build_report`` is pure: it reads the local store and returns every figure plus the tab specs, no backend
I/O. ``report`` writes all tabs with ONE ``Workbook.write`` (one batchUpdate on Google, one file write on
xlsx); each report tab is ``replace=True``, so a re-run rebuilds the tabs in place instead of adding new
ones. The Review and Calibration tabs go in the same write, but updated in place: they hold the expert's
answers (:mod:`sheetsync.review.refresh` reads them first).

The statistics all come from ``sheetsync.metrics``; this package only chooses the rows they are computed
on and lays the results out: ``data`` loads the rows, ``figures`` computes, ``tabs`` lays out, ``result``
holds both. The choices, in one place:

- Rows: every pushed row still in the dataset. A label counts when it is fresh (its content hash is the
  row's, as in the judge runner); stale labels are left out (counted) and the row counts as unlabeled.
- Train rows are the judge's few-shot examples and never count in agreement figures. Root causes use
  every fresh label, train included: they describe the product's failures, not the judge.
- The judge's verdict for a row is the latest one (``Store.latest_verdicts``); a judge error is kept as
  the "error" marker, so the metrics exclude and count it.
- Trust basis: the test split when it has judged labels, else dev (optimistic once the prompt was tuned
  on it), and the report says which. Headline agreement, the ``--fail-under`` gate and the correction of
  pass rates all use this one basis.
- Corrected pass/fail rates use ``method="full"``: the bootstrap resamples the unlabeled verdicts as well
  as the labelled pairs, so the interval covers both sources of noise. judgy's method holds the observed
  rate fixed and gives too narrow an interval when the unlabeled sample (or a dimension cell) is small.
"""

from __future__ import annotations

from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.report.data import BLANK, LABELLED_SPLITS, dim_col, load
from sheetsync.report.figures import METHOD, TOP_CAUSES, TREND_RUNS, compute
from sheetsync.report.result import NotMeasurable, Report
from sheetsync.report.tabs import build_tabs
from sheetsync.report.tabs.cells import KAPPA, NA, RATE
from sheetsync.report.tabs.error_analysis import GREY_TEXT, SMALL_CELL
from sheetsync.report.tabs.grid import NOTE_TEXT
from sheetsync.report.tabs.meanings import MEANINGS
from sheetsync.store import Store
from sheetsync.store.location import nothing_to_report
from sheetsync.workspace import existing_store, open_workspace_workbook

__all__ = [
    "BLANK", "GREY_TEXT", "KAPPA", "LABELLED_SPLITS", "MEANINGS", "METHOD", "NA", "NOTE_TEXT", "RATE",
    "SMALL_CELL", "TOP_CAUSES", "TREND_RUNS", "NotMeasurable", "Report", "build_report", "dim_col", "report",
]


def report(cfg: Config, *, spreadsheet: str | None = None, store: Store | None = None,
           write: bool = True) -> Report:
    """Build the report and (``write``) put every report tab in the workbook with one write."""
    store = store or existing_store(cfg)
    if store is None:
        raise UserInputError(nothing_to_report(cfg))
    rep = build_report(cfg, store)
    if write:
        from sheetsync.review.jobs import answer_jobs
        from sheetsync.review.refresh import refresh

        wb = open_workspace_workbook(cfg, store, spreadsheet)
        refreshed = refresh(cfg, store, wb, answer_jobs(cfg, store), rep.specs)
        store.record_verdicts_shown(d["id"] for d in rep.figures["disagreements"])
        rep.url = wb.url
        rep.figures["review_tabs"] = refreshed.tabs
        rep.warnings += refreshed.warnings
    return rep


def build_report(cfg: Config, store: Store) -> Report:
    """Figures and tab specs from the store alone (no backend I/O)."""
    data = load(cfg, store)
    fig, ag = compute(cfg, data, store)
    return Report(figures=fig, specs=build_tabs(cfg, data, fig, ag.headline), headline=ag.headline)
