"""The attack suite on the Review tab: the scripted expert answers, edits, sorts, inserts, deletes and hides
rows of the Review tab — or renames its Resolution header — in every window of the commands that read or
rewrite it (``report``, ``judge``, ``pull``), and faults hit every request. After each scenario, and again
once settled (the command re-run if it failed, then ``report`` and ``pull``), every answer the expert gave
must be beside its id byte for byte, in the sheet and in the store, and the expert's labels in Annotate
untouched.

Built on the lab of the Annotate attacks (its snapshots, environment and scripted expert), with a ledger of
answers of its own; what it shares with the Root-cause proposals attacks is in tab_attack.py.
"""

from __future__ import annotations

from pathlib import Path

from sheetsync.annotate import CRITIQUE, VERDICT
from sheetsync.answer_tab import parse_key
from sheetsync.store import Store
from tests.attack import invariants as inv
from tests.attack.expert import Label, row_of, shown_content
from tests.attack.lab import Lab, Window
from tests.attack.tab_attack import Pair, TabAttack, TabHands, Typed, rows_show_their_own_text
from tests.attack.world import Outcome, run_cli, spreadsheet_key, take_snapshot

#: Byte-tricky answers: leading/trailing spaces, tabs, line breaks, unicode, formula-like text.
FIRST_ANSWERS = {
    "r04": ("My label stands", "  The fee quoted is the old one —\tcafé ✓ 日本語 🙂\nsecond line  "),
    "r08": ("Judge is right", "=1+1 is not a formula here; 007 stays 007, TRUE stays TRUE."),
}
TYPED_LATER = ("Unclear", "Typed while sheetsync was working: must stay beside r10.")
EDITED = ("My label stands", "\tEdited while sheetsync worked: naïve «quoted» text, two\nlines ")
BELOW = ("Unclear", "Typed below the data, in a row without an id.")
MORE_LABELS = {"r08": {VERDICT: "Pass", CRITIQUE: "Right fare rules, the right fee, and a friendly close."},
               "r10": {VERDICT: "Pass", CRITIQUE: "Answers the baggage question from the policy, no more, no less."}}


def reviewed(lab: Lab):
    """The snapshot every Review scenario starts from: the labelled workspace with r08 and r10 labelled too,
    pulled, judged (the Review tab lists r04, r08 and r10), answered on r04 and r08, and pulled again."""
    if "reviewed" in lab.snapshots:
        return lab.snapshots["reviewed"]
    root, ledger = lab.fresh("labelled")
    x = lab.expert(ledger)
    typed = Typed()
    with lab.active(root):
        v = x.view()
        for rid, texts in MORE_LABELS.items():
            r = row_of(v, rid)
            x.type_cells(v, r, {v.col(h): t for h, t in texts.items()})
            ledger.labels[rid] = Label({**x.expert_texts(v, r), **texts}, shown_content(v, r))
        for args in (["pull"], ["judge", "--split", "all", "--json"]):
            out = run_cli(args)
            assert out.ok, out.output + out.traceback
        e = TabHands(REVIEW, x, typed)
        assert {"r04", "r08", "r10"} <= set(e.ids(e.view()))
        for rid, answer in FIRST_ANSWERS.items():
            assert e.type_pair(rid, answer)
        out = run_cli(["pull"])  # the answers are in the store: a row the expert deletes keeps its answer there
        assert out.ok, out.output + out.traceback
    snap = take_snapshot("reviewed", lab.em, root, lab.base / "snapshots", ledger, spreadsheet_key(lab.em), 2)
    snap.extra["typed"] = typed
    lab.snapshots["reviewed"] = snap
    return snap


def _stored(store: Store) -> dict[str, Pair]:
    return {rid: (a.resolution, a.why) for rid, a in store.latest_answers("review").items()}


def _shown_id(key: str) -> str | None:
    parsed = parse_key(key)
    return parsed.id if parsed else None


def _check(command: str, window: Window, outcome: Outcome, e: TabHands, found: inv.Findings, root: Path,
           snap: object) -> None:
    if command != "pull" and outcome.ok and window.when == "before":
        rows_show_their_own_text(e, found)  # a write that landed mid-sort was put right before the command ended


REVIEW = TabAttack(
    name="review", title="Review", id_header="id", first="Resolution", second="Why", noun="answer",
    start=reviewed,
    commands={
        "report": lambda root: run_cli(["report"]),
        "judge": lambda root: run_cli(["judge", "--split", "all", "--json"]),  # every verdict cached: 0 calls
        "pull": lambda root: run_cli(["pull", "--json"]),
    },
    actions={
        "sort the Review tab by Resolution": lambda e: e.sort("Resolution", descending=False),
        "sort the Review tab by id, descending": lambda e: e.sort("id", descending=True),
        "insert a blank row at the top of Review": lambda e: e.insert_row("top"),
        "insert a blank row in the middle of Review": lambda e: e.insert_row("middle"),
        "answer an open row": lambda e: e.type_pair("r10", TYPED_LATER),
        "edit an answer": lambda e: e.type_pair("r04", EDITED),
        "delete an answered row": lambda e: e.delete_row("r08"),
        "hide a Review row": lambda e: e.hide_row("r04"),
        "type an answer below the data": lambda e: e.type_below(BELOW),
        "rename the Resolution header": lambda e: e.rename_first(),
    },
    #: Commands that read the Review tab stop (exit 2, naming the column, nothing written) on this.
    stops={"rename the Resolution header": "Resolution"},
    settle_with=(["report"], ["pull", "--json"]),
    shown_id=_shown_id, stored=_stored, check=_check,
)
