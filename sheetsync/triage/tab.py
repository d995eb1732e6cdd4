"""The Root-cause proposals tab: one row per proposal sheetsync ever made, the expert's Decision and
Definition (edited) beside it (the rules of :mod:`sheetsync.expert_tab`), and reading those decisions back
at ``pull``. Kept free of the LLM and pandas imports: ``pull`` reads the tab and must stay cheap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheetsync.backends import Workbook
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.expert_tab import Choice, ExpertTabLayout, TabStructureError, read_expert_tab, update_spec
from sheetsync.layout import CellValue
from sheetsync.store import Decision, Store
from sheetsync.taxonomy import CHOICES, Taxonomy, build_taxonomy, fold, load_taxonomy
from sheetsync.workspace import open_workspace_workbook, resolve_spreadsheet

PROPOSAL, CATEGORY, DEFINITION, COUNT = "proposal", "category", "definition", "critiques"
EXAMPLES, IDS, STATUS = "example critiques", "critique ids", "Status"
DECISION, EDITED = "Decision", "Definition (edited)"
TAB_KEY = "proposals_tab"  # set once triage wrote the tab: from then on pull reads it
EXAMPLES_SHOWN = 3
EXAMPLE_CHARS = 300


def layout(cfg: Config) -> ExpertTabLayout:
    return ExpertTabLayout(
        title=cfg.tabs.proposals, id_header=PROPOSAL,
        own=(CATEGORY, DEFINITION, COUNT, EXAMPLES, IDS, STATUS), expert=(DECISION, EDITED),
        widths={PROPOSAL: 100, CATEGORY: 180, DEFINITION: 320, COUNT: 80, EXAMPLES: 420, IDS: 160, STATUS: 240,
                DECISION: 200, EDITED: 320},
        choices={DECISION: Choice(CHOICES, strict=False, message=(
            "Accept, Rename to NEW NAME, Merge into OTHER CAUSE, or Reject. Nothing changes until you decide; "
            "`sheetsync pull` applies it to the Root cause list."))},
        row_height=120,
    )


def status(pid: str, current: bool, tax: Taxonomy) -> str:
    if pid in tax.outcome:
        text = f"applied at the last pull: {tax.outcome[pid]}"
    elif pid in tax.pending:
        text = "new: decide in the blue columns (nothing changes until you do)"
    else:
        text = next((f"not applied: {p.split(': ', 1)[-1]}" for p in tax.problems if p.startswith(pid)), "")
    return text if current else f"{text} · not proposed by the latest triage (kept with your decision)"


def tab_rows(cfg: Config, store: Store, critiques: dict[str, str]) -> dict[str, dict[str, CellValue]]:
    """sheetsync's cells for every proposal ever made (``critiques``: row id -> the expert's critique)."""
    tax = load_taxonomy(cfg, store)
    out: dict[str, dict[str, CellValue]] = {}
    for pid, p in store.proposals().items():
        ids = p["critique_ids"]
        shown = [f"{rid}: {_cut(critiques[rid])}" for rid in ids if rid in critiques][:EXAMPLES_SHOWN]
        out[pid] = {CATEGORY: p["name"], DEFINITION: p["definition"], COUNT: len(ids), EXAMPLES: "\n\n".join(shown),
                    IDS: _cut(", ".join(ids), 2000), STATUS: status(pid, p["current"], tax)}
    return out


def _cut(text: str, limit: int = EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def write_proposals_tab(cfg: Config, store: Store, rows: dict[str, Any],
                        spreadsheet: str | None) -> tuple[str | None, str | None]:
    """Update the tab in place (one read, at most one write); (where it is, a warning)."""
    try:
        name = resolve_spreadsheet(cfg, store, spreadsheet)
    except Exception:  # no spreadsheet known: the proposals are in the store; the tab is written next time
        return None, "no spreadsheet known: the Root-cause proposals tab was not written."
    wb = open_workspace_workbook(cfg, store, name)
    lay = layout(cfg)
    tab = _read(wb, lay)
    kept = {pid: {DECISION: d.decision, EDITED: d.definition} for pid, d in store.decisions().items()}
    spec = update_spec(lay, tab, tab_rows(cfg, store, {rid: r.critique for rid, r in rows.items()}), kept)
    if spec is not None:
        wb.write([spec])
    store.set_meta(TAB_KEY, "1")
    return f"{wb.url} (tab “{lay.title}”)", None


def _read(wb: Workbook, lay: ExpertTabLayout):
    try:
        return read_expert_tab(wb, lay)
    except TabStructureError as exc:
        raise UserInputError(f"{wb.url}: {exc}") from exc


@dataclass
class PulledDecisions:
    """What a pull read from the proposals tab: the decisions (None when it did not read the tab), the
    taxonomy they make, and what to tell the engineer."""

    decisions: list[Decision] | None
    taxonomy: Taxonomy
    before: list[str]  # the taxonomy's names before this pull
    warnings: list[str] = field(default_factory=list)

    def known(self) -> set[str]:
        """Every cause name and alias, folded: what pull does not report as a new root cause."""
        return {fold(n) for c in self.taxonomy.categories for n in (c.name, *c.aliases)}

    def summary(self) -> dict[str, Any]:
        names = self.taxonomy.names
        return {"read": self.decisions is not None, "root_causes": names,
                "added": [n for n in names if n not in self.before],
                "removed": [n for n in self.before if n not in names],
                "decided": len(self.taxonomy.outcome), "pending": len(self.taxonomy.pending),
                "problems": self.taxonomy.problems}


def pull_decisions(cfg: Config, wb: Workbook, store: Store | None) -> PulledDecisions:
    """Read the expert's decisions (one read) once triage has written the tab; nothing is stored here."""
    before = load_taxonomy(cfg, store)
    if store is None or not store.get_meta(TAB_KEY):
        return PulledDecisions(None, before, before.names)
    tab = _read(wb, layout(cfg))
    if tab is None:
        return PulledDecisions(None, before, before.names, [
            f"the “{cfg.tabs.proposals}” tab is gone: the decisions of the last pull that read it still apply; "
            "`sheetsync triage` writes the tab again."])
    proposals, previous = store.proposals(), store.decisions()
    decisions, warnings = [], []
    for r in tab.rows:
        if r.id in proposals:
            decisions.append(Decision(r.id, r.expert[DECISION], r.expert[EDITED], trusted=not r.misplaced))
        elif r.answered:
            warnings.append(f"row {r.row + 1} of “{cfg.tabs.proposals}”: a decision beside "
                            f"{'no proposal id' if not r.id else f'an unknown id {r.id!r}'} is not read.")
    gone = [pid for pid in proposals if pid not in tab.by_id() and pid in previous]
    for pid in gone:  # a deleted row is not a decision: the last one read stays, and triage writes it back
        decisions.append(previous[pid])
    if gone:
        warnings.append(f"{len(gone)} proposal row(s) are gone from “{cfg.tabs.proposals}” ({', '.join(gone[:5])}): "
                        "their last decisions still apply; `sheetsync triage` adds the rows back with them.")
    tax = build_taxonomy(cfg.labels.root_causes, proposals, {d.proposal_id: d for d in decisions})
    return PulledDecisions(decisions, tax, before.names, warnings)
