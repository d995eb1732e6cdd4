"""The Judges tab: one section per ``[judges.NAME]`` — its ground truth, agreement by split, the corrected
rate of its failure mode on unlabelled rows, its disagreements — after a table comparing them all, so a
code assertion and an LLM judge for the same failure mode can be read side by side."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import WARN_AMBER, CellValue, TabSpec
from sheetsync.report.tabs.cells import KAPPA, NA, RATE, bound, ci, cut, v
from sheetsync.report.tabs.grid import Grid


def judges_tab(cfg: Config, judges: dict[str, dict[str, Any]]) -> TabSpec:
    g = Grid()
    g.title("Specialized judges: one failure mode each")
    g.note("Ground truth from the expert's labels: a labelled row whose root causes include the judge's root cause "
           "fails, an expert pass passes, an expert fail for other causes is left out (or counted as a pass where "
           "other_failures = \"pass\"). Measured like the judge: on test when it has been run there, else dev; "
           "train rows are the examples and never scored.")
    g.line()
    order = sorted(judges, key=lambda n: (judges[n]["root_cause"].casefold(), judges[n]["kind"], n))
    rows: list[list[CellValue]] = []
    for name in order:
        j = judges[name]
        a = j["headline"] or {}
        fr = j["failure_rate"] or {}
        rows.append([name, "code assertion" if j["kind"] == "code" else "LLM", j["root_cause"], j["basis"] or NA,
                     a.get("n", 0), v(a.get("tpr")), v(a.get("tnr")), v(a.get("kappa")),
                     v(a.get("balanced_accuracy")), v(fr.get("rate")), bound(fr.get("lower")), bound(fr.get("upper")),
                     j["n_unlabeled_judged"]])
    h, end = g.table(["judge", "kind", "root cause", "measured on", "n", "TPR", "TNR", "κ", "balanced accuracy",
                      "failure-mode rate (corrected)", "95% low", "95% high", "unlabelled rows"], rows,
                     {5: RATE, 6: RATE, 7: KAPPA, 8: RATE, 9: RATE, 10: RATE, 11: RATE})
    g.rate_colours(h + 1, end, cfg, 5, 6)
    g.note("Failure-mode rate: the share of unlabelled rows with this failure, corrected for the judge's own "
           "TPR/TNR (Rogan–Gladen, bootstrap interval), like the Error analysis tab's.")
    for name in order:
        _section(g, cfg, name, judges[name])
    return g.spec(cfg.tabs.judges, {0: 220, 1: 110, 2: 180, 3: 110, 4: 330, 5: 330, **{c: 100 for c in range(6, 13)}})


def _section(g: Grid, cfg: Config, name: str, j: dict[str, Any]) -> None:
    kind = f"code assertion {j['assertion']}" if j["kind"] == "code" else "LLM judge"
    g.heading(f"“{name}” — {kind}, root cause “{j['root_cause']}”")
    if j["kind"] == "llm":
        g.line("criterion", j["criterion"])
    gt = j["ground_truth"]
    g.line("ground truth (dev + test)", f"{gt['fail']} fail, {gt['pass']} pass, {gt['left_out']} expert fail(s) for "
           "other causes left out" if j["other_failures"] == "exclude" else f"{gt['fail']} fail, {gt['pass']} pass")
    g.line("runs", j["runs"], f"last: {(j['last_run'] or '—')[:16].replace('T', ' ')}")
    if j["headline"] is None:
        g.line(f"Not measured: {j['reason'] or 'no judged dev/test row with a ground truth yet.'}", italic=True,
               background=WARN_AMBER)
        return
    h, end = g.table(["split", "n", "TPR", "95% low", "95% high", "TNR", "95% low", "95% high", "κ", "excluded (errors)"],
                     [[s, a["n"], v(a["tpr"]), *ci(a["tpr_ci"]), v(a["tnr"]), *ci(a["tnr_ci"]), v(a["kappa"]),
                       a["n_excluded"]] for s, a in j["by_split"].items()],
                     {2: RATE, 3: RATE, 4: RATE, 5: RATE, 6: RATE, 7: RATE, 8: KAPPA})
    g.rate_colours(h + 1, end, cfg, 2, 5)
    fr = j["failure_rate"]
    if fr:
        r = g.line("failure-mode rate on unlabelled rows (corrected)", fr["rate"], fr["lower"], fr["upper"],
                   f"observed {fr['observed']:.1%} on {j['n_unlabeled_judged']} rows, corrected by {j['basis']} TPR/TNR")
        g.style(r, 1, r + 1, 4, number_format=RATE)
    else:
        g.line(f"Failure-mode rate: not available — {j['reason']}", italic=True, background=WARN_AMBER)
    if j["disagreements"]:
        g.table(["disagreement", "split", "ground truth", "judge", "expert critique", "judge critique / reason"],
                [[d["id"], d["split"], d["truth"], d["judge"], cut(d["expert_critique"]), cut(d["judge_critique"])]
                 for d in j["disagreements"]])
