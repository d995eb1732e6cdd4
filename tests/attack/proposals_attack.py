"""The attack suite on the Root-cause proposals tab: the scripted expert decides, edits definitions, sorts,
inserts, deletes and hides rows of the tab — or renames its Decision header — in every window of the
commands that read or rewrite it (``triage``, ``pull``), and faults hit every request. After each scenario,
and again once settled (the command re-run if it failed, then ``triage`` and ``pull``), every Decision and
Definition (edited) the expert typed must be beside its proposal id byte for byte, in the sheet and in the
store, and the expert's labels in Annotate untouched.

Built on the lab of the Annotate attacks (its snapshots, environment and scripted expert), with a ledger of
decisions of its own, like the Review tab's attacks (review_attack.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.expert_tab import KEY, key_id
from sheetsync.store import Store
from sheetsync.triage.propose import proposal_id
from sheetsync.triage.tab import DECISION, EDITED, PROPOSAL
from tests.attack import invariants as inv
from tests.attack.expert import ScriptedExpert
from tests.attack.lab import Lab, Window
from tests.attack.ledger import row_of
from tests.attack.tally import record
from tests.attack.world import PROPOSAL_NAMES, Outcome, run_cli, spreadsheet_key, take_snapshot

TAB = "Root-cause proposals"
FEE, TIER, MANGLED = (proposal_id(n) for n in PROPOSAL_NAMES)
#: Byte-tricky decisions: leading/trailing spaces, tabs, line breaks, unicode, formula-like text.
FIRST_DECISIONS = {
    FEE: ("Rename to fee invented", "  The fee quoted is not in the policy —\tcafé ✓ 日本語 🙂\nsecond line  "),
    TIER: ("Reject", "=1+1 is not a formula here; 007 stays 007, TRUE stays TRUE."),
}
TYPED_LATER = ("Merge into hallucinated fact", "Typed while sheetsync was working: must stay beside its id.")
EDITED_DEFINITION = ("Rename to fee invented", "\tEdited while sheetsync worked: naïve «quoted» text, two\nlines ")
BELOW = ("Accept", "Typed below the data, in a row without a proposal id.")


@dataclass
class Decisions:
    """What the expert typed on the proposals tab, and so must find there (and in the store)."""

    by_id: dict[str, tuple[str, str]] = field(default_factory=dict)
    deleted: dict[str, tuple[str, str]] = field(default_factory=dict)  # rows the expert deleted, with their decision
    below: list[tuple[str, str]] = field(default_factory=list)  # typed in rows without an id
    renamed: bool = False


class ProposalsExpert:
    """The scripted expert's hands on the Root-cause proposals tab."""

    def __init__(self, x: ScriptedExpert, decisions: Decisions) -> None:
        self.x, self.decisions = x, decisions

    def view(self):
        return self.x.view(TAB)

    def _cols(self, v) -> tuple[int | None, int | None, int | None]:
        return v.col(PROPOSAL), v.col(DECISION if not self.decisions.renamed else DECISION.lower()), v.col(EDITED)

    def decide(self, pid: str, decision: tuple[str, str]) -> bool:
        v = self.view()
        if v is None:
            return False
        _, dc, ec = self._cols(v)
        r = row_of(v, pid, PROPOSAL)
        if r is None or dc is None or ec is None or not self.x.type_cells(v, r, {dc: decision[0], ec: decision[1]}):
            return False
        self.decisions.by_id[pid] = decision
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
        if v is None or len(v.grid) < 2:
            return False
        at = {"top": 1, "middle": 1 + (len(v.grid) - 1) // 2}[where]
        return self.x.act([{"insertDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                          "startIndex": at, "endIndex": at + 1}}}])

    def delete_decided_row(self) -> bool:
        v = self.view()
        r = row_of(v, TIER, PROPOSAL) if v else None
        if v is None or r is None or TIER not in self.decisions.by_id:
            return False
        if not self.x.act([{"deleteDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                          "startIndex": r, "endIndex": r + 1}}}]):
            return False
        self.decisions.deleted[TIER] = self.decisions.by_id.pop(TIER)
        return True

    def hide_a_row(self) -> bool:
        v = self.view()
        r = row_of(v, FEE, PROPOSAL) if v else None
        if v is None or r is None:
            return False
        return self.x.act([{"updateDimensionProperties": {
            "range": {"sheetId": v.sheet_id, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1},
            "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}}])

    def type_below(self) -> bool:
        v = self.view()
        if v is None:
            return False
        _, dc, ec = self._cols(v)
        r = max((i for i, line in enumerate(v.grid) if any(c.strip() for c in line)), default=0) + 1
        if dc is None or ec is None or r >= v.row_count or not self.x.type_cells(v, r, {dc: BELOW[0], ec: BELOW[1]}):
            return False
        self.decisions.below.append(BELOW)
        return True

    def rename_decision(self) -> bool:
        v = self.view()
        dc = v.col(DECISION) if v else None
        if v is None or dc is None or not self.x.type_cells(v, 0, {dc: DECISION.lower()}):
            return False
        self.decisions.renamed = True
        return True

    def undo_rename(self) -> None:
        v = self.view()
        dc = v.col(DECISION.lower()) if v else None
        if self.decisions.renamed and v is not None and dc is not None:
            self.x.type_cells(v, 0, {dc: DECISION})
        self.decisions.renamed = False


ACTIONS: dict[str, Callable[[ProposalsExpert], bool]] = {
    "sort the proposals by Decision": lambda e: e.sort(DECISION, descending=False),
    "sort the proposals by id, descending": lambda e: e.sort(PROPOSAL, descending=True),
    "insert a blank row at the top of the proposals": lambda e: e.insert_row("top"),
    "insert a blank row in the middle of the proposals": lambda e: e.insert_row("middle"),
    "decide an open proposal": lambda e: e.decide(MANGLED, TYPED_LATER),
    "edit a definition": lambda e: e.decide(FEE, EDITED_DEFINITION),
    "delete a decided row": lambda e: e.delete_decided_row(),
    "hide a decided row": lambda e: e.hide_a_row(),
    "type a decision below the data": lambda e: e.type_below(),
    "rename the Decision header": lambda e: e.rename_decision(),
}
#: Commands that read the tab stop (exit 2, naming the column, nothing written) on this.
STOPS = {"rename the Decision header": "Decision"}

COMMANDS: dict[str, Callable[[Path], Outcome]] = {
    "triage": lambda root: run_cli(["triage", "--json"]),
    "pull": lambda root: run_cli(["pull", "--json"]),
}


def decided(lab: Lab):
    """The snapshot every scenario starts from: the labelled workspace triaged (three proposals from the dev
    and train fail critiques), two decided by the expert (the third open), and pulled."""
    if "decided" in lab.snapshots:
        return lab.snapshots["decided"]
    root, ledger = lab.fresh("labelled")
    x = lab.expert(ledger)
    decisions = Decisions()
    with lab.active(root):
        out = run_cli(["triage", "--json"])
        assert out.ok, out.output + out.traceback
        e = ProposalsExpert(x, decisions)
        for pid, decision in FIRST_DECISIONS.items():
            assert e.decide(pid, decision)
        out = run_cli(["pull"])  # the decisions are in the store: a row the expert deletes keeps its decision there
        assert out.ok, out.output + out.traceback
    snap = take_snapshot("decided", lab.em, root, lab.base / "snapshots", ledger, spreadsheet_key(lab.em), 2)
    snap.extra["decisions"] = decisions
    lab.snapshots["decided"] = snap
    return snap


def learn(lab: Lab, command: str) -> int:
    """How many requests the command makes from the snapshot (the windows are before each, and after the last)."""
    snap = decided(lab)
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
    snap = decided(lab)
    root, ledger = lab.fresh(snap.name)
    decisions = copy.deepcopy(snap.extra["decisions"])
    x = lab.expert(ledger)
    e = ProposalsExpert(x, decisions)
    found = inv.Findings(f"proposals | {command} | {action or 'fault ' + str(fault)} | {window}")
    fired: dict[str, Any] = {}
    pulls_before = _pull_count(root)

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
        _judge_outcome(action, window, fault, outcome, found)
        if command == "pull" and not outcome.ok and _pull_count(root) != pulls_before:
            found.problem("pull stopped, but it stored a pull of a tab it could not read safely")
        check_sheet(e, found)
        settle(command, outcome, e, found, root)
    record(**{"scenarios": 1, "proposals scenarios": 1, "labels checked": found.labels_checked,
              "labels lost": found.labels_lost, "problems": len(found.problems) - found.labels_lost})
    return found


def _judge_outcome(action: str | None, window: Window, fault: str | None, outcome: Outcome,
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


def check_sheet(e: ProposalsExpert, found: inv.Findings, *, settled: bool = False) -> None:
    """Every decision beside its proposal id, byte for byte; no id twice; decisions typed without an id kept.
    Once settled, a row the expert deleted is back with the decision the store kept."""
    inv.labels_stay_beside_their_ids(e.x, found, imported={})
    v = e.view()
    if v is None:
        found.lost("the Root-cause proposals tab is gone")
        return
    idc, dc, ec = e._cols(v)
    ids = [v.cell(r, idc) for r in range(1, len(v.grid)) if v.cell(r, idc)]
    for pid in sorted({i for i in ids if ids.count(i) > 1}):
        found.problem(f"{pid} is on {ids.count(pid)} rows of the proposals tab")
    expected = {**e.decisions.by_id, **(e.decisions.deleted if settled else {})}
    for pid, (decision, definition) in expected.items():
        found.labels_checked += 1
        r = row_of(v, pid, PROPOSAL)
        if r is None:
            found.lost(f"{pid}'s decision: its row is gone")
        elif (v.cell(r, dc), v.cell(r, ec)) != (decision, definition):
            found.lost(f"{pid}'s decision is {(v.cell(r, dc), v.cell(r, ec))!r}, the expert typed "
                       f"{(decision, definition)!r}")
    for decision, definition in e.decisions.below:
        found.labels_checked += 1
        if not any(not v.cell(r, idc) and (v.cell(r, dc), v.cell(r, ec)) == (decision, definition)
                   for r in range(1, len(v.grid))):
            found.lost(f"the decision typed below the data ({definition!r}) is gone")


def rows_show_their_own_text(e: ProposalsExpert, found: inv.Findings) -> None:
    v = e.view()
    kc = v.col(KEY) if v else None
    if v is None or kc is None:
        found.problem("the proposals tab has no key column after a settled triage")
        return
    for r in range(1, len(v.grid)):
        pid = v.cell(r, v.col(PROPOSAL))
        if pid and key_id(v.cell(r, kc)) != pid:
            found.problem(f"proposals row {r + 1} ({pid}) still shows {key_id(v.cell(r, kc))}'s text")


def settle(command: str, outcome: Outcome, e: ProposalsExpert, found: inv.Findings, root: Path) -> None:
    """As the engineer would: put the header back if the command said so, run it again, then triage and pull;
    the sheet and the store must hold every decision."""
    e.undo_rename()
    if not outcome.ok:
        again = COMMANDS[command](root)
        if not again.ok:
            found.problem(f"the re-run failed: exit {again.exit_code}, {again.output[-400:]!r}{again.traceback}")
            return
    for args in (["triage", "--json"], ["pull", "--json"]):
        out = run_cli(args)
        if not out.ok:
            found.problem(f"{' '.join(args)} failed after the scenario: {out.output[-400:]!r}{out.traceback}")
            return
    check_sheet(e, found, settled=True)
    rows_show_their_own_text(e, found)
    store = Store.for_workspace(root / ".sheetsync")
    try:
        latest = store.decisions()
        for pid, (decision, definition) in {**e.decisions.by_id, **e.decisions.deleted}.items():
            d = latest.get(pid)
            if d is None or (d.decision, d.definition) != (decision, definition):
                found.lost(f"the store's decision for {pid} is {(d.decision, d.definition) if d else None!r}, the "
                           f"expert typed {(decision, definition)!r}")
        inv.fresh_labels_are_what_the_expert_saw(e.x, store, found)
    finally:
        store.close()


def _pull_count(root: Path) -> int:
    store = Store.for_workspace(root / ".sheetsync")
    try:
        return store.pull_count()
    finally:
        store.close()
