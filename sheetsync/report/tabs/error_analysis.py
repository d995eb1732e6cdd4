"""The Error analysis tab: the corrected failure rate on unlabeled rows, overall and per dimension value."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import WARN_AMBER, CellValue, TabSpec
from sheetsync.report.figures import friendly
from sheetsync.report.tabs.cells import NA, RATE
from sheetsync.report.tabs.classified import expert_vs_llm, llm_by_dimension
from sheetsync.report.tabs.grid import Grid

SMALL_CELL = 10  # cells with fewer rows are shown in grey: too few to say much
GREY_TEXT = "#8A8A8A"


def error_analysis_tab(cfg: Config, fig: dict[str, Any]) -> TabSpec:
    ea = fig["error_analysis"]
    g = Grid()
    g.title("Error analysis: where the AI fails, on rows the expert has not labelled")
    g.preamble(cfg, fig)
    if ea["overall"] is None:
        g.line(f"Not available: {ea['reason']}", bold=True, background=WARN_AMBER)
        _why(g, fig)
        return g.spec(cfg.tabs.error_analysis, {0: 260, **{c: 130 for c in range(1, 10)}, 10: 320})
    o = ea["overall"]
    g.note(f"Judge verdicts on {o['n_unlabeled']} unlabeled rows, corrected by the judge's TPR {o['tpr']:.1%} and "
           f"TNR {o['tnr']:.1%} on {o['n_test']} {ea['basis']} labels"
           + (" (no judged test labels yet: dev figures are optimistic)." if ea["basis"] == "dev" else "."))
    g.note("Observed = the share the judge failed. Corrected = the estimated true failure share once the judge's "
           "own mistakes are allowed for, with a 95% interval over labels and rows (Lee et al.'s closed form).")
    g.note(f"Grey rows have fewer than {SMALL_CELL} rows: too few to say much. Every cell assumes the judge errs "
           "as often there as on the labels overall.")
    g.line()
    rows: list[list[CellValue]] = [["all", "all unlabeled rows", o["n_unlabeled"], 1 - o["p_obs"], 1 - o["theta"],
                                    1 - o["upper"], 1 - o["lower"], ""]]
    for d, recs in ea["by_dimension"].items():
        for r in recs:
            defined = r["theta"] is not None
            rows.append([d, r["value"], r["n_unlabeled"],
                         1 - r["p_obs"] if r["p_obs"] is not None else NA,
                         1 - r["theta"] if defined else NA, 1 - r["upper"] if defined else "",
                         1 - r["lower"] if defined else "", _cell_note(r)])
    h, end = g.table(["dimension", "value", "unlabeled rows", "judge fail rate (observed)", "corrected fail rate",
                      "95% low", "95% high", "note"], rows, {3: RATE, 4: RATE, 5: RATE, 6: RATE})
    g.cell_style(h + 1, 4, bold=True)
    for i, row in enumerate(rows):
        if isinstance(row[2], int) and row[2] < SMALL_CELL:
            g.style(h + 1 + i, 0, h + 2 + i, len(row), color=GREY_TEXT)
    _why(g, fig)
    return g.spec(cfg.tabs.error_analysis, {0: 140, 1: 200, 2: 110, 3: 150, 4: 140, 5: 90, 6: 90, 7: 420,
                                            8: 110, 9: 130, 10: 320}, frozen_rows=h + 1)


def _why(g: Grid, fig: dict[str, Any]) -> None:
    """Why the judge's failures fail: the classifier's root causes, with its measured accuracy beside them."""
    g.heading("Why the judge's failures fail: LLM-assigned root causes (unlabelled rows)")
    expert_vs_llm(g, fig["classifier"], expert_columns=False)
    llm_by_dimension(g, fig["classifier"])


def _cell_note(r: dict[str, Any]) -> str:
    if r["reason"]:
        return friendly(r["reason"]) if "chance" not in r["reason"] else "judge no better than chance here"
    return f"small cell (n={r['n_unlabeled']}): wide interval" if r["n_unlabeled"] < SMALL_CELL else ""
