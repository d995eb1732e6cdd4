"""The lean wire over TLS (``https://``) under the real openai client and the runner, against the fake server
and the raw socket server of tests/test_llm_wire.py, both serving a certificate from a throwaway CA
(``trustme``). Certificates are verified as httpx verifies them: a CA the client was not told to trust and a
certificate for another host are refused; a CA named by ``SSL_CERT_FILE`` (which httpx honours) is trusted.
Over TLS the wire keeps its behaviour: keep-alive reuse, chunked, gzip, ``Connection: close`` and
read-to-close bodies, the SDK's request and errors, retries and timeouts. Nothing here is timed."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
import trustme

from sheetsync.llm import LLMSettings, MemoryCache, chat_completion, make_client, run_calls
from sheetsync.llm.client import _replays
from sheetsync.llm.wire import LeanTransport
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_llm import SECRET, Sleeps, make_calls, settings_for
from tests.test_llm_wire import ANSWER, RawServer, Reply, completion, response

BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Grade this."}]}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, no_proxy: None) -> None:
    """The client trusts the throwaway CA the way a user points httpx at a private CA."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[Callable[[Reply], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        servers.append(RawServer(reply, tls=server_tls(ca, "127.0.0.1")))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def go(settings: LLMSettings, rows: int) -> tuple[list[Any], Any]:
    client = make_client(settings)

    async def run_and_close() -> list[Any]:
        try:
            return await run_calls(make_calls(rows), settings, cache=MemoryCache(), client=client, sleep=Sleeps())
        finally:
            await client.close()

    return asyncio.run(run_and_close()), client


async def outcome(client: Any) -> Any:
    try:
        return await chat_completion(client, BODY)
    except Exception as e:  # compared below
        return e
    finally:
        await client.close()


def test_judge_over_https_sends_the_sdks_request_over_kept_alive_connections(ca: trustme.CA, trusted: None) -> None:
    with FakeOpenAI(latency=0.05, tls=server_tls(ca, "127.0.0.1")) as fake:
        assert fake.base_url.startswith("https://")
        results, client = go(settings_for(fake, concurrency=8), 40)
        wire = client._client._transport
        assert all(r.ok for r in results) and fake.call_count == 40
        assert isinstance(wire, LeanTransport) and _replays[client] is not None
        assert wire.connections_opened == fake.connections_opened <= 8  # TLS sessions reused
        # the SDK on its own default client (httpx, httpcore, the same trust settings) sends the same request
        sdk = openai.AsyncOpenAI(base_url=fake.base_url, api_key=SECRET, timeout=5.0, max_retries=0)
        ours = make_client(settings_for(fake))
        replies = asyncio.run(outcome(ours)), asyncio.run(outcome(sdk))
        theirs, mine = fake.requests[-1], fake.requests[-2]
    assert not any(isinstance(r, Exception) for r in replies), replies
    assert mine == theirs and mine["headers"]["authorization"] == f"Bearer {SECRET}"


def test_faults_and_timeouts_over_https(ca: trustme.CA, trusted: None) -> None:
    with FakeOpenAI(tls=server_tls(ca, "127.0.0.1")) as fake:
        fake.fail_next("500", count=2)
        fake.fail_next("429", retry_after=0)
        fake.fail_next("drop")
        fake.fail_next("malformed")
        results, _ = go(settings_for(fake, concurrency=2, max_retries=6), 6)
        assert all(r.ok for r in results), [r.error for r in results]
        assert sum(r.attempts for r in results) == 6 + 5 == fake.call_count
        fake.fail_next("hang", seconds=3)
        [hung], _ = go(settings_for(fake, concurrency=1, max_retries=0, timeout=0.3), 1)
    assert hung.error == "timeout after 0.3s" and hung.cause == "timeout"


@pytest.mark.parametrize(("names", "trust", "refusal"), [
    (("127.0.0.1",), False, "unable to get local issuer certificate"),  # a CA nobody told the client about
    (("llm.example.com",), True, "IP address mismatch"),  # a trusted CA, but the certificate is another host's
])
def test_certificates_are_verified(ca: trustme.CA, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, no_proxy: None,
                                   names: tuple[str, ...], trust: bool, refusal: str) -> None:
    if trust:
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with FakeOpenAI(tls=server_tls(ca, *names)) as fake:
        error = asyncio.run(outcome(make_client(settings_for(fake))))
        assert fake.call_count == 0  # nothing was sent
    assert type(error) is openai.APIConnectionError
    assert isinstance(error.__cause__, httpx2.ConnectError)
    assert isinstance(error.__cause__.__cause__, ssl.SSLCertVerificationError) and refusal in str(error.__cause__)


def run_raw(server: RawServer, rows: int) -> tuple[list[Any], LeanTransport]:
    settings = LLMSettings(base_url=server.base_url, api_key=SECRET, timeout=5.0, max_retries=2, concurrency=1,
                           outage_wait=0)
    results, client = go(settings, rows)
    return results, client._client._transport


def test_keep_alive_chunked_and_gzip_over_https(tls_server: Any, trusted: None) -> None:
    packed = gzip.compress(completion())
    chunks = [packed[i:i + 50] for i in range(0, len(packed), 50)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    server = tls_server(lambda n: (response(framed, "Transfer-Encoding: chunked", "Content-Encoding: gzip"), False))
    results, wire = run_raw(server, 4)
    assert [r.value for r in results] == [ANSWER] * 4
    assert server.connections == wire.connections_opened == 1


def test_connection_close_and_read_to_close_bodies_over_https(tls_server: Any, trusted: None) -> None:
    body = completion()

    def reply(n: int) -> tuple[bytes, bool]:
        if n % 2:
            return response(body, f"Content-Length: {len(body)}", "Connection: close"), True
        return response(body, version="HTTP/1.0"), True  # no length: the body ends when the server closes

    server = tls_server(reply)
    results, wire = run_raw(server, 4)
    assert [r.value for r in results] == [ANSWER] * 4 and all(r.attempts == 1 for r in results)
    assert server.requests == 4 and server.connections == wire.connections_opened == 4


def test_a_server_that_never_finishes_the_handshake_is_a_connect_timeout(trusted: None) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # the kernel accepts the TCP connection; nobody ever answers the ClientHello
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
        client = make_client(LLMSettings(base_url=url, api_key=SECRET, timeout=0.3))
        error = asyncio.run(outcome(client))
    finally:
        listener.close()
    assert type(error) is openai.APITimeoutError and isinstance(error.__cause__, httpx2.ConnectTimeout)
