"""What the attacks on a tab of answers beside ids share (the Review tab: review_attack.py; the Root-cause
proposals tab: proposals_attack.py): the expert's hands on such a tab, one scenario run in one window of one
command, and the checks that every pair the expert typed is still beside its id, in the sheet and the store.

Each suite says what differs in a ``TabAttack``: the tab's headers, the commands that read or rewrite it,
the snapshot its scenarios start from, and how the store and the key column are read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.expert_tab import KEY
from sheetsync.store import Store
from tests.attack import invariants as inv
from tests.attack.expert import ScriptedExpert
from tests.attack.lab import Lab, Window
from tests.attack.ledger import row_of
from tests.attack.tally import record
from tests.attack.world import Outcome, run_cli

Pair = tuple[str, str]  # what the expert types in a row: (the first column, e.g. Resolution; the second, e.g. Why)


@dataclass
class Typed:
    """What the expert typed on the tab, and so must find there (and in the store)."""

    by_id: dict[str, Pair] = field(default_factory=dict)
    deleted: dict[str, Pair] = field(default_factory=dict)  # rows the expert deleted, with what they held
    below: list[Pair] = field(default_factory=list)  # typed in rows without an id
    renamed: bool = False


@dataclass(frozen=True)
class TabAttack:
    """One suite's tab and commands."""

    name: str  # the scenarios' prefix and the tally's "<name> scenarios"
    title: str  # the tab
    id_header: str
    first: str  # the header of the pair's first column (the one the expert renames)
    second: str
    noun: str  # what the pair is called in findings: "answer", "decision"
    start: Callable[[Lab], Any]  # the snapshot every scenario starts from (its extra["typed"]: a Typed)
    commands: dict[str, Callable[[Path], Outcome]]
    actions: dict[str, Callable[[TabHands], bool]]
    stops: dict[str, str]  # action -> the header a command that reads the tab names as it stops (exit 2)
    settle_with: tuple[list[str], ...]  # the commands run once a scenario is over
    shown_id: Callable[[str], str | None]  # the id a key cell names
    stored: Callable[[Store], dict[str, Pair]]  # the pairs the store holds, by id
    deleted_back: bool = False  # once settled, a deleted row is back with what the store kept
    #: more checks right after the command: (command, window, outcome, hands, findings, root, snapshot)
    check: Callable[[str, Window, Outcome, TabHands, inv.Findings, Path, Any], None] | None = None


