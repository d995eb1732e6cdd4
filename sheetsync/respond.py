"""``sheetsync respond``: run the team's AI system on every input and record output, latency and error.

Why it is built this way:

* **Three ways to name the system**, so no team has to write an adapter: a Python callable
  (``--call module:function``), any program reading stdin (``--command``), or an OpenAI-compatible chat
  endpoint (``--endpoint``).
* **A failed call is a row with its error, never a dropped row**: the dataset must show where the system
  breaks, and a missing row would silently bias everything computed from it.
* **Resume**: every finished row is appended to ``<out>.partial.jsonl`` at once, so Ctrl-C or a crash
  loses nothing; the next run (same ``--out``) reuses every row that has an output and no error — from the
  partial file or from ``out`` itself — and calls only the rest. The final file is written atomically.
  Rows are matched by id and input text, not by system: point a changed system at a new ``--out``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.callables import load_callable
from sheetsync.config import Config
from sheetsync.dataset import INPUT_NAMES, as_text, content_ids, read_records, write_records
from sheetsync.errors import UserInputError
from sheetsync.redact import redact

RESULT_COLUMNS = ("output", "latency_s", "error")
OUT_FORMATS = (".csv", ".jsonl")
STDERR_TAIL = 500

#: An adapter for one system: (input text, row, row id) -> output text. Raising means the row failed.
Runner = Callable[[str, dict[str, str], str], Awaitable[str]]


class SystemFailure(Exception):
    """A failure we describe ourselves (exit code, empty reply): its message is the row's error as is."""


class _Interrupted(Exception):
    """A KeyboardInterrupt raised by the system's code, carried out of the event loop as an ordinary
    exception: escaping a task as itself, it would skip the run's cleanup (as in ``sheetsync.llm``)."""


@dataclass
class RespondResult:
    out: str
    system: str  # e.g. "call my_app:answer"
    n_rows: int = 0
    called: int = 0  # rows sent to the system in this run
    reused: int = 0  # rows taken from a previous run (out or the partial file)
    errors: list[str] = field(default_factory=list)  # "id: reason", for rows that failed in this run
    wall_time: float = 0.0
    id_column: str = "id"
    generated_ids: bool = False
    input_column: str = "input"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------
# Reading the inputs


@dataclass
class _Inputs:
    header: list[str]
    rows: list[dict[str, str]]
    id: str
    input: str
    generated_ids: bool


def _load_inputs(path: Path, cfg: Config) -> _Inputs:
    """Rows as text, with an id per row; no output column required (``load_dataset`` insists on one)."""
    records = read_records(path)
    if not records:
        raise UserInputError(f"{path}: the file has no rows. Add inputs (one per row) and try again.")
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for record in records:
        row = {str(k).strip(): as_text(v) for k, v in record.items()}
        for key in row:
            if key not in header:
                header.append(key)
        rows.append(row)
    rows = [{h: r.get(h, "") for h in header} for r in rows]

    columns = cfg.columns
    if columns.input:
        if columns.input not in header:
            raise UserInputError(f"{path}: no `{columns.input}` column for the input (columns: {', '.join(header)}). "
                                 "Fix [columns] input in sheetsync.toml.")
        input_col = columns.input
    else:
        lowered = {h.lower(): h for h in reversed(header)}
        found = next((lowered[n] for n in INPUT_NAMES if n in lowered), None)
        if found is None:
            raise UserInputError(f"{path}: no input column; expected one of {', '.join(INPUT_NAMES)} "
                                 f"(columns: {', '.join(header)}). Set [columns] input in sheetsync.toml.")
        input_col = found

    id_col = columns.id
    generated = id_col not in header
    if generated:
        import pandas as pd

        others = [input_col, *(h for h in header if h != input_col and h not in RESULT_COLUMNS)]
        ids = content_ids(pd.DataFrame(rows, columns=header), others)
        for row, rid in zip(rows, ids, strict=True):
            row[id_col] = rid
        header = [id_col, *header]
    else:
        seen: dict[str, int] = {}
        for n, row in enumerate(rows, start=2):
            rid = row[id_col] = row[id_col].strip()
            if not rid:
                raise UserInputError(f"{path}: row {n}: column `{id_col}` is empty. Every row needs an id.")
            if rid in seen:
                raise UserInputError(f"{path}: duplicate id {rid!r} on rows {seen[rid]} and {n}. Ids must be unique.")
            seen[rid] = n
    return _Inputs(header, rows, id_col, input_col, generated)


