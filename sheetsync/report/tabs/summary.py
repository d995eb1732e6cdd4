"""The Summary tab: the pass rate, whether the judge can be trusted, top causes, next steps, the trend."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import FAIL_RED, PASS_GREEN, WARN_AMBER, Chart, Range, TabSpec
from sheetsync.report.tabs.cells import NA, RATE, ci, short_time, status, v
from sheetsync.report.tabs.grid import SPLIT_COLOURS, Grid
from sheetsync.report.tabs.meanings import MEANINGS
from sheetsync.report.tabs.planning import (
    consistency_section,
    design_lines,
    label_next_section,
    planning_section,
)
from sheetsync.report.tabs.root_causes import root_cause_table


def _expert_side(g: Grid, fig: dict[str, Any]) -> None:
    """Open criteria questions, label revisions and a second rater's agreement (when there are any)."""
    questions = fig.get("questions", {})
    if questions.get("open") or questions.get("settled"):
        g.heading("Open criteria questions (the expert's “Unclear” answers)")
        for q in questions["open"]:
            g.line(f"• {q['id']}: {q['question']}")
        if not questions["open"]:
            g.note("None open.")
        if questions["settled"]:
            g.note(f"{len(questions['settled'])} settled so far; the last: " + "; ".join(
                f"{q['id']}: {q['settled_as']} — {q['decision'] or '(no reason given)'}" for q in questions["settled"][-3:]))
    rev = fig.get("revisions", {})
    if rev.get("n"):
        g.heading("Label revisions (the expert changed a label they had given)")
        by = ", ".join(f"{n} from {src}" for src, n in sorted(rev["by_source"].items()))
        g.line(f"{rev['n']} revision(s), {rev['verdict_changes']} of them changed the verdict ({by}); "
               f"{rev['with_reason']} with a reason. Agreement is always against today's labels: the Agreement "
               "tab's history shows how much of each change came from the prompt and how much from revisions.")
    for r in fig.get("raters", []):
        g.heading(f"Second rater: {r['name']}")
        if r["kappa"] is None:
            g.line(f"κ not defined: {r['undefined'].get('kappa', '')} ({r['n']} rows both labelled).")
        else:
            low_high = f" (95% interval {r['kappa_ci'][0]:.2f}–{r['kappa_ci'][1]:.2f})" if r["kappa_ci"] else ""
            g.line(f"Cohen's κ {r['kappa']:.2f}{low_high}, raw agreement {r['agreement']:.1%} on {r['n']} rows both "
                   f"labelled; {len(r['disagreements'])} disagreement(s) on the Calibration tab for the expert to settle.")


def summary_tab(cfg: Config, fig: dict[str, Any]) -> TabSpec:
    s, c, trust = fig["summary"], fig["counts"], fig["trust"]
    g = Grid()
    g.title("Summary")
    g.preamble(cfg, fig)
    g.note(f"{c['rows']} interactions: {c['labelled']} labelled by the expert, {c['by_split']['unlabeled']} not. "
           f"{c['runs']} judge run(s). Generated {short_time(fig['generated_at'])} UTC.")

    g.heading("How often does the AI pass?")
    o = s["corrected_pass_rate"]
    h, _ = g.table(["", "value", "95% low", "95% high", "rows"], [])
    if o:
        r = g.line("Estimated pass rate (corrected)", o["theta"], o["lower"], o["upper"], o["n_unlabeled"])
        g.cell_style(r, 1, bold=True, font_size=12)
        g.line("Judge's raw pass rate on the same rows", o["p_obs"], "", "", o["n_unlabeled"])
    else:
        r = g.line("Estimated pass rate (corrected)", NA, "", "", c["by_split"]["unlabeled"])
        g.line(f"Why not: {s['reason']}", italic=True, background=WARN_AMBER)
    if s["expert_pass_rate"] is not None:
        g.line("Expert's pass rate on the labelled rows", s["expert_pass_rate"], *ci(s["expert_pass_rate_ci"]),
               c["labelled"])
    g.style(h + 1, 1, g.row, 4, number_format=RATE)
    g.note(MEANINGS["corrected"])
    design_lines(g, fig)

    g.heading("Can the judge be trusted?")
    colour = {"trusted": PASS_GREEN, "borderline": WARN_AMBER, "not trusted": FAIL_RED}.get(trust["status"],
                                                                                               WARN_AMBER)
    g.line(trust["sentence"], bold=True, background=colour)
    a = fig["agreement"]["headline"]
    if a:
        g.table(["", "value", "95% low", "95% high", "vs target"], [])
        for name, label in (("tpr", "TPR (pass recall)"), ("tnr", "TNR (fail recall)")):
            words, col = status(a[name], cfg)
            r = g.line(label, v(a[name]), *ci(a[f"{name}_ci"]), words)
            g.style(r, 1, r + 1, 4, number_format=RATE)
            if col:
                g.cell_style(r, 1, background=col, bold=True)
                g.cell_style(r, 4, background=col)
        g.note(MEANINGS["tpr"])
        g.note(MEANINGS["tnr"])

    planning_section(g, fig)

    g.heading("What fails most (expert's root causes)")
    top = s["top_root_causes"]
    if top:
        root_cause_table(g, top)
        g.note(f"Over {fig['root_causes']['n_failed']} failed rows; a row may name several causes. "
               "Full table: the Root causes tab.")
    else:
        g.note("No failed rows with root causes yet.")

    _expert_side(g, fig)

    g.heading("Next steps")
    for step in fig["next_steps"]:
        g.line(f"• {step}")
    label_next_section(g, fig)
    consistency_section(g, fig)

    g.heading("Trend across judge runs")
    trend = s["trend"]
    if trend:
        splits = [sp for sp in ("dev", "test", "all") if any(t["split"] == sp for t in trend)]
        header = ["run", "n"] + [f"{m} {sp}" for sp in splits for m in ("TPR", "TNR")]
        rows = [[f"#{t['run']} {t['split']}", t["n"],
                 *(v(t[m]) if t["split"] == sp else "" for sp in splits for m in ("tpr", "tnr"))] for t in trend]
        cols = list(range(2, 2 + 2 * len(splits)))
        h, end = g.table(header, rows, {c: RATE for c in cols})
        g.rate_colours(h + 1, end, cfg, *cols)
        g.note("One pair of columns per split, so the chart draws dev and test as separate lines: a prompt is "
               "tuned on dev; test is its final check.")
        if len(trend) >= 2:
            g.charts.append(Chart("line", "TPR and TNR by split over the last judge runs",
                                  domain=Range(h, 0, end, 1), series=tuple(Range(h, c, end, c + 1) for c in cols),
                                  anchor=(g.row + 1, 0), width=560, height=260,
                                  colors=tuple(SPLIT_COLOURS[sp][m] for sp in splits for m in ("tpr", "tnr")), y_range=(0.0, 1.0)))
            g.pad_to(g.row + 1 + 14)
    else:
        g.note("No judge run has been scored against labels yet.")
    return g.spec(cfg.tabs.summary, {0: 300, 1: 100, 2: 90, 3: 90, 4: 100})
