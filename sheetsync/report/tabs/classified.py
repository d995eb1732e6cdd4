"""Root causes by who assigned them: the expert's counts and the classifier's, side by side, with the
classifier's measured precision and recall beside its counts and unverified causes marked. Shown on the
Root causes tab (beside the expert's tally) and on the Error analysis tab (the judge's failures)."""

from __future__ import annotations

from typing import Any

from sheetsync.layout import PASS_GREEN, WARN_AMBER, CellValue, ConditionalFormat, Range
from sheetsync.report.tabs.cells import RATE, bound, v
from sheetsync.report.tabs.grid import Grid


def expert_vs_llm(g: Grid, cf: dict[str, Any], *, expert_columns: bool) -> None:
    """The table (``expert_columns``: with the expert's counts first), and the notes that read it."""
    m = cf["measured"]
    if cf["reason"]:
        g.line(f"LLM-assigned root causes: not yet — {cf['reason']}", italic=True, background=WARN_AMBER)
    head = ["root cause"]
    if expert_columns:
        head += ["expert: labelled fails", "expert: % of fails"]
    head += ["LLM: judge-failed unlabelled rows", "LLM: % of classified", "classifier precision", "95% low",
             "95% high", "classifier recall", "95% low", "95% high", "measured on (expert rows)", "status"]
    rows: list[list[CellValue]] = []
    for r in cf["causes"]:
        row: list[CellValue] = [r["root_cause"]]
        if expert_columns:
            row += [r["expert_count"], v(r["expert_share"])]
        row += [r["llm_count"], v(r["llm_share"]), v(r["precision"]), bound(r["precision_low"]),
                bound(r["precision_high"]), v(r["recall"]), bound(r["recall_low"]), bound(r["recall_high"]),
                r["support"], r["status"]]
        rows.append(row)
    first = 3 if expert_columns else 1
    rates = {c: RATE for c in range(first, first + 8) if c != first}  # every share and bound; not the count
    if expert_columns:
        rates[2] = RATE
    h, end = g.table(head, rows, rates)
    status_col = len(head) - 1
    if end > h + 1:
        rng = Range(h + 1, status_col, end, status_col + 1)
        ref = f"{_letter(status_col)}{h + 2}"
        g.cfs += [ConditionalFormat(rng, f'={ref}="verified"', PASS_GREEN),
                  ConditionalFormat(rng, f'=AND(LEN({ref})>0,{ref}<>"verified")', WARN_AMBER)]
    g.note(f"Expert counts: the {cf['n_expert_failed']} rows the expert failed, by the causes they typed (read through "
           f"the taxonomy; {cf['n_expert_outside_taxonomy']} fail(s) name only causes outside it). LLM counts: the "
           f"{cf['n_classified']} of {cf['n_judge_failed']} judge-failed unlabelled rows the classifier has answered "
           f"for ({cf['n_no_category']} fit no cause); a row may have several causes.")
    g.note(f"The classifier is measured on {m['n_measured']} dev/test rows the expert failed and named a cause for "
           "(its examples are train rows only, and it sees the judge's critique, never the expert's). Precision: "
           "of the rows it gave the cause, the share the expert gave it too; recall: of the expert's rows with the "
           "cause, the share it found. 95% Wilson intervals.")
    g.note(f"Verified = measured on at least {m['min_support']} expert rows with precision and recall at or above "
           f"the floor ({m['floor']:.0%}); any other LLM count is marked and should not be quoted as a fact.")


def llm_by_dimension(g: Grid, cf: dict[str, Any]) -> None:
    causes = cf["taxonomy"]
    for d, recs in cf["by_dimension"].items():
        if not recs:
            continue
        g.heading(f"By {d}: LLM-assigned root causes of the judge's failures")
        g.table([d, "judge-failed rows", "classified", *causes],
                [[r["value"], r["n_judge_failed"], r["n_classified"], *(r[c] for c in causes)] for r in recs])


def _letter(col: int) -> str:
    from sheetsync.layout import column_letter

    return column_letter(col)