def _input_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def partial_path(out: Path) -> Path:
    """Where finished rows are appended as they complete (JSON lines), next to ``out``."""
    return out.with_name(out.name + ".partial.jsonl")


def _previous(out: Path, partial: Path, inputs: _Inputs, system: str) -> dict[str, dict[str, Any]]:
    """Rows finished without error by earlier runs, by id, when their input is unchanged (and, for the
    partial file, which records it, when the system is the same)."""
    current = {r[inputs.id]: _input_hash(r[inputs.input]) for r in inputs.rows}
    done: dict[str, dict[str, Any]] = {}
    if out.is_file():
        try:
            records = read_records(out)
        except UserInputError:
            records = []  # unreadable (e.g. an empty file): just call everything again
        for rec in records:
            rid = as_text(rec.get(inputs.id)).strip()
            unchanged = rid in current and _input_hash(as_text(rec.get(inputs.input))) == current[rid]
            if unchanged and "output" in rec and not as_text(rec.get("error")):
                done[rid] = {"output": as_text(rec.get("output")), "latency_s": as_text(rec.get("latency_s"))}
    if partial.is_file():
        with partial.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash
                rid = rec.get("id") if isinstance(rec, dict) else None
                same = rec.get("input_hash") == current.get(rid) and rec.get("system", system) == system
                if rid in current and same and not rec.get("error"):
                    done[rid] = {"output": rec.get("output", ""), "latency_s": rec.get("latency_s", "")}
    return done


# ---------------------------------------------------------------------------------------------------------
# The three kinds of system


