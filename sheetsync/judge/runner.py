"""``sheetsync judge``: run the judge over a split, keep every verdict, write the Judge tab, report TPR/TNR.

Every call is cached by everything that determines its answer, so an unchanged re-run makes no calls and
an interrupted run resumes where it stopped. What a run works on (rows, ground truth, prompt, targets) is
loaded by ``sheetsync.judge.inputs``; few-shot examples come only from train, which is never scored.

``judge_name`` runs a ``[judges.NAME]`` instead (``sheetsync.judge.specs``): the same runner, splits, cache,
Batch API and metrics with the judge's own prompt, criterion and ground truth, its runs recorded under its
name; a code assertion (``sheetsync.judge.assertions``) runs in place of the calls. Only the judge itself
writes the Judge tab; the report has a section per specialized judge.

``batch=True`` sends the uncached calls through OpenAI's Batch API (``sheetsync.batch``) instead of live
calls: about half the price, answers within 24 h. It is meant for big ``--split unlabeled`` runs but allowed
on any split. The batch ids go to the store's meta as ``judge_batch:<run_id>`` the moment they exist, and an
unfinished one is remembered under ``judge_batch:open``: a new ``--batch`` run refuses to start (it would pay
again for the same rows) until that batch is collected with ``resume_batch``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync import llm
from sheetsync.batch import run_batch
from sheetsync.config import EXAMPLE_MODES, Config
from sheetsync.errors import UserInputError
from sheetsync.judge.estimate import estimate_run
from sheetsync.judge.inputs import (
    _load,
    _prompt,
    _prompt_warnings,
    _require_store,
    _targets,
    _Workspace,
    nothing_to_judge,
)
from sheetsync.judge.prompt import ANSWER_SCHEMA, Item, JudgePrompt, cut_to_fit
from sheetsync.judge.specs import JudgeSpec, judge_spec
from sheetsync.judge.tab import judge_tab
from sheetsync.metrics import agreement
from sheetsync.store import Store
from sheetsync.workspace import open_workspace_workbook, resolve_spreadsheet

BATCH_OPEN_KEY = "judge_batch:open"  # ids of a batch run that has not been collected yet ("" once it has)


@dataclass
class JudgeOutcome:
    split: str
    model: str
    n_rows: int
    judge: str = ""  # "" = the judge; else the [judges.NAME] that ran
    kind: str = "llm"  # "llm", or "code" for an assertion
    examples: str = "fixed"  # "fixed", or "similar": per row, the most similar train rows (embeddings)
    embeddings: dict[str, Any] | None = None  # with "similar": texts embedded, cached, requests, tokens
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
    answer_tabs: dict[str, int] = field(default_factory=dict)  # Review / Calibration tab -> rows it shows
    warnings: list[str] = field(default_factory=list)
    format_level: str = ""  # the structured-output level the run ended on
    levels: dict[str, str] = field(default_factory=dict)  # rows answered at another level than format_level
    cached_tokens: int = 0  # prompt tokens the server served from its prompt cache
    errors_by_cause: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # "id: what was done to the row" (e.g. cut to fit)
    token_method: str = ""  # how the dry run's tokens were counted
    outages: int = 0
    failure: str | None = None  # set when every row, or more than [judge] max_error_share, ended in error
    timings: dict[str, float] = field(default_factory=dict)  # process (CPU) seconds per step, for benchmarks
    consistency: dict[str, Any] | None = None  # --repeat K: flip rates over the K asks (judge.repeat.reask)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        max_tokens=cfg.judge.max_tokens or None,
        structured_output=cfg.judge.structured_output,
        outage_wait=cfg.judge.outage_wait,
        probe_interval=cfg.judge.probe_interval,
    )


def judge_calls(prompt: JudgePrompt, ws: _Workspace, targets: list[str], settings: llm.LLMSettings,
                fit_context: bool) -> LazyCalls:
    """One call per row; with ``fit_context`` a call the server finds too long can cut its longest field."""

    def call_for(item: Item, note: str | None = None) -> llm.Call:
        messages = prompt.messages(item)

        def shrink(tokens: int, limit: int) -> llm.Call | None:
            reserve = min(settings.max_tokens or 512, limit // 4) + limit // 50
            chars = sum(len(m["content"]) for m in messages)
            cut = cut_to_fit(item, tokens, limit, reserve, chars)
            return None if cut is None else call_for(*cut)

        return llm.Call(item.id, messages, ANSWER_SCHEMA, "judgement", shrink=shrink if fit_context else None,
                        note=note)

    return LazyCalls(targets, lambda rid: call_for(ws.items[rid]))


def failure_summary(n_rows: int, errors: int, by_cause: dict[str, int], max_share: float) -> str | None:
    """Why a run counts as failed (every row in error, or more than ``max_share`` of them), else None."""
    if not n_rows or not errors or (errors < n_rows and errors / n_rows <= max_share):
        return None
    causes = ", ".join(f"{n} {llm.CAUSES.get(c, c)}" for c, n in sorted(by_cause.items(), key=lambda kv: -kv[1]))
    share = "every row" if errors == n_rows else f"{errors} of {n_rows} rows (more than {max_share:.0%})"
    return (f"{share} ended in error: {causes}. Nothing was counted for them; fix the cause and run the same "
            "command again (finished rows are kept and not paid for twice).")


def show_prompt(cfg: Config, row_id: str, *, prompt_file: str | None = None,
                judge_name: str | None = None) -> list[dict[str, str]]:
    """The exact messages the judge (or ``[judges.NAME]``) would receive for one row."""
    store = _require_store(cfg, "nothing to show")
    spec = judge_spec(cfg, judge_name)
    if spec.kind == "code":
        raise UserInputError(f"--judge {spec.name} is a code assertion ({spec.assertion}): it has no prompt.")
    ws = _load(cfg, store, spec)
    if row_id not in ws.items:
        raise UserInputError(f"no row with id {row_id!r} in the pushed dataset.")
    prompt = _prompt(cfg, store, ws, prompt_file, spec)
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
    judge_name: str | None = None,
    examples: str | None = None,
    repeat: int = 1,
) -> JudgeOutcome:
    """Judge the rows of ``split`` (see the module docstring) and write the Judge tab.

    ``repeat`` K > 1 asks about every row K times in all (``sheetsync.judge.repeat``): the flip rates go to
    ``outcome.consistency`` and flipped rows are marked in the Judge tab."""
    store = store or _require_store(cfg, "nothing to judge")
    spec = judge_spec(cfg, judge_name)
    batch = batch or bool(resume_batch)
    open_key = _refuse(cfg, store, spec, batch=batch, resume_batch=resume_batch, dry_run=dry_run, repeat=repeat,
                       examples=examples)
    clock = _Clock()
    ws = _load(cfg, store, spec)
    if spec.kind == "code":
        from sheetsync.judge.assertions import judge_with_code

        return judge_with_code(cfg, store, ws, spec, split=split, limit=limit, dry_run=dry_run)
    prompt = _prompt(cfg, store, ws, prompt_file, spec)
    targets = _targets(ws, split)
    if not targets:
        raise UserInputError(nothing_to_judge(split, ws, store.pull_count()))
    clock.lap("load")
    if limit is not None:
        targets = targets[: max(limit, 0)]
    settings = settings_for(cfg, model or spec.model or None, concurrency)
    outcome = JudgeOutcome(split=split, model=settings.model, n_rows=len(targets), dry_run=dry_run,
                           n_examples=len(prompt.examples), template_hash=prompt.template_hash, judge=spec.name,
                           examples=examples or cfg.judge.examples)
    prompt = _examples_for(cfg, store, ws, prompt, targets, settings, outcome)
    outcome.warnings += _prompt_warnings(cfg, ws, prompt)
    if not targets:
        outcome.warnings.append(f"--limit {limit}: no rows to judge.")
        return outcome
    calls = judge_calls(prompt, ws, targets, settings, cfg.judge.fit_context)

    if dry_run:
        return estimate_run(outcome, calls, targets, prompt, settings, store, cfg.prices, batch=batch)

    run_id = _start_run(cfg, store, ws, spec, prompt, settings, outcome, targets, limit)
    hint = "" if cfg.judge.fit_context else " (set [judge] fit_context = true to cut the row's longest field to fit)"
    summary = _ask(store, calls, settings, run_id, hint, progress=progress, label=f"Judging {split}", batch=batch,
                   open_key=open_key, resume_batch=resume_batch, poll_interval=poll_interval)
    clock.lap("calls")
    _finish(cfg, store, ws, outcome, summary, targets, run_id, hint)
    if repeat > 1:
        from sheetsync.judge.repeat import reask

        outcome.consistency = reask(
            store, run_id, prompt, lambda p, st: judge_calls(p, ws, targets, st, cfg.judge.fit_context), targets,
            settings, repeat, progress=progress)
    if spec.name:  # a specialized judge's figures are in the report's Judges tab
        return outcome
    return _write_judge_tab(cfg, store, ws, outcome, spreadsheet, clock)


def _examples_for(cfg: Config, store: Store, ws: _Workspace, prompt: JudgePrompt, targets: list[str],
                  settings: llm.LLMSettings, outcome: JudgeOutcome) -> JudgePrompt:
    """The prompt with the run's few-shot examples: the fixed set, or (``similar``) the train rows most like each
    target, found by embeddings (their cost and counts go to ``outcome.embeddings``)."""
    if outcome.examples not in EXAMPLE_MODES:
        raise UserInputError(f"--examples {outcome.examples}: choose one of {', '.join(EXAMPLE_MODES)}.")
    if outcome.examples != "similar" or not targets:
        return prompt
    from sheetsync.judge.similar import similar_prompt

    train = [it for rid, it in ws.items.items() if ws.splits.get(rid) == "train"]
    similar, outcome.embeddings = similar_prompt(
        prompt, train, [ws.items[rid] for rid in targets], settings, cfg.judge.embedding_model, store,
        max_examples=cfg.judge.max_examples, max_chars=cfg.judge.max_example_chars, dry_run=outcome.dry_run,
        prices=cfg.prices)
    return similar  # type: ignore[return-value]


def _start_run(cfg: Config, store: Store, ws: _Workspace, spec: JudgeSpec, prompt: JudgePrompt,
               settings: llm.LLMSettings, outcome: JudgeOutcome, targets: list[str], limit: int | None) -> str:
    """Record the run (its params say what decides its answers) and warn on a test split looked at again."""
    run_id = f"{llm_time_id()}-{uuid.uuid4().hex[:6]}"
    outcome.run_id = run_id
    similar = outcome.examples == "similar"
    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, "split": outcome.split,
              "examples": "similar" if similar else [e.id for e in prompt.examples],
              "embedding_model": cfg.judge.embedding_model if similar else None,
              "limit": limit, "structured_output": settings.structured_output, "pull_id": store.latest_pull_id(),
              "guidance": [g.id for g in ws.guidance]}
    llm.make_client(settings)  # no key and no server: say so before a run is recorded or a bar drawn
    store.start_run(run_id, model=settings.model, params=params, template=prompt.template_text,
                    template_hash=prompt.template_hash, split=outcome.split, n_rows=len(targets), judge=spec.name)
    if outcome.split in ("test", "all"):
        outcome.test_runs = store.test_looks(run_id)  # every look at this judge's test split, by anyone
        if outcome.test_runs > 1:
            outcome.warnings.append(
                f"the test split has now been judged {outcome.test_runs} times: every look at it while you change "
                "the prompt makes its numbers more optimistic. Iterate on dev; keep test for the final check."
            )
    return run_id


def _ask(store: Store, calls: LazyCalls, settings: llm.LLMSettings, run_id: str, hint: str, *, progress: bool,
         label: str, batch: bool, open_key: str, resume_batch: str | None, poll_interval: float) -> llm.RunSummary:
    """The calls, live or (``batch``) through the Batch API, each verdict stored as it arrives (and the batch
    ids under ``open_key`` until collected); a run that stops is marked interrupted or failed."""

    def record(result: llm.Result) -> None:
        value = result.value or {}
        verdict = value.get("verdict") if result.ok else None
        error = result.error + hint if result.cause == "context" and result.error else result.error
        store.save_verdict(
            run_id, result.key, verdict=verdict, critique=value.get("critique") if result.ok else None,
            error=error, latency=result.latency, prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens, cached=result.cached, level=result.level,
            note=result.note, cached_tokens=result.cached_tokens,
        )

    try:
        if not batch:
            return llm.run(calls, settings, cache=store, on_result=record, progress=progress, label=label)

        def remember_batch(batch_ids: str) -> None:
            store.set_meta(f"judge_batch:{run_id}", batch_ids)
            store.set_meta(open_key, batch_ids)

        summary = run_batch(calls, settings, cache=store, on_result=record, progress=progress,
                            store_batch_id=remember_batch, resume_batch_id=resume_batch, poll_interval=poll_interval)
        store.set_meta(open_key, "")  # every batch ended and was collected
        return summary
    except BaseException as exc:  # every finished verdict is already stored; the run says how it ended
        interrupted = isinstance(exc, KeyboardInterrupt | llm.ServerUnavailable)
        store.finish_run(run_id, "interrupted" if interrupted else "failed")
        raise


def _refuse(cfg: Config, store: Store, spec: JudgeSpec, *, batch: bool, resume_batch: str | None, dry_run: bool,
            repeat: int, examples: str | None) -> str:
    """Stop a run that cannot make sense (or would pay twice) before anything is loaded; the open-batch key."""
    if spec.kind == "code" and batch:
        raise UserInputError(f"--judge {spec.name} is a code assertion: it runs here, not through the Batch API.")
    if spec.kind == "code" and repeat > 1:
        raise UserInputError(f"--judge {spec.name} is a code assertion: it gives the same answer every time, so "
                             "--repeat has nothing to measure.")
    if repeat > 1 and (examples or cfg.judge.examples) == "similar":
        raise UserInputError("--repeat reorders the fixed few-shot set; with similar examples (chosen per row) it "
                             "has none to reorder: use --examples fixed with --repeat.")
    open_key = BATCH_OPEN_KEY + (f":{spec.name}" if spec.name else "")
    open_batch = store.get_meta(open_key) if batch and not resume_batch and not dry_run else None
    if open_batch:
        flag = f" --judge {spec.name}" if spec.name else ""
        raise UserInputError(
            f"an earlier --batch run left batch {open_batch} unfinished; collect it with `sheetsync judge{flag} --batch "
            f"--resume-batch {open_batch}` (rows it does not cover are sent in a new batch). Starting another "
            "batch would pay for the same rows twice."
        )
    return open_key


def _finish(cfg: Config, store: Store, ws: _Workspace, outcome: JudgeOutcome, summary: llm.RunSummary,
            targets: list[str], run_id: str, hint: str = "") -> None:
    """A finished run's totals, errors and agreement into ``outcome``, and its status into the store."""
    outcome.calls_made, outcome.cache_hits = summary.calls_made, summary.cache_hits
    outcome.prompt_tokens, outcome.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    outcome.cached_tokens = summary.cached_tokens
    outcome.wall_time = summary.wall_time
    outcome.estimated_cost = summary.estimated_cost(outcome.model, llm.price_table(cfg.prices))
    outcome.format_level, outcome.outages = summary.format_level, summary.outages
    outcome.errors_by_cause = dict(summary.errors_by_cause)
    for r in summary.results:
        if r.error:
            outcome.errors.append(f"{r.key}: {r.error}{hint if r.cause == 'context' else ''}")
        if r.ok and r.level and r.level != summary.format_level:
            outcome.levels[r.key] = r.level
        if r.note:
            outcome.notes.append(f"{r.key}: {r.note}")
    outcome.failure = failure_summary(len(targets), len(outcome.errors), outcome.errors_by_cause,
                                      cfg.judge.max_error_share)
    store.finish_run(run_id, "failed" if outcome.failure else "done", {
        "format_level": summary.format_level, "format_refusals": summary.format_refusals,
        "errors": len(outcome.errors), "errors_by_cause": outcome.errors_by_cause,
        "cached_tokens": summary.cached_tokens, "levels": outcome.levels,
    })

    verdicts = store.run_verdicts(run_id)
    scored = [rid for rid in targets if ws.items[rid].verdict]
    if scored:
        agr = agreement(
            [ws.items[rid].verdict for rid in scored],
            [verdicts[rid]["verdict"] if verdicts.get(rid, {}).get("verdict") else "error" for rid in scored],
        )
        outcome.agreement = agr.to_dict()


