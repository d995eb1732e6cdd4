"""The real-server check behind ``scripts/check_local_llm`` (which builds the server and fetches the model).

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with the settings the README recommends for
CPU servers, then runs the sheetsync CLI as a user would, in a fresh workspace on the bundled example:

1. init, push (24 interactions + one with a 46,000-character output), the example expert's labels, pull;
2. judge --split dev: the level the run ended on, calls, cached tokens, time; the long row must be recorded as
   "too long for the model's context", and is judged again with fit_context = true;
3. the prefix-cache saving: per-call latency of the cache-friendly prompts against the same prompts with a
   per-row value at the start of the system message (what the old layout did);
4. judge --split test with the server killed after two verdicts and restarted 15 s later: the run must pause,
   resume and finish with 0 errors;
5. report, and generate (3 tuples x 2 inputs).

It prints what worked and the figures, and writes them to .sheetsync-check/result.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_ROWS = 24
CPU_SETTINGS = {"timeout": "600", "concurrency": "1", "max_examples": "2", "max_example_chars": "4000",
                "outage_wait": "180", "probe_interval": "2", "max_retries": "2", "max_tokens": "400"}
#: A 135M model rambles until its budget runs out unless asked to be brief: the edit a user would make.
BRIEF = ("Then give the verdict.", "Keep the critique under 50 words. Then give the verdict.")


class Server:
    def __init__(self, python: str, model: str, port: int, log: Path) -> None:
        self.command = [python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port",
                        str(port), "--n_ctx", "8192", "--n_threads", "1", "--model_alias", "smollm2"]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2):
                return True
        except OSError:
            return False

    def start(self) -> float:
        if self.answers():
            raise SystemExit(f"something already answers on {self.base_url}: stop it or pass --port")
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        for _ in range(240):
            if self.answers():
                return time.perf_counter() - started
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited: see {self.log}")
            time.sleep(0.5)
        raise SystemExit(f"the server did not start in 120 s: see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for _ in range(150):  # the port is free again before the next server starts (bounded: 30 s)
            if not self.answers():
                break
            time.sleep(0.2)


def sheetsync(ws: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sheetsync", *args], cwd=ws, env=env, capture_output=True,
                          text=True)
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


def set_judge(toml: Path, **values: str) -> None:
    lines = toml.read_text().splitlines()
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip()
        key = line.split("=", 1)[0].strip()
        if section == "[judge]" and key in values:
            lines[i] = f"{key} = {values[key]}"
    toml.write_text("\n".join(lines) + "\n")


def workspace(root: Path) -> tuple[Path, str, dict[str, Any]]:
    """A workspace on the first rows of the bundled example, plus one row too long for an 8k context."""
    from sheetsync.demo import example_path
    from sheetsync.judge.splits import split_of

    with example_path().open(newline="", encoding="utf-8") as fh:
        example = list(csv.DictReader(fh))[:N_ROWS]
    long_id = next(f"NT-LONG-{i}" for i in range(100) if split_of(f"NT-LONG-{i}") == "dev")
    long_row = {**example[0], "id": long_id, "output": "I can help with that. " * 2100,
                "expert_verdict": "fail", "expert_critique": "Rambles for pages without answering the question."}
    rows = [*example, long_row]
    labels = {r["id"]: {"Pass/Fail": "Pass" if r["expert_verdict"] == "pass" else "Fail",
                        "Critique": r["expert_critique"]} for r in rows}
    with (root / "traces.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "feature", "input", "output"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("id", "feature", "input", "output")} for r in rows)
    return root, long_id, labels


def play_expert(ws: Path, labels: dict[str, Any]) -> int:
    from sheetsync.config import load_config
    from sheetsync.label_import import fill_expert_cells
    from sheetsync.workspace import open_store, open_workspace_workbook

    cfg = load_config(ws / "sheetsync.toml")
    store = open_store(cfg)
    return fill_expert_cells(cfg, labels, workbook=open_workspace_workbook(cfg, store, None), store=store)


def run_count(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def verdict_count(db: Path, runs_before: int) -> int:
    """Verdicts of the newest run, once a run newer than the first ``runs_before`` exists (else 0)."""
    if run_count(db) <= runs_before:
        return 0
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT COUNT(*) FROM verdicts WHERE run_id = (SELECT run_id FROM runs ORDER BY "
                          "rowid DESC LIMIT 1)").fetchone()
    return int(row[0])


def prefix_cache_saving(ws: Path, base_url: str, n: int = 4) -> dict[str, Any]:
    """Per-call latency of the judge's prompts as sent, against the same prompts defeated by a per-row prefix."""
    from sheetsync import llm
    from sheetsync.config import load_config
    from sheetsync.judge.inputs import _load, _prompt, _targets
    from sheetsync.judge.runner import judge_calls, settings_for
    from sheetsync.workspace import open_store

    cfg = load_config(ws / "sheetsync.toml")
    store = open_store(cfg)
    loaded = _load(cfg, store)
    prompt = _prompt(cfg, store, loaded, None)
    settings = settings_for(cfg)
    targets = [t for t in _targets(loaded, "test")][:n]
    friendly = list(judge_calls(prompt, loaded, targets, settings, False))
    defeated = [llm.Call(c.key, [{"role": "system", "content": f"Row reference {c.key}.\n\n"
                                  + c.messages[0]["content"]}, c.messages[1]], c.schema, c.schema_name)
                for c in friendly]
    out: dict[str, Any] = {"rows": len(friendly)}
    for name, calls in (("per_row_prefix", defeated), ("shared_prefix", friendly)):
        summary = llm.run(calls, llm.LLMSettings(**{**settings.__dict__, "base_url": base_url}),
                          cache=llm.MemoryCache(), progress=False)
        latencies = [r.latency for r in summary.results]
        out[name] = {"latencies_s": [round(x, 2) for x in latencies], "median_s": round(statistics.median(latencies), 2),
                     "prompt_tokens": summary.prompt_tokens, "errors": summary.errors}
    out["saving"] = round(1 - out["shared_prefix"]["median_s"] / out["per_row_prefix"]["median_s"], 3)
    return out