def _call_runner(spec: str) -> Runner:
    """Import ``module:function`` (the current directory first on ``sys.path``) and adapt it."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise UserInputError(f"--call {spec!r}: expected module:function, e.g. my_app.bot:answer.")
    fn = load_callable(spec, os.getcwd(), f"--call {spec}",
                       hint="Run from the folder containing it, or install your package.")
    with_row = _takes_two_args(fn)
    is_async = inspect.iscoroutinefunction(fn)

    def invoke(text: str, row: dict[str, str]) -> Any:
        return fn(text, dict(row)) if with_row else fn(text)

    async def run(text: str, row: dict[str, str], row_id: str) -> str:
        if is_async:
            value = await invoke(text, row)
        else:
            value = await _in_daemon_thread(invoke, text, row)
            if inspect.isawaitable(value):  # a sync wrapper that returned a coroutine
                value = await value
        return _as_output(value)

    return run


def _takes_two_args(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts ``(input_text, row)``; otherwise it is called with the input alone."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _as_output(value: Any) -> str:
    if value is None:
        raise ValueError("the function returned None (expected the output text)")
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run a sync function in its own daemon thread: concurrency applies, and a call that never returns
    (after its row timed out) cannot keep the process from exiting, as a pool's worker would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value, exc = fn(*args), None
        except BaseException as e:  # carried to the awaiting task, KeyboardInterrupt included
            value, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            loop.call_soon_threadsafe(settle, value, exc)

    threading.Thread(target=target, name="sheetsync-respond", daemon=True).start()
    return future


def _command_runner(command: str) -> Runner:
    """A program run once per row (no shell): the input on stdin, the output from stdout."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UserInputError(f"--command {command!r}: cannot split it into arguments ({exc}).") from exc
    if not argv:
        raise UserInputError("--command: empty command.")
    program = argv[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        if not (Path(program).is_file() and os.access(program, os.X_OK)):
            raise UserInputError(f"--command: {program}: not found or not executable.")
    elif shutil.which(program) is None:
        raise UserInputError(f"--command: {program}: command not found on PATH.")

    async def run(text: str, row: dict[str, str], row_id: str) -> str:
        env = {**os.environ, "SHEETSYNC_ROW_ID": row_id}
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            stdout, stderr = await proc.communicate(text.encode("utf-8"))
        except BaseException:  # the row timed out, Ctrl-C, a cancelled run: never leave the child behind
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
            raise SystemFailure(f"exit code {proc.returncode}" + (f": {tail}" if tail else " (no stderr)"))
        return stdout.decode("utf-8", "replace").rstrip("\r\n")

    return run


def _endpoint_runner(url: str, model: str | None, system_prompt: str | None, timeout: float,
                     concurrency: int) -> tuple[Runner, Any]:
    """An OpenAI-compatible chat endpoint: one user message (after the optional system prompt) per row.

    The client is the judge's (``sheetsync.llm.make_client``): the same key rules, transport and timeout.
    No retries: a failure is recorded as the row's error, and the next run retries exactly those rows.
    """
    from sheetsync.llm import LLMSettings, chat_completion, make_client
    from sheetsync.llm.failures import FinalFailure, RetryableFailure, reply_content

    if not model:
        raise UserInputError("--endpoint needs --model (the model name the endpoint serves).")
    system_text = None
    if system_prompt:
        path = Path(system_prompt)
        if not path.is_file():
            raise UserInputError(f"--system-prompt {system_prompt}: file not found.")
        system_text = path.read_text(encoding="utf-8")
    settings = LLMSettings(model=model, base_url=url, timeout=timeout, max_retries=0, concurrency=concurrency)
    client = make_client(settings)

    async def run(text: str, row: dict[str, str], row_id: str) -> str:
        messages = [{"role": "system", "content": system_text}] if system_text else []
        messages.append({"role": "user", "content": text})
        reply = await chat_completion(client, {"model": model, "messages": messages})
        try:
            return reply_content(reply)[0]
        except (RetryableFailure, FinalFailure) as exc:
            raise SystemFailure(f"the endpoint returned no message content ({exc.reason})") from None

    return run, client


# ---------------------------------------------------------------------------------------------------------
# The workflow


def respond(
    cfg: Config,
    inputs_path: str | Path,
    *,
    out: str | Path,
    call: str | None = None,
    command: str | None = None,
    endpoint: str | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
    concurrency: int = 8,
    timeout: float = 60.0,
    progress: bool = True,
) -> RespondResult:
    """Feed every input row to the system named by exactly one of ``call``/``command``/``endpoint``.

    Writes ``out`` (.csv or .jsonl) with the input columns (plus a generated ``id`` when there was none),
    then ``output``, ``latency_s`` and ``error``. See the module docstring for resume.
    """
    chosen = [(name, v) for name, v in (("call", call), ("command", command), ("endpoint", endpoint)) if v]
    if len(chosen) != 1:
        raise UserInputError("name the AI system with exactly one of --call module:function, --command \"CMD\" "
                             "or --endpoint URL.")
    if concurrency < 1:
        raise UserInputError(f"--concurrency {concurrency}: must be at least 1.")
    if timeout <= 0:
        raise UserInputError(f"--timeout {timeout}: must be positive.")
    out_path, inputs_file = Path(out), Path(inputs_path)
    if out_path.suffix.lower() not in OUT_FORMATS:
        raise UserInputError(f"--out {out}: write .csv or .jsonl.")
    if out_path.resolve() == inputs_file.resolve():
        raise UserInputError(f"--out {out}: the same file as the inputs; write the traces to another file.")
    inputs = _load_inputs(inputs_file, cfg)
    kind, spec = chosen[0]
    # The system's name is printed and kept in the partial file: never with the endpoint's credentials.
    result = RespondResult(out=str(out_path), system=redact(f"{kind} {spec}"), n_rows=len(inputs.rows), id_column=inputs.id,
                           generated_ids=inputs.generated_ids, input_column=inputs.input)
    clashing = [c for c in RESULT_COLUMNS if c in inputs.header]
    if clashing:
        result.warnings.append(f"the inputs already have column(s) {', '.join(clashing)}: replaced by this run's.")
    header = [h for h in inputs.header if h not in RESULT_COLUMNS]

    client = None
    if kind == "call":
        runner = _call_runner(spec)
    elif kind == "command":
        runner = _command_runner(spec)
    else:
        runner, client = _endpoint_runner(spec, model, system_prompt, timeout, concurrency)

    partial = partial_path(out_path)
    finished = _previous(out_path, partial, inputs, result.system)
    pending = [r for r in inputs.rows if r[inputs.id] not in finished]
    result.reused = len(inputs.rows) - len(pending)
    if result.reused:
        result.warnings.append(f"{result.reused} row(s) kept from an earlier run into {out_path.name}; to capture "
                               "a changed system, write to a new --out.")
    started = time.perf_counter()
    if pending:
        try:
            fresh = asyncio.run(
            _run_rows(pending, inputs, runner, client, partial, result.system, concurrency, timeout, progress)
        )
        except _Interrupted:
            raise KeyboardInterrupt from None
        finished.update(fresh)
    result.called = len(pending)
    result.wall_time = time.perf_counter() - started

    rows = []
    for row in inputs.rows:
        rid = row[inputs.id]
        done = finished[rid]
        if done.get("error"):
            result.errors.append(f"{rid}: {done['error']}")
        rows.append({**{h: row[h] for h in header}, "output": done.get("output", ""),
                     "latency_s": done.get("latency_s", ""), "error": done.get("error", "")})
    write_records(out_path, [*header, *RESULT_COLUMNS], rows)
    partial.unlink(missing_ok=True)  # everything it held is in `out` now
    return result


async def _run_rows(
    pending: list[dict[str, str]],
    inputs: _Inputs,
    runner: Runner,
    client: Any,
    partial: Path,
    system: str,
    concurrency: int,
    timeout: float,
    progress: bool,
) -> dict[str, dict[str, Any]]:
    """Call the system for each pending row, ``concurrency`` at a time, appending each result to ``partial``."""
    from tqdm import tqdm  # lazy, as in sheetsync.llm

    results: dict[str, dict[str, Any]] = {}
    queue = iter(pending)
    errors = 0
    partial.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(pending), desc="Responding", unit="row", disable=not progress, dynamic_ncols=True,
               file=sys.stderr)
    with partial.open("a", encoding="utf-8") as log:

        async def one(row: dict[str, str]) -> dict[str, Any]:
            t0 = time.perf_counter()
            try:
                output = await asyncio.wait_for(runner(row[inputs.input], row, row[inputs.id]), timeout)
                error = ""
            except TimeoutError:
                output, error = "", f"timed out after {timeout:g}s"
            except KeyboardInterrupt:
                raise _Interrupted from None
            except Exception as exc:  # the system failed on this row: record it, keep going
                output, error = "", _describe(exc)
            return {"output": output, "latency_s": round(time.perf_counter() - t0, 3), "error": error}

        async def worker() -> None:
            nonlocal errors
            for row in queue:
                rid = row[inputs.id]
                done = await one(row)
                results[rid] = done
                line = {"id": rid, "input_hash": _input_hash(row[inputs.input]), "system": system, **done}
                log.write(json.dumps(line, ensure_ascii=False) + "\n")
                log.flush()
                errors += bool(done["error"])
                bar.update(1)
                bar.set_postfix(errors=errors, refresh=False)

        tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(pending)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bar.close()
            if client is not None:
                await client.close()
    return results


def _describe(exc: BaseException) -> str:
    """A one-line reason: the status for API errors, else the exception type and message."""
    message = " ".join(str(exc).split())
    status = getattr(exc, "status_code", None)
    if isinstance(exc, SystemFailure):
        reason = message
    elif status is not None:
        reason = f"HTTP {status}: {message}"
    else:
        reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact(reason[: STDERR_TAIL + 100])