class TabHands:
    """The scripted expert's hands on the tab."""

    def __init__(self, spec: TabAttack, x: ScriptedExpert, typed: Typed) -> None:
        self.spec, self.x, self.typed = spec, x, typed

    def view(self):
        return self.x.view(self.spec.title)

    def cols(self, v) -> tuple[int | None, int | None, int | None]:
        first = self.spec.first if not self.typed.renamed else self.spec.first.lower()
        return v.col(self.spec.id_header), v.col(first), v.col(self.spec.second)

    def ids(self, v) -> list[str]:
        c = v.col(self.spec.id_header) if v else None
        return [v.cell(r, c) for r in range(1, len(v.grid)) if v.cell(r, c)] if v is not None else []

    def row(self, v, rid: str) -> int | None:
        return row_of(v, rid, self.spec.id_header)

    def type_pair(self, rid: str, pair: Pair) -> bool:
        v = self.view()
        if v is None:
            return False
        _, fc, sc = self.cols(v)
        r = self.row(v, rid)
        if r is None or fc is None or sc is None or not self.x.type_cells(v, r, {fc: pair[0], sc: pair[1]}):
            return False
        self.typed.by_id[rid] = pair
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

    def delete_row(self, rid: str) -> bool:
        """Delete a row the expert typed in (what it held stays in the store)."""
        v = self.view()
        r = self.row(v, rid) if v else None
        if v is None or r is None or rid not in self.typed.by_id:
            return False
        if not self.x.act([{"deleteDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                          "startIndex": r, "endIndex": r + 1}}}]):
            return False
        self.typed.deleted[rid] = self.typed.by_id.pop(rid)
        return True

    def hide_row(self, rid: str) -> bool:
        v = self.view()
        r = self.row(v, rid) if v else None
        if v is None or r is None:
            return False
        return self.x.act([{"updateDimensionProperties": {
            "range": {"sheetId": v.sheet_id, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1},
            "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}}])

    def type_below(self, pair: Pair) -> bool:
        """Type in the first row below the data (a row without an id)."""
        v = self.view()
        if v is None:
            return False
        _, fc, sc = self.cols(v)
        r = v.last_row + 1
        if fc is None or sc is None or r >= v.row_count or not self.x.type_cells(v, r, {fc: pair[0], sc: pair[1]}):
            return False
        self.typed.below.append(pair)
        return True

    def rename_first(self) -> bool:
        v = self.view()
        fc = v.col(self.spec.first) if v else None
        if v is None or fc is None or not self.x.type_cells(v, 0, {fc: self.spec.first.lower()}):
            return False
        self.typed.renamed = True
        return True

    def undo_rename(self) -> None:
        v = self.view()
        fc = v.col(self.spec.first.lower()) if v else None
        if self.typed.renamed and v is not None and fc is not None:
            self.x.type_cells(v, 0, {fc: self.spec.first})
        self.typed.renamed = False


def learn(lab: Lab, spec: TabAttack, command: str) -> int:
    """How many requests the command makes from the snapshot (the windows are before each, and after the last)."""
    snap = spec.start(lab)
    root, _ = lab.fresh(snap.name)
    seen: list[int] = []
    lab.em.on_request(lambda info: seen.append(1))
    with lab.active(root):
        out = spec.commands[command](root)
    lab.em.hooks.clear()
    assert out.ok, out.output + out.traceback
    return len(seen)


def windows(n: int) -> list[Window]:
    return [Window(i) for i in range(1, n + 1)] + [Window(n, "after")]


def attack(lab: Lab, spec: TabAttack, command: str, action: str | None, window: Window, *,
           fault: str | None = None) -> inv.Findings | None:
    """One scenario; None when the action found nothing to act on in that window."""
    snap = spec.start(lab)
    root, ledger = lab.fresh(snap.name)
    e = TabHands(spec, lab.expert(ledger), copy.deepcopy(snap.extra["typed"]))
    found = inv.Findings(f"{spec.name} | {command} | {action or 'fault ' + str(fault)} | {window}")
    fired: dict[str, Any] = {}

    def act(info: Any) -> None:
        if fault is not None:
            lab.em.add_fault("503", count=1000) if fault == "persistent" else lab.em.add_fault(fault, count=1)
            fired["done"] = True
        else:
            fired["done"] = spec.actions[action](e)  # type: ignore[index]

    lab.em.on_request(act, nth=window.n, when=window.when)
    with lab.active(root):
        outcome = spec.commands[command](root)
        errors = list(lab.em.hooks.errors)
        lab.em.hooks.clear()
        lab.em.clear_faults()
        if errors:
            raise AssertionError(f"{found.scenario}: the scripted expert's action raised") from errors[0]
        if not fired.get("done"):
            record(skipped=1)
            return None
        judge_outcome(spec, action, window, fault, outcome, found)
        check_sheet(e, found)
        if spec.check is not None:
            spec.check(command, window, outcome, e, found, root, snap)
        settle(command, outcome, e, found, root)
    record(**{"scenarios": 1, f"{spec.name} scenarios": 1, "labels checked": found.labels_checked,
              "labels lost": found.labels_lost, "problems": len(found.problems) - found.labels_lost})
    return found


def judge_outcome(spec: TabAttack, action: str | None, window: Window, fault: str | None, outcome: Outcome,
                  found: inv.Findings) -> None:
    if outcome.traceback:
        found.problem(f"a traceback:\n{outcome.traceback}")
        return
    stop = spec.stops.get(action or "")
    if fault == "persistent":
        if outcome.exit_code != 2:
            found.problem(f"a persistent failure must exit 2 with a message: exit {outcome.exit_code}")
    elif stop and window == Window(1):
        if outcome.exit_code != 2 or stop not in outcome.output:
            found.problem(f"must stop (exit 2, naming “{stop}”): exit {outcome.exit_code}, {outcome.output[-300:]!r}")
    elif outcome.exit_code != 0 and not stop:
        found.problem(f"exit {outcome.exit_code}: {outcome.output[-500:]!r}")


def check_sheet(e: TabHands, found: inv.Findings, *, settled: bool = False) -> None:
    """Every pair beside its id, byte for byte; no id twice; pairs typed without an id kept. Once settled (with
    ``deleted_back``), a row the expert deleted is back with what the store kept."""
    spec = e.spec
    inv.labels_stay_beside_their_ids(e.x, found, imported={})
    v = e.view()
    if v is None:
        found.lost(f"the {spec.title} tab is gone")
        return
    idc, fc, sc = e.cols(v)
    ids = e.ids(v)
    for rid in sorted({i for i in ids if ids.count(i) > 1}):
        found.problem(f"{rid} is on {ids.count(rid)} rows of the {spec.title} tab")
    expected = {**e.typed.by_id, **(e.typed.deleted if settled and spec.deleted_back else {})}
    for rid, pair in expected.items():
        found.labels_checked += 1
        r = e.row(v, rid)
        if r is None:
            found.lost(f"{rid}'s {spec.noun}: its {spec.title} row is gone")
        elif (v.cell(r, fc), v.cell(r, sc)) != pair:
            found.lost(f"{rid}'s {spec.noun} is {(v.cell(r, fc), v.cell(r, sc))!r}, the expert typed {pair!r}")
    for pair in e.typed.below:
        found.labels_checked += 1
        if not any(not v.cell(r, idc) and (v.cell(r, fc), v.cell(r, sc)) == pair for r in range(1, len(v.grid))):
            found.lost(f"the {spec.noun} typed below the data ({pair[1]!r}) is gone")


def rows_show_their_own_text(e: TabHands, found: inv.Findings) -> None:
    """Each row's key cell names the row's own id (its shown text is that row's)."""
    v = e.view()
    kc = v.col(KEY) if v else None
    if v is None or kc is None:
        found.problem(f"the {e.spec.title} tab has no key column once settled")
        return
    for r in range(1, len(v.grid)):
        rid, shown = v.cell(r, v.col(e.spec.id_header)), e.spec.shown_id(v.cell(r, kc))
        if rid and shown != rid:
            found.problem(f"{e.spec.title} row {r + 1} ({rid}) still shows {shown or 'unknown'}'s text")


def settle(command: str, outcome: Outcome, e: TabHands, found: inv.Findings, root: Path) -> None:
    """As the engineer would: put the header back if the command said so, run it again, then the settling
    commands; the sheet and the store must hold every pair."""
    e.undo_rename()
    if not outcome.ok:
        again = e.spec.commands[command](root)
        if not again.ok:
            found.problem(f"the re-run failed: exit {again.exit_code}, {again.output[-400:]!r}{again.traceback}")
            return
    for args in e.spec.settle_with:
        out = run_cli(args)
        if not out.ok:
            found.problem(f"{' '.join(args)} failed after the scenario: {out.output[-400:]!r}{out.traceback}")
            return
    check_sheet(e, found, settled=True)
    rows_show_their_own_text(e, found)
    store = Store.for_workspace(root / ".sheetsync")
    try:
        stored = e.spec.stored(store)
        for rid, pair in {**e.typed.by_id, **e.typed.deleted}.items():
            if stored.get(rid) != pair:
                found.lost(f"the store's {e.spec.noun} for {rid} is {stored.get(rid)!r}, the expert typed {pair!r}")
        inv.fresh_labels_are_what_the_expert_saw(e.x, store, found)
    finally:
        store.close()


def problems_in_every_window(lab: Lab, spec: TabAttack, command: str, action: str) -> tuple[int, list[str]]:
    """The action in every window of the command: how many scenarios it acted in, and their problems."""
    problems, ran = [], 0
    for window in windows(learn(lab, spec, command)):
        found = attack(lab, spec, command, action, window)
        if found is not None:
            ran += 1
            problems += found.problems
    return ran, problems


def problems_under_faults(lab: Lab, spec: TabAttack, command: str, fault: str) -> list[str]:
    """The fault on every request of the command, one scenario per request."""
    problems = []
    for window in windows(learn(lab, spec, command))[:-1]:
        found = attack(lab, spec, command, None, window, fault=fault)
        problems += found.problems if found else []
    return problems
