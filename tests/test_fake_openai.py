"""The fake server itself, checked through the real openai client (sync and async) over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import openai
import pytest

from sheetsync.testing.fake_openai import DEFAULT_ANSWER, FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def client(fake: FakeOpenAI, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, **kwargs)  # type: ignore[arg-type]


def ask(c: openai.OpenAI, text: str) -> str | None:
    response = c.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": text}])
    return response.choices[0].message.content


def test_completion_looks_like_openai(fake: FakeOpenAI) -> None:
    with client(fake) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="m1", messages=[{"role": "user", "content": "x" * 400}]
        )
        response = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert (
        response.object == "chat.completion"
        and response.id.startswith("chatcmpl-")
        and response.model == "m1"
    )
    assert json.loads(response.choices[0].message.content or "") == DEFAULT_ANSWER
    assert response.choices[0].finish_reason == "stop"
    assert (
        response.usage is not None
        and response.usage.prompt_tokens >= 100
        and response.usage.completion_tokens > 0
    )
    assert fake.call_count == 1 and fake.requests[0]["path"] == "/v1/chat/completions"


def test_models_endpoint(fake: FakeOpenAI) -> None:
    with client(fake) as c:
        assert "gpt-4.1-mini" in [m.id for m in c.models.list()]
    assert fake.call_count == 0


def test_script_responder_and_reset(fake: FakeOpenAI) -> None:
    fake.responder = lambda request: "raw text for " + request["model"]
    fake.script("row-9", {"critique": "bad", "verdict": "fail"})
    with client(fake) as c:
        assert json.loads(ask(c, "judge row-9") or "") == {"critique": "bad", "verdict": "fail"}
        assert ask(c, "judge row-1") == "raw text for gpt-4.1-mini"
        fake.reset()
        assert ask(c, "judge row-9") == "raw text for gpt-4.1-mini"
    assert fake.call_count == 1


def test_faults_match_rows_and_carry_retry_after(fake: FakeOpenAI) -> None:
    fake.fail_next("429", match="row-2", retry_after=2)
    fake.fail_next("500")
    with client(fake) as c:
        with pytest.raises(openai.InternalServerError):
            ask(c, "row-1")  # the unmatched 500 applies; the 429 waits for row-2
        assert ask(c, "row-1") is not None
        with pytest.raises(openai.RateLimitError) as caught:
            ask(c, "row-2")
    headers = caught.value.response.headers
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "2000"
    assert fake.faults_served == ["500", "429"]


def test_malformed_drop_and_refusals(fake: FakeOpenAI) -> None:
    fake.fail_next("malformed")
    fake.fail_next("drop")
    with client(fake) as c:
        with pytest.raises(json.JSONDecodeError):
            ask(c, "a")
        with pytest.raises(openai.APIConnectionError):
            ask(c, "b")
        fake.refuse_json_schema = True
        with pytest.raises(openai.BadRequestError) as caught:
            c.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "c"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": {"type": "object"}},
                },
            )
        assert caught.value.param == "response_format" and "json_schema" in caught.value.message
        assert ask(c, "no response_format is still fine") is not None


def test_hang_outlasts_a_short_timeout(fake: FakeOpenAI) -> None:
    fake.fail_next("hang", seconds=5)
    started = time.perf_counter()
    with client(fake, timeout=0.2) as c, pytest.raises(openai.APITimeoutError):
        ask(c, "x")
    assert time.perf_counter() - started < 1.5


def test_unknown_fault_kind_is_rejected(fake: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.fail_next("503")


def test_serves_sixteen_slow_requests_concurrently(fake: FakeOpenAI) -> None:
    fake.latency = 0.2

    async def burst() -> float:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0) as c:
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    c.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
                    for i in range(16)
                )
            )
            return time.perf_counter() - started

    assert asyncio.run(burst()) < 2.5  # serialised it would take 3.2 s; speed itself is for the benchmarks
    assert fake.max_in_flight == 16
