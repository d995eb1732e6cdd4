"""The Agreement tab: the judge against the expert on the basis split, by split, by dimension and per run."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import FAIL_RED, PASS_GREEN, WARN_AMBER, CellValue, Chart, Range, TabSpec
from sheetsync.metrics import Agreement
from sheetsync.report.tabs.cells import DELTA, KAPPA, RATE, bound, ci, short_time, status, v
from sheetsync.report.tabs.grid import CHART_ROWS, SPLIT_COLOURS, Grid
from sheetsync.report.tabs.meanings import MEANINGS
from sheetsync.report.tabs.planning import run_comparison_section

_HEADLINE_ROWS = (
    ("tpr", "TPR (pass recall)"), ("tnr", "TNR (fail recall)"), ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced accuracy"), ("kappa", "Cohen's κ"), ("fail_precision", "Fail precision"),
    ("fail_recall", "Fail recall (= TNR)"), ("fail_f1", "Fail F1"),
)
_SPLIT_HEADER = ["split", "n", "TPR", "95% low", "95% high", "TNR", "95% low", "95% high", "accuracy", "κ",
                 "fail precision", "fail F1", "excluded", "why undefined"]
_RATE_COLS = {2: RATE, 3: RATE, 4: RATE, 5: RATE, 6: RATE, 7: RATE, 8: RATE, 9: KAPPA, 10: RATE, 11: RATE}


def agreement_tab(cfg: Config, fig: dict[str, Any], a: Agreement | None) -> TabSpec:
    ag = fig["agreement"]
    g = Grid()
    g.title("Agreement: the judge vs the expert")
    g.preamble(cfg, fig)
    if a is None:
        g.line(f"No agreement figures yet: {ag['reason']}", bold=True, background=WARN_AMBER)
    else:
        g.note(f"Headline {ag['reason']} {a.n} rows with both verdicts ({a.n_excluded} excluded). Train rows "
               f"are the judge's examples and never count. Aim {cfg.report.target:.0%}, floor "
               f"{cfg.report.floor:.0%}.")
        g.line()
    chart_row = g.row  # the convergence chart sits right of the headline; the next section starts below it
    if a is not None:
        _headline_block(g, a, cfg)
    if ag["history"]:
        g.pad_to(chart_row + CHART_ROWS)

    g.heading("By split")
    _split_table(g, _SPLIT_HEADER, [_split_row(s, ag["by_split"][s]) for s in ("dev", "test", "dev+test")], cfg)
    waiting = {s: n for s, n in ag["not_yet_judged"].items() if n}
    if waiting:
        g.note("Labelled rows the judge has not seen yet: " + ", ".join(f"{n} {s}" for s, n in waiting.items())
               + " (run `sheetsync judge --split <split>`).")
    for d, recs in ag["by_dimension"].items():
        g.heading(f"By {d} (dev + test; weakest first: lowest lower bound of TPR/TNR, small cells included)")
        _split_table(g, [d, *_SPLIT_HEADER[1:]], [_dimension_row(r) for r in recs], cfg)

    run_comparison_section(g, fig)

    g.heading("History of judge runs (is the prompt converging?)")
    hist = ag["history"]
    h, end = g.table(
        ["run", "started", "model", "prompt", "split", "status", "n", "TPR", "TNR", "accuracy", "κ", "excluded",
         "format", "TPR then", "TNR then", "vs run", "TPR: prompt", "TPR: labels", "TNR: prompt", "TNR: labels",
         "labels revised (toward the judge)"],
        [[f"#{x['run']} {x['split']}", short_time(x["started_at"]), x["model"], (x["prompt_hash"] or "")[:10],
          x["split"], x["status"], x["n"], v(x["tpr"]), v(x["tnr"]), v(x["accuracy"]), v(x["kappa"]),
          x["n_excluded"], x.get("format_level", ""), *_then_and_change(x)] for x in hist],
        {7: RATE, 8: RATE, 9: RATE, 10: KAPPA, 13: RATE, 14: RATE, 16: DELTA, 17: DELTA, 18: DELTA, 19: DELTA},
    )
    g.rate_colours(h + 1, end, cfg, 7, 8)
    if not hist:
        g.note("No judge runs yet: run `sheetsync judge --split dev`.")
    else:
        g.note("Each run is scored against today's labels on the labelled dev/test rows it judged; runs over "
               "unlabeled rows only have no figures. “then”: against the labels of the run's own time. The change "
               "from the previous run on the same split splits exactly into the prompt's part (both runs on the "
               "newer labels) and the labels' part (the older run's verdicts on the newer labels): a judge that "
               "only looks better because labels were revised toward it shows it there.")
        _chart(g, cfg, [x for x in hist if x["n"]], chart_row)
    return g.spec(cfg.tabs.agreement, {0: 200, 1: 110, **{c: 75 for c in range(2, 20)}, 2: 155, 5: 90, 13: 220,
                                       20: 160})


def _chart(g: Grid, cfg: Config, runs: list[dict[str, Any]], chart_row: int) -> None:
    """The convergence chart, one line per split and figure (a prompt is tuned on dev; test is its check),
    drawn from a small table of its own with a pair of columns per split."""
    if not runs:
        return
    splits = [sp for sp in ("dev", "test", "all") if any(x["split"] == sp for x in runs)]
    g.heading("TPR and TNR per split, run by run (the chart's data)")
    h, end = g.table(["run", *(f"{m} {sp}" for sp in splits for m in ("TPR", "TNR"))],
                     [[f"#{x['run']} {x['split']}",
                       *(v(x[m]) if x["split"] == sp else "" for sp in splits for m in ("tpr", "tnr"))] for x in runs],
                     {c: RATE for c in range(1, 1 + 2 * len(splits))})
    g.charts.append(Chart("line", "TPR and TNR per judge run, by split", domain=Range(h, 0, end, 1),
                          series=tuple(Range(h, c, end, c + 1) for c in range(1, 1 + 2 * len(splits))),
                          anchor=(chart_row, 7), x_title="judge run", y_title="rate",
                          colors=tuple(SPLIT_COLOURS[sp][m] for sp in splits for m in ("tpr", "tnr")), y_range=(0.0, 1.0)))


def _then_and_change(x: dict[str, Any]) -> list[CellValue]:
    """The history row's cells after "format": its figures then, and its change from the previous run."""
    c = x.get("change")
    cells: list[CellValue] = [v(x.get("tpr_then")), v(x.get("tnr_then"))]
    if not c:
        return cells + ["", "", "", "", "", ""]
    return cells + [f"#{c['from_run']}", v(c["tpr"]["prompt"]), v(c["tpr"]["labels"]), v(c["tnr"]["prompt"]),
                    v(c["tnr"]["labels"]), f"{c['revised']} ({c['toward_judge']})"]


