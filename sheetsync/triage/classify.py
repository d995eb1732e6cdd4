"""``sheetsync classify``: root causes, from the accepted taxonomy, for the rows the judge failed — and the
same classifier run on labelled fails it never saw, so its answers can be checked against the expert's.

Targets: unlabelled rows whose latest judge verdict is fail (what the error analysis counts), and the dev
and test rows the expert failed (what it is measured on, :mod:`sheetsync.triage.measure`). Its few-shot
examples are train fails with the expert's root causes, so no measured row teaches it. Each row is
classified as the unlabelled ones are: from the interaction and, when the judge failed it, the judge's
critique — never the expert's critique, which would hand it the answer.

Calls go through the judge's runner (cached, resumable, concurrent, structured output with fallbacks) or,
with ``batch``, the Batch API; each answer is stored at once under a run whose params name the taxonomy,
so a later change of the taxonomy makes the old answers stale rather than silently mixed in.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sheetsync import llm
from sheetsync.batch import BATCH_DISCOUNT, run_batch
from sheetsync.chat_template import ChatTemplate
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.runner import LazyCalls, failure_summary, llm_time_id
from sheetsync.store import Store
from sheetsync.taxonomy import Taxonomy, load_taxonomy
from sheetsync.triage.common import (
    Row,
    call_settings,
    dry_run_estimate,
    fencer,
    load_rows,
    marker,
    marker_salt,
    require_store,
    template,
)
from sheetsync.triage.measure import (
    CLASSIFIER,
    MEASURED_SPLITS,
    canonical_set,
    current_classifications,
    measure,
)

BATCH_OPEN_KEY = "classify_batch:open"


@dataclass
class ClassifyOutcome:
    model: str
    taxonomy: list[str]
    n_unlabelled: int = 0  # judge-failed unlabelled rows
    n_measured: int = 0  # expert-failed dev/test rows
    n_examples: int = 0
    run_id: str | None = None
    dry_run: bool = False
    calls_made: int = 0
    cache_hits: int = 0
    calls_needed: int = 0
    estimated_prompt_tokens: int = 0
    estimated_cost: float | None = None
    token_method: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    errors_by_cause: dict[str, int] = field(default_factory=dict)
    dropped_causes: int = 0  # answered names outside the taxonomy
    measurement: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SCHEMA_BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "description": "Why these causes, in one or two sentences. First."},
        "root_causes": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["reason", "root_causes"],
    "additionalProperties": False,
}


def schema(tax: Taxonomy) -> dict[str, Any]:
    """The answer's shape. The names are listed in the prompt rather than as an ``enum``: an answer that
    spells a name another way (case, an alias of a renamed proposal) is mapped through the taxonomy, and
    one outside it is dropped and counted, instead of failing validation and being paid for again."""
    names = "; ".join(tax.names)
    props = dict(SCHEMA_BASE["properties"])
    props["root_causes"] = {"type": "array", "items": {"type": "string"}, "description": f"Some of: {names}"}
    return {**SCHEMA_BASE, "properties": props}


def pick_examples(rows: list[Row], tax: Taxonomy, max_examples: int, max_chars: int) -> list[Row]:
    """Train fails with a critique and a cause in the taxonomy, one category after another (so rare causes
    are shown too), in a stable order, within a count and a size cap."""
    def order(r: Row) -> str:
        return hashlib.sha256(f"classify-example:{r.id}".encode()).hexdigest()

    usable = sorted((r for r in rows if r.split == "train" and r.verdict == "fail" and r.critique.strip()
                     and canonical_set(tax, r.root_causes)), key=order)
    queues = {name: [r for r in usable if name in canonical_set(tax, r.root_causes)] for name in tax.names}
    chosen: list[Row] = []
    used = 0
    while len(chosen) < max_examples and any(queues.values()):
        for name in tax.names:
            queue = queues[name]
            while queue and queue[0] in chosen:
                queue.pop(0)
            if not queue or len(chosen) >= max_examples:
                continue
            r = queue.pop(0)
            size = len(r.input) + len(r.output) + len(r.critique)
            if used + size <= max_chars:
                chosen.append(r)
                used += size
    return chosen


class ClassifyPrompt:
    """The classifier's messages: a system message rendered once (taxonomy and examples), the row last."""

    def __init__(self, text: str, source: str, tax: Taxonomy, examples: list[Row], salt: str):
        self.chat = ChatTemplate(text, source=source)
        self.tax, self.examples, self.salt = tax, examples, salt
        categories = [{"name": c.name, "definition": c.definition} for c in tax.categories]
        shown = [{"input": r.input, "output": r.output, "context": r.context, "critique": r.critique,
                  "causes": sorted(canonical_set(tax, r.root_causes))} for r in examples]
        mark = marker(salt, self.chat.hash, "classify-examples", *(r.id for r in examples))
        self.context = {"categories": categories, "examples": shown}
        self.system = self.chat.render_system(**self.context, marker=mark, fence=fencer(mark), row=_NO_ROW,
                                              critique="")

    def messages(self, row: Row, critique: str) -> list[dict[str, str]]:
        mark = marker(self.salt, self.chat.hash, row.id, row.input, row.output)
        user = self.chat.render_user(**self.context, marker=mark, fence=fencer(mark), row=row, critique=critique)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


