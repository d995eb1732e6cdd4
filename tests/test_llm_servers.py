"""The LLM layer against the fake's server profiles (real openai client over HTTP): what real servers answer
to what sheetsync sends — format refusals by content, context overflows, reply budgets, prompt caching,
outages and secrets in error bodies."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from sheetsync.llm import (
    Call,
    LLMSettings,
    MemoryCache,
    ServerUnavailable,
    request_body,
    run,
    run_calls,
)
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_llm import SCHEMA, SECRET, Sleeps, make_calls, settings_for


def go(calls: Any, settings: LLMSettings, **kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    stats: dict[str, Any] = {}
    kwargs.setdefault("cache", MemoryCache())
    kwargs.setdefault("sleep", Sleeps())
    return asyncio.run(run_calls(calls, settings, stats=stats, **kwargs)), stats


def formats(fake: FakeOpenAI) -> list[str | None]:
    return [(b.get("response_format") or {}).get("type") for b in fake.chat_requests]


def test_llama_cpp_python_500_on_json_schema_falls_back_at_once_without_retries() -> None:
    with FakeOpenAI(profile="llama-cpp-python") as fake:
        results, stats = go(make_calls(6), settings_for(fake, concurrency=1))
    assert all(r.ok for r in results)
    assert formats(fake) == ["json_schema"] + ["json_object"] * 6  # one refusal, then the level is learned
    assert stats["format_level"] == "json_object" and stats["format_refusals"] == 1
    assert [r.level for r in results] == ["json_object"] * 6
    # json_object carries the schema flat beside it: llama.cpp and llama-cpp-python constrain the reply with it
    assert fake.chat_requests[-1]["response_format"] == {"type": "json_object", "schema": SCHEMA}


def test_pinned_level_is_used_and_a_refusal_of_it_is_a_clear_error() -> None:
    with FakeOpenAI(profile="llama-cpp-python") as fake:
        [pinned], _ = go(make_calls(1), settings_for(fake, structured_output="json_schema"))
        [plain], stats = go(make_calls(1, prefix="i"), settings_for(fake, structured_output="instructions"))
    assert pinned.error is not None and pinned.cause == "format_refused" and pinned.attempts == 1
    assert 'refused structured_output = "json_schema"' in pinned.error and "Input should be 'text'" in pinned.error
    assert plain.ok and plain.level == "instructions" and formats(fake)[-1] is None
    assert stats["format_level"] == "instructions"


def test_vllm_400_on_a_schema_it_cannot_compile_is_a_format_refusal() -> None:
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "critique": {"type": "string", "pattern": "^.+$"}}}
    with FakeOpenAI(profile="vllm") as fake:
        results, stats = go(make_calls(2, schema=schema), settings_for(fake, concurrency=1))
    assert all(r.ok for r in results) and stats["format_refusals"] == 1
    assert formats(fake) == ["json_schema", "json_object", "json_object"]


@pytest.mark.parametrize("profile", ["llama.cpp", "llama-cpp-python", "vllm", "openai"])
def test_context_overflow_is_recorded_with_the_numbers_never_retried_nor_a_format_downgrade(profile: str) -> None:
    big = [Call("big", [{"role": "system", "content": "Judge."}, {"role": "user", "content": "x" * 40_000}], SCHEMA)]
    with FakeOpenAI(profile=profile, context=8192) as fake:
        [result], stats = go(big, settings_for(fake))
    refusal = profile == "llama-cpp-python"  # it refuses json_schema first, whatever the prompt
    assert result.cause == "context" and result.attempts == 1 + refusal
    assert result.error is not None and result.error.startswith("too long for the model's context: ")
    tokens, limit = result.error.removeprefix("too long for the model's context: ").split(" tokens > ")
    assert int(tokens) > 8192 and int(limit.split()[0]) == 8192
    expected = "json_object" if refusal else "json_schema"
    assert stats["format_level"] == expected and formats(fake) == ["json_schema", "json_object"][: 1 + refusal]


def test_llama_cpp_slot_share_overflow_says_how_to_start_the_server() -> None:
    medium = [Call("m", [{"role": "user", "content": "y" * 10_000}], SCHEMA)]  # 2,500 tokens > 8192 / 4 slots
    with FakeOpenAI(profile="llama.cpp") as fake:
        [result], _ = go(medium, settings_for(fake))
    assert result.cause == "context" and result.attempts == 1 and "--parallel 1" in (result.error or "")
    with FakeOpenAI(profile="llama.cpp", slots=1) as fake:
        [result], _ = go(medium, settings_for(fake))
    assert result.ok


def test_a_call_that_can_shrink_is_cut_to_fit_and_its_answer_cached_under_both_calls() -> None:
    def call(text: str, note: str | None = None) -> Call:
        def shrink(tokens: int, limit: int) -> Call | None:
            keep = int(len(text) * (limit - 500) / tokens)
            return call(text[:keep], f"cut to {keep} characters") if keep > 100 else None

        return Call("row", [{"role": "user", "content": text}], SCHEMA, shrink=shrink, note=note)

    cache = MemoryCache()
    with FakeOpenAI(profile="llama.cpp", slots=1) as fake:
        [result], _ = go([call("z" * 40_000)], settings_for(fake), cache=cache)
        assert result.ok and result.note is not None and result.note.startswith("cut to")
        [again], _ = go([call("z" * 40_000)], settings_for(fake), cache=cache)
    assert again.cached and again.note == result.note and fake.call_count == 2  # one refusal, one answer


def test_reply_budget_is_sent_and_a_runaway_reply_is_one_clear_error() -> None:
    with FakeOpenAI() as fake:
        fake.fail_next("runaway")
        [result], _ = go(make_calls(1), settings_for(fake, max_tokens=256))
    assert fake.chat_requests[0]["max_tokens"] == 256 and "max_completion_tokens" not in fake.chat_requests[0]
    assert result.cause == "length" and result.attempts == 1
    assert result.error is not None and "max_tokens = 256" in result.error and "finish_reason=length" in result.error


def test_openai_gets_max_completion_tokens_and_a_server_asking_for_it_gets_it() -> None:
    openai_body = request_body(LLMSettings(base_url="https://api.openai.com/v1", max_tokens=100), make_calls(1)[0], 0)
    local_body = request_body(LLMSettings(base_url="http://127.0.0.1:8080/v1", max_tokens=100), make_calls(1)[0], 0)
    assert openai_body["max_completion_tokens"] == 100 and "max_tokens" not in openai_body
    assert local_body["max_tokens"] == 100 and "max_completion_tokens" not in local_body
    with FakeOpenAI(profile="openai") as fake:  # o-series models refuse max_tokens
        results, _ = go(make_calls(3), settings_for(fake, model="o4-mini", max_tokens=100, concurrency=1))
    assert all(r.ok for r in results)
    assert ["max_completion_tokens" in b for b in fake.chat_requests] == [False, True, True, True]


def test_ollama_ignores_max_completion_tokens_so_it_is_not_what_we_send() -> None:
    with FakeOpenAI(profile="ollama") as fake:
        fake.fail_next("runaway")
        [result], _ = go(make_calls(1), settings_for(fake, max_tokens=64))
    assert result.cause == "length"  # bounded: the budget went as max_tokens, which Ollama honours


def test_openai_prompt_caching_is_reported_and_priced() -> None:
    shared = "Instructions and few-shot examples, the same for every row. " * 200  # ~3,000 tokens
    calls = [Call(f"r{i}", [{"role": "system", "content": shared}, {"role": "user", "content": f"row {i}"}], SCHEMA)
             for i in range(4)]
    with FakeOpenAI(profile="openai") as fake:
        summary = run(calls, settings_for(fake, concurrency=1), cache=None, progress=False)
        headers = [r["headers"] for r in fake.requests]
    assert summary.results[0].cached_tokens == 0
    assert all(r.cached_tokens >= 2048 and r.cached_tokens % 128 == 0 for r in summary.results[1:])
    assert summary.cached_tokens == sum(r.cached_tokens for r in summary.results)
    full = summary.prompt_tokens * 0.40 + summary.completion_tokens * 1.60
    assert summary.estimated_cost("gpt-4.1-mini") < full / 1e6  # cached input is cheaper
    assert headers  # the openai profile's replies carry x-ratelimit-* (checked in test_fake_openai)


def test_llama_cpp_prefix_cache_makes_shared_prefix_calls_faster() -> None:
    shared = "s" * 8_000  # 2,000 tokens
    calls = [Call(f"r{i}", [{"role": "system", "content": shared}, {"role": "user", "content": f"row {i}"}], SCHEMA)
             for i in range(3)]
    with FakeOpenAI(profile="llama.cpp", slots=1, per_token_latency=0.0005) as fake:
        summary = run(calls, settings_for(fake, concurrency=1), cache=None, progress=False)
    first, *rest = summary.results
    assert first.cached_tokens == 0 and all(r.cached_tokens >= 1990 for r in rest)
    assert all(r.latency < first.latency for r in rest)  # 1 s of prompt processing saved per call


def test_outage_pauses_the_run_and_resumes_without_errors() -> None:
    fake = FakeOpenAI(latency=0.02).start()
    port = fake.port
    restarted: list[FakeOpenAI] = []
    seen: list[str] = []
    messages: list[str] = []

    def restart_later() -> None:
        time.sleep(0.6)
        restarted.append(FakeOpenAI(port=port).start())

    def on_result(result: Any) -> None:
        seen.append(result.key)
        if len(seen) == 3:
            fake.close()  # the server goes away mid-run...
            threading.Thread(target=restart_later, daemon=True).start()  # ...and comes back

    settings = settings_for(fake, concurrency=2, outage_wait=20, probe_interval=0.1)
    try:
        results, stats = go(make_calls(12), settings, sleep=asyncio.sleep, on_result=on_result,
                            notify=messages.append)
    finally:
        for server in restarted:
            server.close()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert stats["outages"] == 1 and stats["paused_seconds"] > 0
    assert "not answering" in messages[0] and "resuming" in messages[-1]


def test_outage_that_lasts_stops_the_run_with_a_resumable_message() -> None:
    fake = FakeOpenAI().start()
    delivered: list[Any] = []

    def on_result(result: Any) -> None:
        delivered.append(result)
        if len(delivered) == 2:
            fake.close()

    settings = settings_for(fake, concurrency=2, outage_wait=0.5, probe_interval=0.1)
    cache = MemoryCache()
    with pytest.raises(ServerUnavailable, match="did not answer for 0.5s.*run the same command again"):
        go(make_calls(8), settings, sleep=asyncio.sleep, on_result=on_result, cache=cache, notify=lambda m: None)
    # the answers that made it are kept; nothing caught in the outage was recorded as an error
    assert len(delivered) >= 2 and all(r.ok for r in delivered) and len(cache) == len(delivered)


def test_a_key_echoed_in_an_error_body_is_masked() -> None:
    with FakeOpenAI() as fake:
        fake.fail_next("401")
        [result], _ = go(make_calls(1), settings_for(fake))
    assert result.error is not None and result.error.startswith("HTTP 401: Incorrect API key provided")
    assert SECRET not in result.error and "***" in result.error and result.cause == "auth"


def test_token_estimates_say_how_they_were_made_and_count_what_is_sent() -> None:
    from sheetsync.llm import estimate_call_tokens, estimate_tokens, token_method

    hello = [{"role": "user", "content": "Hello world"}]
    assert estimate_tokens(hello, "gpt-4.1-mini") == 2 + 3 + 3  # o200k: "Hello", " world"; chat format overhead
    assert token_method("gpt-4.1-mini").startswith("exact for gpt-4.1-mini (o200k_base")
    assert token_method("smollm2").startswith("approximate")
    call = make_calls(1)[0]
    settings = LLMSettings(model="smollm2")
    schema_level, instructions = estimate_call_tokens(settings, call, 0), estimate_call_tokens(settings, call, 2)
    assert schema_level > estimate_tokens(call.messages, "smollm2")  # the response_format schema is sent too
    assert instructions > estimate_tokens(call.messages, "smollm2")  # ...or its instruction in the system message