def _headline_block(g: Grid, a: Agreement, cfg: Config) -> None:
    g.table(["figure", "value", "95% low", "95% high", "vs target", "why undefined"], [])
    for name, label in _HEADLINE_ROWS:
        value = getattr(a, name)
        interval = getattr(a, f"{name}_ci", None) if name in ("tpr", "tnr", "accuracy") else None
        words, colour = status(value, cfg) if name in ("tpr", "tnr") else ("", None)
        r = g.line(label, v(value), *ci(interval), words, a.undefined.get(name, ""))
        g.cell_style(r, 1, number_format=KAPPA if name == "kappa" else RATE, bold=name in ("tpr", "tnr"))
        g.style(r, 2, r + 1, 4, number_format=RATE)
        if colour:
            g.cell_style(r, 1, background=colour)
            g.cell_style(r, 4, background=colour)
    g.line("n (rows with both verdicts)", a.n)
    g.line("n excluded (judge errors)", a.n_excluded)
    for key in ("tpr", "tnr", "kappa", "ci"):
        g.note(MEANINGS[key])
    g.heading("Confusion matrix (rows: the expert, columns: the judge)")
    h, end = g.table(["", "judge pass", "judge fail", "total"], [
        ["expert pass", a.tp, a.fn, a.tp + a.fn],
        ["expert fail", a.fp, a.tn, a.fp + a.tn],
        ["total", a.tp + a.fp, a.fn + a.tn, a.n],
    ])
    g.cell_style(h + 1, 1, background=PASS_GREEN)
    g.cell_style(h + 2, 2, background=PASS_GREEN)
    g.cell_style(h + 1, 2, background=FAIL_RED)
    g.cell_style(h + 2, 1, background=FAIL_RED)
    g.style(h + 1, 0, end, 1, bold=True)
    g.note(f"Green: the judge agrees with the expert. Red: it does not ({a.fn} good answers failed, {a.fp} bad "
           f"answers passed). Judge errors are not in the matrix ({a.n_excluded}).")


def _split_table(g: Grid, header: list[str], rows: list[list[CellValue]], cfg: Config) -> None:
    """A table in the _SPLIT_HEADER layout, TPR and TNR coloured against the aim and floor."""
    h, end = g.table(header, rows, _RATE_COLS)
    g.rate_colours(h + 1, end, cfg, 2, 5)


def _agreement_row(name: str, r: dict[str, Any], tpr_ci: list[CellValue], tnr_ci: list[CellValue],
                   undefined: str) -> list[CellValue]:
    """One row in the _SPLIT_HEADER column order."""
    return [name, r["n"], v(r["tpr"]), *tpr_ci, v(r["tnr"]), *tnr_ci, v(r["accuracy"]), v(r["kappa"]),
            v(r["fail_precision"]), v(r["fail_f1"]), r["n_excluded"], undefined]


def _split_row(name: str, a: dict[str, Any]) -> list[CellValue]:
    return _agreement_row(name, a, ci(a["tpr_ci"]), ci(a["tnr_ci"]), _undefined_text(a["undefined"]))


def _dimension_row(r: dict[str, Any]) -> list[CellValue]:
    return _agreement_row(r["value"], r, [bound(r["tpr_ci_low"]), bound(r["tpr_ci_high"])],
                          [bound(r["tnr_ci_low"]), bound(r["tnr_ci_high"])], r["undefined"])


def _undefined_text(undefined: dict[str, str]) -> str:
    """"tpr, tnr: reason; kappa: other reason": each reason once, after the figures it leaves undefined."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in undefined.items():
        if not name.endswith("_ci"):
            by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
