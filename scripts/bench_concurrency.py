"""The judge's call layer at high concurrency, beside a plain ``AsyncOpenAI`` + ``asyncio.Semaphore`` loop and
a minimal raw-socket client, all measured in the same run (issue #12: ≤ 1.10× the ideal at C=16, ≤ 1.20× at
C=64 and 128, never slower than the plain loop).

Run: ``.venv/bin/python scripts/bench_concurrency.py`` (about 3 minutes; ``--write-readme`` also puts the
table into README.md). The fake server answers after 200 ms and runs in a child process, as a real server
would. Each concurrency C judges 8·C rows (8 waves), so the ideal is ``8 × 0.2 s`` = 1.60 s whatever C; every
side gets a warm-up of C rows first (connections, lazy imports). Rounds rotate which side goes first;
figures are medians. "Not slower than the plain loop" allows 2% of run-to-run noise.

The seven sides (two fake servers: one plain ``http://``, one ``https://`` with a certificate from a throwaway
CA that the client trusts through ``SSL_CERT_FILE``, as a user would point it at a private CA):

* **sheetsync** — ``sheetsync.llm.run`` as the judge uses it (cache, retries, validation): the SDK's request
  prepared once and replayed on sheetsync's lean HTTP/1.1 wire (``sheetsync/llm/client.py``, ``wire.py``);
* **https** — the same, against the ``https://`` server: the lean wire speaking TLS (what OpenAI gets);
* **one pool** — the same runner on the SDK's default client (httpx, one pool for all C connections)
  through the SDK for every call, i.e. sheetsync before the wire (and behind a proxy, today);
* **plain loop** — what a user would write: ``client.chat.completions.create`` under a semaphore,
  ``json.loads`` of the content, no cache, no retries, no validation;
* **plain https** — the plain loop against the ``https://`` server (httpx's TLS);
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
import tempfile
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

LATENCY, WAVES, ROUNDS = 0.2, 8, 3
TARGETS = {16: 1.10, 64: 1.20, 128: 1.20}
MODEL = "gpt-4.1-mini"
TICK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_server(latency: float, tls: tuple[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``python -m sheetsync.testing.fake_openai`` in a child process (https with ``tls`` = (cert, key) files);
    yields (base URL, pid)."""
    command = [sys.executable, "-m", "sheetsync.testing.fake_openai", "--latency", str(latency)]
    if tls:
        command += ["--tls-cert", tls[0], "--tls-key", tls[1]]
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


def sheetsync_one_pool(base_url: str, n: int, concurrency: int, prefix: str) -> float:
    """sheetsync before the wire: the SDK's default client (one httpx pool), the SDK for every call."""
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


#: name -> (the side, whether it runs against the https server)
SIDES: dict[str, tuple[Callable[[str, int, int, str], float], bool]] = {
    "sheetsync": (sheetsync_run, False), "https": (sheetsync_run, True), "one pool": (sheetsync_one_pool, False),
    "plain loop": (plain_loop, False), "plain https": (plain_loop, True), "httpx": (httpx_loop, False),
    "floor": (floor_client, False)}


# -- measurement and report ------------------------------------------------------------------------------


def measure(servers: dict[bool, tuple[str, int]], concurrency: int) -> dict[str, dict[str, float]]:
    """Median wall time and CPU per request (client, server) of each side at one concurrency."""
    n = WAVES * concurrency
    names = list(SIDES)
    for name, (side, tls) in SIDES.items():
        side(servers[tls][0], concurrency, concurrency, f"warm-{name}-{concurrency}")
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "client": [], "server": []} for name in names}
    before = {tls: server_calls(url) for tls, (url, _) in servers.items()}
    for r in range(ROUNDS):
        for name in names[r % len(names):] + names[:r % len(names)]:
            side, tls = SIDES[name]
            url, pid = servers[tls]
            client0, server0 = time.process_time(), cpu_of(pid)
            samples[name]["wall"].append(side(url, n, concurrency, f"{name}-{concurrency}-{r}"))
            samples[name]["client"].append((time.process_time() - client0) / n)
            samples[name]["server"].append((cpu_of(pid) - server0) / n)
    for tls, (url, _) in servers.items():  # every side really made every call
        assert server_calls(url) - before[tls] == sum(t == tls for _, t in SIDES.values()) * ROUNDS * n
    return {name: {k: statistics.median(v) for k, v in s.items()} for name, s in samples.items()}


def throwaway_ca(folder: Path) -> tuple[str, str]:
    """A CA made for this run, trusted by this process (``SSL_CERT_FILE``); its certificate for 127.0.0.1."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    bundle, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(bundle))
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    os.environ["SSL_CERT_FILE"] = str(bundle)
    return str(cert), str(key)


def verdict_of(figures: dict[str, dict[str, float]], ratio: dict[str, float], side: str, plain: str,
               target: float) -> str:
    """Target met or not, and never slower than the plain loop on the same server (2% noise allowed)."""
    verdict = "met" if ratio[side] <= target else "NOT met"
    if figures[side]["wall"] <= figures[plain]["wall"] * 1.02:
        verdict += f", not slower than the {plain}"
    else:
        verdict += f", SLOWER than the {plain}"
    if ratio[side] > target:
        verdict += " (" + ", ".join(f"{other} {'meets' if ratio[other] <= target else 'misses'} it"
                                    for other in ("httpx", "floor")) + ")"
    return verdict


def short(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "not met"


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
    with tempfile.TemporaryDirectory() as folder, fake_server(LATENCY) as plain, \
            fake_server(LATENCY, throwaway_ca(Path(folder))) as secure:
        for concurrency, target in TARGETS.items():
            ideal = WAVES * LATENCY
            figures = measure({False: plain, True: secure}, concurrency)
            ratio = {name: f["wall"] / ideal for name, f in figures.items()}
            cells = "  ".join(f"{figures[name]['wall']:>5.2f}s ({ratio[name]:.3f}x)" for name in SIDES)
            verdicts = {side: verdict_of(figures, ratio, side, plain, target)
                        for side, plain in (("sheetsync", "plain loop"), ("https", "plain https"))}
            verdict = f"{verdicts['sheetsync']}; https {verdicts['https']}"
            print(f"{concurrency:>4} {WAVES * concurrency:>5} {ideal:>4.2f}s  {cells}  {target:>5.2f}x  {verdict}",
                  flush=True)
            rows.append(f"| {concurrency} | {WAVES * concurrency:,} | " + " | ".join(
                f"{figures[name]['wall']:.2f} s ({ratio[name]:.3f}×)" for name in SIDES)
                + f" | ≤ {target:.2f}× — {short(ratio['sheetsync'], target)} (https {short(ratio['https'], target)}) |")
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
