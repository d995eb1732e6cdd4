"""How fast the Sheets emulator starts and serves a big tab, with the figures printed.

    .venv/bin/python scripts/bench_emulator.py

Start-up: `sheetsync emulator --port 0` until it prints its address (target: under a second), median of 5.
Big tab: 20,000 rows x 12 columns written with as few updateCells batchUpdates as fit Google's 10 MiB
request limit (the emulator refuses bigger bodies, as Google does) and read back with one values:batchGet
through the real gspread client, compared with writing the same values in 1,000-row chunks (values.update
per chunk), the obvious alternative.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time


def startup_seconds() -> float:
    exe = shutil.which("sheetsync") or sys.executable
    cmd = [exe, "emulator", "--port", "0"] if exe.endswith("sheetsync") else [exe, "-m", "sheetsync", "emulator",
                                                                                "--port", "0"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.terminate()
    proc.wait()
    assert "listening on http://" in line, line
    return elapsed


def big_tab() -> tuple[float, float, float, int]:
    from sheetsync.backends.google_http import client_for_emulator
    from sheetsync.emulator import Emulator
    from sheetsync.emulator.server import MAX_BODY_BYTES

    rows, cols = 20_000, 12
    with Emulator() as em:
        gc = client_for_emulator(em.address)
        sh = gc.create("bench")
        cells = [{"values": [{"userEnteredValue": {"stringValue": f"r{r}c{c} " * 8}} for c in range(cols)]}
                 for r in range(rows)]
        per_row = len(json.dumps(cells[-1])) + 2  # the longest row, and its ", "
        chunk = max(1, int(MAX_BODY_BYTES * 0.9) // per_row)
        t0 = time.perf_counter()
        sh.batch_update({"requests": [{"addSheet": {"properties": {
            "sheetId": 7, "title": "Big", "gridProperties": {"rowCount": rows, "columnCount": cols}}}}]})
        for start in range(0, rows, chunk):
            sh.batch_update({"requests": [{"updateCells": {"start": {"sheetId": 7, "rowIndex": start},
                                                           "rows": cells[start:start + chunk],
                                                           "fields": "userEnteredValue"}}]})
        write = time.perf_counter() - t0
        requests_sent = 1 + -(-rows // chunk)
        t0 = time.perf_counter()
        got = sh.values_batch_get(["Big!A1:L20000"])["valueRanges"][0]["values"]
        read = time.perf_counter() - t0
        assert len(got) == rows
        ws = sh.add_worksheet("Chunks", rows=rows, cols=cols)
        values = [[f"r{r}c{c} " * 8 for c in range(cols)] for r in range(rows)]
        t0 = time.perf_counter()
        for start in range(0, rows, 1000):
            ws.update(values=values[start:start + 1000], range_name=f"A{start + 1}", raw=True)
        chunked = time.perf_counter() - t0
    return write, read, chunked, requests_sent


def main() -> None:
    times = [startup_seconds() for _ in range(5)]
    print(f"emulator start-up to address printed: median {statistics.median(times):.2f}s "
          f"(min {min(times):.2f}, max {max(times):.2f}) over 5 runs; target < 1 s")
    write, read, chunked, sent = big_tab()
    print(f"20,000 x 12 tab: written with {sent} batchUpdates under the 10 MiB limit in {write:.2f}s, "
          f"one batchGet read {read:.2f}s; the same values as 20 chunked values.update calls: {chunked:.2f}s "
          f"({sent} write requests vs 20)")


if __name__ == "__main__":
    main()
