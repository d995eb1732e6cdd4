"""The judge's client (``sheetsync.llm.client``): on the lean wire it replays the SDK's own request with each new
body instead of going through the SDK and httpx per call. Checked here against the SDK itself, over real
sockets: the same request on the wire (URL, auth, every header), the same errors for the same faults, and the
cases the replay hands back to the SDK (redirects, cookies, credentials in the URL). Nothing here is timed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest

from sheetsync.llm import LLMSettings, chat_completion, make_client
from sheetsync.llm.client import _replays
from sheetsync.llm.transport import make_http_client
from sheetsync.llm.wire import LeanTransport
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_llm import SECRET
from tests.test_llm_wire import RawServer, Reply, completion, response

BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Grade this: ünïcode ✓"}],
        "temperature": 0}


def sdk_client(base_url: str, timeout: float = 5.0) -> openai.AsyncOpenAI:
    """What the replay must be indistinguishable from: the SDK's own path on the same wire."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=SECRET, timeout=timeout, max_retries=0,
                              http_client=make_http_client(base_url, 4, timeout))


def judge_client(base_url: str, timeout: float = 5.0) -> openai.AsyncOpenAI:
    return make_client(LLMSettings(base_url=base_url, api_key=SECRET, timeout=timeout, concurrency=4))


@pytest.fixture
def raw_server() -> Iterator[Callable[[Reply], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class PostCounter:
    """Counts calls of the SDK's generic ``post`` (and still calls it): how many went through the SDK."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.calls = 0
        original = client.post

        async def post(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        client.post = post  # type: ignore[method-assign]


def content(reply: Any) -> str:
    return reply["choices"][0]["message"]["content"]


async def outcome(client: Any, body: dict[str, Any] = BODY) -> Any:
    """The reply, or the exception raised, with the client closed after."""
    try:
        return await chat_completion(client, body)
    except Exception as e:  # compared below, whatever it is
        return e
    finally:
        await client.close()


def test_replay_sends_exactly_the_request_the_sdk_sends() -> None:
    with FakeOpenAI() as fake:
        ours = judge_client(fake.base_url)
        through_sdk = PostCounter(ours)
        copy = ours.with_options(timeout=3.0)  # not make_client's: it goes through the SDK
        copy_through_sdk = PostCounter(copy)

        async def ours_then_its_copy() -> Any:
            reply = await chat_completion(ours, BODY)
            await outcome(copy)  # closes the HTTP client the two share
            return reply

        replies = asyncio.run(ours_then_its_copy()), asyncio.run(outcome(sdk_client(fake.base_url)))
        replayed, copied, sdk = fake.requests
    assert through_sdk.calls == 0 and _replays[ours] is not None and copy_through_sdk.calls == 1
    assert isinstance(ours._client._transport, LeanTransport)
    assert content(replies[0]) == content(replies[1]) != ""
    assert replayed == sdk  # method, path, body and every header: Authorization, User-Agent, X-Stainless-*
    assert replayed["headers"]["authorization"] == f"Bearer {SECRET}"
    assert replayed["headers"]["x-stainless-read-timeout"] == "5.0"
    assert copied["headers"]["x-stainless-read-timeout"] == "3.0"


@pytest.mark.parametrize("kind", ["400", "401", "429", "500", "context", "malformed", "drop"])
def test_each_fault_raises_what_the_sdk_raises(kind: str) -> None:
    with FakeOpenAI() as fake:
        fake.fail_next(kind, retry_after=7)
        ours = asyncio.run(outcome(judge_client(fake.base_url)))
        fake.fail_next(kind, retry_after=7)
        theirs = asyncio.run(outcome(sdk_client(fake.base_url)))
    assert isinstance(ours, Exception) and type(ours) is type(theirs)
    assert str(ours) == str(theirs)
    if isinstance(ours, openai.APIStatusError):
        assert ours.status_code == theirs.status_code and ours.body == theirs.body
        per_reply = {"date": "", "x-request-id": ""}  # the fake's clock and counter
        assert dict(ours.response.headers) | per_reply == dict(theirs.response.headers) | per_reply
        assert ours.request.url == theirs.request.url
    if isinstance(ours, openai.APIConnectionError):  # the runner reports the cause
        assert type(ours.__cause__) is type(theirs.__cause__)


def test_a_hung_server_is_the_sdks_timeout_error() -> None:
    with FakeOpenAI() as fake:
        fake.fail_next("hang", count=2, seconds=3)
        ours = asyncio.run(outcome(judge_client(fake.base_url, timeout=0.3)))
        theirs = asyncio.run(outcome(sdk_client(fake.base_url, timeout=0.3)))
    assert type(ours) is type(theirs) is openai.APITimeoutError
    assert isinstance(ours.__cause__, httpx2.ReadTimeout)


def test_a_redirect_is_followed_by_the_sdk(raw_server: Any) -> None:
    body = completion()
    moved = response(b"", "Location: /v2/chat/completions", "Content-Length: 0", status="307 Temporary Redirect")

    def reply(n: int) -> tuple[bytes, bool]:
        return (moved, False) if n <= 2 else (response(body, f"Content-Length: {len(body)}"), False)

    server = raw_server(reply)
    client = judge_client(server.base_url)
    reply_json = asyncio.run(outcome(client))
    assert json.loads(reply_json["choices"][0]["message"]["content"]) == {"critique": "Fine.", "verdict": "pass"}
    # the replay's POST met the redirect; the SDK sent the call again and httpx followed the redirect
    assert [head.split(b" ", 2)[:2] for head in server.heads] == [
        [b"POST", b"/v1/chat/completions"], [b"POST", b"/v1/chat/completions"], [b"POST", b"/v2/chat/completions"]]


def test_a_cookie_from_the_server_is_kept_and_sent_back(raw_server: Any) -> None:
    body = completion()
    server = raw_server(lambda n: (response(body, f"Content-Length: {len(body)}",
                                            *(["Set-Cookie: route=r7; Path=/"] if n == 1 else [])), False))
    client = judge_client(server.base_url)

    async def twice() -> None:
        try:
            for _ in range(2):
                await chat_completion(client, BODY)
        finally:
            await client.close()

    asyncio.run(twice())
    assert b"cookie" not in server.heads[0].lower()
    assert b"\r\nCookie: route=r7\r\n" in server.heads[1]  # httpx's jar has it; the SDK sends from now on
    assert _replays[client] is None


def test_credentials_in_the_base_url_go_through_the_sdk() -> None:
    with FakeOpenAI() as fake:
        url = f"http://bob:pw@127.0.0.1:{fake.port}/v1"
        ours, theirs = judge_client(url), sdk_client(url)
        replies = asyncio.run(outcome(ours)), asyncio.run(outcome(theirs))
        requests = fake.requests
    assert content(replies[0]) == content(replies[1]) != ""
    assert _replays[ours] is None and requests[0] == requests[1]  # httpx's own auth from the URL, as the SDK's
