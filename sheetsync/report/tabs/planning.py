"""Sections the Summary and Agreement tabs share for what to do next: how many more labels, which rows, does
the judge agree with itself, and did the latest judge run change anything."""

from __future__ import annotations

from typing import Any

from sheetsync.layout import WARN_AMBER
from sheetsync.report.planning import BUDGETS, LABEL_NEXT
from sheetsync.report.tabs.cells import NA, RATE, v
from sheetsync.report.tabs.grid import Grid


def design_lines(g: Grid, fig: dict[str, Any]) -> None:
    """How the labels were chosen, and the warnings the pass rate depends on."""
    d = fig["design"]
    if d["drawn_by"]:
        g.note("How the labels were chosen: " + ", ".join(f"{n} {m}" for m, n in sorted(d["drawn_by"].items()))
               + (f". {d['note'][:1].upper()}{d['note'][1:]}" if d["note"] else "."))
    o = fig["summary"]["corrected_pass_rate"]
    for caveat in (o or {}).get("caveats") or []:
        g.line(f"Caution: {caveat}", italic=True, background=WARN_AMBER)
    warning = fig["run_comparison"]["validation_warning"]
    if warning:
        g.line(f"Warning: {warning}", bold=True, background=WARN_AMBER)


def planning_section(g: Grid, fig: dict[str, Any]) -> None:
    p = fig["planning"]
    g.heading(f"How many more labels? (stop at ±{p['target_half_width']:.0%}: [report] half_width)")
    g.line(p["sentence"], bold=True, background=None if not p["stop"] else "#D9EAD3")
    rows = []
    for key, name, kind in (("tpr", "TPR", "more expert passes"), ("tnr", "TNR", "more expert fails")):
        r = p[key]
        if r:
            need = r["labels_needed"]
            rows.append([name, r["half_width"], *(r["after"][str(k)] for k in BUDGETS),
                         NA if need is None else f"{need} {kind}"])
    c = p["corrected"]
    if c:
        need = c["labels_needed"]
        rows.append(["Corrected pass rate", c["half_width"], *(c["best_split"][str(k)]["half_width"] for k in BUDGETS),
                     NA if need is None else f"{need['budget']} ({need['fails']} fails, {need['passes']} passes)"])
    if rows:
        h, end = g.table(["figure", "± now", *(f"± after {k} more" for k in BUDGETS), "labels to reach the target"],
                         rows, {1: RATE, 2: RATE, 3: RATE})
        if c:
            split = c["best_split"][str(BUDGETS[-1])]
            g.note(f"For the corrected rate, {BUDGETS[-1]} more labels narrow it most as {split['fails']} fails and "
                   f"{split['passes']} passes (±{split['half_width']:.1%}, against ±{split['half_width_even_split']:.1%} "
                   "for an even split): `sheetsync push --sample N --focus fails` brings more fails.")
        g.note("Each \"after\" holds today's rates fixed: what a team can plan with; the real interval will wobble "
               "around it.")


def label_next_section(g: Grid, fig: dict[str, Any]) -> None:
    rows = fig["label_next"]
    g.heading("Label next (rows the judge is unsure of, thin cells, judge fails)")
    if not rows:
        g.note("No candidates: run `sheetsync judge --split unlabeled` (with --repeat 3 to find rows whose verdict "
               "flips).")
        return
    g.table(["id", "why", "dimensions"],
            [[r["id"], "; ".join(r["reasons"]), ", ".join(f"{k}={x}" for k, x in r["dimensions"].items())]
             for r in rows[:LABEL_NEXT]])
    g.note(f"{len(rows)} candidates ({LABEL_NEXT} shown; all in `report --json`). Send them with `sheetsync push DATA "
           "--sample N --focus uncertain`: mixed with a random share and recorded with each row's probability of "
           "being drawn, so the figures stay unbiased.")


def consistency_section(g: Grid, fig: dict[str, Any]) -> None:
    c = fig["consistency"]
    if not c:
        return
    g.heading("Does the judge agree with itself? (judge --repeat)")
    ci = c["flip_rate_ci"] or ("", "")
    h, end = g.table(["", "rows", "flipped", "flip rate", "95% low", "95% high", "two asks disagree"],
                     [["all re-asked rows", c["n_rows"], c["n_flipped"], v(c["flip_rate"]), *ci,
                       v(c["disagreement_rate"])]]
                     + [[f"{d}={r['value']}", r["n_rows"], r["n_flipped"], v(r["flip_rate"]),
                         *(r["flip_rate_ci"] or ("", "")), v(r["disagreement_rate"])]
                        for d, recs in c["by_dimension"].items() for r in recs],
                     {3: RATE, 4: RATE, 5: RATE, 6: RATE})
    g.note("A row flips when the judge, asked again (few-shot examples in another order, or the model's own "
           "sampling), gives another verdict: its verdicts there are a coin toss. Flipped rows are marked in the "
           "Judge tab and listed first under Label next.")


def run_comparison_section(g: Grid, fig: dict[str, Any]) -> None:
    rc = fig["run_comparison"]
    if rc["validation_warning"]:
        g.line(f"Warning: {rc['validation_warning']}", bold=True, background=WARN_AMBER)
    pair = rc["pair"]
    if not pair:
        return
    a, b = pair["a"], pair["b"]
    g.heading(f"The latest run vs the one before, on the same {pair['n']} labelled rows")
    g.note(f"A = {a['model']} prompt {(a['prompt_hash'] or '')[:10]} ({a['split']}), B = {b['model']} prompt "
           f"{(b['prompt_hash'] or '')[:10]} ({b['split']}).")
    rows = []
    for key, name in (("tpr", "TPR"), ("tnr", "TNR")):
        r = pair[key]
        ci = r["ci"] or ("", "")
        rows.append([name, r["n"], v(r["rate_a"]), v(r["rate_b"]), v(r["difference"]), *ci, r["only_a"], r["only_b"],
                     r["mcnemar"]["p_value"]])
    g.table(["figure", "rows", "A", "B", "B − A", "95% low", "95% high", "right only in A", "right only in B",
             "McNemar p"], rows, {2: RATE, 3: RATE, 4: RATE, 5: RATE, 6: RATE, 9: "0.000"})
    g.note("Paired: both runs on the same rows (Bonett–Price's interval for paired proportions, McNemar's test on the "
           "rows where they differ). An interval that excludes 0 is a real change.")
