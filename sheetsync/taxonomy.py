"""The root-cause taxonomy: ``[labels] root_causes`` plus what the expert decided on sheetsync's proposals.

Where accepted decisions live: in the store (``.sheetsync/state.db``, or the team's store), as the expert's
cells of the Root-cause proposals tab pulled like labels — every pull that read the tab is kept. The
taxonomy is recomputed from them whenever a command needs it; ``sheetsync.toml`` is the user's file and is
never rewritten. So the Annotate dropdown shows ``[labels] root_causes`` first, then every proposal the
expert accepted or renamed; a cause the user later adds to the config is simply not repeated. Clearing a
decision in the sheet takes the cause out again at the next pull; what the expert already typed in the
Annotate tab is never changed.

Decisions, as the expert types them in the Decision column (case and spaces ignored):

* ``Accept``: the category joins the taxonomy, with the edited definition if one was given.
* ``Rename to NEW``: joins under NEW (the proposed name stays an alias: a classifier or expert answer with
  it counts as NEW). Renaming to a cause that already exists merges into it.
* ``Merge into OTHER``: not a category of its own; its name becomes an alias of OTHER, which must be in
  the taxonomy (a configured cause, or another accepted proposal, by its proposed or new name).
* ``Reject``: nothing changes. Empty: nothing changes until the expert decides.

Anything else is listed with its row and never guessed; a decision beside another proposal's text (the
tab's hidden key names another id: a write landed while the expert sorted) is not applied until the row is
put back by the next ``sheetsync triage`` and the expert looks again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from sheetsync.config import Config
from sheetsync.store import Decision, Store

ACCEPT, RENAME, MERGE, REJECT = "Accept", "Rename to …", "Merge into …", "Reject"
CHOICES = (ACCEPT, RENAME, MERGE, REJECT)
_SEPARATORS = re.compile(r"[;,|]")
_LEAD = re.compile(r"^[\s:→>\-–—…\.\"'“”‘’]+")
_TRAIL = re.compile(r"[\s\"'“”‘’]+$")


def fold(name: str) -> str:
    """A cause as every comparison sees it: case and runs of spaces ignored (as pull and the tallies do)."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Category:
    name: str
    definition: str = ""
    source: str = "config"  # "config", or the proposal id it came from
    aliases: tuple[str, ...] = ()


@dataclass
class Taxonomy:
    categories: list[Category]
    outcome: dict[str, str] = field(default_factory=dict)  # proposal id -> what its decision did, in words
    problems: list[str] = field(default_factory=list)  # decisions that could not be applied, and why
    pending: list[str] = field(default_factory=list)  # proposal ids without a decision

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def canonical(self, cause: str) -> str | None:
        """The taxonomy's name for a cause as typed (or answered), through aliases; None if not in it."""
        want = fold(cause)
        for c in self.categories:
            if fold(c.name) == want or any(fold(a) == want for a in c.aliases):
                return c.name
        return None

    def digest(self) -> str:
        """Changes whenever a name, definition or alias does: classifications of another taxonomy are stale."""
        basis = json.dumps([[c.name, c.definition, sorted(c.aliases)] for c in self.categories], ensure_ascii=False)
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.__dict__ | {"aliases": list(c.aliases)} for c in self.categories],
                "outcome": self.outcome, "problems": self.problems, "pending": self.pending}


def parse_decision(text: str) -> tuple[str, str]:
    """``(kind, target)`` with kind "accept", "rename", "merge", "reject" or "" (no decision yet);
    ``ValueError`` saying what to type instead."""
    raw = " ".join(text.split())
    low = raw.casefold()
    if not low:
        return "", ""
    if low.rstrip(".") in ("accept", "accepted"):
        return "accept", ""
    if low.rstrip(".") in ("reject", "rejected"):
        return "reject", ""
    for kind, prefixes in (("rename", ("rename to", "rename as", "rename")), ("merge", ("merge into", "merge with",
                                                                                     "merge to", "merge"))):
        prefix = next((p for p in prefixes if low.startswith(p)), None)
        if prefix is None:
            continue
        target = _TRAIL.sub("", _LEAD.sub("", raw[len(prefix):]))
        if not target:
            word = "Rename to" if kind == "rename" else "Merge into"
            raise ValueError(f"type the {'new name' if kind == 'rename' else 'cause to merge into'} after "
                             f"“{word}”, e.g. “{word} wrong fee quoted”")
        if _SEPARATORS.search(target):
            raise ValueError(f"“{target}” holds ; , or |, which separate several causes in one cell")
        if len(target) > 80:
            raise ValueError("a root cause of at most 80 characters, please")
        return kind, target
    raise ValueError(f"{raw!r} is not one of Accept, Rename to NEW NAME, Merge into OTHER CAUSE, Reject")