_NO_ROW = Row("", "", "", {}, "", "", "", ())


def classify(cfg: Config, *, model: str | None = None, concurrency: int | None = None, limit: int | None = None,
             dry_run: bool = False, batch: bool = False, resume_batch: str | None = None,
             poll_interval: float = 30.0, progress: bool = True, store: Store | None = None) -> ClassifyOutcome:
    """Classify the judge's failures and the measured rows (see the module docstring)."""
    store = store or require_store(cfg, "nothing to classify")
    tax = load_taxonomy(cfg, store)
    if not tax.categories:
        raise UserInputError("no root causes to classify into: set [labels] root_causes, or run `sheetsync "
                             "triage` and decide on the proposals, then `sheetsync pull`.")
    batch = batch or bool(resume_batch)
    open_batch = store.get_meta(BATCH_OPEN_KEY) if batch and not resume_batch and not dry_run else None
    if open_batch:
        raise UserInputError(f"an earlier --batch run left batch {open_batch} unfinished; collect it with "
                             f"`sheetsync classify --batch --resume-batch {open_batch}`.")
    rows = load_rows(cfg, store)
    latest = store.latest_verdicts()
    judge_failed = [rid for rid, r in rows.items() if r.split == "unlabeled" and (latest.get(rid) or {}).get(
        "verdict") == "fail"]
    measured = [rid for rid, r in rows.items() if r.split in MEASURED_SPLITS and r.verdict == "fail"]
    settings = call_settings(cfg, model)
    if concurrency:
        settings = replace(settings, concurrency=concurrency)
    out = ClassifyOutcome(model=settings.model, taxonomy=tax.names, n_unlabelled=len(judge_failed),
                          n_measured=len(measured), dry_run=dry_run)
    if not judge_failed:
        out.warnings.append("no unlabelled row has a judge fail yet: run `sheetsync judge --split unlabeled` to "
                            "have failures to classify (the measured rows are classified anyway).")
    prompt = _prompt(cfg, store, tax, rows, out)
    targets = sorted(measured) + sorted(judge_failed)
    if limit is not None:
        targets = targets[: max(limit, 0)]
    the_schema = schema(tax)

    def make(rid: str) -> llm.Call:
        v = latest.get(rid) or {}
        critique = (v.get("critique") or "") if v.get("verdict") == "fail" else ""
        return llm.Call(rid, prompt.messages(rows[rid], critique), the_schema, "root_causes")

    calls = LazyCalls(targets, make)
    if dry_run:
        for k, v in dry_run_estimate(list(calls), settings, store, cfg, reply_tokens=80).items():
            setattr(out, k, v)
        if batch and out.estimated_cost is not None:
            out.estimated_cost *= BATCH_DISCOUNT
        return out
    if not targets:
        out.warnings.append("nothing to classify.")
        return out
    out.run_id = f"{llm_time_id()}-{uuid.uuid4().hex[:6]}"
    llm.make_client(settings)
    store.start_run(out.run_id, model=settings.model, judge=CLASSIFIER, template=prompt.chat.text,
                    template_hash=prompt.chat.hash, split="classify", n_rows=len(targets),
                    params={"taxonomy": tax.digest(), "examples": [r.id for r in prompt.examples], "limit": limit})
    summary = _ask(store, tax, calls, settings, out, progress=progress, batch=batch, resume_batch=resume_batch,
                   poll_interval=poll_interval)
    _finish(cfg, store, tax, rows, out, summary, len(targets), settings.model)
    return out


