"""The HTTP client the SDK is handed: the lean wire for ``http://`` servers (``wire``), else a sharded pool.

A sharded HTTP transport spreads requests over several small connection pools instead of one big one.

Why: httpcore's connection pool re-scans every connection it holds each time a request enters or a
response is closed (``AsyncConnectionPool._assign_requests_to_connections``, which also probes each idle
socket for ``has_expired``). With one pool of C connections that is O(C) work per event, O(C²) per wave of
C requests: at C=128 about 0.2 ms of the 1.4 ms of client CPU a request costs (``scripts/bench_concurrency.py``,
"one pool" against "sheetsync"). ``ShardedTransport`` keeps ``ceil(C/16)``
pools of at most 16 connections and sends each request to the pool with the fewest requests in flight, so
every scan is O(16) and the pools stay evenly filled (a pool never queues while another has room).

Everything above the transport is unchanged: the ``openai`` SDK still builds, authenticates and parses every
request, and our runner's cache, retries and outage pause never see the shards. ``https://`` servers (OpenAI,
Azure, hosted endpoints) use it; ``http://`` ones use the lean wire, which costs less CPU still. Behind an
HTTP(S) proxy configured in the environment, ``make_http_client`` returns None and the SDK's own client
(which honours the proxy variables) is used instead.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx2

SHARD_CONNECTIONS = 16  # connections per pool: the pool scan stays this size whatever the concurrency


def shard_plan(concurrency: int, per_shard: int = SHARD_CONNECTIONS) -> tuple[int, int]:
    """(pools, connections per pool) for ``concurrency`` requests in flight: as few pools as fit, filled evenly."""
    shards = max(1, math.ceil(concurrency / per_shard))
    return shards, max(1, math.ceil(concurrency / shards))


class _Released(httpx2.AsyncByteStream):
    """A response body that tells its shard when it is closed (that is when its connection is free again)."""

    def __init__(self, stream: httpx2.AsyncByteStream, transport: ShardedTransport, shard: int) -> None:
        self._stream = stream
        self._transport = transport
        self._shard: int | None = shard

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._shard is not None:
                self._transport._done(self._shard)
                self._shard = None


class ShardedTransport(httpx2.AsyncBaseTransport):
    """``shards`` independent ``AsyncHTTPTransport`` pools of ``per_shard`` connections; least-busy routing.

    A request counts as in flight on its shard from the moment it is sent until its response body is
    closed (or it fails), exactly the span during which it holds a connection. ``sent`` and ``peak`` (most
    requests in flight at once) are kept per shard for tests and diagnostics.
    """

    def __init__(self, shards: int, per_shard: int) -> None:
        if shards < 1 or per_shard < 1:
            raise ValueError(f"need at least one shard of one connection, got {shards} × {per_shard}")
        context = httpx2.create_ssl_context()  # one context for all shards: loading CAs is slow
        limits = httpx2.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)  # 5 s keep-alive
        self.per_shard = per_shard
        self.pools = [httpx2.AsyncHTTPTransport(verify=context, limits=limits) for _ in range(shards)]
        self.in_flight = [0] * shards
        self.sent = [0] * shards
        self.peak = [0] * shards

    def _pick(self) -> int:
        busy = self.in_flight
        best = 0
        for i in range(1, len(busy)):
            if busy[i] < busy[best]:
                best = i
        return best

    def _done(self, shard: int) -> None:
        self.in_flight[shard] -= 1

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        shard = self._pick()
        busy = self.in_flight[shard] = self.in_flight[shard] + 1
        self.sent[shard] += 1
        if busy > self.peak[shard]:
            self.peak[shard] = busy
        try:
            response = await self.pools[shard].handle_async_request(request)
        except BaseException:
            self._done(shard)
            raise
        response.stream = _Released(response.stream, self, shard)  # type: ignore[arg-type]
        return response

    def connections(self) -> list[int]:
        """Open connections per shard (what the pools hold now, idle or busy)."""
        return [len(pool._pool.connections) for pool in self.pools]

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def _proxied(base_url: str) -> bool:
    """Whether the environment routes ``base_url`` through a proxy (then the SDK's own client handles it)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)


def make_http_client(base_url: str, concurrency: int, timeout: float) -> httpx2.AsyncClient | None:
    """The ``http_client`` for an ``AsyncOpenAI`` running ``concurrency`` requests at once, or None behind a proxy.

    Same defaults as the SDK's own client (redirects followed, environment honoured for certificates), on
    the lean HTTP/1.1 wire for ``http://`` servers (``wire``) and the sharded httpx pool for ``https://``.
    """
    if _proxied(base_url):
        return None
    if urlsplit(base_url).scheme == "http":
        from sheetsync.llm.wire import LeanTransport

        return httpx2.AsyncClient(transport=LeanTransport(max_idle=concurrency), timeout=timeout,
                                  follow_redirects=True)
    shards, per_shard = shard_plan(concurrency)
    return httpx2.AsyncClient(transport=ShardedTransport(shards, per_shard), timeout=timeout, follow_redirects=True)
