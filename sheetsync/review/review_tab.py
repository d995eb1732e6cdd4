"""The Review tab: one row per disagreement between the judge and the expert on dev/test (train and
unlabelled rows never), worst dimensions first, each with both verdicts and both critiques and the expert's
answer: Resolution (Judge is right / My label stands / Unclear) and Why.

A row's life, written in its Status cell by sheetsync each time ``judge`` or ``report`` refreshes the tab:

* ``open`` — the judge disagrees with the expert's label; answer it;
* ``answered`` (grey) — answered for the judge verdict the row shows, or the expert's label now agrees
  with the judge; it stays, grey, until the next judge run on the row's split;
* ``reopened`` — that next run still disagrees: the answer was for the earlier verdict, answer again;
* ``closed`` (grey) — no longer a disagreement after a later judge run (or the row's label went stale,
  left the dataset, or now teaches the judge). The expert may delete closed rows; answers stay in the store.

sheetsync never deletes a row: the Sheets API deletes rows by position only, and a row deleted at the
position read a moment earlier could be another one, with an answer the expert just typed.
"""

from __future__ import annotations

from typing import Any

from sheetsync.answer_tab import STATUS, AnswerSheet, AnswerTab, WantedRow
from sheetsync.report.data import Data, dim_col
from sheetsync.report.tabs.cells import cut
from sheetsync.review.answers import JUDGE_RIGHT, LABEL_STANDS, REVIEW_CHOICES, UNCLEAR, choice
from sheetsync.review.layouts import REVIEW_FIXED as FIXED
from sheetsync.store import Answer


def _status(disagrees: bool, split: str, row: dict[str, Any], answer: Answer | None, shown_run: str | None,
            numbers: dict[str, int], why_closed: str, was_closed: bool) -> tuple[str, str]:
    """(Status text, the instance the row asks about) — see the module docstring."""
    run = row.get("run_id") or ""
    n = f"run #{numbers[run]}" if run in numbers else "the latest run"
    picked = choice(answer.resolution, REVIEW_CHOICES) if answer is not None else None
    typed = answer.resolution.strip() if answer is not None else ""
    if disagrees:
        if answer is not None and typed and answer.instance == run:
            if picked == JUDGE_RIGHT:
                return (f"answered: Judge is right — now change your label in the Annotate tab to "
                        f"{row['judge_verdict'].capitalize()} (it is still {row['expert_verdict'].capitalize()})", run)
            if picked == LABEL_STANDS:
                return f"answered: your label stands (it stays here until the next judge run on {split})", run
            if picked == UNCLEAR:
                return ("answered: unclear — an open criteria question (see the Instructions tab) until you "
                        "settle it: choose Judge is right or My label stands", run)
            return f"open: “{typed[:60]}” is not one of the choices — pick one from the dropdown", run
        if typed:
            return (f"reopened: the judge was run again ({n}) and still disagrees; your answer “{typed[:60]}” was "
                    "for its earlier verdict — answer again", run)
        return "open", run
    if why_closed:
        return f"closed: {why_closed}", shown_run or run
    if row.get("judge_verdict") not in ("pass", "fail"):
        return f"closed: the judge gave no verdict on this row in {n} (an error); nothing to answer", run
    if was_closed or (shown_run and run and shown_run != run):
        return f"closed: the judge agrees with your label since {n} — nothing to do (you may delete this row)", run
    return (f"answered: your label now agrees with the judge's (the row stays until the next judge run on "
            f"{split})", shown_run or run)


def review_rows(tab: AnswerTab, data: Data, disagreements: list[dict[str, Any]], answers: dict[str, Answer],
                sheet: AnswerSheet | None, numbers: dict[str, int], stored: dict[str, dict[str, Any]]
                ) -> dict[str, WantedRow]:
    """What every row of the tab should show: each current disagreement (worst first), and each id already in
    the tab. A row the expert deleted comes back only while it still asks something: an answer given for
    the verdict it shows is done (an open question excepted)."""
    frame = {r["id"]: r for r in data.frame.to_dict(orient="records")}
    in_tab = sheet.by_id() if sheet is not None else {}
    dims = dict(zip(data.dims, [h for h in tab.shown if h not in FIXED], strict=True))
    out: dict[str, WantedRow] = {}
    current = {d["id"] for d in disagreements}
    order = [d["id"] for d in disagreements] + [rid for rid in in_tab if rid not in current]
    for rid in order:
        row = frame.get(rid)
        srow = in_tab.get(rid)
        shown_run = srow.key.instance if srow is not None and srow.key is not None and not srow.misplaced else None
        answer = answers.get(rid)
        disagrees = rid in current
        if row is None:
            row = {"split": "", "input": stored.get(rid, {}).get("input", ""),
                   "output": stored.get(rid, {}).get("output", ""), "run_id": shown_run}
            why_closed = "the row is no longer in the dataset (your answer is kept)"
        elif row["split"] not in ("dev", "test"):
            why_closed = {"train": "the row now teaches the judge (guidance) and is no longer scored",
                          "unlabeled": "the row's label is stale or gone: re-check it in the Annotate tab"
                          }.get(row["split"], "the row is no longer scored")
        else:
            why_closed = ""
        split = row.get("split") or ""
        was_closed = srow is not None and srow.status.startswith("closed") and shown_run == row.get("run_id")
        status, instance = _status(disagrees, split, row, answer, shown_run, numbers, why_closed, was_closed)
        if srow is None and not disagrees:
            continue
        if (srow is None and answer is not None and answer.instance == instance and answer.resolution.strip()
                and choice(answer.resolution, REVIEW_CHOICES) != UNCLEAR):
            continue  # answered for this verdict, then deleted by the expert: done
        cells: dict[str, Any] = {
            "split": split, "input": cut(row.get("input")), "output": cut(row.get("output")),
            "expert verdict": row.get("expert_verdict") or "", "expert critique": cut(row.get("expert_critique")),
            "judge verdict": row.get("judge_verdict") or "", "judge critique": cut(row.get("judge_critique")),
            "judge run": f"#{numbers[instance]}" if instance in numbers else "", STATUS: status,
        }
        for d, header in dims.items():
            cells[header] = row.get(dim_col(d), "")
        out[rid] = WantedRow(rid, cells, instance)
    return out
