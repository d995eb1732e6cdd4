"""Peak memory of `sheetsync import … --sample 500` on a large export, beside loading the export whole.

    python scripts/bench_import.py                 # 1,000,000 records (about 0.9 GB of JSONL in $TMPDIR)
    python scripts/bench_import.py --records 100000 --sides sheetsync,json,pandas

Each side runs in a fresh process and its peak resident memory (ru_maxrss) is read when it exits, so
neither pays for the other: sheetsync's streaming import with a stratified sample of 500, and the obvious
alternative — read every record with json (what a short script would do), then draw 500 with random.sample
(``pandas`` — ``pandas.read_json(lines=True)`` — on request); and, to show that memory does not follow the
file, the import of everything without ``--sample``, rows streamed to the output file. The export is OpenAI Chat Completions logs (request with a
tool round trip, response), like tests/fixtures/traces/openai_chat.jsonl, each record different.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = ["booking", "baggage", "refunds", "rebooking", "seats", "pets", "hotels", "compensation"]
PERSONAS = ["business traveller", "family", "student", "frequent flyer", "leisure"]


def record(i: int) -> dict:
    flights = [{"id": f"SK{4700 + (i + k) % 300}", "dep": f"0{6 + k}:{(i * 7 + k) % 60:02d}", "price": 90 + (i * 13 + k) % 200}
               for k in range(3)]
    return {
        "request": {"model": "gpt-4.1-mini", "metadata": {"feature": FEATURES[i % 8], "persona": PERSONAS[i % 5],
                                                           "user_id": f"u-{i % 50_000}"},
                    "messages": [
                        {"role": "system", "content": "You are Nordlys Travel's booking assistant."},
                        {"role": "user", "content": f"Find me a morning flight from Oslo to Barcelona on day {i % 28 + 1} "
                                                    f"of May, request {i}."},
                        {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function", "function": {
                            "name": "search_flights", "arguments": json.dumps({"from": "OSL", "to": "BCN", "day": i % 28 + 1})}}]},
                        {"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps({"flights": flights})}]},
        "response": {"id": f"chatcmpl-{i:010d}", "object": "chat.completion", "model": "gpt-4.1-mini-2025-04-14",
                     "choices": [{"index": 0, "finish_reason": "stop", "message": {
                         "role": "assistant", "content": f"{flights[0]['id']} leaves at {flights[0]['dep']} for EUR "
                                                         f"{flights[0]['price']}. Shall I hold it?"}}]},
    }


def write_export(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(record(i), ensure_ascii=False) + "\n")


def child(kind: str, export: str, out: str) -> None:
    """Runs in its own process: one side of the comparison."""
    start = time.perf_counter()
    if kind.startswith("sheetsync"):
        from sheetsync.config import load_config
        from sheetsync.importers import import_traces

        cfg = load_config(cwd=Path(out).parent)
        sample = {"sample": 500, "stratify_by": ("feature",)} if kind == "sheetsync" else {}
        r = import_traces(cfg, "openai", export, out, seed=7, dimensions=("feature", "persona"), **sample)
        kept = r.written
    elif kind == "json":
        import random

        with open(export, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh]
        kept = len(random.Random(7).sample(records, 500))
    else:
        import pandas as pd

        frame = pd.read_json(export, lines=True)
        kept = len(frame.sample(500, random_state=7))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kept": kept, "seconds": time.perf_counter() - start, "peak_mb": peak}))


def measure(kind: str, export: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(export), str(out)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--sides", default="sheetsync,sheetsync-all,json",
                    help="which to measure, of sheetsync, sheetsync-all (no --sample), json, pandas")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "EXPORT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.jsonl"
        t = time.perf_counter()
        write_export(export, args.records)
        size = export.stat().st_size
        print(f"export: {args.records:,} records, {size / 1e6:,.0f} MB of JSONL (written in {time.perf_counter() - t:.0f} s)")
        baseline = subprocess.run([sys.executable, "-c", "import resource, sheetsync.importers; print("
                                   "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                                  capture_output=True, text=True, check=True)
        print(f"interpreter + sheetsync.importers, doing nothing: {float(baseline.stdout):.0f} MB")
        sides = args.sides.split(",")
        print(f"{'side':<52} {'peak memory':>12} {'time':>8}  kept")
        names = {"sheetsync": "sheetsync import --sample 500 --stratify-by feature",
                 "sheetsync-all": "sheetsync import (everything, streamed out)",
                 "json": "json.loads every line, random.sample(500)", "pandas": "pandas.read_json(lines=True).sample(500)"}
        for kind in sides:
            m = measure(kind, export, Path(tmp) / "sample.jsonl")
            if "error" in m:
                print(f"{names[kind]:<52} failed: {m['error']}")
                continue
            print(f"{names[kind]:<52} {m['peak_mb']:>9,.0f} MB {m['seconds']:>7.1f}s  {m['kept']:,}")


if __name__ == "__main__":
    main()
