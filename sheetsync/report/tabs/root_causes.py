"""The Root causes tab: why the expert failed rows, overall and per dimension value."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import WARN_AMBER, Chart, Range, TabSpec
from sheetsync.report.tabs.cells import RATE
from sheetsync.report.tabs.classified import expert_vs_llm
from sheetsync.report.tabs.grid import CHART_ROWS, Grid


def root_causes_tab(cfg: Config, fig: dict[str, Any]) -> TabSpec:
    rc = fig["root_causes"]
    g = Grid()
    g.title("Root causes of the expert's failures")
    g.preamble(cfg, fig)
    if not rc["n_failed"]:
        g.line(f"No failed rows yet ({rc['n_labelled']} labelled). Root causes appear once the expert fails rows "
               "and names the cause in the Annotate tab; then run `sheetsync pull` and `sheetsync report`.",
               bold=True, background=WARN_AMBER)
        return g.spec(cfg.tabs.root_causes, {0: 260})
    _expert_tally(g, rc)
    g.heading("Expert-assigned and LLM-assigned, side by side")
    expert_vs_llm(g, fig["classifier"], expert_columns=True)
    causes = [t["root_cause"] for t in rc["tally"]]
    widths = {c: 120 for c in range(1, max(14, 3 + len(causes)))}
    return g.spec(cfg.tabs.root_causes, {**widths, 0: 260, 12: 320})


def _expert_tally(g: Grid, rc: dict[str, Any]) -> None:
    g.note(f"Over the {rc['n_failed']} rows the expert failed (every fresh label, train included: the causes "
           "describe the product, not the judge).")
    g.line()
    h, end = root_cause_table(g, rc["tally"])
    g.note("A row may name several causes (split on , ; |), so the percentages can add up to more than 100%.")
    g.charts.append(Chart("bar", "Root causes (count of failed rows)", domain=Range(h, 0, end, 1),
                          series=(Range(h, 1, end, 2),), anchor=(h, 4), x_title="failed rows"))
    g.pad_to(max(g.row, h + CHART_ROWS))
    causes = [t["root_cause"] for t in rc["tally"]]
    for d, recs in rc["by_dimension"].items():
        g.heading(f"By {d}: failed rows per root cause")
        cells: dict[str, dict[str, Any]] = {}
        for r in recs:
            cell = cells.setdefault(r["value"], {"n_failed": r["n_failed"]})
            cell[r["root_cause"]] = r["count"]
        g.table([d, "failed rows", *causes],
                [[v, c["n_failed"], *(c.get(cause, 0) for cause in causes)] for v, c in cells.items()])


def root_cause_table(g: Grid, tally: list[dict[str, Any]]) -> tuple[int, int]:
    """Cause, count and share of failed rows (the Summary tab shows the top of the same table)."""
    return g.table(["root cause", "count", "% of failed rows"],
                   [[t["root_cause"], t["count"], t["percent"] / 100] for t in tally], {2: RATE})
