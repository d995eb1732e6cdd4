"""The Judge tab: per row the latest judgement beside the expert's, the engineer's view of where they differ."""

from __future__ import annotations

from typing import Any, Protocol

from sheetsync.config import Config
from sheetsync.conversation import cell_text, truncate
from sheetsync.judge.prompt import Item
from sheetsync.layout import (
    FAIL_RED,
    HEADER_GREY,
    PASS_GREEN,
    WARN_AMBER,
    ConditionalFormat,
    PageSetup,
    Range,
    Style,
    TabSpec,
)
from sheetsync.redact import redact
from sheetsync.store import Store
from sheetsync.textfit import fit_rows

HEADER = ["id", "split", "expert verdict", "judge verdict", "agree?", "expert critique", "judge critique",
          "error", "format", "note", "model", "run", "input", "output", "re-asks"]
#: Narrow enough to print one page wide (landscape) and still read: the critiques and the interaction wrap.
#: The model and run columns hold one unbroken word each (e.g. "replayed-example-judge", "20261201T195606-a59c9a"):
#: as wide as that word printed, or LibreOffice clips it at the next cell (scripts/check_demo_pdf.py finds it).
WIDTHS = {0: 90, 1: 65, 2: 70, 3: 70, 4: 60, 5: 300, 6: 300, 7: 100, 8: 85, 9: 100, 10: 170, 11: 170, 12: 260,
          13: 300, 14: 110}


class _Rows(Protocol):
    items: dict[str, Item]
    splits: dict[str, str]


def judge_tab(cfg: Config, ws: _Rows, store: Store, max_cell_chars: int) -> tuple[TabSpec, int]:
    """The tab, and how many cells were cut to fit (with push's visible marker; the store keeps the full text).

    The interaction is shown as the Annotate tab shows it (:func:`~sheetsync.conversation.cell_text`:
    tool results folded, long documents cut); the judge itself was given the full text.

    With ``[review] blind`` only rows the expert has labelled (as they are now) are listed, so no verdict is
    seen before the expert's own label.

    ``format`` is the structured-output level each answer came at; ``note`` says what was done to the row
    (e.g. a field cut to fit the model's context).
    """
    latest = store.latest_verdicts()
    models = {run["run_id"]: run["model"] for run in store.runs()}
    from sheetsync.label_next import flips

    asked = flips(store)  # judge --repeat: "flips: 2 pass of 5" on rows whose verdict changes when asked again
    rows: list[list[Any]] = [HEADER]
    cut = 0

    def cell(text: str | None, *, outside: bool = False) -> str:
        """A text cell cut to fit; ``outside`` text (server errors, notes) is also redacted once more."""
        nonlocal cut
        value, was_cut = truncate(redact(text or "") if outside else text or "", max_cell_chars)
        cut += was_cut
        return value

    def shown(text: str) -> str:
        nonlocal cut
        value, was_cut = cell_text(text, max_cell_chars)
        cut += was_cut
        return value

    for rid, it in ws.items.items():
        v = latest.get(rid)
        if v is None or (cfg.review.blind and not it.verdict):
            continue  # blind labelling: a verdict is shown only once the expert labelled the row
        split = ws.splits.get(rid, "unlabeled")
        agree = "" if not (it.verdict and v["verdict"]) else ("yes" if it.verdict == v["verdict"] else "no")
        rows.append([rid, split, it.verdict, v["verdict"] or "", agree, cell(it.critique), cell(v["critique"]),
                     cell(v["error"], outside=True), v.get("level") or "", cell(v.get("note"), outside=True),
                     models.get(v["run_id"], ""), v["run_id"], shown(it.input), shown(it.output),
                     _asks(asked.get(rid))])
    n = len(rows)
    spec = TabSpec.table(
        cfg.tabs.judge,
        rows,
        frozen_rows=1,
        frozen_cols=1,
        column_widths=WIDTHS,
        styles=[Style(Range(0, 0, 1, len(HEADER)), bold=True, background=HEADER_GREY, wrap=True, valign="top"),
                Style(Range(1, 0, n, len(HEADER)), valign="top"),
                Style(Range(1, 5, n, 10), wrap=True), Style(Range(1, 12, n, 15), wrap=True)],
        conditional_formats=[
            ConditionalFormat(Range(1, 4, n, 5), '=$E2="no"', FAIL_RED),
            ConditionalFormat(Range(1, 4, n, 5), '=$E2="yes"', PASS_GREEN),
            *(ConditionalFormat(Range(1, col, n, col + 1), f'=${letter}2="{verdict}"', colour)
              for col, letter in ((2, "C"), (3, "D")) for verdict, colour in (("pass", PASS_GREEN), ("fail", FAIL_RED))),
            ConditionalFormat(Range(1, 14, n, 15), '=LEFT($O2,5)="flips"', WARN_AMBER),
        ],
        basic_filter=Range(0, 0, n, len(HEADER)),
        page=PageSetup(repeat=(0, 1)),
    )
    return fit_rows(spec), cut


def _asks(row: dict[str, Any] | None) -> str:
    """The re-asks of a row in words: "flips: 2 pass of 5 asks", "same in 5 asks", or "" (not re-asked)."""
    if not row or row["asks"] < 2:
        return ""
    if row["flipped"]:
        return f"flips: {row['passes']} pass of {row['asks']} asks"
    return f"same in {row['asks']} asks"
