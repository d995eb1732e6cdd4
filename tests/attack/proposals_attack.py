"""The attack suite on the Root-cause proposals tab: the scripted expert decides, edits definitions, sorts,
inserts, deletes and hides rows of the tab — or renames its Decision header — in every window of the
commands that read or rewrite it (``triage``, ``pull``), and faults hit every request. After each scenario,
and again once settled (the command re-run if it failed, then ``triage`` and ``pull``), every Decision and
Definition (edited) the expert typed must be beside its proposal id byte for byte, in the sheet and in the
store, and the expert's labels in Annotate untouched.

Built on the lab of the Annotate attacks (its snapshots, environment and scripted expert), with a ledger of
decisions of its own; what it shares with the Review tab's attacks is in tab_attack.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sheetsync.expert_tab import key_id
from sheetsync.store import Store
from sheetsync.triage.propose import proposal_id
from sheetsync.triage.tab import DECISION, EDITED, PROPOSAL
from tests.attack import invariants as inv
from tests.attack.lab import Lab, Window
from tests.attack.tab_attack import Pair, TabAttack, TabHands, Typed
from tests.attack.world import PROPOSAL_NAMES, Outcome, run_cli, spreadsheet_key, take_snapshot

FEE, TIER, MANGLED = (proposal_id(n) for n in PROPOSAL_NAMES)
#: Byte-tricky decisions: leading/trailing spaces, tabs, line breaks, unicode, formula-like text.
FIRST_DECISIONS = {
    FEE: ("Rename to fee invented", "  The fee quoted is not in the policy —\tcafé ✓ 日本語 🙂\nsecond line  "),
    TIER: ("Reject", "=1+1 is not a formula here; 007 stays 007, TRUE stays TRUE."),
}
TYPED_LATER = ("Merge into hallucinated fact", "Typed while sheetsync was working: must stay beside its id.")
EDITED_DEFINITION = ("Rename to fee invented", "\tEdited while sheetsync worked: naïve «quoted» text, two\nlines ")
BELOW = ("Accept", "Typed below the data, in a row without a proposal id.")


def decided(lab: Lab):
    """The snapshot every scenario starts from: the labelled workspace triaged (three proposals from the dev
    and train fail critiques), two decided by the expert (the third open), and pulled."""
    if "decided" in lab.snapshots:
        return lab.snapshots["decided"]
    root, ledger = lab.fresh("labelled")
    x = lab.expert(ledger)
    typed = Typed()
    with lab.active(root):
        out = run_cli(["triage", "--json"])
        assert out.ok, out.output + out.traceback
        e = TabHands(PROPOSALS, x, typed)
        for pid, decision in FIRST_DECISIONS.items():
            assert e.type_pair(pid, decision)
        out = run_cli(["pull"])  # the decisions are in the store: a row the expert deletes keeps its decision there
        assert out.ok, out.output + out.traceback
    pulls = _pull_count(root)
    snap = take_snapshot("decided", lab.em, root, lab.base / "snapshots", ledger, spreadsheet_key(lab.em), 2)
    snap.extra.update(typed=typed, pulls=pulls)
    lab.snapshots["decided"] = snap
    return snap


def _stored(store: Store) -> dict[str, Pair]:
    return {pid: (d.decision, d.definition) for pid, d in store.decisions().items()}


def _pull_count(root: Path) -> int:
    store = Store.for_workspace(root / ".sheetsync")
    try:
        return store.pull_count()
    finally:
        store.close()


def _check(command: str, window: Window, outcome: Outcome, e: TabHands, found: inv.Findings, root: Path,
           snap: Any) -> None:
    if command == "pull" and not outcome.ok and _pull_count(root) != snap.extra["pulls"]:
        found.problem("pull stopped, but it stored a pull of a tab it could not read safely")


PROPOSALS = TabAttack(
    name="proposals", title="Root-cause proposals", id_header=PROPOSAL, first=DECISION, second=EDITED,
    noun="decision", start=decided,
    commands={
        "triage": lambda root: run_cli(["triage", "--json"]),
        "pull": lambda root: run_cli(["pull", "--json"]),
    },
    actions={
        "sort the proposals by Decision": lambda e: e.sort(DECISION, descending=False),
        "sort the proposals by id, descending": lambda e: e.sort(PROPOSAL, descending=True),
        "insert a blank row at the top of the proposals": lambda e: e.insert_row("top"),
        "insert a blank row in the middle of the proposals": lambda e: e.insert_row("middle"),
        "decide an open proposal": lambda e: e.type_pair(MANGLED, TYPED_LATER),
        "edit a definition": lambda e: e.type_pair(FEE, EDITED_DEFINITION),
        "delete a decided row": lambda e: e.delete_row(TIER),
        "hide a decided row": lambda e: e.hide_row(FEE),
        "type a decision below the data": lambda e: e.type_below(BELOW),
        "rename the Decision header": lambda e: e.rename_first(),
    },
    #: Commands that read the tab stop (exit 2, naming the column, nothing written) on this.
    stops={"rename the Decision header": "Decision"},
    settle_with=(["triage", "--json"], ["pull", "--json"]),
    shown_id=key_id, stored=_stored, deleted_back=True, check=_check,
)