def _write_judge_tab(cfg: Config, store: Store, ws: _Workspace, outcome: JudgeOutcome, spreadsheet: str | None,
                     clock: _Clock) -> JudgeOutcome:
    try:
        name = resolve_spreadsheet(cfg, store, spreadsheet)
    except Exception:  # no spreadsheet known: verdicts are in the store; the tab is written next time
        outcome.warnings.append("no spreadsheet known: the Judge tab was not written.")
        return outcome
    wb = open_workspace_workbook(cfg, store, name)
    clock.lap("agreement")
    tab, cut = judge_tab(cfg, ws, store, wb.max_cell_chars)
    clock.lap("judge_tab")
    from sheetsync.review.jobs import answer_jobs  # the report's figures: loaded only when a tab is written
    from sheetsync.review.refresh import refresh

    refreshed = refresh(cfg, store, wb, answer_jobs(cfg, store), [tab])
    store.record_verdicts_shown(row[0] for row in tab.blocks[0].values[1:])
    outcome.warnings += refreshed.warnings
    outcome.answer_tabs = refreshed.tabs
    clock.lap("write")
    outcome.timings = clock.laps
    if cut:
        outcome.warnings.append(f"{cut} cell(s) of the Judge tab were too long for the sheet and were cut (full "
                                "text kept in .sheetsync/state.db).")
    outcome.judge_tab = f"{wb.url} (tab “{cfg.tabs.judge}”)"
    return outcome


class _Clock:
    """Process time per step of a run (what a re-run with nothing to do spends, and where)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.process_time()

    def lap(self, name: str) -> None:
        now = time.process_time()
        self.laps[name] = round(now - self._last, 4)
        self._last = now


def llm_time_id() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

