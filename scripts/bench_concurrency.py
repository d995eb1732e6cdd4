"""The judge's call layer at high concurrency, beside a plain ``AsyncOpenAI`` + ``asyncio.Semaphore`` loop and
a minimal raw-socket client, all measured in the same run (issue #12: ≤ 1.10× the ideal at C=16, ≤ 1.20× at
C=64 and 128, never slower than the plain loop).

Run: ``.venv/bin/python scripts/bench_concurrency.py`` (about 3 minutes; ``--write-readme`` also puts the
table into README.md). The fake server answers after 200 ms and runs in a child process, as a real server
would. Each concurrency C judges 8·C rows (8 waves), so the ideal is ``8 × 0.2 s`` = 1.60 s whatever C; every
side gets a warm-up of C rows first (connections, lazy imports). Rounds rotate which side goes first;
figures are medians. "Not slower than the plain loop" allows 2% of run-to-run noise.

The six sides:

* **sheetsync** — ``sheetsync.llm.run`` as the judge uses it (cache, retries, validation); for this
  ``http://`` server that is the SDK on sheetsync's lean HTTP/1.1 wire (``sheetsync/llm/wire.py``);
* **sharded** — the same runner and SDK on httpx with the sharded pool (``sheetsync/llm/transport.py``):
  what an ``https://`` server (OpenAI) gets, minus TLS;
* **one pool** — the same runner on the SDK's default client (one httpx pool for all C connections),
  i.e. sheetsync before either;
* **plain loop** — what a user would write: ``client.chat.completions.create`` under a semaphore,
  ``json.loads`` of the content, no cache, no retries, no validation;
* **httpx** — the same requests through bare ``httpx2`` (the SDK's HTTP library) without the SDK: one pool of
  C keep-alive connections, ``client.post(json=...)``, ``response.json()``; what the HTTP stack alone costs;
* **floor** — the least a Python client can do: C keep-alive sockets (``asyncio`` streams), a pre-encoded
  request, the reply read by its ``Content-Length`` and its content ``json.loads``-ed. No SDK, no httpx.
  What the floor misses of the ideal is this machine's (and the fake server's) cost, not the client's.

Beside each run it prints the client's and the fake server's CPU time per request (the server's from
``/proc/<pid>/stat``): when the server alone needs most of a core for a wave, that is a floor of the bench,
not of sheetsync. The load average is printed before and after, since other work on the machine moves
every figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
import openai
from bench_llm import calls, server_calls

from sheetsync.llm import LLMSettings, MemoryCache, run, run_calls
from sheetsync.llm.transport import ShardedTransport, shard_plan

LATENCY, WAVES, ROUNDS = 0.2, 8, 3
TARGETS = {16: 1.10, 64: 1.20, 128: 1.20}
MODEL = "gpt-4.1-mini"
TICK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[tuple[str, int]]:
    """``python -m sheetsync.testing.fake_openai`` in a child process; yields (base URL, pid)."""
    command = [sys.executable, "-m", "sheetsync.testing.fake_openai", "--latency", str(latency)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip(), child.pid
    finally:
        child.terminate()
        child.wait(timeout=10)


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the three sides -------------------------------------------------------------------------------------


def sheetsync_run(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=concurrency)
    summary = run(calls(n, prefix=prefix), settings, cache=MemoryCache(), progress=False, keep_results=False)
    assert summary.errors == 0 and summary.calls_made == n
    return summary.wall_time


def sheetsync_sharded(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    """sheetsync's https path over this http server: the SDK on httpx with the sharded pool (``transport``)."""
    settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=concurrency)

    async def go() -> float:
        http = httpx2.AsyncClient(transport=ShardedTransport(*shard_plan(concurrency)), timeout=60)
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60,
                                    http_client=http)
        started = time.perf_counter()
        results = await run_calls(calls(n, prefix=prefix), settings, cache=MemoryCache(), client=client)
        elapsed = time.perf_counter() - started
        await client.close()
        assert len(results) == n and all(r.ok for r in results)
        return elapsed

    return asyncio.run(go())


def sheetsync_one_pool(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    """sheetsync before the sharded pool: the SDK's default client, one pool for every connection."""
    settings = LLMSettings(base_url=base_url, api_key="sk-bench", concurrency=concurrency)

    async def go() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60)
        started = time.perf_counter()
        results = await run_calls(calls(n, prefix=prefix), settings, cache=MemoryCache(), client=client)
        elapsed = time.perf_counter() - started
        await client.close()
        assert len(results) == n and all(r.ok for r in results)
        return elapsed

    return asyncio.run(go())


async def _plain(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages: list) -> dict:
        async with semaphore:
            response = await client.chat.completions.create(model=MODEL, messages=messages, temperature=0)
            return json.loads(response.choices[0].message.content or "{}")

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(c.messages) for c in calls(n, prefix=prefix)))
    elapsed = time.perf_counter() - started
    await client.close()
    assert len(answers) == n
    return elapsed


