"""The sharded connection pool (``sheetsync.llm.transport``, used for https servers) under the real openai
client and the runner, against the fake server over HTTP: requests spread over the shards, connections are
reused, and the cache, retries and the outage pause behave as with one pool. Nothing here is timed."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import httpx2
import openai
import pytest

from sheetsync.llm import LLMSettings, MemoryCache, make_client, run_calls
from sheetsync.llm.transport import ShardedTransport, make_http_client, shard_plan
from sheetsync.llm.wire import LeanTransport
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.test_llm import SECRET, Sleeps, make_calls, settings_for


def sharded_client(fake: FakeOpenAI, concurrency: int, timeout: float = 5.0) -> tuple[openai.AsyncOpenAI,
                                                                                     ShardedTransport]:
    """An ``AsyncOpenAI`` on a ``ShardedTransport`` sized as ``make_client`` sizes it, kept for inspection."""
    transport = ShardedTransport(*shard_plan(concurrency))
    http = httpx2.AsyncClient(transport=transport, timeout=timeout)
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key=SECRET, max_retries=0, timeout=timeout,
                                http_client=http)
    return client, transport


def go(calls: Any, settings: Any, client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("cache", MemoryCache())
    kwargs.setdefault("sleep", Sleeps())

    async def run_and_close() -> list[Any]:
        try:
            return await run_calls(calls, settings, client=client, **kwargs)
        finally:
            await client.close()

    return asyncio.run(run_and_close())


@pytest.mark.parametrize(("concurrency", "plan"), [
    (1, (1, 1)), (8, (1, 8)), (16, (1, 16)), (17, (2, 9)), (40, (3, 14)), (64, (4, 16)), (100, (7, 15)),
    (128, (8, 16)),
])
def test_shard_plan_uses_as_few_pools_of_at_most_16_as_fit_filled_evenly(concurrency: int,
                                                                          plan: tuple[int, int]) -> None:
    shards, per_shard = shard_plan(concurrency)
    assert (shards, per_shard) == plan
    assert per_shard <= 16 and shards * per_shard >= concurrency and (shards - 1) * per_shard < concurrency


def test_requests_spread_over_shards_and_connections_are_reused() -> None:
    with FakeOpenAI(latency=0.2) as fake:
        client, transport = sharded_client(fake, 40)
        cache = MemoryCache()
        results = go(make_calls(160), settings_for(fake, concurrency=40), client, cache=cache)
        assert all(r.ok for r in results) and fake.call_count == 160
        shards, per_shard = len(transport.pools), transport.per_shard
        assert (shards, per_shard) == (3, 14)
        assert sum(transport.sent) == 160  # every request went through a shard...
        assert all(peak <= per_shard for peak in transport.peak)  # ...none past its pool's size...
        busiest = fake.max_in_flight  # ...so the requests in flight at once needed that many shards
        used = [sent for sent in transport.sent if sent]
        assert busiest > per_shard and len(used) >= math.ceil(busiest / per_shard)
        assert transport.in_flight == [0, 0, 0]  # every connection was handed back
        # keep-alive: 160 requests over at most 40 connections, each pool holding at most its share
        assert fake.connections_opened <= 40
        assert transport.connections() == [0, 0, 0]

        # the cache sits above the transport: a re-run sends nothing, whichever shard answered the first time
        client, transport = sharded_client(fake, 40)
        again = go(make_calls(160), settings_for(fake, concurrency=40), client, cache=cache)
        assert all(r.cached for r in again) and fake.call_count == 160 and sum(transport.sent) == 0


def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_make_client_shards_https_and_puts_http_on_the_lean_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxy(monkeypatch)
    remote = make_client(LLMSettings(base_url="https://llm.example.com/v1", api_key=SECRET, concurrency=24))
    transport = remote._client._transport  # the httpx client the SDK was handed (httpx keeps it private)
    assert isinstance(transport, ShardedTransport) and (len(transport.pools), transport.per_shard) == (2, 12)
    with FakeOpenAI(latency=0.2) as fake:
        settings = settings_for(fake, concurrency=24)
        client = make_client(settings)
        wire = client._client._transport
        assert isinstance(wire, LeanTransport)
        results = go(make_calls(72), settings, client)
        assert all(r.ok for r in results) and fake.call_count == 72
        assert wire.connections_opened == fake.connections_opened <= 24  # kept alive and reused


def test_retries_and_failures_release_their_shard() -> None:
    with FakeOpenAI(latency=0.05) as fake:
        fake.fail_next("500", count=6)
        fake.fail_next("drop", count=2)  # fewer than 3 in a row: not an outage (no probes)
        fake.fail_next("malformed", count=3)
        fake.fail_next("429", count=3, retry_after=0)
        client, transport = sharded_client(fake, 20)
        results = go(make_calls(60), settings_for(fake, concurrency=20, max_retries=6), client)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        assert sum(r.attempts for r in results) == 60 + 14 == fake.call_count
        assert sum(transport.sent) == fake.call_count  # every retry went through a shard...
        assert transport.in_flight == [0, 0]  # ...and gave it back, dropped connection or not
        assert all(peak <= transport.per_shard for peak in transport.peak)


def test_timeouts_release_their_shard() -> None:
    with FakeOpenAI() as fake:
        fake.fail_next("hang", count=3, seconds=5)
        client, transport = sharded_client(fake, 20, timeout=0.3)
        results = go(make_calls(30), settings_for(fake, concurrency=20, timeout=0.3), client)
        assert all(r.ok for r in results) and sum(r.attempts for r in results) >= 33  # more if the machine is slow
        assert fake.faults_served.count("hang") == 3
        assert transport.in_flight == [0, 0]


def test_outage_pause_works_across_shards() -> None:
    fake = FakeOpenAI(latency=0.02).start()
    port = fake.port
    restarted: list[FakeOpenAI] = []
    seen: list[str] = []

    def restart_later() -> None:
        time.sleep(0.6)
        restarted.append(FakeOpenAI(port=port).start())

    def on_result(result: Any) -> None:
        seen.append(result.key)
        if len(seen) == 30:
            fake.close()  # the server goes away with requests in flight on both shards...
            threading.Thread(target=restart_later, daemon=True).start()  # ...and comes back

    settings = settings_for(fake, concurrency=24, outage_wait=20, probe_interval=0.1)
    client, transport = sharded_client(fake, 24)
    stats: dict[str, Any] = {}
    try:
        results = go(make_calls(96), settings, client, sleep=asyncio.sleep, on_result=on_result, stats=stats,
                     notify=lambda message: None)
    finally:
        for server in restarted:
            server.close()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert stats["outages"] == 1
    assert transport.in_flight == [0, 0]


def test_behind_a_proxy_the_sdk_client_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxy(monkeypatch)
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is None  # httpx's own proxy handling applies
    assert make_http_client("http://127.0.0.1:8000/v1", 64, 60.0) is not None  # not an https URL
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert make_http_client("https://api.openai.com/v1", 64, 60.0) is not None
