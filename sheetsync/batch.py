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

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

import httpx2
import openai

from sheetsync import llm
from sheetsync.batch_files import (
    ENDPOINT,
    _jsonl_records,
    _line_error,
    _parse_success,
    _Spool,
    request_line,
)
from sheetsync.errors import ConfigError, UserInputError
from sheetsync.redact import redact

log = logging.getLogger(__name__)

COMPLETION_WINDOW = "24h"
#: Batch API limits per input file (openai ``batches.create`` docstring): 50,000 requests and 200 MB.
MAX_REQUESTS_PER_BATCH = 50_000
MAX_BYTES_PER_BATCH = 200_000_000  # 200 MB in decimal units, to stay under the limit whichever MB is meant
#: Batch token price relative to live calls (secondary sources agree on 50 %; see docs/notes).
BATCH_DISCOUNT = 0.5
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
TRANSFER_TIMEOUT = 600.0  # uploads and downloads of up to 200 MB need longer than one chat call
#: What reading a file can raise: the SDK's errors, and httpx2's for a stream broken mid-way.
DOWNLOAD_ERRORS = (openai.APIError, httpx2.HTTPError, httpx2.StreamError)


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


@dataclass(slots=True)
class _Pending:
    """What a pending cache key needs once its answer arrives: the row it was first seen on, and its schema."""

    row_key: str
    schema: int  # index into _BatchRun.schemas (all judge calls share one schema: stored once)


# ---------------------------------------------------------------------------------------------------------
# The run


