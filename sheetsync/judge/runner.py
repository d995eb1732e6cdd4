"""``sheetsync judge``: run the judge over a split, keep every verdict, write the Judge tab, report TPR/TNR.

Every call is cached by everything that determines its answer, so an unchanged re-run makes no calls and
an interrupted run resumes where it stopped. Few-shot examples come only from train, which is never scored.

``batch=True`` sends the uncached calls through OpenAI's Batch API (``sheetsync.batch``) instead of live
calls: about half the price, answers within 24 h. It is meant for big ``--split unlabeled`` runs but allowed
on any split. The batch ids go to the store's meta as ``judge_batch:<run_id>`` the moment they exist, and an
unfinished one is remembered under ``judge_batch:open``: a new ``--batch`` run refuses to start (it would pay
again for the same rows) until that batch is collected with ``resume_batch``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync import llm
from sheetsync.batch import BATCH_DISCOUNT, run_batch
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.prompt import ANSWER_SCHEMA, Item, JudgePrompt, build_examples
from sheetsync.judge.splits import split_of
from sheetsync.layout import FAIL_RED, HEADER_GREY, PASS_GREEN, ConditionalFormat, Range, Style, TabSpec
from sheetsync.metrics import agreement
from sheetsync.store import Store
from sheetsync.workspace import existing_store, open_workspace_workbook, resolve_spreadsheet, template_text

CHOICES = ("dev", "test", "unlabeled", "all")
SALT_KEY = "marker_salt"
BATCH_OPEN_KEY = "judge_batch:open"  # ids of a batch run that has not been collected yet ("" once it has)


@dataclass
class JudgeOutcome:
    split: str
    model: str
    n_rows: int
    run_id: str | None = None
    dry_run: bool = False
    calls_made: int = 0
    cache_hits: int = 0
    errors: list[str] = field(default_factory=list)  # "id: reason"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost: float | None = None
    estimated_prompt_tokens: int = 0  # dry run: what the uncached calls would send
    calls_needed: int = 0  # dry run: calls not in the cache
    wall_time: float = 0.0
    n_examples: int = 0
    template_hash: str = ""
    test_runs: int = 0
    agreement: dict[str, Any] | None = None
    judge_tab: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Workspace:
    items: dict[str, Item]  # every pushed row still in the dataset, with its current label (if fresh)
    splits: dict[str, str]  # labelled id -> split
    stale: list[str]


def _require_store(cfg: Config, what: str) -> Store:
    store = existing_store(cfg)
    if store is None:
        raise UserInputError(f"{what}: no rows in the local store. Run `sheetsync push DATA` first.")
    return store


def _load(cfg: Config, store: Store) -> _Workspace:
    rows = store.rows()
    if not rows:
        raise UserInputError("nothing to judge: no rows in the local store. Run `sheetsync push DATA` first.")
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    context_cols = layout.get("context", [])
    labels, stale = store.fresh_labels()
    items: dict[str, Item] = {}
    splits: dict[str, str] = {}
    for rid, row in rows.items():
        if not row["in_dataset"]:
            continue
        label = labels.get(rid)
        verdict = critique = ""
        if label is not None:
            verdict, critique = label.verdict or "", label.critique
            splits[rid] = split_of(rid, cfg.judge.train, cfg.judge.dev)
        context = {c: row["fields"].get(c, "") for c in context_cols}
        items[rid] = Item(rid, row["input"], row["output"], context, verdict, critique)
    return _Workspace(items, splits, stale)


def _prompt(cfg: Config, store: Store, ws: _Workspace, prompt_file: str | None) -> JudgePrompt:
    path = cfg.path(prompt_file or cfg.judge.prompt)
    if prompt_file and not path.is_file():
        raise UserInputError(f"{path}: prompt file not found.")
    text = path.read_text(encoding="utf-8") if path.is_file() else template_text("judge.md")
    salt = store.get_meta(SALT_KEY)
    if salt is None:
        salt = secrets.token_hex(16)
        store.set_meta(SALT_KEY, salt)
    train = [it for rid, it in ws.items.items() if ws.splits.get(rid) == "train"]
    examples = build_examples(train, max_examples=cfg.judge.max_examples, max_chars=cfg.judge.max_example_chars)
    return JudgePrompt(text, criteria=cfg.labels.criteria, examples=examples, salt=salt, source=str(path))


def _targets(ws: _Workspace, split: str) -> list[str]:
    if split not in CHOICES:
        raise UserInputError(
            f"--split {split}: choose one of {', '.join(CHOICES)} (train rows are the judge's examples and are "
            "never scored)."
        )
    labelled = {"dev": ["dev"], "test": ["test"], "unlabeled": [], "all": ["dev", "test"]}[split]
    out = []
    for rid, it in ws.items.items():
        if ws.splits.get(rid) in labelled or (split in ("unlabeled", "all") and not it.verdict):
            out.append(rid)
    return out


class LazyCalls:
    """The calls for these rows, each rendered only when the runner takes it: a 50,000-row run never holds
    50,000 prompts (with their few-shot examples) in memory at once. Sized, so progress shows a total."""

    def __init__(self, ids: list[str], make: Callable[[str], llm.Call]):
        self.ids, self.make = ids, make

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[llm.Call]:
        return (self.make(rid) for rid in self.ids)


def settings_for(cfg: Config, model: str | None = None, concurrency: int | None = None) -> llm.LLMSettings:
    return llm.LLMSettings(
        model=model or cfg.judge.model,
        timeout=cfg.judge.timeout,
        max_retries=cfg.judge.max_retries,
        concurrency=concurrency or cfg.judge.concurrency,
        temperature=cfg.judge.temperature,
    )


def show_prompt(cfg: Config, row_id: str, *, prompt_file: str | None = None) -> list[dict[str, str]]:
    """The exact messages the judge would receive for one row."""
    store = _require_store(cfg, "nothing to show")
    ws = _load(cfg, store)
    if row_id not in ws.items:
        raise UserInputError(f"no row with id {row_id!r} in the pushed dataset.")
    prompt = _prompt(cfg, store, ws, prompt_file)
    return prompt.messages(ws.items[row_id])


def judge(
    cfg: Config,
    *,
    split: str = "dev",
    model: str | None = None,
    concurrency: int | None = None,
    limit: int | None = None,
    prompt_file: str | None = None,
    dry_run: bool = False,
    spreadsheet: str | None = None,
    progress: bool = True,
    store: Store | None = None,
    batch: bool = False,
    resume_batch: str | None = None,
    poll_interval: float = 30.0,
) -> JudgeOutcome:
    """Judge the rows of ``split`` (see the module docstring) and write the Judge tab."""
    store = store or _require_store(cfg, "nothing to judge")
    batch = batch or bool(resume_batch)
    open_batch = store.get_meta(BATCH_OPEN_KEY) if batch and not resume_batch and not dry_run else None
    if open_batch:
        raise UserInputError(
            f"an earlier --batch run left batch {open_batch} unfinished; collect it with `sheetsync judge --batch "
            f"--resume-batch {open_batch}` (rows it does not cover are sent in a new batch). Starting another "
            "batch would pay for the same rows twice."
        )
    ws = _load(cfg, store)
    prompt = _prompt(cfg, store, ws, prompt_file)
    targets = _targets(ws, split)
    if limit is not None:
        targets = targets[: max(limit, 0)]
    settings = settings_for(cfg, model, concurrency)
    outcome = JudgeOutcome(split=split, model=settings.model, n_rows=len(targets), dry_run=dry_run,
                           n_examples=len(prompt.examples), template_hash=prompt.template_hash)
    if ws.stale:
        outcome.warnings.append(f"{len(ws.stale)} label(s) are stale (the row changed after labelling) and are "
                                "left out until the expert re-checks them.")
    if not prompt.examples:
        outcome.warnings.append("no few-shot examples: no labelled train rows with a critique yet.")
    if not targets:
        outcome.warnings.append(f"no rows in split {split!r} to judge.")
        return outcome
    calls = LazyCalls(targets, lambda rid: llm.Call(rid, prompt.messages(ws.items[rid]), ANSWER_SCHEMA, "judgement"))

    if dry_run:
        for call in calls:
            if store.get(llm.cache_key(settings, call)) is None:
                outcome.calls_needed += 1
                outcome.estimated_prompt_tokens += llm.estimate_tokens(call.messages)
        outcome.estimated_cost = llm.estimate_cost(
            outcome.estimated_prompt_tokens, 120 * outcome.calls_needed, settings.model, llm.price_table(cfg.prices)
        )
        if batch and outcome.estimated_cost is not None:
            outcome.estimated_cost *= BATCH_DISCOUNT
        return outcome

    run_id = f"{llm_time_id()}-{uuid.uuid4().hex[:6]}"
    outcome.run_id = run_id
    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, "split": split,
              "examples": [e.id for e in prompt.examples], "limit": limit}
    llm.make_client(settings)  # no key and no server: say so before a run is recorded or a bar drawn
    store.start_run(run_id, model=settings.model, params=params, template=prompt.template_text,
                    template_hash=prompt.template_hash, split=split, n_rows=len(targets))
    if split in ("test", "all"):
        outcome.test_runs = sum(1 for r in store.runs() if r["split"] in ("test", "all"))
        if outcome.test_runs > 1:
            outcome.warnings.append(
                f"the test split has now been judged {outcome.test_runs} times: every look at it while you change "
                "the prompt makes its numbers more optimistic. Iterate on dev; keep test for the final check."
            )

    def record(result: llm.Result) -> None:
        value = result.value or {}
        verdict = value.get("verdict") if result.ok else None
        store.save_verdict(
            run_id, result.key, verdict=verdict, critique=value.get("critique") if result.ok else None,
            error=result.error, latency=result.latency, prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens, cached=result.cached,
        )

    def remember_batch(batch_ids: str) -> None:
        store.set_meta(f"judge_batch:{run_id}", batch_ids)
        store.set_meta(BATCH_OPEN_KEY, batch_ids)

    try:
        if batch:
            summary = run_batch(calls, settings, cache=store, on_result=record, progress=progress,
                                store_batch_id=remember_batch, resume_batch_id=resume_batch,
                                poll_interval=poll_interval)
            store.set_meta(BATCH_OPEN_KEY, "")  # every batch ended and was collected
        else:
            summary = llm.run(calls, settings, cache=store, on_result=record, progress=progress,
                              label=f"Judging {split}")
    except BaseException as exc:  # every finished verdict is already stored; the run says how it ended
        store.finish_run(run_id, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    store.finish_run(run_id, "done")
    outcome.calls_made, outcome.cache_hits = summary.calls_made, summary.cache_hits
    outcome.prompt_tokens, outcome.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    outcome.wall_time = summary.wall_time
    outcome.estimated_cost = summary.estimated_cost(settings.model, llm.price_table(cfg.prices))
    outcome.errors = [f"{r.key}: {r.error}" for r in summary.results if r.error]

    verdicts = store.run_verdicts(run_id)
    scored = [rid for rid in targets if ws.items[rid].verdict]
    if scored:
        agr = agreement(
            [ws.items[rid].verdict for rid in scored],
            [verdicts[rid]["verdict"] if verdicts.get(rid, {}).get("verdict") else "error" for rid in scored],
        )
        outcome.agreement = agr.to_dict()

    try:
        name = resolve_spreadsheet(cfg, store, spreadsheet)
    except Exception:  # no spreadsheet known: verdicts are in the store; the tab is written next time
        outcome.warnings.append("no spreadsheet known: the Judge tab was not written.")
        return outcome
    wb = open_workspace_workbook(cfg, store, name)
    wb.write([judge_tab(cfg, ws, store)])
    outcome.judge_tab = f"{wb.url} (tab “{cfg.tabs.judge}”)"
    return outcome


def llm_time_id() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def judge_tab(cfg: Config, ws: _Workspace, store: Store) -> TabSpec:
    """Per row the latest judgement beside the expert's: the engineer's view of where they differ."""
    latest = store.latest_verdicts()
    header = ["id", "split", "expert verdict", "judge verdict", "agree?", "expert critique", "judge critique",
              "error", "run"]
    rows: list[list[Any]] = [header]
    for rid, it in ws.items.items():
        v = latest.get(rid)
        if v is None:
            continue
        split = ws.splits.get(rid, "unlabeled")
        agree = "" if not (it.verdict and v["verdict"]) else ("yes" if it.verdict == v["verdict"] else "no")
        rows.append([rid, split, it.verdict, v["verdict"] or "", agree, it.critique, v["critique"] or "",
                     v["error"] or "", v["run_id"]])
    n = len(rows)
    return TabSpec.table(
        cfg.tabs.judge,
        rows,
        frozen_rows=1,
        frozen_cols=1,
        column_widths={0: 110, 1: 80, 2: 90, 3: 90, 4: 70, 5: 380, 6: 380, 7: 200, 8: 170},
        styles=[Style(Range(0, 0, 1, len(header)), bold=True, background=HEADER_GREY),
                Style(Range(1, 5, n, 7), wrap=True, valign="top")],
        conditional_formats=[
            ConditionalFormat(Range(1, 4, n, 5), '=$E2="no"', FAIL_RED),
            ConditionalFormat(Range(1, 4, n, 5), '=$E2="yes"', PASS_GREEN),
        ],
        basic_filter=Range(0, 0, n, len(header)),
    )

