"""The runner: every call with at most ``concurrency`` in flight, each ending in exactly one ``Result``.

Per attempt it waits out an outage (``outage``), sends the body for the run's current structured-output
level (``levels``), and classifies a failure (``failures``): a format refusal moves the whole run one level
down at once, a context overflow ends the row (or, when the call can ``shrink``, retries it cut to fit),
retryable errors back off with full jitter (``Retry-After`` honoured), and everything else is final.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import openai

from sheetsync.errors import ConfigError
from sheetsync.llm.calls import (
    LEVEL_INSTRUCTIONS,
    LEVEL_NAMES,
    STRUCTURED_OUTPUT_CHOICES,
    Cache,
    Call,
    LLMSettings,
    Result,
    cache_entry,
    cache_key,
    cached_result,
)
from sheetsync.llm.client import chat_completion, make_client
from sheetsync.llm.costs import estimate_cost
from sheetsync.llm.failures import (
    FinalFailure,
    RetryableFailure,
    context_overflow,
    is_format_refusal,
    max_tokens_key_wanted,
    reply_content,
    status_failure,
    status_reason,
)
from sheetsync.llm.levels import (
    ReplyParseError,
    default_max_tokens_key,
    parse_json_reply,
    request_body,
    schema_errors,
)
from sheetsync.llm.outage import Outage
from sheetsync.redact import redact

log = logging.getLogger("sheetsync.llm")

BACKOFF_BASE = 1.0  # seconds; full jitter draws from [0, min(BACKOFF_CAP, BACKOFF_BASE * 2**n)]
BACKOFF_CAP = 30.0
MAX_SHRINKS = 2  # cut-to-fit attempts per row (a server's count can differ from ours)

OnResult = Callable[[Result], None] | Callable[[Result], Awaitable[None]]


@dataclass
class RunSummary:
    """Results in input order plus totals. Token totals count only requests made in this run (not cache hits)."""

    results: list[Result]
    total: int
    calls_made: int  # rows that needed the API (not served from the cache)
    requests: int  # HTTP requests sent, including retries and format fallbacks
    cache_hits: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    wall_time: float
    format_level: str  # the structured-output level the run ended on
    format_refusals: int = 0  # response_format refusals seen (at most a couple per run: the level is shared)
    cached_tokens: int = 0  # prompt tokens the server served from its prompt cache (part of prompt_tokens)
    errors_by_cause: dict[str, int] = field(default_factory=dict)
    outages: int = 0  # times the run paused because the server stopped answering
    paused_seconds: float = 0.0

    def estimated_cost(self, model: str, prices: dict[str, tuple[float, ...]] | None = None) -> float | None:
        return estimate_cost(self.prompt_tokens, self.completion_tokens, model, prices, self.cached_tokens)


class _RunState:
    """Per-run shared state: the structured-output level learned from the server, validators, counters."""

    def __init__(self, settings: LLMSettings) -> None:
        choice = settings.structured_output
        if choice not in STRUCTURED_OUTPUT_CHOICES:
            raise ConfigError(f"structured_output = {choice!r}: choose one of {', '.join(STRUCTURED_OUTPUT_CHOICES)}.")
        self.pinned = choice != "auto"
        self.level = 0 if choice == "auto" else LEVEL_NAMES.index(choice)
        self.format_refusals = 0
        self.validators: dict[str, Any] = {}
        self.max_tokens_key = default_max_tokens_key(settings)
        self.max_tokens_switched = False

    def downgrade(self, to_level: int) -> None:
        if to_level > self.level:
            log.info("server refused response_format %s; using %s from now on",
                     LEVEL_NAMES[self.level], LEVEL_NAMES[to_level])
            self.level = to_level


class _Runner:
    def __init__(self, settings: LLMSettings, client: Any, cache: Cache | None, on_result: OnResult | None,
                 sleep: Callable[[float], Awaitable[Any]], rng: Any, notify: Callable[[str], None]) -> None:
        self.settings = settings
        self.client = client
        self.cache = cache
        self.on_result = on_result
        self.stopped = False
        self.sleep = sleep
        self.rng = rng
        self.state = _RunState(settings)
        self.outage = Outage(settings, client, sleep, notify)

    async def process(self, call: Call) -> Result:
        key = cache_key(self.settings, call)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return cached_result(call, key, hit)
        result, sent = await self.call_api(call, key)
        if result.error is None and self.cache is not None:
            entry = cache_entry(result, self.settings.model, time.time())
            self.cache.put(key, entry)
            if sent is not call:  # cut to fit: the next run finds the answer under the original call too
                self.cache.put(cache_key(self.settings, sent), entry)
        return result

    async def call_api(self, call: Call, key: str) -> tuple[Result, Call]:
        """Attempt, classify, back off, repeat; the loop always ends in a Result (and the call last sent)."""
        settings, state = self.settings, self.state
        started = time.perf_counter()
        level = state.level
        tentative = False  # downgraded for this row on a vague 400; promoted to the run only if it then works
        attempts = failures = shrinks = 0
        tokens = [0, 0, 0]  # prompt, completion, cached

        def finished(value: dict[str, Any] | None, text: str | None, error: str | None, cause: str | None) -> Result:
            return Result(
                key=call.key, value=value, text=text, error=error, latency=time.perf_counter() - started,
                prompt_tokens=tokens[0], completion_tokens=tokens[1], cached=False, attempts=attempts,
                cache_key=key, cached_tokens=tokens[2], level=LEVEL_NAMES[level] if call.schema else None,
                cause=cause, note=call.note,
            )

        while True:
            await self.outage.wait()
            level = max(level, state.level)
            attempts += 1
            outcome: RetryableFailure | FinalFailure
            try:
                response = await chat_completion(self.client, request_body(settings, call, level, state.max_tokens_key))
                content, finish_reason, p_tok, c_tok, cached_tok = reply_content(response)
                tokens[0] += p_tok
                tokens[1] += c_tok
                tokens[2] += cached_tok
                value = self.parse(call, content, finish_reason)
            except openai.APIStatusError as e:
                self.outage.succeeded()  # it answered: whatever this is, it is not an outage
                overflow = context_overflow(e)
                if overflow is not None:
                    smaller = None
                    if call.shrink and overflow.tokens and overflow.limit and shrinks < MAX_SHRINKS:
                        smaller = call.shrink(overflow.tokens, overflow.limit)
                    if smaller is not None:
                        call, shrinks = smaller, shrinks + 1
                        continue
                    outcome = overflow
                elif (wanted := max_tokens_key_wanted(e, state.max_tokens_key)) and settings.max_tokens is not None \
                        and not state.max_tokens_switched:
                    log.info("server wants %s instead of %s", wanted, state.max_tokens_key)
                    state.max_tokens_key, state.max_tokens_switched = wanted, True
                    continue
                elif call.schema is not None and level < LEVEL_INSTRUCTIONS and is_format_refusal(e):
                    if state.pinned:
                        outcome = FinalFailure(
                            f"the server refused structured_output = \"{LEVEL_NAMES[level]}\" ({status_reason(e)}); "
                            "set structured_output = \"auto\" (or a lower level) in [judge]/[generate]",
                            "format_refused")
                    else:
                        state.format_refusals += 1
                        state.downgrade(level + 1)
                        level += 1
                        continue  # a fallback does not count against the retry budget (at most two steps)
                elif call.schema is not None and level < LEVEL_INSTRUCTIONS and e.status_code in (400, 422) \
                        and not state.pinned:
                    tentative = True  # a vague 400: try this row one level down; learned only if that works
                    level += 1
                    continue
                else:
                    outcome = status_failure(e)
            except openai.APITimeoutError:
                outcome = RetryableFailure(f"timeout after {settings.timeout:g}s", "timeout")
            except openai.APIConnectionError as e:
                reason = f"connection error: {e.__cause__ or e}"
                if self.outage.connection_failed(reason):
                    continue  # the server is down for everyone: wait it out, the row does not pay for it
                outcome = RetryableFailure(reason, "connection")
            except json.JSONDecodeError as e:
                outcome = RetryableFailure(f"malformed response body: {e}", "malformed")
            except (RetryableFailure, FinalFailure) as e:
                self.outage.succeeded()
                outcome = e
            except openai.OpenAIError as e:
                outcome = FinalFailure(f"{type(e).__name__}: {e}", "other")
            except Exception as e:  # a row must end as a Result, whatever the client raised
                log.warning("row %s: unexpected %s", call.key, type(e).__name__, exc_info=True)
                outcome = FinalFailure(f"unexpected {type(e).__name__}: {str(e)[:200]}", "other")
            else:
                self.outage.succeeded()
                if tentative:
                    state.downgrade(level)
                return finished(value, content, None, None), call
            if isinstance(outcome, RetryableFailure) and failures < settings.max_retries:
                delay = outcome.delay
                if delay is None:
                    delay = self.rng.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**failures)
                failures += 1
                log.debug("row %s: %s; retry %d in %.2fs", call.key, outcome.reason, failures, delay)
                await self.sleep(delay)
                continue
            reason = outcome.reason if attempts == 1 else f"{outcome.reason} (after {attempts} attempts)"
            return finished(None, None, reason, outcome.cause), call

    def parse(self, call: Call, content: str, finish_reason: str | None) -> dict[str, Any] | None:
        if finish_reason == "length":
            budget = self.settings.max_tokens
            where = f"max_tokens = {budget}" if budget else "the server's reply limit"
            raise FinalFailure(f"reply cut off at {where} (finish_reason=length): raise max_tokens in "
                               f"[judge]/[generate] if replies need more: {content[:120]!r}", "length")
        if call.schema is None:
            return None
        try:
            value = parse_json_reply(content)
        except ReplyParseError:
            raise RetryableFailure(f"unparsable reply: {content[:200]}", "unparsable") from None
        problem = schema_errors(value, call.schema, self.state.validators)
        if problem is not None:
            raise RetryableFailure(f"reply does not match the schema: {problem[:200]}", "schema")
        return value

    async def deliver(self, result: Result) -> None:
        """Hand a result to ``on_result``; once that raised (Ctrl-C, a full disk), nothing more is handed
        over while the other workers are being cancelled (their finished successes are still cached)."""
        if self.on_result is None or self.stopped:
            return
        try:
            maybe = self.on_result(result)
            if inspect.isawaitable(maybe):
                await maybe
        except BaseException:
            self.stopped = True
            raise


class _Interrupted(Exception):
    """Ctrl-C raised inside ``on_result``, carried out of the event loop as an ordinary exception."""


def _say(message: str) -> None:
    log.warning("%s", message)


async def run_calls(
    calls: Iterable[Call],
    settings: LLMSettings,
    *,
    cache: Cache | None,
    on_result: OnResult | None = None,
    client: Any = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: Any = random,
    keep_results: bool = True,
    stats: dict[str, Any] | None = None,
    notify: Callable[[str], None] = _say,
) -> list[Result]:
    """Run every call with at most ``settings.concurrency`` in flight; results come back in input order.

    ``calls`` may be any iterable (a generator keeps memory flat for huge runs). Each result is passed to
    ``on_result`` (sync or async) as soon as it exists and after successes are cached; an exception raised
    by ``on_result`` or the cache stops the run (pending requests are cancelled). Failed rows never raise:
    they come back with ``error`` set. An outage longer than ``settings.outage_wait`` raises
    ``ServerUnavailable`` (see ``outage``). ``keep_results=False`` returns ``[]`` and relies on ``on_result``.
    ``client`` (an ``AsyncOpenAI``-like object, not closed here), ``sleep`` and ``rng`` are injectable for
    tests; ``notify`` gets the outage messages. ``stats``, if given, receives run-level facts
    (``format_level``, ``format_refusals``, ``outages``, ``paused_seconds``).
    """
    if settings.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {settings.concurrency}")
    if settings.max_retries < 0:
        raise ConfigError(f"max_retries must be 0 or more, got {settings.max_retries}")
    own_client = client is None
    if own_client:
        client = make_client(settings)
    runner = _Runner(settings, client, cache, on_result, sleep, rng, notify)
    source = enumerate(calls)
    collected: list[tuple[int, Result]] = []

    async def worker() -> None:
        # Pull one call at a time: only `concurrency` calls are ever materialised and in flight.
        for index, call in source:
            result = await runner.process(call)
            if keep_results:
                collected.append((index, result))
            await runner.deliver(result)

    workers = [asyncio.create_task(worker()) for _ in range(settings.concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if own_client:
            await client.close()
        if stats is not None:
            stats["format_level"] = LEVEL_NAMES[runner.state.level]
            stats["format_refusals"] = runner.state.format_refusals
            stats["outages"] = runner.outage.outages
            stats["paused_seconds"] = runner.outage.paused
    collected.sort(key=lambda pair: pair[0])
    return [result for _, result in collected]


def run(
    calls: Iterable[Call],
    settings: LLMSettings,
    *,
    cache: Cache | None,
    on_result: OnResult | None = None,
    progress: bool = True,
    label: str = "Judging",
    keep_results: bool = True,
) -> RunSummary:
    """Synchronous entry point: runs ``run_calls`` with a progress bar on stderr and returns the totals.

    Ctrl-C cancels pending requests, closes the bar and re-raises ``KeyboardInterrupt``; every result
    finished before it was already handed to ``on_result`` (and cached), so the next run resumes.
    Outage messages go to stderr whether or not the bar is shown.
    """
    from tqdm import tqdm  # lazy: keeps importing this module cheap

    try:
        total: int | None = len(calls)  # type: ignore[arg-type]
    except TypeError:
        total = None
    counts = {"done": 0, "cached": 0, "errors": 0, "requests": 0, "prompt": 0, "completion": 0, "calls": 0,
              "cached_tokens": 0}
    by_cause: dict[str, int] = {}
    bar = tqdm(total=total, desc=label, unit="row", disable=not progress, dynamic_ncols=True, leave=True)

    def track(result: Result) -> Awaitable[None] | None:
        counts["done"] += 1
        if result.cached:
            counts["cached"] += 1
        else:
            counts["calls"] += 1
            counts["requests"] += result.attempts
            counts["prompt"] += result.prompt_tokens
            counts["completion"] += result.completion_tokens
            counts["cached_tokens"] += result.cached_tokens
        if result.error is not None:
            counts["errors"] += 1
            by_cause[result.cause or "other"] = by_cause.get(result.cause or "other", 0) + 1
        if progress:
            bar.update(1)
            if result.error is not None or counts["done"] % 16 == 0 or counts["done"] == total:
                bar.set_postfix(errors=counts["errors"], cached=counts["cached"], refresh=False)
        if on_result is None:
            return None
        try:
            return on_result(result)  # type: ignore[return-value]
        except KeyboardInterrupt:
            # A KeyboardInterrupt escaping a task bypasses the run's cleanup; carry it out as an exception.
            raise _Interrupted from None

    def notify(message: str) -> None:
        log.info("%s", message)
        tqdm.write(redact(message), file=sys.stderr)

    stats: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        results = asyncio.run(run_calls(calls, settings, cache=cache, on_result=track, keep_results=keep_results,
                                        stats=stats, notify=notify))
    except _Interrupted:
        raise KeyboardInterrupt from None
    finally:
        bar.close()
    return RunSummary(
        results=results,
        total=counts["done"],
        calls_made=counts["calls"],
        requests=counts["requests"],
        cache_hits=counts["cached"],
        errors=counts["errors"],
        prompt_tokens=counts["prompt"],
        completion_tokens=counts["completion"],
        wall_time=time.perf_counter() - started,
        format_level=stats.get("format_level", LEVEL_NAMES[0]),
        format_refusals=stats.get("format_refusals", 0),
        cached_tokens=counts["cached_tokens"],
        errors_by_cause=by_cause,
        outages=stats.get("outages", 0),
        paused_seconds=stats.get("paused_seconds", 0.0),
    )
