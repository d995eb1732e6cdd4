"""The attack suite's world: a workspace, the Sheets emulator and the fake LLM server, the datasets, and
snapshots of both sides (emulator state + workspace folder) that every scenario starts from.

Commands run through the real CLI (``CliRunner``) or, for ``fill_expert_cells`` (not a command: the demo
uses it), the library function. The only thing made test-sized is the Google transport's retry sleeps:
:func:`fast_google` opens the workbook exactly as ``sheetsync.backends.open_workbook`` does, on a client
whose waits are cut to milliseconds (as the ``gspread_client`` fixture does), so a failure repeated more
times than the retry budget fails fast instead of in minutes.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sheetsync.annotate import CRITIQUE, NOTES, ROOT_CAUSE, VERDICT
from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.emulator import Emulator
from sheetsync.errors import SheetsyncError
from sheetsync.workspace import init_workspace

TITLE = "Attack labels"
N_ROWS = 10
ROW_CHARS = 4_000  # input and output each: ten rows make a first push of ~80 KB, more than one request
BIG_CHARS = 34_000  # the re-push's changed and new rows: together more than one request
REQUEST_LIMIT = 65_536  # [google] max_request_bytes (its smallest allowed value)
JUDGE_CRITIQUE_CHARS = 9_000  # the judge's critiques: the Judge and Disagreements tabs need several requests
FILL_CRITIQUE_CHARS = 25_000  # labels the demo-style import fills in: several requests too

_WORDS = ("refund", "Gold", "rebooking", "café", "naïve", "日本語", "✓", "—", "🙂", "fare", "policy", "=1+1",
          "007", "TRUE", "@x", "+44", "\t", "baggage", "Ünïcödé", "«quoted»")


def text(seed: str, n: int) -> str:
    """``n`` characters of deterministic, varied text (unicode, formula-like words, tabs, line breaks)."""
    out: list[str] = [f"[{seed}] "]
    size = len(out[0])
    i = 0
    while size < n:
        h = hashlib.sha256(f"{seed}:{i}".encode()).digest()
        word = _WORDS[h[0] % len(_WORDS)] + ("\n" if h[1] % 17 == 0 else " ")
        out.append(word)
        size += len(word)
        i += 1
    return "".join(out)[:n]


def dataset(version: int) -> list[dict[str, str]]:
    """v1: ten rows. v2: r03's output changed (its label goes stale). v3: also r05's output changed and a
    new row r11 (~10% changed, ~5% new), both long enough that the re-push needs several requests."""
    rows = [
        {"id": f"r{i:02d}", "feature": "refund" if i % 2 else "baggage", "tier": "Gold" if i % 3 else "007",
         "input": text(f"in{i}", ROW_CHARS), "output": text(f"out{i}", ROW_CHARS)}
        for i in range(1, N_ROWS + 1)
    ]
    if version >= 2:
        rows[2]["output"] = text("out3-v2", ROW_CHARS)
    if version >= 3:
        rows[4]["output"] = text("out5-v3", BIG_CHARS)
        rows.append({"id": "r11", "feature": "refund", "tier": "Gold", "input": text("in11", ROW_CHARS),
                     "output": text("out11", BIG_CHARS)})
    return rows


def write_dataset(path: Path, version: int) -> None:
    rows = dataset(version)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


#: What the scripted expert typed at the start (ids r01..r07; r08..r10 stay unlabelled): the bytes the
#: suite checks for, so each one is a way text gets changed — leading and trailing spaces, tabs, line
#: breaks, unicode, text that looks like a formula, a number or a boolean.
BASELINE_LABELS: dict[str, dict[str, str]] = {
    "r01": {VERDICT: "Pass", CRITIQUE: "Correct refund window, cites the policy and stays friendly all along.",
            ROOT_CAUSE: "", NOTES: ""},
    "r02": {VERDICT: "Fail", CRITIQUE: "  Leading spaces kept: quoted a fee that does not exist for Gold members.",
            ROOT_CAUSE: "hallucinated fact", NOTES: "ask Dana"},
    "r03": {VERDICT: "Fail", CRITIQUE: "A tab\there and a second line\nthat must survive — café ✓ 日本語 🙂",
            ROOT_CAUSE: "policy misapplied; wrong tone", NOTES: ""},
    "r04": {VERDICT: "Pass", CRITIQUE: "=1+1 looks like a formula, 007 like a number, TRUE like a boolean.",
            ROOT_CAUSE: "", NOTES: "+notes"},
    "r05": {VERDICT: "fail", CRITIQUE: "Ignored that the customer is Gold and offered no priority rebooking.",
            ROOT_CAUSE: "ignored context", NOTES: ""},
    "r06": {VERDICT: "✓", CRITIQUE: "Good.", ROOT_CAUSE: "", NOTES: ""},
    "r07": {VERDICT: "Fail", CRITIQUE: "Trailing spaces and a line break are kept too.   \n",
            ROOT_CAUSE: "incomplete answer", NOTES: "  "},
}

#: What ``fill_expert_cells`` imports (the demo's way of playing the expert): three unlabelled rows, and
#: r01, which the expert labelled already and which must not change.
FILL_LABELS: dict[str, dict[str, str]] = {
    **{f"r{i:02d}": {VERDICT: "Fail" if i % 2 else "Pass", CRITIQUE: text(f"fill{i}", FILL_CRITIQUE_CHARS),
                     ROOT_CAUSE: "wrong tone" if i % 2 else ""} for i in (8, 9, 10)},
    "r01": {VERDICT: "Fail", CRITIQUE: "An imported label that must never replace the expert's own.",
            ROOT_CAUSE: "wrong tone"},
}


#: What the fake answers ``sheetsync triage`` (the Root-cause proposals attacks): three categories sharing
#: the critiques it was sent.
PROPOSAL_NAMES = ("Invented fee", "Ignored the tier", "Text mangled")


def triage_answer(user: str) -> dict[str, Any]:
    refs = re.findall(r"^(C\d+):$", user, re.M)
    return {"categories": [{"name": name, "definition": f"Failures where the answer shows: {name.lower()}.",
                            "critique_ids": refs[i::3] or refs[:1]} for i, name in enumerate(PROPOSAL_NAMES)]}


def judge_answer(request: dict[str, Any]) -> dict[str, Any]:
    """The fake judge: disagrees with the expert on most rows (so Disagreements is long), with long critiques.
    It answers ``sheetsync triage`` too (:func:`triage_answer`)."""
    user = request["messages"][-1]["content"]
    if "axial coding" in request["messages"][0]["content"]:
        return triage_answer(user)
    verdict = "pass" if "[in1]" in user or "[in6]" in user else "fail"
    return {"critique": text("judge:" + hashlib.sha256(user.encode()).hexdigest()[:8], JUDGE_CRITIQUE_CHARS),
            "verdict": verdict}


# ------------------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    """How a command ended, as the person who ran it sees it."""

    exit_code: int
    output: str
    traceback: str = ""  # an exception nobody turned into a message (a bug, always)
    result: Any = None  # --json output, or the library function's return value

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.traceback


def run_cli(args: list[str]) -> Outcome:
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    tb = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))
    parsed = None
    if "--json" in args and result.exit_code == 0:
        try:
            parsed = json.loads(result.stdout)
        except ValueError:
            parsed = None
    return Outcome(result.exit_code, result.output, tb, parsed)


def run_library(fn: Callable[[], Any]) -> Outcome:
    """A library call seen as the CLI would report it: a SheetsyncError is its message and exit code 2."""
    try:
        value = fn()
    except SheetsyncError as exc:
        return Outcome(exc.exit_code, f"Error: {exc}")
    except Exception as exc:
        return Outcome(1, repr(exc), "".join(traceback.format_exception(exc)))
    return Outcome(0, "", result=value)


def fast_google(address: str) -> Callable[..., Any]:
    """``open_workbook`` as sheetsync has it, with the Google transport's waits cut to milliseconds."""
    from sheetsync.backends import is_local
    from sheetsync.backends.google import connect
    from sheetsync.backends.google_auth import resolve_credentials
    from sheetsync.backends.google_http import client_for_emulator
    from sheetsync.backends.xlsx import XlsxWorkbook

    def open_workbook(spreadsheet: str, cfg, *, create: bool = True):
        if is_local(spreadsheet):
            return XlsxWorkbook(cfg.path(spreadsheet))
        client = client_for_emulator(address, timeout=5.0, base_delay=0.001, max_delay=0.01,
                                     sleep=lambda seconds: time.sleep(min(seconds, 0.01)))
        _, principal = resolve_credentials(emulator_host=address)
        wb = connect(client, spreadsheet, principal, create=create, folder=cfg.google.folder)
        wb.max_request_bytes = cfg.google.max_request_bytes
        return wb

    return open_workbook


