"""Which HTTP client the SDK is handed (``sheetsync.llm.transport``): the lean wire for ``http://`` and
``https://`` servers, sized for the run, or the SDK's own client behind a proxy from the environment. The wire
itself is tested in tests/test_llm_wire.py (plain) and tests/test_llm_wire_tls.py (TLS). Nothing here is timed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sheetsync.llm import LLMSettings, MemoryCache, make_client, run_calls
from sheetsync.llm.transport import make_http_client
from sheetsync.llm.wire import LeanTransport
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_llm import SECRET, Sleeps, make_calls, settings_for


def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_make_client_puts_http_and_https_on_the_lean_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxy(monkeypatch)
    remote = make_client(LLMSettings(base_url="https://llm.example.com/v1", api_key=SECRET, concurrency=24))
    wire = remote._client._transport  # the httpx client the SDK was handed (httpx keeps it private)
    assert isinstance(wire, LeanTransport) and wire.max_idle == 24
    with FakeOpenAI(latency=0.2) as fake:
        settings = settings_for(fake, concurrency=24)
        client = make_client(settings)
        wire = client._client._transport
        assert isinstance(wire, LeanTransport)

        async def run_and_close() -> list[Any]:
            try:
                return await run_calls(make_calls(72), settings, cache=MemoryCache(), client=client, sleep=Sleeps())
            finally:
                await client.close()

        results = asyncio.run(run_and_close())
        assert all(r.ok for r in results) and fake.call_count == 72
        assert wire.connections_opened == fake.connections_opened <= 24  # kept alive and reused


def test_behind_a_proxy_the_sdk_client_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxy(monkeypatch)
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is None  # httpx's own proxy handling applies
    assert make_http_client("http://127.0.0.1:8000/v1", 64, 60.0) is not None  # not an https URL
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is not None
    monkeypatch.setenv("ALL_PROXY", "http://proxy.internal:3128")
    assert make_http_client("http://10.0.0.7:8000/v1", 64, 60.0) is None
    client = make_client(LLMSettings(base_url="http://10.0.0.7:8000/v1", api_key=SECRET))
    assert not isinstance(client._client._transport, LeanTransport)  # the SDK's own client, proxy and all
