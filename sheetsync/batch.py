"""Run ``llm.Call`` objects through OpenAI's Batch API: the path for datasets too large for live calls.

Why a separate path: a batch costs about half as much as live calls, has its own rate-limit pool and needs
no open connection for hours, but it answers within a 24 h window instead of seconds. So it trades latency
for cost and suits big unlabelled runs. Only OpenAI (and Azure) offer ``/v1/files`` + ``/v1/batches``; local
servers (Ollama, vLLM, llama.cpp, LM Studio) do not.

It fits into the same workflow as ``llm.run``: each ``Call`` becomes an ``llm.Result`` handed to ``on_result``,
failures are rows with an ``error`` (never an exception), and successes go into the same cache under the
same key as the live path (the body is built by the live path's own request builder), so a later live
re-run makes zero calls. The cache key is also each line's ``custom_id``. That makes a result safe to
match and cache whatever order the output comes back in, and identical calls are sent once.

Paying twice is the costly mistake, so the batch ids are handed to ``store_batch_id`` the moment a batch
exists. A process killed while it waits can be resumed with ``resume_batch_id``: the batch is polled
and downloaded, never re-created. Only calls that batch does not cover are sent in a new one.

Memory does not grow with the prompts: ``--batch`` exists for the biggest runs, whose prompts (with few-shot
examples, ~16 KB each) would not fit in memory together. ``calls`` is iterated once; each uncached request
line goes straight to a temporary JSONL file (one per batch file) and only small per-row bookkeeping (row
and cache keys, results, one copy of each distinct schema) stays in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import openai

from sheetsync import llm
from sheetsync.batch_files import _Spool, request_line
from sheetsync.batch_run import BatchRun, Pending
from sheetsync.errors import ConfigError
from sheetsync.redact import redact

#: Batch API limits per input file (openai ``batches.create`` docstring): 50,000 requests and 200 MB.
MAX_REQUESTS_PER_BATCH = 50_000
MAX_BYTES_PER_BATCH = 200_000_000  # 200 MB in decimal units, to stay under the limit whichever MB is meant
#: Batch token price relative to live calls (secondary sources agree on 50 %; see docs/notes).
BATCH_DISCOUNT = 0.5


@dataclass
class BatchSummary(llm.RunSummary):
    """``llm.RunSummary`` plus the batches used. The cost estimate includes the batch discount."""

    batch_ids: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # batch id -> final status

    def estimated_cost(
        self, model: str, prices: dict[str, tuple[float, float]] | None = None
    ) -> float | None:
        cost = super().estimated_cost(model, prices)
        return None if cost is None else cost * BATCH_DISCOUNT


def make_sync_client(settings: llm.LLMSettings) -> openai.OpenAI:
    """A sync ``OpenAI`` client configured exactly like ``llm.make_client`` (same base URL and key rules).

    The key and URL are taken from the async client that ``llm.make_client`` builds, so the two paths
    cannot disagree about where requests go. SDK retries stay on (2) for these few control-plane requests;
    ``batches.create`` turns them off itself, because a retried create could start and bill a second batch.
    """
    # Built only to read the resolved URL and key; it never opens a connection, so there is nothing to close
    # (and closing it would need an event loop, which callers inside one could not provide).
    async_client = llm.make_client(settings)
    return openai.OpenAI(
        base_url=str(async_client.base_url),
        api_key=async_client.api_key,
        timeout=settings.timeout,
        max_retries=2,
    )


def _resume_hint(batch_ids: list[str]) -> str:
    if not batch_ids:
        return "No batch was created."
    return f"Batches already created are collected with --resume-batch {','.join(batch_ids)}."


def split_ids(resume_batch_id: str | None) -> list[str]:
    """Batch ids from ``resume_batch_id``: one id, or several joined by commas (as ``store_batch_id`` gets them)."""
    return [part.strip() for part in (resume_batch_id or "").split(",") if part.strip()]


def run_batch(
    calls: Iterable[llm.Call],
    settings: llm.LLMSettings,
    *,
    cache: llm.Cache | None,
    on_result: Callable[[llm.Result], Any] | None = None,
    store_batch_id: Callable[[str], None],
    resume_batch_id: str | None = None,
    poll_interval: float = 30.0,
    client: openai.OpenAI | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    progress: bool = True,
    max_requests: int = MAX_REQUESTS_PER_BATCH,
    max_bytes: int = MAX_BYTES_PER_BATCH,
) -> BatchSummary:
    """Answer ``calls`` through the Batch API, blocking until every batch has ended; see the module docstring.

    ``calls`` is iterated exactly once and never measured, so a lazy iterable or a one-shot generator is
    fine (and keeps memory flat). Cache hits are delivered at once and never sent. The rest become JSONL
    lines (``custom_id`` = cache key, identical calls sent once) written to temporary files (in ``TMPDIR``;
    point it at a disk, not a RAM-backed tmpfs, for huge runs), split into several batches when they exceed
    ``max_requests`` or ``max_bytes`` per file. After each batch is created, ``store_batch_id`` receives every
    batch id of this run so far, comma-separated, and ``resume_batch_id`` accepts that same string. Every
    call ends as exactly one ``llm.Result`` given to ``on_result``: rows that failed, expired or were
    cancelled carry an ``error``. ``sleep`` is called between polls (tests inject one). A KeyboardInterrupt
    while waiting leaves the batches running; resume them by id.
    """
    if poll_interval < 0:
        raise ConfigError(f"poll interval must be 0 or more, got {poll_interval}")
    started = time.perf_counter()
    own_client = client is None
    if client is None:
        client = make_sync_client(settings)
    run = BatchRun(settings, client, cache, on_result, progress)
    spool = _Spool(max_requests, max_bytes)
    intake = _Intake()
    batch_ids: list[str] = []
    statuses: dict[str, str] = {}
    try:
        # Resumed batches are read first, so that the lines they already hold are never written or sent again.
        resumed = _read_resumed(run, resume_batch_id)
        _spool_calls(run, calls, resumed, spool, intake, max_bytes)
        for batch_id, status, _ in resumed:
            batch_ids.append(batch_id)
            run.say(
                f"Resuming batch {batch_id} ({status}): {len(run.covered[batch_id])} of this run's "
                f"{len(run.pending)} uncached requests are in it."
            )
        del resumed  # the resumed input files' id sets are not needed any more
        if batch_ids:
            store_batch_id(",".join(batch_ids))
        _submit_spooled(run, spool, batch_ids, store_batch_id, intake.to_send, max_requests, max_bytes)
        if batch_ids:
            for batch_id, batch in run.poll(batch_ids, poll_interval, sleep).items():
                statuses[batch_id] = batch["status"]
                run.collect(batch, intake.results)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
        raise ConfigError(redact(
            f"{run.where()} refused the API key (HTTP {e.status_code}): check OPENAI_API_KEY (in the environment "
            "or .env). " + _resume_hint(batch_ids))) from None
    except openai.APIConnectionError as e:
        raise ConfigError(redact(
            f"could not reach {run.where()} ({e.__cause__ or e}): check OPENAI_BASE_URL and the network. "
            + _resume_hint(batch_ids))) from None
    finally:
        spool.close()
        if own_client:
            client.close()
    return _summary(run, intake, batch_ids, statuses, started)


@dataclass
class _Intake:
    """What the one pass over the calls leaves: every input row in order, the cache hits, and the results
    known before any batch ends (a request too large to send)."""

    rows: list[tuple[str, str]] = field(default_factory=list)  # per input row, in order: (row key, cache key)
    served: dict[int, llm.Result] = field(default_factory=dict)  # input index -> cache hit
    results: dict[str, llm.Result] = field(default_factory=dict)  # cache key -> result (identical calls share one)
    to_send: int = 0


def _read_resumed(run: BatchRun, resume_batch_id: str | None) -> list[tuple[str, str, set[str] | None]]:
    """(batch id, status, custom ids it was sent) for each batch resumed; each starts covering no call."""
    resumed: list[tuple[str, str, set[str] | None]] = []
    for batch_id in split_ids(resume_batch_id):
        batch, ids = run.covered_ids(batch_id)
        resumed.append((batch_id, batch["status"], ids))
        run.covered[batch_id] = set()
    return resumed


def _spool_calls(run: BatchRun, calls: Iterable[llm.Call], resumed: list[tuple[str, str, set[str] | None]],
                 spool: _Spool, intake: _Intake, max_bytes: int) -> None:
    """The one pass over ``calls``: each is served from the cache, left to a resumed batch that holds it, or
    written to the spool, and dropped as soon as its line is on disk."""
    settings, cache = run.settings, run.cache
    for index, call in enumerate(calls):
        key = llm.cache_key(settings, call)
        intake.rows.append((call.key, key))
        if key in run.pending:
            continue  # identical to an earlier call: that call's line answers this row too
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            intake.served[index] = llm.cached_result(call, key, hit)
            run.deliver(intake.served[index])
            continue
        run.pending[key] = Pending(call.key, run.schema_id(call.schema))
        holders = [batch_id for batch_id, _, ids in resumed if ids is None or key in ids]
        for batch_id in holders:
            run.covered[batch_id].add(key)
        if holders:
            continue
        intake.to_send += 1
        if not spool.add(key, request_line(settings, call, key)):
            intake.results[key] = run.failure(
                call.key, key, f"request larger than a batch file may be ({max_bytes} bytes)"
            )


def _submit_spooled(run: BatchRun, spool: _Spool, batch_ids: list[str], store_batch_id: Callable[[str], None],
                    to_send: int, max_requests: int, max_bytes: int) -> None:
    """Upload each spooled file and create its batch; every id is stored the moment it exists."""
    chunks = spool.chunks
    if len(chunks) > 1:
        run.say(
            f"{to_send} requests exceed one batch file (at most {max_requests:,} requests and "
            f"{max_bytes / 1e6:g} MB each): sending {len(chunks)} batches."
        )
    for number, (chunk, lines) in enumerate(zip(chunks, spool.files, strict=True), 1):
        batch_id = run.submit(chunk, lines, number, len(chunks))
        lines.close()  # uploaded: give its disk space back now rather than after hours of polling
        run.covered[batch_id] = set(chunk)
        batch_ids.append(batch_id)
        store_batch_id(",".join(batch_ids))


def _summary(run: BatchRun, intake: _Intake, batch_ids: list[str], statuses: dict[str, str],
             started: float) -> BatchSummary:
    """Every input row's result, in input order (each delivered once), and the run's totals."""
    requests = sum(len(run.covered.get(b, ())) for b in batch_ids)
    errors = prompt_tokens = completion_tokens = 0
    ordered: list[llm.Result] = []
    for index, (row_key, key) in enumerate(intake.rows):
        if index in intake.served:
            ordered.append(intake.served[index])
            continue
        result = intake.results.get(key) or run.failure(
            row_key, key, "no readable result for this request in the batch output"
        )
        if result.key != row_key:  # an identical call, answered by the line sent for another row
            result = replace(result, key=row_key)
        run.deliver(result)
        ordered.append(result)
        errors += result.error is not None
        prompt_tokens += result.prompt_tokens
        completion_tokens += result.completion_tokens
    return BatchSummary(
        results=ordered, total=len(intake.rows), calls_made=len(intake.rows) - len(intake.served),
        requests=requests, cache_hits=len(intake.served), errors=errors, prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens, wall_time=time.perf_counter() - started,
        format_level=llm.LEVEL_NAMES[llm.LEVEL_JSON_SCHEMA], batch_ids=batch_ids, statuses=statuses,
    )
