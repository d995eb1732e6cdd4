"""Code assertions: a ``[judges.NAME] assertion = "module:function"`` is a judge too, measured the same way,
so a team can see when a regex beats an LLM.

The function is called with one row, ``{"id", "input", "output", "context"}`` (context: column -> text),
and returns ``(passed, reason)`` — ``passed`` True/False or "pass"/"fail" — or just ``passed``, or a dict
with ``verdict`` (or ``passed``) and ``reason``. Assertions run in this process over every row first, and
the run is recorded only when each row gave a verdict: an assertion that raises, or returns anything else,
is the team's code to fix, not a row's bad luck like an LLM's failed call — so the command stops (exit 2)
naming the rows, the exception and the line of the assertion, with nothing recorded. Their results are not
cached (they cost nothing to recompute), but every run is recorded like an LLM judge's.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sheetsync import llm
from sheetsync.callables import load_callable
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.prompt import Item
from sheetsync.judge.specs import JudgeSpec
from sheetsync.store import Store

Assertion = Callable[[dict[str, Any]], Any]


def load_assertion(spec: str, root: Path, where: str) -> Assertion:
    """Import ``module:function`` with the workspace folder first on ``sys.path``."""
    return load_callable(spec, str(root), f"{where} = {spec!r}")


def verdict_of(value: Any) -> tuple[str, str]:
    """``(verdict, reason)`` from what an assertion returned; ``ValueError`` saying what was expected."""
    reason: Any = ""
    if isinstance(value, dict):
        passed, reason = value.get("verdict", value.get("passed")), value.get("reason", "")
    elif isinstance(value, tuple | list) and len(value) == 2:
        passed, reason = value
    else:
        passed = value
    if isinstance(passed, bool):
        verdict = "pass" if passed else "fail"
    elif isinstance(passed, str) and passed.strip().lower() in ("pass", "fail"):
        verdict = passed.strip().lower()
    else:
        raise ValueError(f"returned {value!r}; expected (passed, reason) with passed True/False or \"pass\"/\"fail\"")
    return verdict, str(reason)


def run_assertion(fn: Assertion, items: list[Item], on_result: Callable[[llm.Result], None]) -> llm.RunSummary:
    """Each row through ``fn``, a ``Result`` per row handed to ``on_result`` as soon as it exists."""
    results: list[llm.Result] = []
    start = time.perf_counter()
    for it in items:
        t0 = time.perf_counter()
        value, error = None, None
        try:
            answer = fn({"id": it.id, "input": it.input, "output": it.output, "context": dict(it.context)})
        except Exception as exc:  # the team's code: any exception is that row's error, never a traceback
            error = _raised(exc)
        else:
            try:
                verdict, reason = verdict_of(answer)
                value = {"verdict": verdict, "critique": reason}
            except ValueError as exc:
                error = str(exc)
        result = llm.Result(key=it.id, value=value, text=None, error=error, latency=time.perf_counter() - t0,
                            prompt_tokens=0, completion_tokens=0, cached=False, attempts=1, cache_key="",
                            cause="assertion" if error else None)
        on_result(result)
        results.append(result)
    errors = sum(1 for r in results if r.error)
    return llm.RunSummary(results=results, total=len(results), calls_made=0, requests=0, cache_hits=0,
                          errors=errors, prompt_tokens=0, completion_tokens=0, wall_time=time.perf_counter() - start,
                          format_level="", errors_by_cause={"assertion": errors} if errors else {})


def _raised(exc: BaseException) -> str:
    """``raised KeyError: 'context' (checks.py, line 4)``: the innermost frame is where to look."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"raised {type(exc).__name__}: {exc}{where}"


def broken_rows(spec: JudgeSpec, summary: llm.RunSummary) -> UserInputError | None:
    """The error that stops a run whose assertion failed on some rows (None when every row has a verdict)."""
    bad = [r for r in summary.results if r.error]
    if not bad:
        return None
    shown = "; ".join(f"{r.key}: {r.error}" for r in bad[:5]) + (f"; … {len(bad) - 5} more" if len(bad) > 5 else "")
    return UserInputError(
        f"[judges.{spec.name}] assertion = {spec.assertion!r} gave no verdict on {len(bad)} of {summary.total} "
        f"row(s): {shown}. It must return (passed, reason) for every row; fix the function and run again. "
        "Nothing was recorded.")


def judge_with_code(cfg: Config, store: Store, ws: Any, spec: JudgeSpec, *, split: str, limit: int | None,
                     dry_run: bool) -> Any:
    """A code assertion over the split's rows: recorded and measured exactly like an LLM judge's run."""
    from sheetsync.judge.inputs import _targets
    from sheetsync.judge.runner import JudgeOutcome, _finish, llm_time_id  # runner imports this module

    targets = _targets(ws, split)
    if limit is not None:
        targets = targets[: max(limit, 0)]
    outcome = JudgeOutcome(split=split, model=spec.assertion, n_rows=len(targets), dry_run=dry_run, judge=spec.name,
                           kind="code", estimated_cost=0.0, token_method="no tokens: a code assertion")
    fn = load_assertion(spec.assertion, cfg.root, f"[judges.{spec.name}] assertion")
    if dry_run or not targets:
        if not targets:
            outcome.warnings.append(f"no rows in split {split!r} to judge.")
        return outcome
    summary = run_assertion(fn, [ws.items[rid] for rid in targets], lambda result: None)
    broken = broken_rows(spec, summary)
    if broken is not None:
        raise broken
    run_id = f"{llm_time_id()}-{uuid.uuid4().hex[:6]}"
    outcome.run_id = run_id
    store.start_run(run_id, model=spec.assertion, params={"split": split, "assertion": spec.assertion,
                                                          "limit": limit}, template=spec.assertion,
                    template_hash=spec.assertion, split=split, n_rows=len(targets), judge=spec.name)
    if split in ("test", "all"):
        outcome.test_runs = store.test_looks(run_id)

    try:
        for result in summary.results:
            value = result.value or {}
            store.save_verdict(run_id, result.key, verdict=value.get("verdict"), critique=value.get("critique"),
                               error=None, latency=result.latency, prompt_tokens=0, completion_tokens=0,
                               cached=False)
    except BaseException:
        store.finish_run(run_id, "interrupted")
        raise
    _finish(cfg, store, ws, outcome, summary, targets, run_id)
    outcome.estimated_cost = 0.0
    return outcome