def plain_loop(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    return asyncio.run(_plain(base_url, n, concurrency, prefix))


async def _httpx(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx2.AsyncClient(base_url=base_url, timeout=60, limits=limits,
                                headers={"Authorization": "Bearer sk-bench"})
    work = iter(calls(n, prefix=prefix))
    answers: list[dict] = []

    async def worker() -> None:
        for call in work:
            response = await client.post("/chat/completions",
                                         json={"model": MODEL, "messages": call.messages, "temperature": 0})
            response.raise_for_status()
            answers.append(json.loads(response.json()["choices"][0]["message"]["content"]))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    assert len(answers) == n
    return elapsed


def httpx_loop(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    return asyncio.run(_httpx(base_url, n, concurrency, prefix))


async def _floor(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    url = urlsplit(base_url)
    host, port, path = url.hostname or "127.0.0.1", url.port or 80, url.path.rstrip("/") + "/chat/completions"
    bodies = [json.dumps({"model": MODEL, "messages": c.messages, "temperature": 0}).encode()
              for c in calls(n, prefix=prefix)]  # encoded up front: the floor pays only for the wire
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer sk-bench\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    work = iter(bodies)
    answers: list[dict] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body in work:
                writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status_and_headers = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in status_and_headers.split(b"\r\n")
                              if line[:15].lower() == b"content-length:")
                reply = json.loads(await reader.readexactly(length))
                answers.append(json.loads(reply["choices"][0]["message"]["content"]))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    assert len(answers) == n
    return elapsed


def floor_client(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    return asyncio.run(_floor(base_url, n, concurrency, prefix))


SIDES: dict[str, Callable[[str, int, int, str], float]] = {
    "sheetsync": sheetsync_run, "sharded": sheetsync_sharded, "one pool": sheetsync_one_pool,
    "plain loop": plain_loop, "httpx": httpx_loop, "floor": floor_client}


# -- measurement and report ------------------------------------------------------------------------------


def measure(base_url: str, pid: int, concurrency: int) -> dict[str, dict[str, float]]:
    """Median wall time and CPU per request (client, server) of each side at one concurrency."""
    n = WAVES * concurrency
    names = list(SIDES)
    for name in names:
        SIDES[name](base_url, concurrency, concurrency, f"warm-{name}-{concurrency}")
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "client": [], "server": []} for name in names}
    before = server_calls(base_url)
    for r in range(ROUNDS):
        for name in names[r % len(names):] + names[:r % len(names)]:
            client0, server0 = time.process_time(), cpu_of(pid)
            samples[name]["wall"].append(SIDES[name](base_url, n, concurrency, f"{name}-{concurrency}-{r}"))
            samples[name]["client"].append((time.process_time() - client0) / n)
            samples[name]["server"].append((cpu_of(pid) - server0) / n)
    assert server_calls(base_url) - before == len(names) * ROUNDS * n  # every side really made every call
    return {name: {k: statistics.median(v) for k, v in s.items()} for name, s in samples.items()}


def main() -> None:
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        del os.environ[name]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; python {sys.version.split()[0]}, "
          f"openai {openai.__version__}, {os.cpu_count()} CPUs; server latency {LATENCY * 1000:.0f} ms, "
          f"{WAVES} waves per run, {ROUNDS} rounds (median)\nload average before: {load()}\n", flush=True)
    header = (f"{'C':>4} {'rows':>5} {'ideal':>5}  " + "  ".join(f"{name:>14}" for name in SIDES)
              + f"  {'target':>6}  verdict")
    print(header)
    print("-" * len(header))
    cpu_lines: list[str] = []
    rows: list[str] = []
    started_load = load()
    with fake_server(LATENCY) as (base_url, pid):
        for concurrency, target in TARGETS.items():
            ideal = WAVES * LATENCY
            figures = measure(base_url, pid, concurrency)
            ratio = {name: f["wall"] / ideal for name, f in figures.items()}
            cells = "  ".join(f"{figures[name]['wall']:>5.2f}s ({ratio[name]:.3f}x)" for name in SIDES)
            met = ratio["sheetsync"] <= target
            not_slower = figures["sheetsync"]["wall"] <= figures["plain loop"]["wall"] * 1.02
            verdict = "met" if met else "NOT met"
            verdict += ", not slower than the plain loop" if not_slower else ", SLOWER than the plain loop"
            if not met:
                verdict += "; " + ", ".join(f"{side} {'meets' if ratio[side] <= target else 'misses'} it"
                                            for side in ("httpx", "floor"))
            print(f"{concurrency:>4} {WAVES * concurrency:>5} {ideal:>4.2f}s  {cells}  {target:>5.2f}x  {verdict}",
                  flush=True)
            rows.append(f"| {concurrency} | {WAVES * concurrency:,} | " + " | ".join(
                f"{figures[name]['wall']:.2f} s ({ratio[name]:.3f}×)" for name in SIDES)
                + f" | ≤ {target:.2f}× — {'met' if met else 'not met'} |")
            rows.append("| | CPU ms/request (client / server) | " + " | ".join(
                f"{figures[name]['client'] * 1e3:.2f} / {figures[name]['server'] * 1e3:.2f}" for name in SIDES) + " | |")
            cpu_lines.append(f"{concurrency:>4}  " + "  ".join(
                f"{name} {f['client'] * 1e3:.2f} / {f['server'] * 1e3:.2f}" for name, f in figures.items()))
    print("\nCPU ms per request, client / fake server (wave of C requests: C × that, on one core each):")
    print("\n".join(cpu_lines))
    print(f"\nload average after: {load()}  (1, 5, 15 min; {os.cpu_count()} CPUs)")
    if "--write-readme" in sys.argv:
        heading = "| C | rows | " + " | ".join(SIDES) + " | target |"
        note = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `scripts/bench_concurrency.py "
                f"--write-readme` on {os.cpu_count()} CPUs, load average {started_load} before and {load()} after "
                "(1, 5, 15 min); ideal 1.60 s.")
        write_readme("\n".join([note, "", heading, "|" + "---|" * (len(SIDES) + 3), *rows]))


def write_readme(markdown: str) -> None:
    """Put the table between the README's ``bench_concurrency`` markers."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- bench_concurrency:start -->", "<!-- bench_concurrency:end -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n{markdown}\n{end}{after}", encoding="utf-8")


if __name__ == "__main__":
    main()