class _BatchRun:
    def __init__(
        self,
        settings: llm.LLMSettings,
        client: openai.OpenAI,
        cache: llm.Cache | None,
        on_result: Callable[[llm.Result], Any] | None,
        progress: bool,
    ) -> None:
        self.settings = settings
        self.client = client
        self.cache = cache
        self.on_result = on_result
        self.progress = progress
        self.validators: dict[str, Any] = {}
        self.covered: dict[str, set[str]] = {}  # batch id -> the pending cache keys it was sent
        self.pending: dict[str, _Pending] = {}  # cache key -> what its answer needs, for uncached calls
        self.schemas: list[dict[str, Any] | None] = []  # each distinct schema once
        self._schema_ids: dict[str, int] = {}  # canonical JSON of a schema -> its index in schemas

    def say(self, message: str) -> None:
        """A status line on stderr (batch ids, splits, polls): the user needs the id to resume after a crash."""
        log.info(message)
        if self.progress:
            print(message, file=sys.stderr, flush=True)

    def schema_id(self, schema: dict[str, Any] | None) -> int:
        """The index of ``schema`` in ``schemas``, adding it the first time it is seen."""
        token = json.dumps(schema, sort_keys=True, default=str)
        index = self._schema_ids.get(token)
        if index is None:
            index = self._schema_ids[token] = len(self.schemas)
            self.schemas.append(schema)
        return index

    def deliver(self, result: llm.Result) -> None:
        if self.on_result is not None:
            self.on_result(result)

    # -- control plane --------------------------------------------------------------------------------

    def covered_ids(self, batch_id: str) -> tuple[dict[str, Any], set[str] | None]:
        """A resumed batch and the custom ids it was created with (None if its input file cannot be read)."""
        try:
            batch = self.client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            raise UserInputError(f"batch {batch_id!r} was not found on {self.where()}.") from None
        ids: set[str] = set()
        try:
            for record in _jsonl_records(self.file_lines(batch.input_file_id), f"batch {batch_id} input"):
                ids.add(str(record.get("custom_id")))
        except DOWNLOAD_ERRORS as e:
            log.warning(
                "could not read the input file of batch %s (%s): assuming it covers every row", batch_id, e
            )
            return batch.model_dump(), None
        return batch.model_dump(), ids

    def where(self) -> str:
        return llm.normalise_base_url(str(self.client.base_url))

    def submit(self, chunk: list[str], lines: IO[bytes], number: int, of: int) -> str:
        """Upload one input file (streamed from its temporary file) and create its batch; returns the batch id."""
        lines.seek(0)
        try:
            file = self.client.files.create(
                file=(f"sheetsync-batch-{number}.jsonl", lines, "application/jsonl"),
                purpose="batch",
                timeout=TRANSFER_TIMEOUT,
            )
            batch = self.client.with_options(max_retries=0).batches.create(
                input_file_id=file.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata={"source": "sheetsync"},
            )
        except openai.NotFoundError:
            raise ConfigError(
                f"{self.where()} does not offer the Batch API (/v1/files, /v1/batches). Only OpenAI and Azure "
                "do; run without --batch for local servers such as Ollama or vLLM."
            ) from None
        suffix = f" ({number}/{of})" if of > 1 else ""
        self.say(
            f"Batch {batch.id}{suffix} created with {len(chunk)} requests; if this process stops, resume it "
            f"with --resume-batch {batch.id}"
        )
        return batch.id

    def poll(
        self, batch_ids: Sequence[str], poll_interval: float, sleep: Callable[[float], Any]
    ) -> dict[str, Any]:
        """Retrieve every batch until all are terminal; a progress line per poll. Returns id -> batch dict."""
        from tqdm import tqdm  # lazy, like llm.run

        final: dict[str, dict[str, Any]] = {}
        bar = tqdm(
            total=None, desc="Batch", unit="req", disable=not self.progress, dynamic_ncols=True, leave=True
        )
        try:
            while True:
                counts = {"completed": 0, "failed": 0, "total": 0}
                statuses: list[str] = []
                for batch_id in batch_ids:
                    if batch_id not in final:
                        try:
                            batch = self.client.batches.retrieve(batch_id).model_dump()
                        except (
                            openai.APIConnectionError,
                            openai.InternalServerError,
                            openai.RateLimitError,
                        ) as e:
                            log.warning(
                                "polling batch %s failed (%s); will try again", batch_id, type(e).__name__
                            )
                            statuses.append("unknown")
                            continue
                        if batch["status"] in TERMINAL:
                            final[batch_id] = batch
                    else:
                        batch = final[batch_id]
                    statuses.append(batch["status"])
                    for key in counts:
                        counts[key] += int((batch.get("request_counts") or {}).get(key) or 0)
                bar.total = counts["total"] or None
                bar.n = counts["completed"] + counts["failed"]
                bar.set_postfix_str(
                    f"{counts['completed']} ok, {counts['failed']} failed of {counts['total']} · "
                    + ", ".join(statuses),
                    refresh=True,
                )
                if len(final) == len(batch_ids):
                    return final
                sleep(poll_interval)
        finally:
            bar.close()

    def file_lines(self, file_id: str) -> Iterator[str]:
        """The lines of a stored file, streamed: an input file holds up to 200 MB of prompts, and an output
        file grows with the row count, so neither is read into memory whole. Raises ``DOWNLOAD_ERRORS``."""
        with self.client.files.with_streaming_response.content(file_id, timeout=TRANSFER_TIMEOUT) as response:
            yield from response.iter_lines()

    # -- results --------------------------------------------------------------------------------------

    def take(self, record: dict[str, Any], batch_id: str, results: dict[str, llm.Result]) -> bool:
        """One line of an output or error file into ``results`` (and the cache); False if no pending call sent it."""
        custom_id = str(record.get("custom_id"))
        entry = self.pending.get(custom_id)
        if entry is None:
            return False  # from another run's calls (e.g. the prompt changed before resuming)
        if custom_id in results and results[custom_id].ok:
            return True
        response = record.get("response") or {}
        if response.get("status_code") == 200 and not record.get("error"):
            try:
                value, text, p_tok, c_tok = _parse_success(
                    self.schemas[entry.schema], response.get("body"), self.validators
                )
            except ValueError as e:
                results[custom_id] = self.failure(entry.row_key, custom_id, str(e))
                return True
            results[custom_id] = llm.Result(
                key=entry.row_key,
                value=value,
                text=text,
                error=None,
                latency=0.0,
                prompt_tokens=p_tok,
                completion_tokens=c_tok,
                cached=False,
                attempts=1,
                cache_key=custom_id,
                level=llm.LEVEL_NAMES[llm.LEVEL_JSON_SCHEMA] if self.schemas[entry.schema] else None,
            )
            if self.cache is not None:
                entry_value = llm.cache_entry(results[custom_id], self.settings.model, time.time())
                self.cache.put(custom_id, {**entry_value, "batch_id": batch_id})
        else:
            results[custom_id] = self.failure(
                entry.row_key, custom_id, f"batch {batch_id}: {_line_error(record)}"
            )
        return True

    def collect(self, batch: dict[str, Any], results: dict[str, llm.Result]) -> None:
        """Turn one finished batch's files into Results (and cache entries) for the pending calls it answered."""
        batch_id, status = batch["id"], batch["status"]
        unknown = 0
        for label, file_id in (
            ("output", batch.get("output_file_id")),
            ("error", batch.get("error_file_id")),
        ):
            if not file_id:
                continue
            try:
                for record in _jsonl_records(self.file_lines(file_id), f"batch {batch_id} {label}"):
                    unknown += not self.take(record, batch_id, results)
            except DOWNLOAD_ERRORS as e:
                log.warning("could not download the %s file %s: %s", label, file_id, e)
        if unknown:
            log.info("batch %s: %d result(s) for calls not in this run were ignored", batch_id, unknown)
        if status != "completed":
            reason = f"batch {batch_id} {status}"
            errors = ((batch.get("errors") or {}).get("data")) or []
            messages = "; ".join(
                str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)
            )
            if messages:
                reason += f": {messages[:300]}"
            self.say(f"Batch {batch_id} ended {status}: its unanswered rows are recorded as errors.")
            for custom_id in self.covered.get(batch_id, ()):
                if custom_id in self.pending and custom_id not in results:
                    results[custom_id] = self.failure(self.pending[custom_id].row_key, custom_id, reason)

    def failure(self, row_key: str, custom_id: str, reason: str) -> llm.Result:
        """A row error (never cached, so the next run asks again)."""
        return llm.Result(
            key=row_key,
            value=None,
            text=None,
            error=redact(reason),
            latency=0.0,
            prompt_tokens=0,
            completion_tokens=0,
            cached=False,
            attempts=1,
            cache_key=custom_id,
        )


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
    run = _BatchRun(settings, client, cache, on_result, progress)
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


def _read_resumed(run: _BatchRun, resume_batch_id: str | None) -> list[tuple[str, str, set[str] | None]]:
    """(batch id, status, custom ids it was sent) for each batch resumed; each starts covering no call."""
    resumed: list[tuple[str, str, set[str] | None]] = []
    for batch_id in split_ids(resume_batch_id):
        batch, ids = run.covered_ids(batch_id)
        resumed.append((batch_id, batch["status"], ids))
        run.covered[batch_id] = set()
    return resumed


def _spool_calls(run: _BatchRun, calls: Iterable[llm.Call], resumed: list[tuple[str, str, set[str] | None]],
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
        run.pending[key] = _Pending(call.key, run.schema_id(call.schema))
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


def _submit_spooled(run: _BatchRun, spool: _Spool, batch_ids: list[str], store_batch_id: Callable[[str], None],
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


def _summary(run: _BatchRun, intake: _Intake, batch_ids: list[str], statuses: dict[str, str],
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
