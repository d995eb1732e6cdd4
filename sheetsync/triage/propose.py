"""``sheetsync triage``: an LLM proposes a small root-cause taxonomy from the expert's fail critiques, and the
expert decides on each proposal in the Root-cause proposals tab.

Only train and dev critiques are read, never test: the test split stays unseen by everything that shapes
the judge and its error analysis. The critiques go out in ONE call (a stable sample of ``[triage]
max_critiques`` when there are more), referred to as C1, C2… so the answer can cite them whatever the ids
look like; cited refs that were not sent are dropped and counted. The call is cached like the judge's, so
a re-run with the same critiques costs nothing, and the tab is updated in place: each proposal is a row
keyed by a stable id made from its name, so a category proposed again keeps the expert's decision.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync import llm
from sheetsync.chat_template import ChatTemplate
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.store import Store
from sheetsync.taxonomy import fold, load_taxonomy
from sheetsync.triage.common import (
    call_settings,
    dry_run_estimate,
    fencer,
    load_rows,
    marker,
    marker_salt,
    require_store,
    template,
)
from sheetsync.triage.tab import write_proposals_tab

SOURCE_SPLITS = ("train", "dev")
REPLY_TOKENS = 4096  # the reply cites critique refs per category: longer than a verdict

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "categories": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Two to five plain words, without ; , or |."},
                    "definition": {"type": "string", "description": "One line a new colleague could apply."},
                    "critique_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "definition", "critique_ids"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["categories"],
    "additionalProperties": False,
}
_REF = re.compile(r"^\s*c?\s*(\d+)\s*$", re.IGNORECASE)


@dataclass
class Proposal:
    proposal_id: str
    name: str
    definition: str
    critique_ids: list[str]


@dataclass
class TriageOutcome:
    model: str
    n_critiques: int  # fail critiques in train + dev
    n_sent: int  # in the call (a sample when there are more than [triage] max_critiques)
    proposals: list[Proposal] = field(default_factory=list)
    dry_run: bool = False
    calls_made: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost: float | None = None
    estimated_prompt_tokens: int = 0
    calls_needed: int = 0
    token_method: str = ""
    dropped_refs: int = 0  # refs the answer cited that were not sent
    tab: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def proposal_id(name: str) -> str:
    """Stable across triages: the same category (case and spaces aside) is the same row of the tab."""
    return "RC-" + hashlib.sha256(fold(name).encode()).hexdigest()[:6]


def clean_name(name: str) -> str:
    """A name the Root cause column can hold: one line, no separators (``;`` ``,`` ``|`` become ``/``)."""
    text = " ".join(re.sub(r"\s*[;,|]\s*", " / ", str(name)).split()).strip(" /")
    return text[:60].rstrip()


def triage(cfg: Config, *, model: str | None = None, max_categories: int | None = None, dry_run: bool = False,
           spreadsheet: str | None = None, progress: bool = True, store: Store | None = None) -> TriageOutcome:
    """Propose root-cause categories from the train + dev fail critiques and write the proposals tab."""
    store = store or require_store(cfg, "nothing to triage")
    limit = max_categories or cfg.triage.max_categories
    if not 2 <= limit <= 30:
        raise UserInputError(f"--max-categories {limit}: choose between 2 and 30.")
    rows = load_rows(cfg, store)
    critiques = [r for r in rows.values() if r.split in SOURCE_SPLITS and r.verdict == "fail" and r.critique.strip()]
    if not critiques:
        raise UserInputError("nothing to triage: no failed train or dev rows with a critique yet (test rows are never "
                             "read). Label more rows in the Annotate tab, then `sheetsync pull`.")
    critiques.sort(key=lambda r: hashlib.sha256(f"triage:{r.id}".encode()).hexdigest())
    sent = critiques[: cfg.triage.max_critiques]
    settings = call_settings(cfg, model, min_tokens=REPLY_TOKENS)
    outcome = TriageOutcome(model=settings.model, n_critiques=len(critiques), n_sent=len(sent), dry_run=dry_run)
    if len(sent) < len(critiques):
        outcome.warnings.append(f"{len(critiques)} fail critiques: a stable sample of {len(sent)} was sent "
                                "([triage] max_critiques).")
    call = _call(cfg, store, sent, limit)
    if dry_run:
        est = dry_run_estimate([call], settings, store, cfg, reply_tokens=60 * limit)
        for k, v in est.items():
            setattr(outcome, k, v)
        return outcome
    llm.make_client(settings)  # no key and no server: say so before anything is recorded
    summary = llm.run([call], settings, cache=store, progress=progress, label="Triage")
    result = summary.results[0]
    outcome.calls_made, outcome.cache_hits = summary.calls_made, summary.cache_hits
    outcome.prompt_tokens, outcome.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    outcome.estimated_cost = summary.estimated_cost(settings.model, llm.price_table(cfg.prices))
    if not result.ok:
        outcome.error = f"the triage call failed: {result.error}. Nothing was changed; run the command again."
        return outcome
    outcome.proposals, outcome.dropped_refs = parse_proposals(result.value or {}, [r.id for r in sent], limit)
    if outcome.dropped_refs:
        outcome.warnings.append(f"the answer cited {outcome.dropped_refs} critique ref(s) that were not sent; they "
                                "were left out of the counts.")
    if not outcome.proposals:
        outcome.error = "the model proposed no usable category. Nothing was changed; try another model (--model)."
        return outcome
    store.save_proposals(f"triage-{uuid.uuid4().hex[:8]}", [asdict(p) for p in outcome.proposals])
    outcome.tab, warning = write_proposals_tab(cfg, store, rows, spreadsheet)
    if warning:
        outcome.warnings.append(warning)
    return outcome


def _call(cfg: Config, store: Store, sent: list, limit: int) -> llm.Call:
    text, source = template(cfg, "prompt", "triage.md")
    chat = ChatTemplate(text, source=source)
    salt = marker_salt(store)
    mark = marker(salt, chat.hash, "triage", *(f"{r.id}\x1e{r.critique}" for r in sent))
    existing = [{"name": c.name, "definition": c.definition} for c in load_taxonomy(cfg, store).categories]
    critiques = [{"ref": f"C{i}", "text": r.critique, "root_cause": "; ".join(r.root_causes)}
                 for i, r in enumerate(sent, start=1)]
    messages = chat.render(max_categories=limit, existing=existing, critiques=critiques, marker=mark,
                           fence=fencer(mark))
    return llm.Call("triage", messages, SCHEMA, "taxonomy")


def parse_proposals(value: dict[str, Any], sent_ids: list[str], limit: int) -> tuple[list[Proposal], int]:
    """The answer's categories as proposals: names cleaned, refs mapped back to row ids (unknown ones
    dropped and counted), categories of the same name merged, the largest ``limit`` kept."""
    by_name: dict[str, Proposal] = {}
    dropped = 0
    for cat in value.get("categories") or []:
        name = clean_name(cat.get("name", ""))
        if not name:
            continue
        ids: list[str] = []
        for ref in cat.get("critique_ids") or []:
            m = _REF.match(str(ref))
            i = int(m.group(1)) if m else 0
            if 1 <= i <= len(sent_ids):
                ids.append(sent_ids[i - 1])
            else:
                dropped += 1
        definition = " ".join(str(cat.get("definition", "")).split())[:300]
        old = by_name.get(fold(name))
        if old is None:
            by_name[fold(name)] = Proposal(proposal_id(name), name, definition, list(dict.fromkeys(ids)))
        else:
            old.critique_ids = list(dict.fromkeys(old.critique_ids + ids))
    ranked = sorted(by_name.values(), key=lambda p: (-len(p.critique_ids), fold(p.name)))
    return ranked[:limit], dropped
