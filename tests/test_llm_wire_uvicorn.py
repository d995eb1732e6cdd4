"""The lean wire against a production HTTP server: uvicorn, which serves vLLM's and llama-cpp-python's
OpenAI-compatible APIs, with both of its HTTP parsers (h11 and httptools). Replies alternate between a
Content-Length body and a chunked one sent in pieces; the server closes idle connections after its
keep-alive timeout, so a connection the wire kept must be noticed as closed and never reused. Every row must
come back answered, through the real openai client and the runner. Nothing here is timed."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from sheetsync.llm import LLMSettings, MemoryCache, make_client, run_calls
from sheetsync.llm.wire import LeanTransport
from tests.test_llm import SECRET, Sleeps, make_calls

ANSWER = {"critique": "Fine.", "verdict": "pass"}


class App:
    """An OpenAI-compatible chat endpoint as an ASGI app: a reply the size of a long critique, every second
    one chunked."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body)
        self.requests += 1
        answer = dict(ANSWER, critique="Fine. " * 300)
        reply = json.dumps({
            "id": f"chatcmpl-{self.requests}", "object": "chat.completion", "created": 0, "model": request["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(answer)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }).encode()
        chunked = self.requests % 2 == 0
        headers = [(b"content-type", b"application/json")]
        if not chunked:
            headers.append((b"content-length", str(len(reply)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if chunked:  # no Content-Length and several body messages: uvicorn sends Transfer-Encoding: chunked
            for i in range(0, len(reply), 500):
                await send({"type": "http.response.body", "body": reply[i:i + 500], "more_body": True})
        await send({"type": "http.response.body", "body": b"" if chunked else reply, "more_body": False})


@pytest.fixture(params=["h11", "httptools"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, App]]:
    app = App()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=request.param, log_level="warning", timeout_keep_alive=1, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1", app
    srv.should_exit = True
    thread.join(timeout=10)


def test_every_row_answered_over_keep_alive_and_chunked_replies(server: tuple[str, App]) -> None:
    base_url, app = server
    settings = LLMSettings(base_url=base_url, api_key=SECRET, timeout=30.0, max_retries=0, concurrency=8,
                           outage_wait=0)
    client = make_client(settings)
    transport = client._client._transport  # the httpx client the SDK was handed (httpx keeps it private)
    assert isinstance(transport, LeanTransport)

    async def go() -> list[Any]:
        try:
            first = await run_calls(make_calls(120, prefix="a"), settings, cache=MemoryCache(), client=client,
                                    sleep=Sleeps())
            await asyncio.sleep(1.5)  # past the server's keep-alive timeout: it closes every idle connection
            second = await run_calls(make_calls(40, prefix="b"), settings, cache=MemoryCache(), client=client,
                                     sleep=Sleeps())
            return first + second
        finally:
            await client.close()

    results = asyncio.run(go())
    assert [r.error for r in results if r.error] == []
    assert all(r.value["verdict"] == "pass" and r.value["critique"].startswith("Fine.") for r in results)
    assert app.requests == 160  # max_retries=0: nothing was sent twice
    assert transport.connections_opened > 8  # the connections the server closed were replaced, not reused
