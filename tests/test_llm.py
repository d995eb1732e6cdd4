"""The LLM-call layer, end to end through the real openai client against the local fake server over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from sheetsync.errors import ConfigError
from sheetsync.llm import (
    DEFAULT_PRICES,
    Call,
    LLMSettings,
    MemoryCache,
    Result,
    cache_key,
    estimate_cost,
    estimate_tokens,
    normalise_base_url,
    parse_json_reply,
    run,
    run_calls,
)
from sheetsync.testing.fake_openai import FakeOpenAI

SECRET = "sk-test-SECRET-do-not-leak-1234"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["critique", "verdict"],
    "properties": {"critique": {"type": "string"}, "verdict": {"type": "string", "enum": ["pass", "fail"]}},
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


class Sleeps:
    """Injected sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class HalfRng:
    """Deterministic jitter: always the middle of the full-jitter range."""

    def random(self) -> float:
        return 0.5


def settings_for(fake: FakeOpenAI, **overrides: Any) -> LLMSettings:
    values: dict[str, Any] = {
        "base_url": fake.base_url,
        "api_key": SECRET,
        "timeout": 5.0,
        "max_retries": 3,
        "concurrency": 4,
    }
    values.update(overrides)
    return LLMSettings(**values)


def make_calls(n: int, schema: dict[str, Any] | None = SCHEMA, prefix: str = "row") -> list[Call]:
    return [
        Call(
            key=f"{prefix}-{i}",
            messages=[
                {"role": "system", "content": "You are a strict judge. Answer in JSON."},
                {"role": "user", "content": f"<row id={prefix}-{i}> The answer to question {i}."},
            ],
            schema=schema,
            schema_name="judgement",
        )
        for i in range(n)
    ]


def go(calls: Any, settings: LLMSettings, **kwargs: Any) -> list[Result]:
    kwargs.setdefault("cache", MemoryCache())
    kwargs.setdefault("sleep", Sleeps())
    return asyncio.run(run_calls(calls, settings, **kwargs))


# -- success, request shape, ordering -------------------------------------------------------------------------


def test_success_sends_nested_strict_json_schema(fake: FakeOpenAI) -> None:
    fake.script("row-1", {"critique": "Wrong unit.", "verdict": "fail"})
    results = go(make_calls(3), settings_for(fake))
    assert [r.key for r in results] == ["row-0", "row-1", "row-2"]
    assert [r.value["verdict"] for r in results if r.value] == ["pass", "fail", "pass"]
    assert all(
        r.ok and r.attempts == 1 and not r.cached and r.prompt_tokens > 0 and r.completion_tokens > 0
        for r in results
    )
    assert json.loads(results[1].text or "") == {"critique": "Wrong unit.", "verdict": "fail"}
    body = fake.chat_requests[0]
    assert body["model"] == "gpt-4.1-mini" and body["temperature"] == 0
    assert "max_tokens" not in body and "seed" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "judgement", "schema": SCHEMA, "strict": True},
    }


def test_free_text_call_has_no_response_format(fake: FakeOpenAI) -> None:
    fake.script("row-0", "Just prose.")
    [result] = go(make_calls(1, schema=None), settings_for(fake, temperature=None, max_tokens=50, seed=7))
    assert result.ok and result.text == "Just prose." and result.value is None
    body = fake.chat_requests[0]
    assert "response_format" not in body and "temperature" not in body
    assert body["max_tokens"] == 50 and body["seed"] == 7


def test_generator_input_keeps_order_and_keep_results_false_returns_nothing(fake: FakeOpenAI) -> None:
    settings = settings_for(fake, concurrency=3)
    results = go((c for c in make_calls(10)), settings)
    assert [r.key for r in results] == [f"row-{i}" for i in range(10)]
    delivered: list[str] = []
    assert (
        go(
            iter(make_calls(5, prefix="x")),
            settings,
            keep_results=False,
            on_result=lambda r: delivered.append(r.key),
        )
        == []
    )
    assert sorted(delivered) == [f"x-{i}" for i in range(5)]