def build_taxonomy(config_causes: tuple[str, ...], proposals: dict[str, dict[str, Any]],
                   decisions: dict[str, Decision]) -> Taxonomy:
    """The taxonomy these decisions make of these proposals (see the module docstring). Pure."""
    cats: dict[str, Category] = {fold(c): Category(c) for c in config_causes}
    tax = Taxonomy([])
    merges: list[tuple[str, str]] = []  # (proposal id, target as typed)
    final: dict[str, str] = {}  # folded proposal name -> folded category it ended in

    def add(pid: str, name: str, definition: str, alias: str | None) -> str:
        key = fold(name)
        old = cats.get(key)
        aliases = tuple(a for a in (alias,) if a and fold(a) != key)
        if old is None:
            cats[key] = Category(name, definition, pid, aliases)
        else:
            cats[key] = replace(old, definition=old.definition or definition, aliases=old.aliases + aliases)
        return key

    for pid, prop in proposals.items():
        d = decisions.get(pid)
        if d is None or not d.decision.strip():
            tax.pending.append(pid)
            continue
        name = prop["name"]
        if not d.trusted:
            tax.problems.append(f"{pid} ({name}): the row showed another proposal's text when you decided (rows "
                                "moved during a write); run `sheetsync triage` to put it back, check the decision, "
                                "then `sheetsync pull`. Not applied.")
            continue
        try:
            kind, target = parse_decision(d.decision)
        except ValueError as exc:
            tax.problems.append(f"{pid} ({name}): Decision {d.decision!r}: {exc}. Not applied.")
            continue
        definition = d.definition.strip() or prop["definition"]
        if kind == "accept":
            final[fold(name)] = add(pid, name, definition, None)
            tax.outcome[pid] = f"accepted as “{name}”"
        elif kind == "rename":
            merged = fold(target) in cats
            final[fold(name)] = add(pid, target, definition, name)
            tax.outcome[pid] = f"{'merged into existing' if merged else 'renamed to'} “{cats[fold(target)].name}”"
        elif kind == "merge":
            merges.append((pid, target))
        else:
            tax.outcome[pid] = "rejected"
    pending = merges
    for _ in range(len(merges) + 1):  # a merge may target a proposal merged elsewhere: resolve in rounds
        waiting = []
        for pid, target in pending:
            key = fold(target)
            key = final.get(key, key) if key not in cats else key
            if key in cats:
                name = proposals[pid]["name"]
                final[fold(name)] = add(pid, cats[key].name, "", name)
                tax.outcome[pid] = f"merged into “{cats[key].name}”"
            else:
                waiting.append((pid, target))
        if len(waiting) == len(pending):
            break
        pending = waiting
    for pid, target in pending:
        known = ", ".join(c.name for c in cats.values()) or "none yet"
        tax.problems.append(f"{pid} ({proposals[pid]['name']}): Merge into “{target}”: no such root cause (known: "
                            f"{known}). Not applied.")
    tax.categories = list(cats.values())
    return tax


def load_taxonomy(cfg: Config, store: Store | None) -> Taxonomy:
    """The workspace's taxonomy now: the config's causes and the decisions the last pull read."""
    if store is None:
        return build_taxonomy(cfg.labels.root_causes, {}, {})
    return build_taxonomy(cfg.labels.root_causes, store.proposals(), store.decisions())


def with_taxonomy(cfg: Config, store: Store | None) -> Config:
    """``cfg`` whose ``[labels] root_causes`` also hold the accepted proposals: what the Annotate dropdown
    offers and what pull counts as known. The file is not touched."""
    names = tuple(load_taxonomy(cfg, store).names)
    if names == cfg.labels.root_causes:
        return cfg
    return replace(cfg, labels=replace(cfg.labels, root_causes=names))
