"""The lean HTTP/1.1 wire (``sheetsync.llm.wire``) under the real openai client and the runner, against a raw
socket server that answers the way real servers do on the wire: chunked and gzip bodies (Ollama's Go
server chunks large replies), ``Connection: close``, HTTP/1.0 bodies that run to the close, interim ``100``
replies, idle connections closed by the server, and garbage. The common faults (429, 500, dropped and hung
connections, outages) are covered through this wire by tests/test_llm.py and tests/test_llm_servers.py,
which build their client with ``make_client``. Nothing here is timed."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sheetsync.llm import LLMSettings, MemoryCache, make_client, run_calls, wire
from sheetsync.llm.wire import LeanTransport
from tests.test_llm import SECRET, Sleeps, make_calls

ANSWER = {"critique": "Fine.", "verdict": "pass"}
Reply = Callable[[int], tuple[bytes, bool]]  # request number -> (raw response, close the connection after it)


def completion(content: dict[str, Any] = ANSWER) -> bytes:
    return json.dumps({
        "id": "chatcmpl-raw", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": json.dumps(content)}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }).encode()


class RawServer:
    """HTTP/1.1 on a socket, one thread per connection; ``reply`` writes the bytes of each answer."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply, self.requests, self.connections = reply, 0, 0
        self.tls = tls  # a server-side context: https (tests/test_llm_wire_tls.py)
        self.heads: list[bytes] = []  # each request's head, in arrival order
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                if outer.tls is not None:
                    self.request = outer.tls.wrap_socket(self.request, server_side=True)
                super().setup()

            def handle(self) -> None:
                with outer.lock:
                    outer.connections += 1
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        byte = self.rfile.read(1)
                        if not byte:
                            return
                        head += byte
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    self.rfile.read(length)
                    with outer.lock:
                        outer.requests += 1
                        outer.heads.append(head)
                        number = outer.requests
                    raw, close = outer.reply(number)
                    self.wfile.write(raw)
                    self.wfile.flush()
                    if close:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Reply], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def run_against(server: RawServer, rows: int, **overrides: Any) -> tuple[list[Any], LeanTransport]:
    values: dict[str, Any] = {"base_url": server.base_url, "api_key": SECRET, "timeout": 5.0, "max_retries": 2,
                              "concurrency": 1, "outage_wait": 0}
    settings = LLMSettings(**(values | overrides))
    client = make_client(settings)
    transport = client._client._transport  # the httpx client the SDK was handed (httpx keeps it private)
    assert isinstance(transport, LeanTransport)

    async def go() -> list[Any]:
        try:
            return await run_calls(make_calls(rows), settings, cache=MemoryCache(), client=client, sleep=Sleeps())
        finally:
            await client.close()

    return asyncio.run(go()), transport


def response(body: bytes, *headers: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{version} {status}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_reuses_one_connection(raw_server: Any) -> None:
    body = completion()
    server = raw_server(lambda n: (response(body, f"Content-Length: {len(body)}"), False))
    results, transport = run_against(server, 6)
    assert [r.value for r in results] == [ANSWER] * 6
    assert server.requests == 6 and server.connections == transport.connections_opened == 1


def test_chunked_gzip_body_is_decoded(raw_server: Any) -> None:
    packed = gzip.compress(completion())
    chunks = [packed[i:i + 50] for i in range(0, len(packed), 50)]
    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-Trailer: t\r\n\r\n"
    server = raw_server(lambda n: (response(framed, "Transfer-Encoding: chunked", "Content-Encoding: gzip"), False))
    results, transport = run_against(server, 3)
    assert [r.value for r in results] == [ANSWER] * 3
    assert server.connections == 1  # the chunked body was framed: the connection stayed usable


def test_connection_close_and_http10_bodies_that_run_to_the_close(raw_server: Any) -> None:
    body = completion()

    def reply(n: int) -> tuple[bytes, bool]:
        if n % 2:
            return response(body, f"Content-Length: {len(body)}", "Connection: close"), True
        return response(body, version="HTTP/1.0"), True  # no length: the body ends when the server closes

    server = raw_server(reply)
    results, transport = run_against(server, 4)
    assert [r.value for r in results] == [ANSWER] * 4 and all(r.attempts == 1 for r in results)
    assert server.requests == 4 and server.connections == 4  # never reused after a close


def test_interim_100_reply_is_skipped(raw_server: Any) -> None:
    body = completion()
    server = raw_server(lambda n: (b"HTTP/1.1 100 Continue\r\n\r\n" + response(body, f"Content-Length: {len(body)}"),
                                   False))
    results, _ = run_against(server, 2)
    assert [r.value for r in results] == [ANSWER] * 2 and all(r.attempts == 1 for r in results)


def test_error_status_reaches_the_sdk_as_its_own_error(raw_server: Any) -> None:
    error = json.dumps({"error": {"message": "Invalid model.", "type": "invalid_request_error"}}).encode()
    server = raw_server(lambda n: (response(error, f"Content-Length: {len(error)}", status="404 Not Found"), False))
    [result], _ = run_against(server, 1)
    assert result.error is not None and result.error.startswith("HTTP 404") and result.attempts == 1


def test_idle_connections_past_their_expiry_are_not_reused(raw_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "KEEPALIVE_EXPIRY", 0.0)
    body = completion()
    server = raw_server(lambda n: (response(body, f"Content-Length: {len(body)}"), False))
    results, transport = run_against(server, 3)
    assert all(r.ok for r in results) and server.connections == transport.connections_opened == 3


def test_server_closing_idle_connections_does_not_fail_rows(raw_server: Any) -> None:
    body = completion()  # keep-alive promised, then the server hangs up after every answer anyway
    server = raw_server(lambda n: (response(body, f"Content-Length: {len(body)}"), True))
    results, _ = run_against(server, 5, max_retries=3)
    assert all(r.ok for r in results), [r.error for r in results]


@pytest.mark.parametrize("garbage", [b"SPDY/9 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
                                     b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"short\""])
def test_garbage_on_the_wire_is_a_connection_error_result(raw_server: Any, garbage: bytes) -> None:
    server = raw_server(lambda n: (garbage, True))
    [result], _ = run_against(server, 1, max_retries=1)
    assert result.error is not None and result.error.startswith("connection error") and result.attempts == 2
    assert result.cause == "connection"