# -- cache --------------------------------------------------------------------------------------------------


def test_rerun_with_nothing_changed_makes_zero_calls(fake: FakeOpenAI) -> None:
    cache = MemoryCache()
    first = go(make_calls(5), settings_for(fake), cache=cache)
    assert fake.call_count == 5 and len(cache) == 5
    second = go(
        make_calls(5), settings_for(fake, concurrency=2, api_key="sk-other", timeout=1.0), cache=cache
    )
    assert fake.call_count == 5
    assert all(r.cached and r.attempts == 0 for r in second)
    assert [r.value for r in second] == [r.value for r in first]
    assert [r.prompt_tokens for r in second] == [r.prompt_tokens for r in first]


def test_changed_messages_or_grown_dataset_call_only_what_changed(fake: FakeOpenAI) -> None:
    cache = MemoryCache()
    go(make_calls(4), settings_for(fake), cache=cache)
    calls = make_calls(6)  # two new rows
    calls[0] = Call(
        calls[0].key, [*calls[0].messages[:1], {"role": "user", "content": "edited"}], SCHEMA, "judgement"
    )
    results = go(calls, settings_for(fake), cache=cache)
    assert fake.call_count == 4 + 3
    assert [r.cached for r in results] == [False, True, True, True, False, False]


def test_cache_key_covers_the_answer_not_the_plumbing(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = make_calls(1)[0]
    base = settings_for(fake)
    key = cache_key(base, call)
    same = [
        settings_for(fake, api_key="sk-different"),
        settings_for(fake, api_key=None),
        settings_for(fake, concurrency=64, timeout=1, max_retries=0),
        settings_for(fake, base_url=fake.base_url + "/"),
    ]
    assert all(cache_key(s, call) == key for s in same)
    different = [
        settings_for(fake, model="gpt-4.1"),
        settings_for(fake, temperature=0.7),
        settings_for(fake, max_tokens=10),
        settings_for(fake, seed=1),
        settings_for(fake, base_url="http://127.0.0.1:1/v1"),
    ]
    assert len({cache_key(s, call) for s in different} | {key}) == len(different) + 1
    assert cache_key(base, Call(call.key, call.messages, None)) != key
    assert cache_key(base, Call("other-row-id", call.messages, SCHEMA, "judgement")) == key
    assert SECRET not in key and len(key) == 64
    # base_url=None resolves through OPENAI_BASE_URL, so the key follows the server actually used
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    assert cache_key(settings_for(fake, base_url=None), call) == key


def test_normalise_base_url_drops_credentials() -> None:
    url = "HTTPS://user:hunter2@Example.COM:8443/openai/v1/?api-version=2024-10&api_key=abc"
    assert normalise_base_url(url) == "https://example.com:8443/openai/v1?api-version=2024-10"


# -- concurrency ----------------------------------------------------------------------------------------------


def test_concurrency_is_bounded(fake: FakeOpenAI) -> None:
    fake.latency = 0.03
    results = go(make_calls(20), settings_for(fake, concurrency=4))
    assert all(r.ok for r in results)
    assert fake.max_in_flight == 4


# -- retries --------------------------------------------------------------------------------------------------


def test_429_honours_retry_after(fake: FakeOpenAI) -> None:
    fake.fail_next("429", retry_after=1.5)
    sleeps = Sleeps()
    [result] = go(make_calls(1), settings_for(fake), sleep=sleeps)
    assert result.ok and result.attempts == 2
    assert sleeps.waits == [1.5]
    assert fake.faults_served == ["429"]


def test_429_with_huge_retry_after_is_reported_not_waited(fake: FakeOpenAI) -> None:
    fake.fail_next("429", retry_after=3600)
    sleeps = Sleeps()
    [result] = go(make_calls(1), settings_for(fake), sleep=sleeps)
    assert result.error is not None and "HTTP 429" in result.error and "quota" in result.error
    assert sleeps.waits == [] and result.attempts == 1


def test_500_then_success_with_full_jitter_backoff(fake: FakeOpenAI) -> None:
    fake.fail_next("500", count=2)
    sleeps = Sleeps()
    [result] = go(make_calls(1), settings_for(fake), sleep=sleeps, rng=HalfRng())
    assert result.ok and result.attempts == 3
    assert sleeps.waits == [0.5, 1.0]  # 0.5 * min(cap, 1 * 2**n)


def test_malformed_body_then_success(fake: FakeOpenAI) -> None:
    fake.fail_next("malformed")
    [result] = go(make_calls(1), settings_for(fake))
    assert (
        result.ok
        and result.attempts == 2
        and result.value == {"critique": "The response meets the criteria.", "verdict": "pass"}
    )


def test_persistent_failure_is_an_error_result_not_an_exception(fake: FakeOpenAI) -> None:
    fake.fail_next("500", count=100, match="row-1")
    cache = MemoryCache()
    results = go(make_calls(3), settings_for(fake, max_retries=2), cache=cache)
    bad = results[1]
    assert bad.value is None and bad.text is None and bad.attempts == 3
    assert bad.error == "HTTP 500: The server had an error while processing your request. (after 3 attempts)"
    assert results[0].ok and results[2].ok
    assert bad.cache_key not in cache.data  # errors are never cached: the next run retries the row


def test_client_errors_are_not_retried(fake: FakeOpenAI) -> None:
    sleeps = Sleeps()
    [result] = go(
        make_calls(1, schema=None), settings_for(fake, base_url=fake.base_url + "/nope"), sleep=sleeps
    )
    assert result.error is not None and result.error.startswith("HTTP 404") and result.attempts == 1
    assert sleeps.waits == []


def test_dropped_connection_is_retried(fake: FakeOpenAI) -> None:
    fake.fail_next("drop")
    [result] = go(make_calls(1), settings_for(fake))
    assert result.ok and result.attempts == 2


def test_hang_times_out_then_retries_or_errors(fake: FakeOpenAI) -> None:
    fake.fail_next("hang", seconds=5)
    [result] = go(make_calls(1), settings_for(fake, timeout=0.3))
    assert result.ok and result.attempts == 2
    fake.fail_next("hang", count=2, seconds=5)
    [result] = go(make_calls(1, prefix="h"), settings_for(fake, timeout=0.3, max_retries=1))
    assert result.error == "timeout after 0.3s (after 2 attempts)"


# -- structured-output fallbacks ------------------------------------------------------------------------------


def _format(body: dict[str, Any]) -> str | None:
    return (body.get("response_format") or {}).get("type")


def test_fallback_to_json_object_then_instructions_is_remembered(fake: FakeOpenAI) -> None:
    fake.refuse_json_schema = fake.refuse_json_object = True
    stats: dict[str, Any] = {}
    results = go(make_calls(5), settings_for(fake, concurrency=1), stats=stats)
    assert all(r.ok and r.value and r.value["verdict"] == "pass" for r in results)
    assert [_format(b) for b in fake.chat_requests] == [
        "json_schema",
        "json_object",
        None,
        None,
        None,
        None,
        None,
    ]
    assert stats["format_level"] == "instructions" and stats["format_refusals"] == 2
    assert results[0].attempts == 3 and results[1].attempts == 1
    last = fake.chat_requests[-1]["messages"]
    assert len(last) == 2 and last[0]["role"] == "system" and '"verdict"' in last[0]["content"]
    assert last[0]["content"].startswith("You are a strict judge.")


def test_fallback_stops_at_json_object_when_that_works(fake: FakeOpenAI) -> None:
    fake.refuse_json_schema = True
    results = go(make_calls(3), settings_for(fake, concurrency=1))
    assert all(r.ok for r in results)
    assert [_format(b) for b in fake.chat_requests] == [
        "json_schema",
        "json_object",
        "json_object",
        "json_object",
    ]
    # json_object mode needs the word JSON and the schema in the prompt: both are in the system message
    assert "JSON schema" in fake.chat_requests[-1]["messages"][0]["content"]


def test_instruction_fallback_without_system_message_adds_one(fake: FakeOpenAI) -> None:
    fake.fail_next("refuse_json_schema")
    fake.fail_next("refuse_json_object")
    call = Call("solo", [{"role": "user", "content": "judge this"}], SCHEMA)
    [result] = go([call], settings_for(fake))
    assert result.ok
    messages = fake.chat_requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"] and "JSON schema" in messages[0]["content"]
    # the caller's messages are not mutated
    assert call.messages == [{"role": "user", "content": "judge this"}]


def test_unrelated_400_tries_the_lower_levels_for_that_row_only(fake: FakeOpenAI) -> None:
    fake.fail_next("400", count=3, match="row-1")
    stats: dict[str, Any] = {}
    results = go(make_calls(3), settings_for(fake, concurrency=1), stats=stats)
    assert results[1].error == "HTTP 400: Invalid request. (after 3 attempts)"
    assert results[1].attempts == 3  # json_schema, json_object, instructions; no retries of a 400
    assert results[0].ok and results[2].ok
    assert stats["format_level"] == "json_schema" and stats["format_refusals"] == 0  # the run was not downgraded
    assert _format(fake.chat_requests[-1]) == "json_schema"


def test_vague_400_then_success_one_level_down_is_learned(fake: FakeOpenAI) -> None:
    fake.fail_next("400", count=1)
    stats: dict[str, Any] = {}
    results = go(make_calls(3), settings_for(fake, concurrency=1), stats=stats)
    assert all(r.ok for r in results)
    assert [_format(b) for b in fake.chat_requests] == [
        "json_schema",
        "json_object",
        "json_object",
        "json_object",
    ]
    assert stats["format_level"] == "json_object"


# -- tolerant parsing -----------------------------------------------------------------------------------------


def test_fenced_and_chatty_replies_are_parsed(fake: FakeOpenAI) -> None:
    fake.script(
        "row-0", 'Sure! Here it is:\n```json\n{"critique": "ok", "verdict": "pass"}\n```\nHope that helps.'
    )
    fake.script(
        "row-1",
        '<think>maybe {draft}</think>My answer is {"critique": "a {brace} \\" inside", "verdict": "fail"} done',
    )
    results = go(make_calls(2), settings_for(fake))
    assert results[0].value == {"critique": "ok", "verdict": "pass"}
    assert results[1].value == {"critique": 'a {brace} " inside', "verdict": "fail"}


def test_parse_json_reply_edge_cases() -> None:
    assert parse_json_reply('{"a": 1}') == {"a": 1}
    assert parse_json_reply('noise {not json} then {"a": {"b": 2}} tail') == {"a": {"b": 2}}
    assert parse_json_reply('```\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(ValueError):
        parse_json_reply("[1, 2, 3]")
    with pytest.raises(ValueError):
        parse_json_reply('{"a": ')


def test_unparsable_reply_after_retries_is_an_error(fake: FakeOpenAI) -> None:
    fake.script("row-0", "I cannot decide. " * 30)
    [result] = go(make_calls(1), settings_for(fake, max_retries=2))
    assert result.error is not None and result.error.startswith("unparsable reply: I cannot decide.")
    assert result.error.endswith("(after 3 attempts)") and len(result.error) < 260
    assert result.value is None and result.attempts == 3


def test_reply_violating_the_schema_is_retried_then_reported(fake: FakeOpenAI) -> None:
    fake.script("row-0", {"critique": "hmm", "verdict": "maybe"})
    [result] = go(make_calls(1), settings_for(fake, max_retries=1))
    assert (
        result.error is not None and "does not match the schema" in result.error and "maybe" in result.error
    )


# -- delivery, interruption -----------------------------------------------------------------------------------


def test_on_result_called_once_per_row_sync_and_async(fake: FakeOpenAI) -> None:
    seen: list[str] = []
    go(make_calls(6), settings_for(fake), on_result=lambda r: seen.append(r.key))
    assert sorted(seen) == sorted(f"row-{i}" for i in range(6))

    seen_async: list[str] = []

    async def persist(result: Result) -> None:
        await asyncio.sleep(0)
        seen_async.append(result.key)

    go(make_calls(6, prefix="a"), settings_for(fake), on_result=persist)
    assert len(seen_async) == 6


def test_keyboard_interrupt_keeps_delivered_results_and_resumes(fake: FakeOpenAI) -> None:
    fake.latency = 0.02
    cache = MemoryCache()
    delivered: list[Result] = []

    def persist(result: Result) -> None:
        delivered.append(result)
        if len(delivered) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(make_calls(20), settings_for(fake, concurrency=2), cache=cache, on_result=persist, progress=False)
    assert len(delivered) == 3 and all(r.ok for r in delivered)
    assert {r.cache_key for r in delivered} <= set(cache.data)
    calls_before = fake.call_count
    assert calls_before < 20  # the pending rows were cancelled, not finished in the background

    summary = run(make_calls(20), settings_for(fake, concurrency=4), cache=cache, progress=False)
    assert summary.errors == 0 and summary.total == 20
    assert summary.cache_hits >= 3 and summary.calls_made == 20 - summary.cache_hits


def test_real_ctrl_c_signal_cancels_pending_and_keeps_delivered(fake: FakeOpenAI) -> None:
    import signal

    fake.latency = 0.02
    cache = MemoryCache()
    delivered: list[Result] = []

    def persist(result: Result) -> None:
        delivered.append(result)
        if len(delivered) == 3:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does; asyncio.run turns it into cancellation

    with pytest.raises(KeyboardInterrupt):
        run(make_calls(30), settings_for(fake, concurrency=2), cache=cache, on_result=persist, progress=False)
    assert 3 <= len(delivered) < 30 and len(cache) >= len(delivered)


def test_cancellation_mid_run_is_clean(fake: FakeOpenAI) -> None:
    fake.latency = 0.05
    delivered: list[str] = []

    async def main() -> None:
        task = asyncio.create_task(
            run_calls(
                make_calls(40),
                settings_for(fake, concurrency=4),
                cache=MemoryCache(),
                on_result=lambda r: delivered.append(r.key),
            )
        )
        while len(delivered) < 4:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert 4 <= len(delivered) < 40


def test_run_summary_totals(fake: FakeOpenAI) -> None:
    fake.fail_next("429", match="row-2", retry_after=0)
    cache = MemoryCache()
    first = run(make_calls(4), settings_for(fake), cache=cache, progress=False)
    assert (first.total, first.calls_made, first.cache_hits, first.errors) == (4, 4, 0, 0)
    assert first.requests >= 5 and first.prompt_tokens > 0 and first.completion_tokens > 0
    assert first.format_level == "json_schema" and [r.key for r in first.results] == [
        f"row-{i}" for i in range(4)
    ]
    assert first.estimated_cost("gpt-4.1-mini") is not None and first.estimated_cost("llama3") is None
    second = run(make_calls(4), settings_for(fake), cache=cache, progress=False)
    assert (second.calls_made, second.cache_hits, second.requests, second.prompt_tokens) == (0, 4, 0, 0)


# -- configuration and secrets --------------------------------------------------------------------------------


def test_missing_key_without_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*OPENAI_BASE_URL"):
        run(make_calls(1), LLMSettings(), cache=MemoryCache(), progress=False)


def test_base_url_without_key_uses_a_placeholder(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    [result] = go(make_calls(1), LLMSettings())
    assert result.ok
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-no-key-required"


def test_api_key_from_env_is_used(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    [result] = go(make_calls(1), LLMSettings(base_url=fake.base_url))
    assert result.ok and fake.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_secret_never_in_repr_cache_or_logs(fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(fake)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    fake.fail_next("500")
    fake.fail_next("refuse_json_schema")
    fake.script("row-1", "garbage")
    cache = MemoryCache()
    with caplog.at_level(logging.DEBUG):
        results = go(make_calls(2), settings_for(fake, max_retries=1), cache=cache)
    # the key is sent, but only to the server
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert caplog.records  # retries and fallbacks were logged...
    assert SECRET not in caplog.text  # ...without the key
    assert SECRET not in json.dumps(cache.data) and SECRET not in repr(results)


# -- estimates ------------------------------------------------------------------------------------------------


def test_estimate_tokens_is_about_chars_over_four() -> None:
    messages = [
        {"role": "system", "content": "x" * 400},
        {"role": "user", "content": [{"type": "text", "text": "y" * 400}]},
    ]
    assert estimate_tokens(messages) == 200 + 8 + 3


def test_estimate_cost_tables() -> None:
    assert estimate_cost(1_000_000, 1_000_000, "gpt-4.1-mini") == pytest.approx(
        sum(DEFAULT_PRICES["gpt-4.1-mini"][:2])
    )
    # cached input at the model's cached rate; a two-number price charges it as ordinary input
    assert estimate_cost(1_000_000, 0, "gpt-4.1-mini", cached_tokens=1_000_000) == pytest.approx(0.10)
    assert estimate_cost(1_000_000, 0, "m", {"m": (1.0, 2.0)}, cached_tokens=500_000) == pytest.approx(1.0)
    assert estimate_cost(1_000_000, 0, "m", {"m": (1.0, 2.0, 0.25)}, cached_tokens=500_000) == pytest.approx(0.625)
    assert estimate_cost(2_000_000, 0, "gpt-4.1-mini-2025-04-14") == pytest.approx(
        2 * DEFAULT_PRICES["gpt-4.1-mini"][0]
    )
    assert estimate_cost(2_000_000, 0, "gpt-4.1-2025-04-14") == pytest.approx(
        2 * DEFAULT_PRICES["gpt-4.1"][0]
    )
    assert estimate_cost(10, 10, "llama3.1:8b") is None
    assert estimate_cost(1_000_000, 0, "llama3.1:8b", {"llama3.1:8b": (0.0, 0.0)}) == 0.0
    assert estimate_cost(1_000_000, 0, "gpt-4.1", {"other": (1.0, 1.0)}) is None


def test_injected_duck_typed_client_is_used_and_not_closed() -> None:
    from openai.types.chat import ChatCompletion

    seen: list[dict[str, Any]] = []

    class Completions:
        async def create(self, **body: Any) -> ChatCompletion:
            seen.append(body)
            message = {"role": "assistant", "content": '{"critique": "c", "verdict": "fail"}'}
            return ChatCompletion.model_validate(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                }
            )

    class Client:
        chat = type("Chat", (), {"completions": Completions()})()

        async def close(self) -> None:  # pragma: no cover - must not be called
            raise AssertionError("an injected client belongs to the caller")

    [result] = go(make_calls(1), LLMSettings(api_key=SECRET), client=Client())
    assert result.value == {"critique": "c", "verdict": "fail"} and result.prompt_tokens == 0  # no usage sent
    assert seen[0]["response_format"]["type"] == "json_schema"


def test_workspace_prices_extend_the_defaults() -> None:
    from sheetsync.llm import price_table

    table = price_table({"llama3.1": (0.0, 0.0), "gpt-4.1-mini": (1.0, 2.0)})
    assert table["llama3.1"] == (0.0, 0.0) and table["gpt-4.1-mini"] == (1.0, 2.0)
    assert estimate_cost(1_000_000, 0, "gpt-4o-mini", table) == pytest.approx(0.15)  # a default, still priced
