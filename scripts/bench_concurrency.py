"""The judge's call layer at high concurrency, beside a plain ``AsyncOpenAI`` + ``asyncio.Semaphore`` loop
measured in the same run (issue #12: ≤ 1.10× the ideal at C=16, ≤ 1.20× at C=64 and 128, never slower than
the plain loop).

Run: ``.venv/bin/python scripts/bench_concurrency.py`` (about a minute). The fake server answers after 200 ms
and runs in a child process, as a real server would. Each concurrency C judges 8·C rows (8 waves), so the
ideal is ``8 × 0.2 s`` = 1.60 s whatever C; both sides get a warm-up of C rows first (connections, lazy
imports). The plain loop is what a user would write: ``client.chat.completions.create`` under a semaphore,
``json.loads`` of the content, no cache, no retries, no validation. Rounds alternate which side goes first.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from bench_llm import calls, fake_server, server_calls

from sheetsync.llm import LLMSettings, MemoryCache, run

LATENCY, WAVES, ROUNDS = 0.2, 8, 3
TARGETS = {16: 1.10, 64: 1.20, 128: 1.20}


async def plain_loop(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages: list) -> dict:
        async with semaphore:
            response = await client.chat.completions.create(model="gpt-4.1-mini", messages=messages, temperature=0)
            return json.loads(response.choices[0].message.content or "{}")

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(c.messages) for c in calls(n, prefix=prefix)))
    elapsed = time.perf_counter() - started
    await client.close()
    assert len(answers) == n
    return elapsed


def sheetsync_run(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=concurrency)
    summary = run(calls(n, prefix=prefix), settings, cache=MemoryCache(), progress=False, keep_results=False)
    assert summary.errors == 0 and summary.calls_made == n
    return summary.wall_time


def main() -> None:
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        del os.environ[name]
    print(f"python {sys.version.split()[0]}, openai {openai.__version__}, {os.cpu_count()} CPUs, "
          f"server latency {LATENCY * 1000:.0f} ms, {WAVES} waves per run, {ROUNDS} rounds (median)\n", flush=True)
    header = f"{'C':>4} {'rows':>5} {'ideal':>6}  {'sheetsync':>16}  {'plain loop':>16}  target  verdict"
    print(header)
    print("-" * len(header))
    with fake_server(LATENCY) as base_url:
        for concurrency, target in TARGETS.items():
            n = WAVES * concurrency
            ideal = math.ceil(n / concurrency) * LATENCY
            sheetsync_run(base_url, concurrency, concurrency, f"warm{concurrency}")
            asyncio.run(plain_loop(base_url, concurrency, concurrency, f"pwarm{concurrency}"))
            ours: list[float] = []
            theirs: list[float] = []
            before = server_calls(base_url)
            for r in range(ROUNDS):
                order = [0, 1] if r % 2 == 0 else [1, 0]
                for side in order:
                    if side == 0:
                        ours.append(sheetsync_run(base_url, n, concurrency, f"s{concurrency}-{r}"))
                    else:
                        theirs.append(asyncio.run(plain_loop(base_url, n, concurrency, f"p{concurrency}-{r}")))
            assert server_calls(base_url) - before == 2 * ROUNDS * n
            a, b = statistics.median(ours), statistics.median(theirs)
            ok = a / ideal <= target and a <= b * 1.02
            print(f"{concurrency:>4} {n:>5} {ideal:>5.2f}s  {a:>6.2f}s ({a / ideal:.3f}x)  {b:>6.2f}s ({b / ideal:.3f}x)"
                  f"  {target:.2f}x   {'PASS' if ok else 'FAIL'}", flush=True)


if __name__ == "__main__":
    main()
