"""The attack suite on the Review tab: the scripted expert answers, edits, sorts, inserts, deletes and hides
rows of the Review tab — or renames its Resolution header — in every window of the commands that read or
rewrite it (``report``, ``judge``, ``pull``), and faults hit every request. After each scenario, and again
once settled (the command re-run if it failed, then ``report`` and ``pull``), every answer the expert gave
must be beside its id byte for byte, in the sheet and in the store, and the expert's labels in Annotate
untouched.

Built on the lab of the Annotate attacks (its snapshots, environment and scripted expert), with a ledger of
answers of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.annotate import CRITIQUE, VERDICT
from sheetsync.answer_tab import KEY, parse_key
from sheetsync.store import Store
from tests.attack import invariants as inv
from tests.attack.expert import Label, ScriptedExpert, row_of, shown_content
from tests.attack.lab import Lab, Window
from tests.attack.tally import record
from tests.attack.world import Outcome, run_cli, spreadsheet_key, take_snapshot

REVIEW = "Review"
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


@dataclass
class Answers:
    """What the expert answered on the Review tab, and so must find there (and in the store)."""

    by_id: dict[str, tuple[str, str]] = field(default_factory=dict)
    deleted: dict[str, tuple[str, str]] = field(default_factory=dict)  # rows the expert deleted, with their answer
    below: list[tuple[str, str]] = field(default_factory=list)  # typed in rows without an id
    renamed: bool = False


class ReviewExpert:
    """The scripted expert's hands on the Review tab."""

    def __init__(self, x: ScriptedExpert, answers: Answers) -> None:
        self.x, self.answers = x, answers

    def view(self):
        return self.x.view(REVIEW)

    def _cols(self, v) -> tuple[int | None, int | None, int | None]:
        return v.col("id"), v.col("Resolution" if not self.answers.renamed else "resolution"), v.col("Why")

    def type_answer(self, rid: str, answer: tuple[str, str]) -> bool:
        v = self.view()
        if v is None:
            return False
        idc, rc, wc = self._cols(v)
        r = row_of(v, rid)
        if r is None or rc is None or wc is None or not self.x.type_cells(v, r, {rc: answer[0], wc: answer[1]}):
            return False
        self.answers.by_id[rid] = answer
        return True

    def sort(self, header: str, descending: bool) -> bool:
        v = self.view()
        col = v.col(header) if v else None
        if v is None or col is None:
            return False
        return self.x.act([{"sortRange": {"range": {"sheetId": v.sheet_id, "startRowIndex": 1}, "sortSpecs": [
            {"dimensionIndex": col, "sortOrder": "DESCENDING" if descending else "ASCENDING"}]}}])

    def insert_row(self, where: str) -> bool:
        v = self.view()
        if v is None or v.last_row < 1:
            return False
        at = {"top": 1, "middle": 1 + v.last_row // 2}[where]
        return self.x.act([{"insertDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                          "startIndex": at, "endIndex": at + 1}}}])

    def delete_answered_row(self) -> bool:
        v = self.view()
        r = row_of(v, "r08") if v else None
        if v is None or r is None or "r08" not in self.answers.by_id:
            return False
        if not self.x.act([{"deleteDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                          "startIndex": r, "endIndex": r + 1}}}]):
            return False
        self.answers.deleted["r08"] = self.answers.by_id.pop("r08")
        return True

    def hide_a_row(self) -> bool:
        v = self.view()
        r = row_of(v, "r04") if v else None
        if v is None or r is None:
            return False
        return self.x.act([{"updateDimensionProperties": {
            "range": {"sheetId": v.sheet_id, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1},
            "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}}])

    def type_below(self) -> bool:
        v = self.view()
        if v is None:
            return False
        _, rc, wc = self._cols(v)
        r = v.last_row + 1
        if rc is None or wc is None or r >= v.row_count or not self.x.type_cells(v, r, {rc: BELOW[0], wc: BELOW[1]}):
            return False
        self.answers.below.append(BELOW)
        return True

    def rename_resolution(self) -> bool:
        v = self.view()
        rc = v.col("Resolution") if v else None
        if v is None or rc is None or not self.x.type_cells(v, 0, {rc: "resolution"}):
            return False
        self.answers.renamed = True
        return True

    def undo_rename(self) -> None:
        v = self.view()
        rc = v.col("resolution") if v else None
        if self.answers.renamed and v is not None and rc is not None:
            self.x.type_cells(v, 0, {rc: "Resolution"})
        self.answers.renamed = False


ACTIONS: dict[str, Callable[[ReviewExpert], bool]] = {
    "sort the Review tab by Resolution": lambda e: e.sort("Resolution", descending=False),
    "sort the Review tab by id, descending": lambda e: e.sort("id", descending=True),
    "insert a blank row at the top of Review": lambda e: e.insert_row("top"),
    "insert a blank row in the middle of Review": lambda e: e.insert_row("middle"),
    "answer an open row": lambda e: e.type_answer("r10", TYPED_LATER),
    "edit an answer": lambda e: e.type_answer("r04", EDITED),
    "delete an answered row": lambda e: e.delete_answered_row(),
    "hide a Review row": lambda e: e.hide_a_row(),
    "type an answer below the data": lambda e: e.type_below(),
    "rename the Resolution header": lambda e: e.rename_resolution(),
}
#: Commands that read the Review tab stop (exit 2, naming the column, nothing written) on this.
STOPS = {"rename the Resolution header": "Resolution"}

COMMANDS: dict[str, Callable[[Path], Outcome]] = {
    "report": lambda root: run_cli(["report"]),
    "judge": lambda root: run_cli(["judge", "--split", "all", "--json"]),  # every verdict cached: 0 calls
    "pull": lambda root: run_cli(["pull", "--json"]),
}


def reviewed(lab: Lab):
    """The snapshot every Review scenario starts from: the labelled workspace with r08 and r10 labelled too,
    pulled, judged (the Review tab lists r04, r08 and r10), answered on r04 and r08, and pulled again."""
    if "reviewed" in lab.snapshots:
        return lab.snapshots["reviewed"]
    root, ledger = lab.fresh("labelled")
    x = lab.expert(ledger)
    answers = Answers()
    with lab.active(root):
        v = x.view()
        for rid, texts in MORE_LABELS.items():
            r = row_of(v, rid)
            x.type_cells(v, r, {v.col(h): t for h, t in texts.items()})
            ledger.labels[rid] = Label({**x.expert_texts(v, r), **texts}, shown_content(v, r))
        for args in (["pull"], ["judge", "--split", "all", "--json"]):
            out = run_cli(args)
            assert out.ok, out.output + out.traceback
        e = ReviewExpert(x, answers)
        assert {"r04", "r08", "r10"} <= set(_ids(e.view()))
        for rid, answer in FIRST_ANSWERS.items():
            assert e.type_answer(rid, answer)
        out = run_cli(["pull"])  # the answers are in the store: a row the expert deletes keeps its answer there
        assert out.ok, out.output + out.traceback
    snap = take_snapshot("reviewed", lab.em, root, lab.base / "snapshots", ledger, spreadsheet_key(lab.em), 2)
    snap.extra["answers"] = answers
    lab.snapshots["reviewed"] = snap
    return snap


def _ids(v) -> list[str]:
    c = v.col("id") if v else None
    return [v.cell(r, c) for r in range(1, len(v.grid)) if v.cell(r, c)] if v is not None else []


def learn(lab: Lab, command: str) -> int:
    """How many requests the command makes from the snapshot (the windows are before each, and after the last)."""
    snap = reviewed(lab)
    root, _ = lab.fresh(snap.name)
    seen: list[int] = []
    lab.em.on_request(lambda info: seen.append(1))
    with lab.active(root):
        out = COMMANDS[command](root)
    lab.em.hooks.clear()
    assert out.ok, out.output + out.traceback
    return len(seen)


def windows(n: int) -> list[Window]:
    return [Window(i) for i in range(1, n + 1)] + [Window(n, "after")]


def attack(lab: Lab, command: str, action: str | None, window: Window, *, fault: str | None = None
           ) -> inv.Findings | None:
    """One scenario; None when the action found nothing to act on in that window."""
    snap = reviewed(lab)
    root, ledger = lab.fresh(snap.name)
    answers = copy.deepcopy(snap.extra["answers"])
    x = lab.expert(ledger)
    e = ReviewExpert(x, answers)
    found = inv.Findings(f"review | {command} | {action or 'fault ' + str(fault)} | {window}")
    fired: dict[str, Any] = {}

    def act(info: Any) -> None:
        if fault is not None:
            lab.em.add_fault("503", count=1000) if fault == "persistent" else lab.em.add_fault(fault, count=1)
            fired["done"] = True
        else:
            fired["done"] = ACTIONS[action](e)  # type: ignore[index]

    lab.em.on_request(act, nth=window.n, when=window.when)
    with lab.active(root):
        outcome = COMMANDS[command](root)
        errors = list(lab.em.hooks.errors)
        lab.em.hooks.clear()
        lab.em.clear_faults()
        if errors:
            raise AssertionError(f"{found.scenario}: the scripted expert's action raised") from errors[0]
        if not fired.get("done"):
            record(skipped=1)
            return None
        _judge_outcome(command, action, window, fault, outcome, found)
        check_sheet(e, found)
        if command != "pull" and outcome.ok and window.when == "before":
            rows_show_their_own_text(e, found)  # a write that landed mid-sort was put right before the command ended
        settle(command, outcome, e, found, root)
    record(**{"scenarios": 1, "review scenarios": 1, "labels checked": found.labels_checked,
              "labels lost": found.labels_lost, "problems": len(found.problems) - found.labels_lost})
    return found


def _judge_outcome(command: str, action: str | None, window: Window, fault: str | None, outcome: Outcome,
                   found: inv.Findings) -> None:
    if outcome.traceback:
        found.problem(f"a traceback:\n{outcome.traceback}")
        return
    stop = STOPS.get(action or "")
    if fault == "persistent":
        if outcome.exit_code != 2:
            found.problem(f"a persistent failure must exit 2 with a message: exit {outcome.exit_code}")
    elif stop and window == Window(1):
        if outcome.exit_code != 2 or stop not in outcome.output:
            found.problem(f"must stop (exit 2, naming “{stop}”): exit {outcome.exit_code}, {outcome.output[-300:]!r}")
    elif outcome.exit_code != 0 and not stop:
        found.problem(f"exit {outcome.exit_code}: {outcome.output[-500:]!r}")


def check_sheet(e: ReviewExpert, found: inv.Findings) -> None:
    """Every answer beside its id, byte for byte; no id twice; answers typed without an id kept."""
    inv.labels_stay_beside_their_ids(e.x, found, imported={})
    v = e.view()
    if v is None:
        found.lost("the Review tab is gone")
        return
    idc, rc, wc = e._cols(v)
    ids = _ids(v)
    for rid in sorted({i for i in ids if ids.count(i) > 1}):
        found.problem(f"{rid} is on {ids.count(rid)} rows of the Review tab")
    for rid, (res, why) in e.answers.by_id.items():
        found.labels_checked += 1
        r = row_of(v, rid)
        if r is None:
            found.lost(f"{rid}'s answer: its Review row is gone")
        elif (v.cell(r, rc), v.cell(r, wc)) != (res, why):
            found.lost(f"{rid}'s answer is {(v.cell(r, rc), v.cell(r, wc))!r}, the expert typed {(res, why)!r}")
    for res, why in e.answers.below:
        found.labels_checked += 1
        if not any(not v.cell(r, idc) and (v.cell(r, rc), v.cell(r, wc)) == (res, why) for r in range(1, len(v.grid))):
            found.lost(f"the answer typed below the data ({why!r}) is gone")


def rows_show_their_own_text(e: ReviewExpert, found: inv.Findings) -> None:
    v = e.view()
    kc = v.col(KEY) if v else None
    if v is None or kc is None:
        found.problem("the Review tab has no key column after a settled report")
        return
    for r in range(1, len(v.grid)):
        rid, key = v.cell(r, v.col("id")), parse_key(v.cell(r, kc))
        if rid and (key is None or key.id != rid):
            found.problem(f"Review row {r + 1} ({rid}) still shows {key.id if key else 'unknown'}'s text")


def settle(command: str, outcome: Outcome, e: ReviewExpert, found: inv.Findings, root: Path) -> None:
    """As the engineer would: put the header back if the command said so, run it again, then report and pull;
    the sheet and the store must hold every answer."""
    e.undo_rename()
    if not outcome.ok:
        again = COMMANDS[command](root)
        if not again.ok:
            found.problem(f"the re-run failed: exit {again.exit_code}, {again.output[-400:]!r}{again.traceback}")
            return
    for args in (["report"], ["pull", "--json"]):
        out = run_cli(args)
        if not out.ok:
            found.problem(f"{' '.join(args)} failed after the scenario: {out.output[-400:]!r}{out.traceback}")
            return
    check_sheet(e, found)
    rows_show_their_own_text(e, found)
    store = Store.for_workspace(root / ".sheetsync")
    try:
        latest = store.latest_answers("review")
        for rid, (res, why) in {**e.answers.by_id, **e.answers.deleted}.items():
            a = latest.get(rid)
            if a is None or (a.resolution, a.why) != (res, why):
                found.lost(f"the store's answer for {rid} is {(a.resolution, a.why) if a else None!r}, the expert "
                           f"typed {(res, why)!r}")
        inv.fresh_labels_are_what_the_expert_saw(e.x, store, found)
    finally:
        store.close()
