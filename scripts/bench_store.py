"""The store's cost on each engine, side by side in one run: SQLite (``.sheetsync/state.db``, the default)
and PostgreSQL on loopback (a throwaway server started here, as the tests do: sheetsync.testing.postgres).

What a command does to the store, at each size: a push recording N rows (with what each row shows and its
label state), a pull of N labels, a judge run's writes (one cache entry and one verdict per row, committed
one by one as the runner does), the reads a judge or report starts with (rows + the latest labels, in one
snapshot), and opening a store (connect, schema check). Loopback hides network latency: on a team server
each single-row write costs one round trip more, which the last column estimates at 1 ms.

    .venv/bin/python scripts/bench_store.py [N ...]     (default: 1000 10000 100000)
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sheetsync.attribution import LabelState  # noqa: E402
from sheetsync.store import Label, Store  # noqa: E402
from sheetsync.store.postgres import PostgresConn  # noqa: E402
from sheetsync.testing.postgres import PostgresServer  # noqa: E402


def rows(n: int) -> list[dict]:
    return [{"id": f"r{i:06d}", "input": f"question {i} " + "q" * 400, "output": f"answer {i} " + "a" * 1200,
             "fields": {"tier": "Gold", "feature": "refund"}, "content_hash": f"{i:016x}"} for i in range(n)]


def measure(open_store, n: int) -> dict[str, float]:
    data = rows(n)
    ids = {r["id"] for r in data}
    out: dict[str, float] = {}
    store = open_store()
    t = time.perf_counter()
    store.record_push(data, present_ids=ids, shown={r["id"]: (r["content_hash"], "d") for r in data},
                      states={r["id"]: LabelState("s", r["content_hash"]) for r in data}, meta={"annotate_layout": "{}"})
    out["push"] = time.perf_counter() - t
    labels = [Label(r["id"], "pass", "Pass", "A critique of twenty words or so, " * 3, "", "", r["content_hash"])
              for r in data]
    t = time.perf_counter()
    store.save_pull("bench", labels, {})
    out["pull"] = time.perf_counter() - t
    judged = min(n, 5000)  # a judge run's per-row writes: enough rows for a steady rate
    run = uuid.uuid4().hex
    store.start_run(run, model="m", params={}, template="T", template_hash="h", split="dev", n_rows=judged)
    t = time.perf_counter()
    for r in data[:judged]:
        store.put(f"{run}-{r['id']}", {"value": {"verdict": "pass", "critique": "fine"}, "prompt_tokens": 900})
        store.save_verdict(run, r["id"], verdict="pass", critique="fine", error=None, latency=0.5, prompt_tokens=900,
                           completion_tokens=40, cached=False)
    out["verdict_ms"] = (time.perf_counter() - t) / judged * 1000
    t = time.perf_counter()
    fresh, _ = store.fresh_labels()
    assert len(fresh) == n
    out["read"] = time.perf_counter() - t
    store.close()
    t = time.perf_counter()
    for _ in range(10):
        open_store().close()
    out["open_ms"] = (time.perf_counter() - t) / 10 * 1000
    return out


def main(sizes: list[int]) -> None:
    server = PostgresServer().start()
    try:
        print(f"{'rows':>7} {'engine':<10} {'push s':>8} {'pull s':>8} {'verdict ms':>11} {'read s':>8} "
              f"{'open ms':>8} {'verdict ms +1 ms RTT':>21}")
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "state.db"
                url = server.create_database()
                engines = {"sqlite": lambda p=path: Store(p),
                           "postgresql": lambda u=url: Store(PostgresConn(u, "bench", "bench"))}
                for name, opener in engines.items():
                    m = measure(opener, n)
                    rtt = "" if name == "sqlite" else f"{m['verdict_ms'] + 2:.2f}"  # put + verdict: 2 round trips
                    print(f"{n:>7} {name:<10} {m['push']:>8.2f} {m['pull']:>8.2f} {m['verdict_ms']:>11.3f} "
                          f"{m['read']:>8.2f} {m['open_ms']:>8.1f} {rtt:>21}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000, 100000])
