"""Start-up cost of the commands that should be cheap: `--version`, `--help`, `pull` and `auth check` (on a
local .xlsx and on the Sheets emulator), each a fresh `python -X importtime -m sheetsync …` process.

Side by side, in the same run: the interpreter doing nothing (`python -c pass`, the floor), importing
only Click (the CLI framework's floor), and — with ``--ref REV`` (default: the commit before the import
work) — the same commands run from that revision's sources (extracted with `git archive`, run on this
tree's virtual environment). Figures are the fastest of ``--runs`` runs (the trees take turns); the
machine is shared, so compare the columns of one run, not runs.

    .venv/bin/python scripts/bench_imports.py [--runs 9] [--ref d4b6f8d]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "numpy", "openai", "openpyxl", "gspread", "importlib.metadata")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int, set[str]]:
    """(wall ms, import ms, modules imported, heavy modules among them) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    wall = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed: {proc.stderr[-800:]}")
    total_us, names = 0, set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (part.strip() for part in line[len("import time:"):].split("|"))
            total_us += int(self_us)
            names.add(name)
    heavy = {h for h in HEAVY if h in names}
    return wall, total_us / 1000, len(names), heavy


def best_of(runs: int, args: list[str], cwd_env: list[tuple[Path, dict[str, str]]]) -> list[tuple]:
    """Per tree: (fastest wall ms, fastest import ms, modules, heavy modules). The trees take turns run by
    run, so a burst of load on the shared machine hits them alike; the fastest run is the cost itself."""
    results: list[list[tuple]] = [[] for _ in cwd_env]
    for _ in range(runs):
        for i, (cwd, env) in enumerate(cwd_env):
            results[i].append(run(args, cwd, env))
    return [(min(r[0] for r in rs), min(r[1] for r in rs), rs[-1][2], rs[-1][3]) for rs in results]


def extract(ref: str, into: Path) -> Path:
    """The package as it was at ``ref``, to run with PYTHONPATH (it shadows the editable install)."""
    blob = subprocess.run(["git", "archive", ref, "sheetsync"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def workspaces(tmp: Path, env: dict[str, str]) -> dict[str, Path]:
    """A workspace on .xlsx and one on the emulator, made (init + push of 200 rows) by the tree measured."""
    out = {}
    for name, spreadsheet in (("xlsx", "labels.xlsx"), ("google", f"Import bench {tmp.name}")):
        ws = tmp / name
        ws.mkdir(parents=True)
        rows = "".join(f"r{i},question {i},answer {i}\n" for i in range(200))
        (ws / "data.csv").write_text("id,input,output\n" + rows)
        for args in (["init", "--spreadsheet", spreadsheet], ["push", "data.csv"]):
            subprocess.run([sys.executable, "-m", "sheetsync", *args], cwd=ws, env=env, check=True,
                           capture_output=True)
        out[name] = ws
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--ref", default="d4b6f8d", help="the revision to compare with ('' to skip)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        emulator = subprocess.Popen([sys.executable, "-m", "sheetsync", "emulator", "--port", "0"],
                                    stdout=subprocess.PIPE, text=True)
        try:
            host = emulator.stdout.readline().strip().rsplit("/", 1)[-1]  # type: ignore[union-attr]
            base = {**os.environ, "SHEETS_EMULATOR_HOST": host}
            trees = {"this tree": base}
            if opts.ref:
                old = extract(opts.ref, tmp / "ref")
                trees[f"{opts.ref}"] = {**base, "PYTHONPATH": str(old)}
            spaces = {name: workspaces(tmp / f"ws{i}", env) for i, (name, env) in enumerate(trees.items())}
            scenarios = [
                ("--version", ["--version"], None), ("--help", ["--help"], None),
                ("pull (xlsx)", ["pull"], "xlsx"), ("pull (emulator)", ["pull"], "google"),
                ("auth check (xlsx)", ["auth", "check"], "xlsx"),
                ("auth check (emulator)", ["auth", "check"], "google"),
            ]
            floor, click = best_of(opts.runs, ["-c", "pass"], [(tmp, base)])[0], best_of(
                opts.runs, ["-c", "import click"], [(tmp, base)])[0]
            print(f"{sys.platform}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {opts.runs} runs")
            print(f"floor: `python -c pass` {floor[0]:.0f} ms wall; `python -c 'import click'` {click[0]:.0f} ms wall, "
                  f"{click[1]:.0f} ms importing")
            print(f"\n{'command':24}" + "".join(f"{name:>44}" for name in trees))
            print(f"{'':24}" + f"{'wall ms':>10}{'import ms':>11}{'modules':>9}  {'heavy':12}" * len(trees))
            for title, args, where in scenarios:
                line = f"{title:24}"
                try:
                    cells = best_of(opts.runs, ["-m", "sheetsync", *args],
                                    [(spaces[name][where] if where else tmp, env) for name, env in trees.items()])
                except RuntimeError as exc:
                    print(line + f"failed: {str(exc)[-80:]}")
                    continue
                for wall, imp, mods, heavy in cells:
                    line += f"{wall:10.0f}{imp:11.0f}{mods:9d}  {','.join(sorted(heavy)) or '-':12}"
                print(line)
            print("\nheavy: which of " + ", ".join(HEAVY) + " the command imported")
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
