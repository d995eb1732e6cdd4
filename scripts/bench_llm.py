"""Benchmark of the LLM-call layer against the local fake OpenAI server (issue #4, "Performance").

Run: ``.venv/bin/python scripts/bench_llm.py`` (about 2.5 minutes). The fake server runs in a child process,
as a real server would, so its threads do not compete with the client for this process's GIL. It measures:

1. 500 rows at concurrency 16 with the fake answering after 200 ms, against the ideal ``ceil(500/16) * 0.2 s``
   (target: at most 1.15x), after a 16-row warm-up that pays the one-time costs (lazy imports inside the
   SDK and jsonschema, TCP connections); the cold figure is printed too;
2. the same run repeated with the same cache (target: 0 calls);
3. a plain sequential loop with the openai client, one row at a time (50 rows, extrapolated to 500);
4. memory as rows grow from 1k to 50k: tracemalloc peak of ``run_calls`` fed by a generator, with an in-process
   fast fake client (the HTTP path is too slow under tracemalloc for 50k rows), both keeping results and
   streaming them to ``on_result``; plus peak RSS for 1k and 5k rows through the real client and fake server.

Call counts come from the server (``GET /_fake/stats``), not from the client's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a source checkout

import openai
from openai.types.chat import ChatCompletion

from sheetsync.llm import Call, LLMSettings, MemoryCache, Result, run, run_calls

ROWS, CONCURRENCY, LATENCY = 500, 16, 0.2
SEQUENTIAL_SAMPLE = 50
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["critique", "verdict"],
    "properties": {"critique": {"type": "string"}, "verdict": {"type": "string", "enum": ["pass", "fail"]}},
}
SYSTEM = "You are a strict judge of customer-support answers. " * 20


def calls(n: int, prefix: str = "row") -> Iterator[Call]:
    """Rows as a generator, like a store cursor: nothing is materialised up front."""
    for i in range(n):
        yield Call(
            key=f"{prefix}-{i}",
            messages=[
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": f"<row {prefix}-{i}> The customer asked about order {i}. " + "x" * 400,
                },
            ],
            schema=SCHEMA,
            schema_name="judgement",
        )


class _FastCompletions:
    def __init__(self) -> None:
        self.count = 0

    async def create(self, **kwargs: Any) -> ChatCompletion:
        self.count += 1
        await asyncio.sleep(0)
        return ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{self.count}",
                "object": "chat.completion",
                "created": 0,
                "model": kwargs["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": '{"critique": "Fine.", "verdict": "pass"}',
                        },
                    }
                ],
                "usage": {"prompt_tokens": 300, "completion_tokens": 12, "total_tokens": 312},
            }
        )


class FastFakeClient:
    """In-process stand-in for AsyncOpenAI (``client=`` injection): no sockets, so 50k rows fit under tracemalloc."""

    def __init__(self) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = _FastCompletions()


def peak_traced(n: int, keep_results: bool) -> tuple[float, float]:
    """(tracemalloc peak in MB, seconds) for one ``run_calls`` over n generated rows."""
    settings = LLMSettings(base_url="http://fast.invalid/v1", api_key="sk-bench", concurrency=CONCURRENCY)
    sink: list[int] = [0]

    def count(_: Result) -> None:
        sink[0] += 1

    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    results = asyncio.run(
        run_calls(
            calls(n),
            settings,
            cache=None,
            client=FastFakeClient(),
            on_result=count,
            keep_results=keep_results,
        )
    )
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sink[0] == n and len(results) == (n if keep_results else 0)
    del results
    return peak / 1e6, elapsed


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """Start ``python -m sheetsync.testing.fake_openai`` in a child process; yield its base URL."""
    command = [sys.executable, "-m", "sheetsync.testing.fake_openai", "--latency", str(latency)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait(timeout=10)


def server_calls(base_url: str) -> int:
    """Chat completion requests the fake has received so far."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_fake/stats", timeout=5) as response:
        return int(json.load(response)["call_count"])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        del os.environ[name]
    print(
        f"python {platform.python_version()}, openai {openai.__version__}, {os.cpu_count()} CPUs\n",
        flush=True,
    )
    rows: list[tuple[str, str, str, str]] = []

    # 1-3: latency-bound runs against the fake at 200 ms
    with fake_server(LATENCY) as base_url:
        settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=CONCURRENCY)
        ideal = math.ceil(ROWS / CONCURRENCY) * LATENCY
        cold = run(list(calls(ROWS, prefix="cold")), settings, cache=MemoryCache(), progress=False)
        rows.append(
            (
                f"cold first run, c={CONCURRENCY}",
                f"{ROWS}",
                f"{cold.wall_time:.2f} s",
                f"includes one-time costs (lazy imports, connections); ratio {cold.wall_time / ideal:.3f}x",
            )
        )
        print(" | ".join(rows[-1]), flush=True)  # progress while the long runs go on
        run(list(calls(CONCURRENCY, prefix="warm")), settings, cache=MemoryCache(), progress=False)

        cache = MemoryCache()
        before = server_calls(base_url)
        first = run(list(calls(ROWS)), settings, cache=cache, progress=False)
        made = server_calls(base_url) - before
        ratio = first.wall_time / ideal
        assert first.errors == 0 and made == ROWS
        rows.append(
            (
                f"concurrent, c={CONCURRENCY}",
                f"{ROWS}",
                f"{first.wall_time:.2f} s",
                f"{made} calls; ideal {ideal:.2f} s; ratio {ratio:.3f}x (target <= 1.15x) "
                + ("PASS" if ratio <= 1.15 else "FAIL"),
            )
        )
        print(" | ".join(rows[-1]), flush=True)  # progress while the long runs go on

        before = server_calls(base_url)
        again = run(list(calls(ROWS)), settings, cache=cache, progress=False)
        made = server_calls(base_url) - before
        rows.append(
            (
                "same run repeated (cache)",
                f"{ROWS}",
                f"{again.wall_time:.2f} s",
                f"{made} calls made, {again.cache_hits} cache hits (target 0 calls) "
                + ("PASS" if made == 0 else "FAIL"),
            )
        )
        print(" | ".join(rows[-1]), flush=True)  # progress while the long runs go on

        client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60)
        started = time.perf_counter()
        for call in calls(SEQUENTIAL_SAMPLE, prefix="seq"):
            messages: Any = call.messages
            response = client.chat.completions.create(model=settings.model, messages=messages, temperature=0)
            assert response.choices[0].message.content
        sequential = time.perf_counter() - started
        client.close()
        extrapolated = sequential * ROWS / SEQUENTIAL_SAMPLE
        rows.append(
            (
                "sequential loop, openai client",
                f"{SEQUENTIAL_SAMPLE} -> {ROWS}",
                f"{extrapolated:.1f} s",
                f"EXTRAPOLATED from {SEQUENTIAL_SAMPLE} rows in {sequential:.2f} s; "
                f"{extrapolated / first.wall_time:.1f}x slower than concurrent",
            )
        )
        print(" | ".join(rows[-1]), flush=True)  # progress while the long runs go on

    # 4a: memory through the runner with the in-process fast fake (tracemalloc)
    memory: dict[tuple[int, bool], tuple[float, float]] = {}
    for keep in (False, True):
        for n in (1_000, 50_000):
            memory[(n, keep)] = peak_traced(n, keep)
            print(f"tracemalloc n={n} keep_results={keep}: peak {memory[(n, keep)][0]:.2f} MB", flush=True)
    for keep, label in ((False, "streamed to on_result"), (True, "results kept in list")):
        small, big = memory[(1_000, keep)], memory[(50_000, keep)]
        per_row = max(0.0, (big[0] - small[0]) * 1e6 / 49_000)  # noise can make it slightly negative
        rows.append(
            (
                f"memory, {label}",
                "1k -> 50k",
                f"{small[0]:.2f} -> {big[0]:.2f} MB",
                f"tracemalloc peak, in-process fast fake client; {per_row:.0f} B/row growth; 50k rows in {big[1]:.1f} s",
            )
        )

    # 4b: peak RSS through the real client and the fake server over HTTP (no tracemalloc: it is 5x slower)
    with fake_server(0.0) as base_url:
        settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=CONCURRENCY)
        rss: list[tuple[int, float, float]] = []
        for n in (1_000, 5_000):
            started = time.perf_counter()
            summary = run(
                calls(n, prefix=f"rss{n}"), settings, cache=None, progress=False, keep_results=False
            )
            assert summary.errors == 0 and summary.calls_made == n
            rss.append((n, rss_mb(), time.perf_counter() - started))
            print(f"HTTP n={n}: peak RSS {rss[-1][1]:.1f} MB in {rss[-1][2]:.1f} s", flush=True)
    rows.append(
        (
            "memory over HTTP, streamed",
            "1k -> 5k",
            f"{rss[0][1]:.1f} -> {rss[1][1]:.1f} MB",
            f"client process peak RSS; {5_000 / rss[1][2]:.0f} rows/s with a 0 ms fake",
        )
    )

    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("scenario", "rows", "result")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  notes")
    print("  ".join("-" * w for w in widths) + "  -----")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])


if __name__ == "__main__":
    main()