def make_workspace(root: Path, spreadsheet: str = TITLE) -> None:
    init_workspace(root, spreadsheet=spreadsheet)
    toml = root / "sheetsync.toml"
    body = toml.read_text(encoding="utf-8")
    body = body.replace("context = []", 'context = ["tier"]').replace("dimensions = []", 'dimensions = ["feature"]')
    body = body.replace("max_tokens = 1024", "max_tokens = 8000", 1)  # the judge's long critiques fit
    body = body.replace("reads_per_minute = 60", "reads_per_minute = 0")
    body = body.replace("writes_per_minute = 60", "writes_per_minute = 0")
    body = body.replace("quota_wait_max = 120", f"quota_wait_max = 120\nmax_request_bytes = {REQUEST_LIMIT}")
    toml.write_text(body, encoding="utf-8")
    write_dataset(root / "data.csv", 1)
    load_config(toml)  # the edited config is valid


# ---------------------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """Both sides of the world at one moment: the emulator's state, the workspace folder, the expert's ledger."""

    name: str
    emulator: str  # State.to_json(), serialised
    folder: Path
    ledger: Any
    key: str | None  # the spreadsheet's id (None before the first push)
    version: int  # the dataset version in data.csv
    extra: dict[str, Any] = field(default_factory=dict)


def take_snapshot(name: str, em: Emulator, workspace: Path, store_dir: Path, ledger: Any, key: str | None,
                  version: int) -> Snapshot:
    with em.lock:
        state = json.dumps(em.state.to_json())
    folder = store_dir / name
    shutil.copytree(workspace, folder, ignore=shutil.ignore_patterns("s-*"))
    return Snapshot(name, state, folder, copy.deepcopy(ledger), key, version)


def restore(snapshot: Snapshot, em: Emulator, into: Path) -> Path:
    """A fresh copy of the snapshot: the emulator reset (no hooks, faults or log) and loaded, the workspace
    copied to ``into``. Returns the workspace."""
    em.reset()
    with em.lock:
        em.state.load_json(json.loads(snapshot.emulator))
    shutil.copytree(snapshot.folder, into)
    return into


def spreadsheet_key(em: Emulator, title: str = TITLE) -> str | None:
    with em.lock:
        keys = [k for k, ss in em.state.spreadsheets.items() if ss.title == title]
    return keys[0] if len(keys) == 1 else None


def chdir(path: Path) -> None:
    os.chdir(path)
