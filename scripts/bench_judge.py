"""The whole `sheetsync judge` on 500 rows against a local OpenAI-compatible server answering after 200 ms,
at concurrency 16: prompt rendering, the calls, one SQLite commit per verdict, and the Judge tab written to
Google Sheets (the Sheets emulator, in-process) — all included. Side by side with the ideal
ceil(500/16) × 0.2 s, the same run repeated (cache), and a sequential run. With ``--xlsx`` the Judge tab
goes to a local workbook instead (openpyxl rewrites the whole file: a fixed cost of about half a second).

Then a re-run with nothing to do over ``RERUN_ROWS`` (5,000) cached rows (~500-character inputs, ~1,500-character
outputs; Judge tab in a local .xlsx): its process time, broken down by step (target: under 1 s).

    .venv/bin/python scripts/bench_judge.py [--xlsx]
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_ROWS, CONCURRENCY, LATENCY = 500, 16, 0.2
RERUN_ROWS = 5_000


def rerun_breakdown() -> None:
    """Process time of a judge run whose every row is cached, by step (``JudgeOutcome.timings``)."""
    from sheetsync.config import load_config
    from sheetsync.judge import judge
    from sheetsync.push import push
    from sheetsync.testing.fake_openai import FakeOpenAI
    from sheetsync.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(record=False) as fake:
        root = Path(tmp)
        init_workspace(root, spreadsheet="labels.xlsx")
        with (root / "data.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "input", "output"])
            writer.writeheader()
            for i in range(RERUN_ROWS):
                writer.writerow({"id": f"r{i:05d}", "input": f"Can I change booking {i} to a later date? " * 12,
                                 "output": f"Yes: booking {i} is a Flex fare, so the change is free of charge. " * 23})
        os.environ["OPENAI_BASE_URL"] = fake.base_url
        cfg = load_config(root / "sheetsync.toml")
        push(cfg, root / "data.csv")
        judge(cfg, split="unlabeled", progress=False, concurrency=CONCURRENCY)
        calls_before = fake.call_count
        cpu, started = time.process_time(), time.perf_counter()
        out = judge(cfg, split="unlabeled", progress=False, concurrency=CONCURRENCY)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        assert out.cache_hits == RERUN_ROWS and fake.call_count == calls_before
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in out.timings.items())
    print(f"re-run with nothing to do, {RERUN_ROWS:,} cached rows: {cpu:.2f} s process time (target < 1 s) "
          f"{'PASS' if cpu < 1 else 'FAIL'}; wall {wall:.2f} s; 0 calls")
    print(f"  by step (process time): {steps}")


def main() -> None:
    from sheetsync.config import load_config
    from sheetsync.emulator import Emulator
    from sheetsync.judge import judge
    from sheetsync.push import push
    from sheetsync.testing.fake_openai import FakeOpenAI
    from sheetsync.workspace import init_workspace

    xlsx = "--xlsx" in sys.argv
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency=LATENCY) as fake, Emulator() as emulator:
        root = Path(tmp)
        os.environ["SHEETS_EMULATOR_HOST"] = emulator.address
        init_workspace(root, spreadsheet="labels.xlsx" if xlsx else "Judge benchmark")
        with (root / "data.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "input", "output"])
            writer.writeheader()
            for i in range(N_ROWS):
                writer.writerow({"id": f"r{i:04d}", "input": f"Can I change booking {i}?",
                                 "output": f"Yes: booking {i} is a Flex fare, so the change is free."})
        os.environ["OPENAI_BASE_URL"] = fake.base_url
        cfg = load_config(root / "sheetsync.toml")
        push(cfg, root / "data.csv")

        def timed(**kw) -> tuple[float, int]:
            before = fake.call_count
            started = time.perf_counter()
            out = judge(cfg, split="unlabeled", progress=False, **kw)
            assert not out.errors, out.errors[:3]
            return time.perf_counter() - started, fake.call_count - before

        ideal = math.ceil(N_ROWS / CONCURRENCY) * LATENCY
        wall, calls = timed(concurrency=CONCURRENCY)
        again, calls_again = timed(concurrency=CONCURRENCY)
        (root / "prompts" / "judge.md").write_text(
            (root / "prompts" / "judge.md").read_text().replace("expert evaluator", "careful evaluator")
        )
        seq_rows = 25
        started = time.perf_counter()
        out = judge(cfg, split="unlabeled", progress=False, concurrency=1, limit=seq_rows)
        seq = (time.perf_counter() - started) / out.n_rows * N_ROWS
    where = "a local .xlsx" if xlsx else "Google Sheets (emulator)"
    print(f"sheetsync judge, {N_ROWS} rows, server latency {LATENCY * 1000:.0f} ms, Judge tab on {where}")
    print(f"  concurrency {CONCURRENCY}: {wall:.2f} s, {calls} calls; ideal {ideal:.2f} s; ratio {wall / ideal:.3f}x "
          f"(target <= 1.15x)")
    print(f"  same run repeated: {again:.2f} s, {calls_again} calls (target 0)")
    print(f"  sequential (concurrency 1): {seq:.1f} s for {N_ROWS} rows (extrapolated from {seq_rows})")
    rerun_breakdown()


if __name__ == "__main__":
    main()
