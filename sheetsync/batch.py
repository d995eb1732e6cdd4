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
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from sheetsync import llm
from sheetsync.errors import ConfigError, UserInputError

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
#: Batch API limits per input file (openai ``batches.create`` docstring): 50,000 requests and 200 MB.
MAX_REQUESTS_PER_BATCH = 50_000
MAX_BYTES_PER_BATCH = 200_000_000  # 200 MB in decimal units, to stay under the limit whichever MB is meant
#: Batch token price relative to live calls (secondary sources agree on 50 %; see docs/notes).
BATCH_DISCOUNT = 0.5
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
TRANSFER_TIMEOUT = 600.0  # uploads and downloads of up to 200 MB need longer than one chat call


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


def split_ids(resume_batch_id: str | None) -> list[str]:
    """Batch ids from ``resume_batch_id``: one id, or several joined by commas (as ``store_batch_id`` gets them)."""
    return [part.strip() for part in (resume_batch_id or "").split(",") if part.strip()]


def request_line(settings: llm.LLMSettings, call: llm.Call, custom_id: str) -> bytes:
    """One JSONL line of a batch input file. The body is exactly what the live path sends at strict json_schema."""
    body = llm.request_body(settings, call, llm.LEVEL_JSON_SCHEMA)
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def chunk_lines(
    sizes: Iterable[tuple[str, int]], max_requests: int, max_bytes: int
) -> tuple[list[list[str]], list[str]]:
    """Group ``(custom_id, line size)`` pairs into input files within the limits; also return ids too big for any.

    Planning from sizes lets the caller serialise one file at a time, so memory holds at most one file's
    worth of lines however many rows there are.
    """
    chunks: list[list[str]] = []
    too_big: list[str] = []
    current: list[str] = []
    size = 0
    for custom_id, line_size in sizes:
        if line_size > max_bytes:
            too_big.append(custom_id)
            continue
        if current and (len(current) >= max_requests or size + line_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(custom_id)
        size += line_size
    if current:
        chunks.append(current)
    return chunks, too_big


# ---------------------------------------------------------------------------------------------------------
# Reading results


def _line_error(record: dict[str, Any]) -> str:
    """The reason a line of the error file (or a non-200 line of the output file) gives."""
    response = record.get("response") or {}
    error = record.get("error") or {}
    if response.get("status_code") and response.get("status_code") != 200:
        body = response.get("body")
        inner = body.get("error") if isinstance(body, dict) else None
        message = inner.get("message") if isinstance(inner, dict) else body
        return f"HTTP {response['status_code']}: {str(message)[:300]}"
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        return f"{error.get('code') or 'error'}: {str(error.get('message') or '')[:300]}"
    return "the batch reported an error without a reason"


def _parse_success(
    call: llm.Call, body: Any, validators: dict[str, Any]
) -> tuple[dict[str, Any] | None, str, int, int]:
    """(value, text, prompt_tokens, completion_tokens) from a 200 line's body; raises ValueError with the reason.

    The same checks as the live path: the tolerant JSON reader and the schema. A batch has no retries,
    so an unusable reply is that row's error (it is not cached, so the next run asks again).
    """
    if not isinstance(body, dict):
        raise ValueError("malformed response body: not a JSON object")
    try:
        # Lax, like the SDK's own parsing on the live path: a body missing optional fields still reads.
        completion = ChatCompletion.construct(**body)
        content, finish_reason, prompt_tokens, completion_tokens = llm.reply_content(completion)
    except (llm.RetryableFailure, llm.FinalFailure) as e:
        raise ValueError(e.reason) from None
    except (TypeError, ValueError, AttributeError, IndexError) as e:
        raise ValueError(f"malformed response body: {str(e)[:200]}") from None
    if call.schema is None:
        return None, content, prompt_tokens, completion_tokens
    try:
        value = llm.parse_json_reply(content)
    except llm.ReplyParseError:
        truncated = " (truncated: finish_reason=length)" if finish_reason == "length" else ""
        raise ValueError(f"unparsable reply{truncated}: {content[:200]}") from None
    problem = llm.schema_errors(value, call.schema, validators)
    if problem is not None:
        raise ValueError(f"reply does not match the schema: {problem[:200]}")
    return value, content, prompt_tokens, completion_tokens


def _jsonl_records(text: str, source: str) -> Iterable[dict[str, Any]]:
    """Each readable JSON object of a JSONL file; broken lines are logged and skipped (their rows end as errors)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("%s line %d is not valid JSON; skipped", source, number)
            continue
        if isinstance(record, dict):
            yield record


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

    def say(self, message: str) -> None:
        """A status line on stderr (batch ids, splits, polls): the user needs the id to resume after a crash."""
        log.info(message)
        if self.progress:
            print(message, file=sys.stderr, flush=True)

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
        try:
            text = self.client.files.content(batch.input_file_id, timeout=TRANSFER_TIMEOUT).text
        except openai.APIError as e:
            log.warning(
                "could not read the input file of batch %s (%s): assuming it covers every row", batch_id, e
            )
            return batch.model_dump(), None
        ids = {str(r.get("custom_id")) for r in _jsonl_records(text, f"batch {batch_id} input")}
        return batch.model_dump(), ids

    def where(self) -> str:
        return llm.normalise_base_url(str(self.client.base_url))

    def submit(self, chunk: list[str], pending: dict[str, llm.Call], number: int, of: int) -> str:
        """Upload one input file and create its batch; returns the batch id."""
        buffer = io.BytesIO(b"".join(request_line(self.settings, pending[key], key) for key in chunk))
        try:
            file = self.client.files.create(
                file=(f"sheetsync-batch-{number}.jsonl", buffer, "application/jsonl"),
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

    def download(self, file_id: str | None, label: str) -> str:
        if not file_id:
            return ""
        try:
            return self.client.files.content(file_id, timeout=TRANSFER_TIMEOUT).text
        except openai.APIError as e:
            log.warning("could not download the %s file %s: %s", label, file_id, e)
            return ""

    # -- results --------------------------------------------------------------------------------------

    def collect(
        self, batch: dict[str, Any], pending: dict[str, llm.Call], results: dict[str, llm.Result]
    ) -> None:
        """Turn one finished batch's files into Results (and cache entries) for the pending calls it answered."""
        batch_id, status = batch["id"], batch["status"]
        unknown = 0
        for label, file_id in (
            ("output", batch.get("output_file_id")),
            ("error", batch.get("error_file_id")),
        ):
            for record in _jsonl_records(self.download(file_id, label), f"batch {batch_id} {label}"):
                custom_id = str(record.get("custom_id"))
                call = pending.get(custom_id)
                if call is None:
                    unknown += 1  # from another run's calls (e.g. the prompt changed before resuming)
                    continue
                if custom_id in results and results[custom_id].ok:
                    continue
                response = record.get("response") or {}
                if response.get("status_code") == 200 and not record.get("error"):
                    try:
                        value, text, p_tok, c_tok = _parse_success(
                            call, response.get("body"), self.validators
                        )
                    except ValueError as e:
                        results[custom_id] = self.failure(call, custom_id, str(e))
                        continue
                    results[custom_id] = llm.Result(
                        key=call.key,
                        value=value,
                        text=text,
                        error=None,
                        latency=0.0,
                        prompt_tokens=p_tok,
                        completion_tokens=c_tok,
                        cached=False,
                        attempts=1,
                        cache_key=custom_id,
                    )
                    if self.cache is not None:
                        self.cache.put(
                            custom_id,
                            {
                                "value": value,
                                "text": text,
                                "prompt_tokens": p_tok,
                                "completion_tokens": c_tok,
                                "model": self.settings.model,
                                "created_at": time.time(),
                                "batch_id": batch_id,
                            },
                        )
                else:
                    results[custom_id] = self.failure(
                        call, custom_id, f"batch {batch_id}: {_line_error(record)}"
                    )
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
            for custom_id, call in pending.items():
                if custom_id in self.covered.get(batch_id, ()) and custom_id not in results:
                    results[custom_id] = self.failure(call, custom_id, reason)

    def failure(self, call: llm.Call, custom_id: str, reason: str) -> llm.Result:
        return llm.Result(
            key=call.key,
            value=None,
            text=None,
            error=reason,
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

    Cache hits are delivered first and never sent. The rest become JSONL lines (``custom_id`` = cache key,
    identical calls sent once), split into several batches when they exceed ``max_requests`` or ``max_bytes``
    per file. After each batch is created, ``store_batch_id`` receives every batch id of this run so far,
    comma-separated, and ``resume_batch_id`` accepts that same string. Every call ends as exactly one
    ``llm.Result`` given to ``on_result``: rows that failed, expired or were cancelled carry an ``error``.
    ``sleep`` is called between polls (tests inject one). A KeyboardInterrupt while waiting leaves the
    batches running; resume them by id.
    """
    if poll_interval < 0:
        raise ConfigError(f"poll interval must be 0 or more, got {poll_interval}")
    started = time.perf_counter()
    own_client = client is None
    if client is None:
        client = make_sync_client(settings)
    run = _BatchRun(settings, client, cache, on_result, progress)
    calls = list(calls)
    keys = [llm.cache_key(settings, call) for call in calls]
    results: dict[str, llm.Result] = {}  # cache key -> result (identical calls share one)
    pending: dict[str, llm.Call] = {}
    served: dict[int, llm.Result] = {}  # input index -> cache hit
    for index, (call, key) in enumerate(zip(calls, keys, strict=True)):
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            served[index] = llm.cached_result(call, key, hit)
            run.deliver(served[index])
        else:
            pending.setdefault(key, call)

    batch_ids: list[str] = []
    try:
        for batch_id in split_ids(resume_batch_id):
            batch, ids = run.covered_ids(batch_id)
            run.covered[batch_id] = set(pending) if ids is None else ids & set(pending)
            batch_ids.append(batch_id)
            run.say(
                f"Resuming batch {batch_id} ({batch['status']}): {len(run.covered[batch_id])} of this run's "
                f"{len(pending)} uncached requests are in it."
            )
        if batch_ids:
            store_batch_id(",".join(batch_ids))
        already = set().union(*run.covered.values()) if run.covered else set()
        to_send = [key for key in pending if key not in already]
        sizes = ((key, len(request_line(settings, pending[key], key))) for key in to_send)
        chunks, too_big = chunk_lines(sizes, max_requests, max_bytes)
        for key in too_big:
            results[key] = run.failure(
                pending[key], key, f"request larger than a batch file may be ({max_bytes} bytes)"
            )
        if len(chunks) > 1:
            run.say(
                f"{len(to_send)} requests exceed one batch file (at most {max_requests:,} requests and "
                f"{max_bytes / 1e6:g} MB each): sending {len(chunks)} batches."
            )
        for number, chunk in enumerate(chunks, 1):
            batch_id = run.submit(chunk, pending, number, len(chunks))
            run.covered[batch_id] = set(chunk)
            batch_ids.append(batch_id)
            store_batch_id(",".join(batch_ids))
        statuses: dict[str, str] = {}
        if batch_ids:
            for batch_id, batch in run.poll(batch_ids, poll_interval, sleep).items():
                statuses[batch_id] = batch["status"]
                run.collect(batch, pending, results)
    finally:
        if own_client:
            client.close()

    requests = sum(len(run.covered.get(b, ())) for b in batch_ids)
    errors = prompt_tokens = completion_tokens = 0
    ordered: list[llm.Result] = []
    for index, (call, key) in enumerate(zip(calls, keys, strict=True)):
        if index in served:
            ordered.append(served[index])
            continue
        result = results.get(key) or run.failure(
            call, key, "no readable result for this request in the batch output"
        )
        if result.key != call.key:  # an identical call, answered by the line sent for another row
            result = replace(result, key=call.key)
        run.deliver(result)
        ordered.append(result)
        errors += result.error is not None
        prompt_tokens += result.prompt_tokens
        completion_tokens += result.completion_tokens
    return BatchSummary(
        results=ordered,
        total=len(calls),
        calls_made=len(calls) - len(served),
        requests=requests,
        cache_hits=len(served),
        errors=errors,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        wall_time=time.perf_counter() - started,
        format_level=llm.LEVEL_NAMES[llm.LEVEL_JSON_SCHEMA],
        batch_ids=batch_ids,
        statuses=statuses,
    )
