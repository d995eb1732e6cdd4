"""Push / re-push / pull against the Sheets emulator with Google's limits on, side by side with the obvious
alternative (gspread-dataframe's set_with_dataframe / get_as_dataframe + gspread-formatting for the same
tab), with the figures the issues set targets for.

    .venv/bin/python scripts/bench_roundtrip.py                    # 100, 1,000, 20,000 and 100,000 rows
    .venv/bin/python scripts/bench_roundtrip.py 100 1000           # chosen sizes
    .venv/bin/python scripts/bench_roundtrip.py --write-readme ... # also put the table into README.md

The emulator runs in its own process (memory is the client's alone) with what Google does switched on:
the 10 MiB request limit, 60 reads and 60 writes per minute per user (429 without Retry-After) and its
latency model (``--realistic``: 150 ms a request and 1 ms per KiB — an assumption, not a measurement). Rows are realistic: ~500-character
inputs, ~1,500-character outputs, 3 dimensions. Bytes are counted on the wire by the client (request and
response bodies); requests from the emulator's log. Peak memory is the growth of the process's resident
set during the operation (Linux's VmHWM after resetting it): it counts what tracemalloc cannot see, such as
pandas' Arrow-backed strings. The alternative writes a tab in one request:
past 10 MiB Google refuses it, and so does the emulator.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT = 2_000_000  # sheetsync's default [google] max_request_bytes
GOOGLE_LIMIT = 10 * 1024 * 1024
WORDS = ["the", "booking", "fare", "change", "refund", "baggage", "hotel", "flight", "customer", "policy", "free", "fee", "date", "agent", "seat", "window", "upgrade", "voucher", "delay", "cancel", "confirm"]


# ------------------------------------------------------------------------------------------ plumbing


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "sheetsync.emulator", "--port", "0", "--realistic"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "Sheets emulator listening on http://HOST:PORT (...)"
    url = next(w for w in line.split() if w.startswith("http://"))
    return proc, url


def control(url: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(f"{url}/_emulator/{path}", method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


class Wire:
    """Counts request and response body bytes of every HTTP exchange in this process."""

    def __init__(self) -> None:
        self.reset()
        original = requests.adapters.HTTPAdapter.send
        wire = self

        def send(adapter, request, *args, **kwargs):
            body = request.body or b""
            body = body if isinstance(body, bytes) else body.encode()
            wire.sent += len(body)
            wire.largest = max(wire.largest, len(body))
            response = original(adapter, request, *args, **kwargs)
            wire.received += len(response.content)
            if ":batchUpdate" in request.url:
                wire.floor_sent(body)
            elif "values:batchGet" in request.url:
                wire.floor_received(response.content)
            return response

        requests.adapters.HTTPAdapter.send = send

    def reset(self) -> None:
        self.sent = self.received = self.largest = 0
        self.text_sent = self.cells_sent = self.text_received = self.cells_received = 0
        self.nulls_sent = self.identity_cells = self.skip_bytes = self.identity_bytes = self.empty_bytes = 0

    def floor_sent(self, body: bytes) -> None:
        """The cell text a batch carries, and how many cells: what any atomic write must send."""
        obj = json.loads(body)
        for r in obj.get("requests", []):
            uc = r.get("updateCells") or r.get("appendCells")
            for row in (uc or {}).get("rows", []):
                for cell in row.get("values", []):
                    if not cell.get("userEnteredValue"):  # {} : a cell an appended row leaves empty
                        self.empty_bytes += 3
                        continue
                    self.cells_sent += 1
                    self.text_sent += len(str((cell.get("userEnteredValue") or {}).get("stringValue", "")).encode())
        for d in obj.get("data", []):  # values:batchUpdateByDataFilter: cells by column identity
            rows = d.get("majorDimension") != "COLUMNS"
            for line in d.get("values", []):
                if rows and not line:  # [] : a row left as it is
                    self.nulls_sent += 1
                    self.skip_bytes += 3
                for v in line:
                    if v is None:
                        self.nulls_sent += 1
                        self.skip_bytes += 5
                        continue
                    self.cells_sent += 1
                    self.identity_cells += 1
                    self.identity_bytes += 5 if rows else 3  # ["…"], or "…",
                    self.text_sent += len(str(v).encode())

    def floor_received(self, content: bytes) -> None:
        for vr in json.loads(content).get("valueRanges", []):
            for col in vr.get("values", []):
                self.cells_received += len(col)
                self.text_received += sum(len(str(v).encode()) for v in col)


@dataclass
class Figure:
    op: str
    reads: int = 0
    writes: int = 0
    sent: int = 0
    received: int = 0
    largest: int = 0
    wall: float = float("nan")
    peak_mb: float = float("nan")
    error: str = ""
    extra: dict = field(default_factory=dict)


def rss_kb(field_: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_ + ":"):
            return int(line.split()[1])
    return 0


def run(url: str, wire: Wire, op: str, fn) -> Figure:
    control(url, "log", "DELETE")
    wire.reset()
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current size
    base = rss_kb("VmRSS")
    t0 = time.perf_counter()
    fig = Figure(op)
    try:
        fig.extra = fn() or {}
    except Exception as exc:  # the alternative's refused writes are a result, not a crash
        fig.error = f"{type(exc).__name__}: {str(exc)[:90]}"
    fig.wall = time.perf_counter() - t0
    fig.peak_mb = (rss_kb("VmHWM") - base) / 1000
    kinds = [e["kind"] for e in control(url, "log")["entries"]]
    fig.reads, fig.writes = kinds.count("read"), kinds.count("write")
    fig.sent, fig.received, fig.largest = wire.sent, wire.received, wire.largest
    fig.extra["floor"] = (wire.text_sent, wire.cells_sent, wire.text_received, wire.cells_received)
    fig.extra["identity"] = (wire.identity_cells, wire.nulls_sent, wire.identity_bytes, wire.skip_bytes + wire.empty_bytes)
    return fig


def text(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def make_rows(n: int, *, version: int = 0) -> list[dict[str, str]]:
    rng = random.Random(n)
    rows = [{"id": f"r{i:06d}", "feature": f"feature {i % 5}", "scenario": f"scenario {i % 7}",
             "persona": f"persona {i % 3}", "input": text(rng, 500), "output": text(rng, 1500)} for i in range(n)]
    if version:  # 10% changed outputs, 5% new rows
        for r in rows[:: 10]:
            r["output"] = "Revised: " + r["output"][9:]
        rows += [{**r, "id": f"n{i:06d}"} for i, r in enumerate(make_rows(max(1, n // 20)))]
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def utf8(values) -> int:
    return sum(len(v.encode()) for v in values if v)


# ------------------------------------------------------------------------------------------ the two tools


def bench_sheetsync(url: str, wire: Wire, n: int, work: Path) -> list[Figure]:
    from sheetsync.backends.google_pacing import reset_shared_pacers
    from sheetsync.config import load_config
    from sheetsync.label_import import fill_expert_cells
    from sheetsync.pull import pull
    from sheetsync.push import push
    from sheetsync.workspace import init_workspace, open_store, open_workspace_workbook

    reset_shared_pacers()
    os.environ["SHEETS_EMULATOR_HOST"] = url.removeprefix("http://")
    init_workspace(work, spreadsheet=f"bench sheetsync {n}")
    toml = work / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["feature", "scenario", "persona"]'))
    cfg = load_config(toml)
    first, second = make_rows(n), make_rows(n, version=1)
    write_csv(work / "data.csv", first)
    out = [run(url, wire, "first push", lambda: _sizes(push(cfg, work / "data.csv")))]
    out.append(run(url, wire, "re-push, nothing changed", lambda: _sizes(push(cfg, work / "data.csv"))))
    labelled = first[:: 20]  # the expert has labelled 5% of the rows
    store = open_store(cfg)
    wb = open_workspace_workbook(cfg, store, None)
    fill_expert_cells(cfg, {r["id"]: {"Pass/Fail": "Fail" if i % 3 else "Pass",
                                      "Critique": "The assistant quoted the fee for a Standard fare; this is a Flex "
                                                  "fare, so the change is free. It should have said so."}
                            for i, r in enumerate(labelled)}, workbook=wb, store=store)
    write_csv(work / "data.csv", second)
    changed = [r for r in second if r["id"].startswith("n") or r["output"].startswith("Revised")]
    needed = sum(utf8(r.values()) + 40 for r in changed)  # their shown text plus a key each
    out.append(run(url, wire, "re-push, 10% changed + 5% new", lambda: {**_sizes(push(cfg, work / "data.csv")),
                                                                         "changed bytes": needed}))
    key_bytes = 40 * len(second)
    label_bytes = utf8(x for _ in labelled for x in ("Fail", "The assistant quoted the fee for a Standard fare; "
                       "this is a Flex fare, so the change is free. It should have said so."))
    ids = utf8(r["id"] for r in second)
    stale = utf8("stale: input/output changed after it was labelled — re-check the label, then clear this cell"
                 for r in labelled if r["output"].startswith("Revised") or r in second[:: 10])
    out.append(run(url, wire, "pull", lambda: {"needed bytes": ids + key_bytes + label_bytes + stale,
                                              "rows": pull(cfg).rows}))
    store.close()
    return out


def _sizes(result) -> dict:
    return {"requests": result.requests, "bytes": result.bytes_sent}


def bench_alternative(url: str, wire: Wire, n: int) -> list[Figure]:
    """What a user would write with gspread-dataframe + gspread-formatting for the same tab."""
    import pandas as pd
    from gspread_dataframe import get_as_dataframe, set_with_dataframe
    from gspread_formatting import (
        BooleanCondition,
        CellFormat,
        Color,
        DataValidationRule,
        format_cell_range,
        set_column_widths,
        set_data_validation_for_cell_range,
        set_frozen,
        set_row_height,
    )

    from sheetsync.backends.google_http import client_for_emulator

    gc = client_for_emulator(url.removeprefix("http://"), timeout=600)
    frame = pd.DataFrame(make_rows(n))
    for col in ("Status", "Pass/Fail", "Critique", "Root cause", "Notes"):
        frame[col] = ""
    sh = None

    def first_push():
        nonlocal sh
        sh = gc.create(f"bench alternative {n}")
        ws = sh.add_worksheet("Annotate", rows=len(frame) + 1, cols=len(frame.columns))
        set_with_dataframe(ws, frame)
        set_frozen(ws, rows=1, cols=1)
        set_column_widths(ws, [("A", 110), ("B:D", 140), ("E:F", 420), ("G", 200), ("H", 90), ("I", 380)])
        set_row_height(ws, f"2:{len(frame) + 1}", 160)
        format_cell_range(ws, "1:1", CellFormat(textFormat={"bold": True}, backgroundColor=Color(0.9, 0.9, 0.9)))
        format_cell_range(ws, f"A2:K{len(frame) + 1}", CellFormat(wrapStrategy="WRAP", verticalAlignment="TOP"))
        set_data_validation_for_cell_range(ws, f"H2:H{len(frame) + 1}", DataValidationRule(
            BooleanCondition("ONE_OF_LIST", ["Pass", "Fail"]), showCustomUi=True, strict=True))
        ws.add_protected_range(f"A1:G{len(frame) + 1}", warning_only=True, description="data columns")

    def repush():  # the obvious upsert: read everything back, merge by id, write everything again
        ws = sh.worksheet("Annotate")
        old = get_as_dataframe(ws, dtype=str).dropna(how="all")
        grown = pd.DataFrame(make_rows(n, version=1))
        merged = grown.merge(old[["id", "Status", "Pass/Fail", "Critique", "Root cause", "Notes"]], on="id",
                             how="left")
        ws.resize(rows=len(merged) + 1)
        set_with_dataframe(ws, merged.fillna(""))

    out = [run(url, wire, "first push", first_push)]
    if out[0].error:
        return out
    out.append(run(url, wire, "re-push, 10% changed + 5% new", repush))
    out.append(run(url, wire, "pull", lambda: {"rows": len(get_as_dataframe(sh.worksheet("Annotate"), dtype=str))}))
    return out


# ------------------------------------------------------------------------------------------ targets and report


def targets(n: int, ours: list[Figure], data_mb: float) -> list[str]:
    """Each target of issues 10 and 12 beside the figure measured, PASS or MISS."""
    by = {f.op: f for f in ours}
    lines = []

    def check(ok: bool, what: str) -> None:
        lines.append(f"  {'PASS' if ok else 'MISS'}  {what}")

    largest = max(f.largest for f in ours)
    check(largest <= LIMIT, f"largest request {largest:,} B <= max_request_bytes {LIMIT:,} B")
    for op in ("first push", "re-push, 10% changed + 5% new"):
        f = by[op]
        floor = math.ceil(f.extra.get("bytes", 0) / LIMIT)
        check(f.writes <= floor + 2, f"{op}: {f.writes} writes <= ceil(bytes sent / limit) {floor} + 2")
    nothing = by["re-push, nothing changed"]
    check(nothing.writes == 0, f"re-push with nothing changed: {nothing.writes} writes, {nothing.sent:,} B sent")
    pull = by["pull"]
    check(pull.reads == 1, f"pull: {pull.reads} read(s)")
    ratio = pull.received / max(1, pull.extra["needed bytes"])
    check(ratio <= 1.2, f"pull received {pull.received:,} B = {ratio:.2f}x the {pull.extra['needed bytes']:,} B of the "
                        "columns it needs (target <= 1.2x)")
    _, _, text, cells = pull.extra["floor"]
    lines.append(f"        why: {text:,} B of cell text in {cells:,} cells; a column read spends 3 B per cell on quotes "
                 f"and commas: {text + 3 * cells:,} B is the API's floor, received = {pull.received / (text + 3 * cells):.2f}x "
                 "that floor")
    re = by["re-push, 10% changed + 5% new"]
    ratio = re.extra["bytes"] / max(1, re.extra["changed bytes"])
    check(ratio <= 1.2 + 100_000 / max(1, re.extra["changed bytes"]),
          f"re-push sent {re.extra['bytes']:,} B = {ratio:.2f}x the {re.extra['changed bytes']:,} B of the changed rows "
          "(target <= 1.2x + a constant)")
    text, cells, _, _ = re.extra["floor"]
    by_id, skipped, id_bytes, skip_bytes = re.extra.get("identity", (0, 0, 0, 0))
    per_cell = len('{"userEnteredValue":{"stringValue":""}},')
    floor = text + per_cell * (cells - by_id) + id_bytes + skip_bytes
    lines.append(f"        why: {text:,} B of cell text in {cells:,} cells, {by_id:,} of them written by column identity "
                 f"(values:batchUpdateByDataFilter: {id_bytes:,} B of quotes and brackets, and {skip_bytes:,} B of [] or "
                 f"null for the {skipped:,} rows skipped above or between them, since a column's filter starts at row 1, "
                 f"and {{}} for empty cells), the rest by updateCells ({per_cell} B a cell): {floor:,} B is the floor of that encoding, sent = "
                 f"{re.sent / floor:.2f}x that floor (the rest: the write mark, request framing)")
    peak = max((f.peak_mb for f in ours if not math.isnan(f.peak_mb)), default=float("nan"))
    if n >= 20_000:  # below that the interpreter's own fixed costs dominate any ratio
        check(peak <= 3 * data_mb, f"peak client memory {peak:.0f} MB <= 3x the data ({data_mb:.0f} MB)")
    return lines


def table(results: dict[int, tuple[list[Figure], list[Figure]]]) -> str:
    head = ("| rows | tool | operation | reads / writes | sent | received | largest request | wall | peak memory |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for n, (ours, theirs) in results.items():
        for tool, figs in (("sheetsync", ours), ("gspread-dataframe", theirs)):
            for f in figs:
                if f.error:
                    why = ("refused by Google's limit: HTTP 400 \"Request payload size exceeds the limit: "
                           "10485760 bytes\"" if "payload size" in f.error else f"failed: {f.error[:60]}")
                    lines.append(f"| {n:,} | {tool} | {f.op} | {why} | | | | | |")
                    continue
                lines.append(f"| {n:,} | {tool} | {f.op} | {f.reads} / {f.writes} | {mb(f.sent)} | {mb(f.received)} | "
                             f"{mb(f.largest)} | {f.wall:.1f} s | {max(f.peak_mb, 0):.0f} MB |")
    return "\n".join(lines)


def mb(b: int) -> str:
    return f"{b / 1e6:.2f} MB" if b >= 10_000 else f"{b:,} B"


def main() -> None:
    import sheetsync.backends.google  # imported up front: no timing includes import time
    import sheetsync.push  # noqa: F401

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sizes = [int(a) for a in args] or [100, 1000, 20_000, 100_000]
    proc, url = start_emulator()
    wire = Wire()
    try:
        config = control(url, "config")
        print(f"Emulator {url} (own process, --realistic): {json.dumps(config)}\n")
        results: dict[int, tuple[list[Figure], list[Figure]]] = {}
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                ours = bench_sheetsync(url, wire, n, Path(tmp))
            results[n] = (ours, bench_alternative(url, wire, n))
            data_mb = sum(utf8(r.values()) for r in make_rows(n)) / 1e6
            print(table({n: results[n]}))
            print(f"\nTargets at {n:,} rows ({data_mb:.1f} MB of text):")
            print("\n".join(targets(n, results[n][0], data_mb)) + "\n")
        if "--write-readme" in sys.argv:
            write_readme(table(results))
    finally:
        proc.terminate()
        proc.wait()


def write_readme(markdown: str) -> None:
    readme = ROOT / "README.md"
    text_ = readme.read_text(encoding="utf-8")
    start, end = "<!-- bench_roundtrip:start -->", "<!-- bench_roundtrip:end -->"
    before, rest = text_.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n{markdown}\n{end}{after}", encoding="utf-8")


if __name__ == "__main__":
    main()
