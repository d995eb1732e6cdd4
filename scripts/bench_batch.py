"""Peak memory of ``run_batch`` against the fake server: the streaming path vs. holding every Call in memory.

Why: ``--batch`` is meant for the biggest runs, whose prompts (with few-shot examples, ~16 KB each) must not
all be in memory at once. This runs ``run_batch`` on N lazily made calls (as ``judge.runner.LazyCalls`` does)
and, for comparison, on the same calls materialised in a list first (the old ``calls = list(calls)``), and
prints both tracemalloc peaks side by side. The fake server runs in a subprocess, so its copy of the uploaded
files is not counted: only what the client holds is.

    .venv/bin/python scripts/bench_batch.py                  # 1,000 and 20,000 calls of ~16 KB
    .venv/bin/python scripts/bench_batch.py --sizes 500 5000 --prompt-kb 8
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sheetsync import llm
from sheetsync.batch import MAX_BYTES_PER_BATCH, run_batch
from sheetsync.judge.prompt import ANSWER_SCHEMA

FEW_SHOT_LINE = "Example: the answer restates the question without answering it. Verdict: fail.\n"


def make_calls(n: int, prompt_kb: int) -> Iterator[llm.Call]:
    """N calls of about ``prompt_kb`` KB each, every prompt a fresh string (as a rendered template is)."""
    repeats = max(1, prompt_kb * 1024 // len(FEW_SHOT_LINE))
    for i in range(n):
        system = "".join(["You judge answers.\n", FEW_SHOT_LINE * repeats, f"(row {i})"])
        user = f"Question {i}: is {i} even? Answer: {'yes' if i % 2 == 0 else 'no'}."
        yield llm.Call(
            f"row{i}",
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            ANSWER_SCHEMA,
            "judgement",
        )


def streamed(calls: Iterable[llm.Call], **kwargs: Any) -> llm.RunSummary:
    """The code under test: the lazy iterable goes straight to run_batch."""
    return run_batch(calls, **kwargs)


def materialised(calls: Iterable[llm.Call], **kwargs: Any) -> llm.RunSummary:
    """Reference for "before": every Call held for the whole run, as ``calls = list(calls)`` used to."""
    held = list(calls)
    summary = run_batch(held, **kwargs)
    del held
    return summary


def start_fake() -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI server in its own process, so its memory is not in our tracemalloc figures."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheetsync.testing.fake_openai", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def peak_mb(runner: Callable[..., llm.RunSummary], n: int, prompt_kb: int, max_bytes: int) -> tuple[float, float]:
    """(tracemalloc peak in MB, seconds) of one run on a fresh server and an empty cache."""
    proc, base_url = start_fake()
    try:
        settings = llm.LLMSettings(base_url=base_url, api_key="sk-bench-not-a-real-key")
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        summary = runner(
            make_calls(n, prompt_kb),
            settings=settings,
            cache=llm.MemoryCache(),
            store_batch_id=lambda ids: None,
            poll_interval=0,
            progress=False,
            max_bytes=max_bytes,
        )
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if summary.total != n or summary.errors:
            raise SystemExit(f"bad run: {summary.total} rows, {summary.errors} errors")
        return peak / 1e6, elapsed
    finally:
        proc.terminate()
        proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000], help="numbers of calls")
    parser.add_argument("--prompt-kb", type=int, default=16, help="approximate size of each prompt")
    parser.add_argument(
        "--max-mb", type=float, default=MAX_BYTES_PER_BATCH / 1e6, help="batch file limit (MB), as in run_batch"
    )
    args = parser.parse_args(argv)
    max_bytes = int(args.max_mb * 1e6)
    print(f"run_batch peak traced memory (MB), prompts ~{args.prompt_kb} KB, batch files <= {args.max_mb:g} MB")
    print(f"{'calls':>8} {'prompts MB':>11} {'before: list(calls)':>20} {'after: streamed':>16} {'ratio':>6}")
    for n in args.sizes:
        before, t_before = peak_mb(materialised, n, args.prompt_kb, max_bytes)
        after, t_after = peak_mb(streamed, n, args.prompt_kb, max_bytes)
        prompts = n * args.prompt_kb * 1024 / 1e6
        print(
            f"{n:>8,} {prompts:>11.0f} {before:>15.1f} ({t_before:>3.0f}s) {after:>10.1f} ({t_after:>3.0f}s)"
            f" {before / after:>5.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