def _prompt(cfg: Config, store: Store, tax: Taxonomy, rows: dict[str, Row], out: ClassifyOutcome) -> ClassifyPrompt:
    """The classifier's prompt: the workspace's template (else the built-in one) with train fails as examples."""
    text, source = template(cfg, "classify_prompt", "classify.md")
    examples = pick_examples(list(rows.values()), tax, cfg.triage.max_examples, cfg.judge.max_example_chars)
    out.n_examples = len(examples)
    if not examples:
        out.warnings.append("no examples: no failed train row has a root cause in the taxonomy yet.")
    return ClassifyPrompt(text, source, tax, examples, marker_salt(store))


def _ask(store: Store, tax: Taxonomy, calls: LazyCalls, settings: llm.LLMSettings, out: ClassifyOutcome, *,
         progress: bool, batch: bool, resume_batch: str | None, poll_interval: float) -> llm.RunSummary:
    """The calls, live or (``batch``) through the Batch API, each answer stored
    as it arrives with its causes mapped onto the taxonomy; a run that stops is marked interrupted or failed."""
    run_id = out.run_id
    assert run_id is not None

    def record(result: llm.Result) -> None:
        causes = None
        if result.ok:
            answered = [str(c) for c in (result.value or {}).get("root_causes") or []]
            causes = sorted({n for c in answered if (n := tax.canonical(c)) is not None})
            out.dropped_causes += len({c for c in answered if tax.canonical(c) is None})
        store.save_classification(run_id, result.key, causes=causes, error=result.error,
                                  reason=(result.value or {}).get("reason") if result.ok else None)

    try:
        if not batch:
            return llm.run(calls, settings, cache=store, on_result=record, progress=progress, label="Classifying")
        summary = run_batch(calls, settings, cache=store, on_result=record, progress=progress,
                            store_batch_id=lambda ids: store.set_meta(BATCH_OPEN_KEY, ids),
                            resume_batch_id=resume_batch, poll_interval=poll_interval)
        store.set_meta(BATCH_OPEN_KEY, "")
        return summary
    except BaseException as exc:  # every finished answer is stored; the run says how it ended
        interrupted = isinstance(exc, KeyboardInterrupt | llm.ServerUnavailable)
        store.finish_run(run_id, "interrupted" if interrupted else "failed")
        raise


def _finish(cfg: Config, store: Store, tax: Taxonomy, rows: dict[str, Row], out: ClassifyOutcome,
            summary: llm.RunSummary, n_targets: int, model: str) -> None:
    """A finished run's totals and errors into ``out``, its status into the store, and the classifier measured
    against the expert's root causes."""
    assert out.run_id is not None
    out.calls_made, out.cache_hits = summary.calls_made, summary.cache_hits
    out.prompt_tokens, out.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    out.estimated_cost = summary.estimated_cost(model, llm.price_table(cfg.prices))
    out.errors = [f"{r.key}: {r.error}" for r in summary.results if r.error]
    out.errors_by_cause = dict(summary.errors_by_cause)
    out.failure = failure_summary(n_targets, len(out.errors), out.errors_by_cause, cfg.judge.max_error_share)
    store.finish_run(out.run_id, "failed" if out.failure else "done", {"errors": len(out.errors)})
    if out.dropped_causes:
        out.warnings.append(f"{out.dropped_causes} answered cause(s) were not in the taxonomy and were left out.")
    labelled = {rid: (r.verdict, r.split, r.root_causes) for rid, r in rows.items() if r.verdict}
    out.measurement = measure(cfg, tax, labelled, current_classifications(store, tax))
