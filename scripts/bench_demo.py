"""How long the first run takes once installed: `sheetsync demo` on a fresh folder, and `scripts/demo` with
nothing changed (its install step skipped) beside `scripts/demo` reinstalling as it did before (pip each run).

    .venv/bin/python scripts/bench_demo.py [--runs 3]

Each run is a fresh process, as a user's would be; the demo uses the replayed example judge (no LLM
configured). Prints the median of the runs and the slowest one. The target: under a minute after the install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / ".venv" / ".sheetsync-demo-install"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SHEETS_EMULATOR_HOST")}
    sheetsync = str(Path(sys.executable).with_name("sheetsync"))
    figures: dict[str, list[float]] = {"sheetsync demo (fresh folder)": [], "scripts/demo, nothing changed": [],
                                       "scripts/demo, reinstalling (before)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"demo-{i}"
            figures["sheetsync demo (fresh folder)"].append(timed([sheetsync, "demo", "--out", str(out)], env))
            shutil.rmtree(out)
            figures["scripts/demo, nothing changed"].append(timed(["scripts/demo", str(out)], env))
            shutil.rmtree(out)
            STAMP.unlink(missing_ok=True)  # what every run did before: pip upgrade and an editable install
            figures["scripts/demo, reinstalling (before)"].append(timed(["scripts/demo", str(out)], env))
            shutil.rmtree(out)
    print(f"{'':40} median   slowest  ({args.runs} runs)")
    for name, values in figures.items():
        print(f"{name:40} {statistics.median(values):6.1f} s {max(values):6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