def prefix_hits(log: Path) -> dict[str, Any]:
    """Prompt tokens the server took from its prefix cache, from llama-cpp-python's own log lines
    ("Llama.generate: N prefix-match hit, remaining M prompt tokens to eval")."""
    import re

    pairs = [(int(a), int(b)) for a, b in re.findall(r"(\d+) prefix-match hit, remaining (\d+) prompt tokens",
                                                     log.read_text(errors="replace"))]
    reused, fresh = sum(a for a, _ in pairs), sum(b for _, b in pairs)
    return {"calls": len(pairs), "tokens_reused": reused, "tokens_processed": fresh,
            "share_reused": round(reused / max(1, reused + fresh), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--keep", help="Workspace folder to use and keep (default: a temporary one).")
    args = parser.parse_args()
    state = ROOT / ".sheetsync-check"
    state.mkdir(exist_ok=True)
    server = Server(args.server_python, args.model, args.port, state / "server.log")
    results: dict[str, Any] = {"server": "llama-cpp-python", "model": Path(args.model).name, "steps": {}}
    steps = results["steps"]

    def step(name: str, ok: bool, **facts: Any) -> None:
        steps[name] = {"ok": ok, **facts}
        print(f"{'ok  ' if ok else 'FAIL'} {name}: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)

    judge_run: subprocess.Popen[str] | None = None
    tmp = tempfile.TemporaryDirectory()
    ws = Path(args.keep).resolve() if args.keep else Path(tmp.name)
    ws.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SHEETSYNC_"))}
    env |= {"OPENAI_BASE_URL": server.base_url, "NO_PROXY": "127.0.0.1,localhost", "SHEETSYNC_JUDGE_MODEL": "smollm2"}
    os.environ.update({"NO_PROXY": "127.0.0.1,localhost"})
    try:
        step("server start", True, seconds=round(server.start(), 1), url=server.base_url)
        code, _, err, secs = sheetsync(ws, "init", "--spreadsheet", "labels.xlsx", env=env)
        set_judge(ws / "sheetsync.toml", **CPU_SETTINGS)
        judge_md = ws / "prompts" / "judge.md"
        judge_md.write_text(judge_md.read_text().replace(*BRIEF))
        _, long_id, labels = workspace(ws)
        step("init", code == 0, seconds=round(secs, 1))
        code, out, err, secs = sheetsync(ws, "push", "traces.csv", env=env)
        step("push", code == 0, rows=N_ROWS + 1, seconds=round(secs, 1))
        step("expert labels (played)", True, cells=play_expert(ws, labels))
        code, out, err, secs = sheetsync(ws, "pull", "--json", env=env)
        step("pull", code == 0, labelled=json.loads(out)["labelled"] if code == 0 else err[-300:])

        code, out, err, secs = sheetsync(ws, "judge", "--split", "dev", "--json", env=env)
        dev = json.loads(out) if out.strip().startswith("{") else {}
        long_errors = [e for e in dev.get("errors", []) if e.startswith(long_id)]
        others = [e for e in dev.get("errors", []) if not e.startswith(long_id)]
        step("judge --split dev", code == 0 and not others, rows=dev.get("n_rows"), calls=dev.get("calls_made"),
             level=dev.get("format_level"), cached_tokens=dev.get("cached_tokens"),
             prompt_tokens=dev.get("prompt_tokens"), errors_other_rows=len(others), seconds=round(secs, 1),
             tpr=(dev.get("agreement") or {}).get("tpr"), tnr=(dev.get("agreement") or {}).get("tnr"))
        step("context overflow recorded", bool(long_errors) and "too long for the model's context" in long_errors[0],
             error=(long_errors or ["none"])[0][:160])
        set_judge(ws / "sheetsync.toml", fit_context="true")
        code, out, err, secs = sheetsync(ws, "judge", "--split", "dev", "--json", env=env)
        fit = json.loads(out) if out.strip().startswith("{") else {}
        step("fit_context = true", code == 0 and not fit.get("errors"), notes=fit.get("notes"),
             calls=fit.get("calls_made"), seconds=round(secs, 1))

        saving = prefix_cache_saving(ws, server.base_url)
        step("prefix cache", saving["shared_prefix"]["errors"] == 0, **{
            "median per-row-prefix s": saving["per_row_prefix"]["median_s"],
            "median shared-prefix s": saving["shared_prefix"]["median_s"], "saving": saving["saving"]})
        results["prefix_cache"] = saving
        results["server_prefix_cache"] = prefix_hits(server.log)
        step("server prefix cache (its log)", True, **results["server_prefix_cache"])

        db = ws / ".sheetsync" / "state.db"
        runs_before = run_count(db)
        judge_run = subprocess.Popen([sys.executable, "-m", "sheetsync", "judge", "--split", "test", "--json"],
                                     cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.perf_counter()
        while verdict_count(db, runs_before) < 2 and judge_run.poll() is None:
            time.sleep(0.5)
        at_kill = verdict_count(db, runs_before)
        server.stop()
        killed_at = time.perf_counter() - started
        time.sleep(15)
        server.start()
        out, err = judge_run.communicate(timeout=1800)
        test = json.loads(out) if out.strip().startswith("{") else {}
        step("server restart mid-run", judge_run.returncode == 0 and not test.get("errors")
             and "not answering" in err and "resuming" in err,
             killed_after_s=round(killed_at, 1), verdicts_before_kill=at_kill,
             outages=test.get("outages"), errors=len(test.get("errors", [])),
             rows=test.get("n_rows"), seconds=round(time.perf_counter() - started, 1))

        code, out, err, secs = sheetsync(ws, "report", "--json", env=env)
        step("report", code == 0, seconds=round(secs, 1))
        code, out, err, secs = sheetsync(ws, "generate", "-d", "dimensions.toml", "--tuples", "3", "--per-tuple", "2",
                                         "--out", "inputs.csv", "--json", env=env)
        gen = json.loads(out) if out.strip().startswith("{") else {}
        step("generate", code == 0 and gen.get("rows", 0) > 0 and not gen.get("errors"), rows=gen.get("rows"),
             calls=gen.get("calls_made"), level=gen.get("format_level"), errors=gen.get("errors"),
             exit_code=code, seconds=round(secs, 1))
    finally:
        if judge_run is not None and judge_run.poll() is None:
            judge_run.kill()
        server.stop()
        (state / "result.json").write_text(json.dumps(results, indent=2))
        tmp.cleanup()
    failed = [name for name, s in steps.items() if not s["ok"]]
    print(f"\n{len(steps) - len(failed)} of {len(steps)} steps worked" + (f"; failed: {', '.join(failed)}" if failed
                                                                          else ""))
    print(f"figures: {state / 'result.json'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
