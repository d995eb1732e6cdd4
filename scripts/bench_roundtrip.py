"""API requests, wall time and peak memory of push / re-push / pull, side by side with the obvious
alternative (gspread-dataframe's set_with_dataframe / get_as_dataframe + gspread-formatting for the same
layout), against the Sheets emulator running in its own process (so memory is the client's alone).

    .venv/bin/python scripts/bench_roundtrip.py            # 100, 1,000 and 20,000 rows
    .venv/bin/python scripts/bench_roundtrip.py 100 1000   # chosen sizes

Requests are counted from the emulator's request log (reads and writes as Google's quotas count them:
60 of each per minute per user).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheetsync.emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()  # "Sheets emulator listening on http://HOST:PORT"
    url = line.strip().split()[-1]
    return proc, url


def control(url: str, path: str, method: str = "GET") -> dict:
    req = urllib.request.Request(f"{url}/_emulator/{path}", method=method, data=b"{}" if method == "POST" else None)
    with urllib.request.urlopen(req) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def counts(url: str) -> dict[str, int]:
    entries = control(url, "log")["entries"]
    control(url, "log", "DELETE")
    out = {"read": 0, "write": 0, "drive": 0}
    for e in entries:
        if e["kind"] in out:
            out[e["kind"]] += 1
    return out


def make_rows(n: int) -> list[dict[str, str]]:
    features = ["refund", "baggage", "change", "hotel"]
    return [
        {
            "id": f"r{i:06d}",
            "feature": features[i % 4],
            "persona": ["new", "frequent", "business"][i % 3],
            "tier": ["Basic", "Gold"][i % 2],
            "input": f"Customer {i}: I need help with my booking NLX{i:05d}; can I change the date? " * 2,
            "output": f"Of course. Your booking NLX{i:05d} is a Flex fare, so the change is free. " * 3,
        }
        for i in range(n)
    ]


MEMORY = False  # tracemalloc slows allocation-heavy code a lot: wall times and peaks come from separate runs


def measure(fn):
    """(result, wall seconds, peak MB); the peak only on the memory pass, the wall only on the timing pass."""
    if MEMORY:
        tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 1e6 if MEMORY else float("nan")
    if MEMORY:
        tracemalloc.stop()
    return result, wall, peak


def bench_sheetsync(url: str, host: str, n: int, work: Path) -> list[tuple]:
    from sheetsync.config import load_config
    from sheetsync.pull import pull
    from sheetsync.push import fill_expert_cells, push
    from sheetsync.workspace import init_workspace, open_store, open_workspace_workbook

    os.environ["SHEETS_EMULATOR_HOST"] = host
    init_workspace(work, spreadsheet=f"bench sheetsync {n} {MEMORY}")
    toml = work / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("context = []", 'context = ["tier"]')
                    .replace("dimensions = []", 'dimensions = ["feature", "persona"]'))
    rows = make_rows(n)
    with (work / "data.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cfg = load_config(toml)
    control(url, "log", "DELETE")
    out = []
    _, wall, peak = measure(lambda: push(cfg, work / "data.csv"))
    out.append(("first push (creates the spreadsheet)", counts(url), wall, peak))
    _, wall, peak = measure(lambda: push(cfg, work / "data.csv"))
    out.append(("re-push (no change)", counts(url), wall, peak))
    store = open_store(cfg)
    wb = open_workspace_workbook(cfg, store, None)
    fill_expert_cells(cfg, {r["id"]: {"Pass/Fail": "Pass", "Critique": "Fine answer, correct fare rules."}
                            for r in rows[: n // 2]}, workbook=wb, store=store)
    control(url, "log", "DELETE")
    grown = make_rows(n + max(1, n // 10))
    with (work / "data.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(grown[0]))
        w.writeheader()
        w.writerows(grown)
    _, wall, peak = measure(lambda: push(cfg, work / "data.csv"))
    out.append(("re-push (+10% rows, half labelled)", counts(url), wall, peak))
    _, wall, peak = measure(lambda: pull(cfg))
    out.append(("pull", counts(url), wall, peak))
    return out


def bench_alternative(url: str, host: str, n: int) -> list[tuple]:
    """What a user would write with gspread-dataframe + gspread-formatting for the same tab."""
    from gspread_dataframe import get_as_dataframe, set_with_dataframe
    from gspread_formatting import (
        BooleanCondition,
        BooleanRule,
        CellFormat,
        Color,
        ConditionalFormatRule,
        DataValidationRule,
        GridRange,
        format_cell_range,
        get_conditional_format_rules,
        set_column_widths,
        set_data_validation_for_cell_range,
        set_frozen,
        set_row_height,
    )

    from sheetsync.backends.google_http import client_for_emulator

    gc = client_for_emulator(host)
    control(url, "log", "DELETE")
    frame = pd.DataFrame(make_rows(n))
    for col in ("Status", "Pass/Fail", "Critique", "Root cause", "Notes"):
        frame[col] = ""

    sh = None

    def first_push():
        nonlocal sh
        sh = gc.create(f"bench alternative {n} {MEMORY}")
        ws = sh.add_worksheet("Annotate", rows=len(frame) + 1, cols=len(frame.columns))
        set_with_dataframe(ws, frame)
        set_frozen(ws, rows=1, cols=1)
        set_column_widths(ws, [("A", 110), ("B:D", 140), ("E:F", 420), ("G", 200), ("H", 90), ("I", 380),
                               ("J", 170), ("K", 200)])
        set_row_height(ws, f"2:{len(frame) + 1}", 160)
        format_cell_range(ws, "1:1", CellFormat(textFormat={"bold": True}, backgroundColor=Color(0.9, 0.9, 0.9)))
        format_cell_range(ws, f"A2:K{len(frame) + 1}", CellFormat(wrapStrategy="WRAP", verticalAlignment="TOP"))
        format_cell_range(ws, f"H2:K{len(frame) + 1}", CellFormat(backgroundColor=Color(0.92, 0.95, 0.98)))
        set_data_validation_for_cell_range(ws, f"H2:H{len(frame) + 1}", DataValidationRule(
            BooleanCondition("ONE_OF_LIST", ["Pass", "Fail"]), showCustomUi=True, strict=True))
        set_data_validation_for_cell_range(ws, f"J2:J{len(frame) + 1}", DataValidationRule(
            BooleanCondition("ONE_OF_LIST", ["hallucinated fact", "policy misapplied"]), showCustomUi=True))
        rules = get_conditional_format_rules(ws)
        for formula, colour in (('=LOWER($H2)="pass"', Color(0.85, 0.92, 0.83)),
                                ('=LOWER($H2)="fail"', Color(0.96, 0.8, 0.8)),
                                ('=AND(LOWER($H2)="fail",LEN($I2)=0)', Color(0.99, 0.9, 0.8))):
            rules.append(ConditionalFormatRule(
                ranges=[GridRange.from_a1_range(f"H2:I{len(frame) + 1}", ws)],
                booleanRule=BooleanRule(condition=BooleanCondition("CUSTOM_FORMULA", [formula]),
                                        format=CellFormat(backgroundColor=colour))))
        rules.save()
        ws.add_protected_range(f"A1:G{len(frame) + 1}", warning_only=True, description="data columns")
        ws.add_protected_range("1:1", warning_only=True, description="header")

    out = []
    _, wall, peak = measure(first_push)
    out.append(("first push (creates the spreadsheet)", counts(url), wall, peak))

    def repush():  # the obvious upsert: read everything back, merge by id, write everything again
        ws = sh.worksheet("Annotate")
        old = get_as_dataframe(ws, dtype=str).dropna(how="all")
        grown = pd.DataFrame(make_rows(n + max(1, n // 10)))
        merged = grown.merge(old[["id", "Status", "Pass/Fail", "Critique", "Root cause", "Notes"]], on="id",
                             how="left")
        ws.resize(rows=len(merged) + 1)
        set_with_dataframe(ws, merged.fillna(""))

    _, wall, peak = measure(repush)
    out.append(("re-push (+10% rows)", counts(url), wall, peak))
    _, wall, peak = measure(lambda: get_as_dataframe(sh.worksheet("Annotate"), dtype=str))
    out.append(("pull", counts(url), wall, peak))
    return out


def main() -> None:
    # imported up front so no timing includes import time
    import sheetsync.backends.google
    import sheetsync.push  # noqa: F401

    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 20000]
    proc, url = start_emulator()
    host = url.removeprefix("http://")
    try:
        print(f"Emulator {url} (own process). Requests = Sheets API reads/writes (+ Drive calls).\n")
        header = f"{'rows':>6}  {'tool':<28} {'operation':<36} {'reads':>5} {'writes':>6} {'drive':>5} " \
                 f"{'wall s':>7} {'peak MB':>8}"
        print(header)
        print("-" * len(header))
        global MEMORY
        for n in sizes:
            results = {}
            for MEMORY in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    ours = bench_sheetsync(url, host, n, Path(tmp))
                theirs = bench_alternative(url, host, n)
                for tool, rows in (("sheetsync", ours), ("gspread-dataframe+formatting", theirs)):
                    for name, c, wall, peak in rows:
                        entry = results.setdefault((tool, name), [c, wall, peak])
                        if MEMORY:
                            entry[2] = peak
            for (tool, name), (c, wall, peak) in results.items():
                print(f"{n:>6}  {tool:<28} {name:<36} {c['read']:>5} {c['write']:>6} {c['drive']:>5} "
                      f"{wall:>7.2f} {peak:>8.1f}")
            print()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
