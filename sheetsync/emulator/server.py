"""The HTTP layer: a threaded loopback server, routing on the raw (still percent-encoded) path, faults,
quotas, the request log, the fake OAuth token endpoint and the ``/_emulator/...`` controls.

Routing happens before any decoding: a range's ``:`` arrives as ``%3A`` while the verb's ``:`` (``:append``,
``:batchUpdate``) is literal, and a ``/`` inside a sheet title arrives as ``%2F``; each segment is decoded
on its own after the split.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sheetsync.emulator import batch_update, drive, spreadsheets, values
from sheetsync.emulator.errors import ApiError, invalid_argument, not_found
from sheetsync.emulator.faults import Controls, Fault, LogEntry, fault_error
from sheetsync.emulator.model import Spreadsheet, State
from sheetsync.emulator.params import Params

_VALUE_VERBS = ("append", "clear")
_JSON = "application/json; charset=UTF-8"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> as is; None -> empty
    content_type: str = _JSON
    headers: dict[str, str] | None = None


def _split_verb(segment: str, verbs: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """``abc:batchUpdate`` -> (``abc``, ``batchUpdate``). With ``verbs``, only those count as a verb (a range
    written with a literal ``:`` stays whole)."""
    if ":" not in segment:
        return segment, None
    head, _, verb = segment.rpartition(":")
    if verbs is not None and verb not in verbs:
        return segment, None
    return head, verb


class Emulator:
    """A local Google Sheets v4 + Drive v3 server. See the package docstring for the public API."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state_file: str | os.PathLike | None = None) -> None:
        self.host = host
        self.port = port
        self.state_file = os.fspath(state_file) if state_file else None
        self.state = State()
        self.controls = Controls()
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file, encoding="utf-8") as fh:
                self.state.load_json(json.load(fh))

    # -- lifecycle
    def start(self) -> Emulator:
        """Start serving on a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sheets-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hung fault answers are released) and save the state file if there is one."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.save()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # -- controls
    def reset(self) -> None:
        """Forget all spreadsheets and files, faults, quotas and the log."""
        with self.lock:
            self.state = State()
        self.controls.reset()
        self.save()

    def set_quotas(self, read_per_minute: int | None = None, write_per_minute: int | None = None) -> None:
        """Per-minute Sheets quotas (Google's defaults are 60 each); None switches a quota off."""
        self.controls.set_quotas(read_per_minute, write_per_minute)

    def add_fault(self, kind: str, *, method: str | None = None, path_contains: str | None = None,
                  count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` matching requests fail: ``"500"``, ``"503"``, ``"429"`` (with Retry-After
        = ``seconds`` or 1), ``"hang"`` (answer after ``seconds``), ``"drop"`` (close without answering)."""
        self.controls.add_fault(Fault(str(kind), method, path_contains, count, seconds))

    def clear_faults(self) -> None:
        with self.controls.lock:
            self.controls.faults.clear()

    @property
    def request_log(self) -> list[LogEntry]:
        with self.controls.lock:
            return list(self.controls.log)

    def clear_log(self) -> None:
        with self.controls.lock:
            self.controls.log.clear()

    def spreadsheet(self, spreadsheet_id: str) -> Spreadsheet:
        """The live stored spreadsheet (KeyError if unknown); see :mod:`sheetsync.emulator.model`."""
        with self.lock:
            return self.state.spreadsheets[spreadsheet_id]

    def save(self) -> None:
        """Write the state file atomically (no-op without one)."""
        if not self.state_file:
            return
        with self.lock:
            data = json.dumps(self.state.to_json(), separators=(",", ":"))
        folder = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sheets-emulator-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, self.state_file)

    # -- request handling (called from server threads)
    def handle(self, method: str, raw_target: str, body_bytes: bytes) -> tuple[Reply, str, str | None]:
        """Route one request; returns (reply, log kind, fault kind). A "drop" reply has status 0."""
        parts = urlsplit(raw_target)
        raw_path, query = parts.path, parts.query
        segs = [s for s in raw_path.split("/") if s != ""]
        kind = _classify(method, segs)
        if kind != "control":
            fault = self.controls.take_fault(method, raw_path, unquote(raw_path))
            if fault is not None:
                if fault.kind == "drop":
                    return Reply(status=0), kind, "drop"
                if fault.kind == "hang":
                    self._stopping.wait(fault.seconds or 0)
                else:
                    return _error_reply(fault_error(fault.kind, fault.seconds)), kind, fault.kind
        try:
            if kind in ("read", "write"):
                self.controls.charge(kind)
            with _gc_paused(len(body_bytes) > 1_000_000):
                body = _parse_body(body_bytes, lenient=kind in ("drive", "control"))
                with self.lock:
                    reply = self._route(method, segs, Params(query), body)
                    if kind in ("write", "drive") and method != "GET" and reply.status < 300:
                        self.save()
        except ApiError as err:
            return _error_reply(err), kind, None
        except Exception as exc:  # a bug in the emulator: answer like Google's 500, but say what broke
            print(f"sheets emulator: internal error on {method} {raw_target}: {exc!r}", file=sys.stderr)
            return _error_reply(ApiError(500, f"Internal error encountered. ({exc!r})", "INTERNAL")), kind, None
        return reply, kind, None

    def _route(self, method: str, segs: list[str], params: Params, body: Any) -> Reply:
        if segs[:2] == ["v4", "spreadsheets"]:
            return self._sheets(method, segs[2:], params, body)
        if segs[:3] == ["drive", "v3", "files"]:
            return self._drive(method, [unquote(s) for s in segs[3:]], params, body)
        if segs and segs[-1] == "token" and method == "POST":
            return Reply(body={"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"})
        if segs[:1] == ["_emulator"]:
            return self._control(method, segs[1:], body)
        raise not_found()

    def _sheets(self, method: str, segs: list[str], params: Params, body: Any) -> Reply:
        st = self.state
        if not segs:
            if method == "POST":
                return Reply(body=spreadsheets.create(st, body))
            raise not_found()
        sid_raw, verb = _split_verb(segs[0])
        sid = unquote(sid_raw)
        if len(segs) == 1:
            if verb is None and method == "GET":
                return Reply(body=spreadsheets.get(st, sid, params))
            if verb == "batchUpdate" and method == "POST":
                return Reply(body=batch_update.batch_update(st, sid, body))
            if verb == "getByDataFilter" and method == "POST":
                return Reply(body=spreadsheets.get_by_data_filter(st, sid, body))
            raise not_found()
        sub, sub_verb = _split_verb(segs[1])
        if sub == "values":
            if len(segs) == 2:
                if sub_verb == "batchGet" and method == "GET":
                    return Reply(body=values.batch_get(st, sid, params))
                if sub_verb == "batchUpdate" and method == "POST":
                    return Reply(body=values.batch_update(st, sid, body))
                if sub_verb == "batchClear" and method == "POST":
                    return Reply(body=values.batch_clear(st, sid, body))
                if sub_verb == "batchGetByDataFilter" and method == "POST":
                    return Reply(body=spreadsheets.batch_get_by_data_filter(st, sid, body))
                raise not_found()
            if len(segs) == 3:
                rng_raw, rverb = _split_verb(segs[2], _VALUE_VERBS)
                rng = unquote(rng_raw)
                if rverb is None and method == "GET":
                    return Reply(body=values.get(st, sid, rng, params))
                if rverb is None and method == "PUT":
                    return Reply(body=values.update(st, sid, rng, params, body))
                if rverb == "append" and method == "POST":
                    return Reply(body=values.append(st, sid, rng, params, body))
                if rverb == "clear" and method == "POST":
                    return Reply(body=values.clear(st, sid, rng, body))
            raise not_found()
        if sub == "developerMetadata":
            if len(segs) == 2 and sub_verb == "search" and method == "POST":
                return Reply(body=spreadsheets.search_metadata(st, sid, body))
            if len(segs) == 3 and method == "GET":
                return Reply(body=spreadsheets.get_metadata(st, sid, unquote(segs[2])))
        if sub == "sheets" and len(segs) == 3 and method == "POST":
            sheet_raw, sverb = _split_verb(segs[2])
            if sverb == "copyTo":
                return Reply(body=spreadsheets.copy_to(st, sid, unquote(sheet_raw), body))
        raise not_found()

    def _drive(self, method: str, segs: list[str], params: Params, body: Any) -> Reply:
        st = self.state
        if not segs:
            if method == "GET":
                return Reply(body=drive.list_files(st, params))
            if method == "POST":
                return Reply(body=drive.create(st, params, body))
            raise not_found()
        fid = segs[0]
        if len(segs) == 1:
            if method == "GET":
                return Reply(body=drive.get(st, fid, params))
            if method == "PATCH":
                return Reply(body=drive.update(st, fid, params, body))
            if method == "DELETE":
                drive.delete(st, fid)
                return Reply(status=204)
        elif segs[1] == "copy" and method == "POST" and len(segs) == 2:
            return Reply(body=drive.copy_file(st, fid, params, body))
        elif segs[1] == "export" and method == "GET" and len(segs) == 2:
            data, mime = drive.export(st, fid, params)
            return Reply(body=data, content_type=mime)
        elif segs[1] == "comments" and method == "GET" and len(segs) == 2:
            return Reply(body=drive.list_comments(st, fid))
        elif segs[1] == "permissions":
            if len(segs) == 2 and method == "POST":
                return Reply(body=drive.create_permission(st, fid, params, body))
            if len(segs) == 2 and method == "GET":
                return Reply(body=drive.list_permissions(st, fid, params))
            if len(segs) == 3 and method == "GET":
                return Reply(body=drive.get_permission(st, fid, segs[2], params))
            if len(segs) == 3 and method == "DELETE":
                drive.delete_permission(st, fid, segs[2])
                return Reply(status=204)
        raise not_found()

    def _control(self, method: str, segs: list[str], body: Any) -> Reply:
        body = body or {}
        what = segs[0] if segs else ""
        if what == "health":
            return Reply(body={"ok": True})
        if what == "reset" and method == "POST":
            self.reset()
            return Reply(body={})
        if what == "faults":
            if method == "POST":
                try:
                    self.add_fault(str(body.get("kind")), method=body.get("method"),
                                   path_contains=body.get("path_contains"), count=int(body.get("count", 1)),
                                   seconds=body.get("seconds"))
                except ValueError as exc:
                    raise invalid_argument(str(exc)) from None
                return Reply(body={})
            if method == "DELETE":
                self.clear_faults()
                return Reply(body={})
            if method == "GET":
                return Reply(body={"faults": [vars(f) for f in self.controls.faults]})
        if what == "quotas" and method == "POST":
            self.set_quotas(body.get("read_per_minute"), body.get("write_per_minute"))
            return Reply(body={})
        if what == "log":
            if method == "GET":
                return Reply(body={"entries": [e.to_json() for e in self.request_log]})
            if method == "DELETE":
                self.clear_log()
                return Reply(body={})
        if what == "spreadsheets" and len(segs) == 2 and method == "GET":
            return Reply(body=self.state.get(unquote(segs[1])).to_resource(include_grid_data=True))
        raise not_found()


_gc_lock = threading.Lock()
_gc_state = {"pausers": 0, "was_enabled": False}


@contextlib.contextmanager
def _gc_paused(active: bool) -> Iterator[None]:
    """Pause the cyclic GC while a multi-megabyte body is parsed and applied: building a few hundred
    thousand acyclic dicts otherwise triggers repeated full collections and triples the time."""
    if not active:
        yield
        return
    with _gc_lock:
        if _gc_state["pausers"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["pausers"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["pausers"] -= 1
            if _gc_state["pausers"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def _classify(method: str, segs: list[str]) -> str:
    """Which quota a request counts against, as Google counts: reads retrieve, writes change."""
    if segs[:1] == ["_emulator"] or (segs and segs[-1] == "token"):
        return "control"
    if segs[:1] in (["drive"], ["upload"]):
        return "drive"
    if method == "GET":
        return "read"
    last = segs[-1] if segs else ""
    if last.endswith((":getByDataFilter", ":batchGetByDataFilter", ":search")):
        return "read"
    return "write"


def _parse_body(data: bytes, lenient: bool) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        if lenient:
            return None
        raise invalid_argument("Invalid JSON payload received. Unexpected token.") from None


def _error_reply(err: ApiError) -> Reply:
    return Reply(status=err.code, body=err.body(), headers=err.headers)


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ESF"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log records calls
            return

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes; without NODELAY each answer waits ~40 ms on
            # Nagle + delayed ACK
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            reply, kind, fault = emulator.handle(self.command, self.path, data)
            path, _, query = self.path.partition("?")
            if reply.status == 0:
                emulator.controls.record(LogEntry(self.command, path, 0, len(data), kind, query, fault=fault))
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(reply.body, bytes):
                payload = reply.body
            elif reply.body is None:
                payload = b""
            else:
                payload = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            emulator.controls.record(LogEntry(self.command, path, reply.status, len(data), kind, query, fault=fault))
            try:
                self.send_response(reply.status)
                if payload or reply.status != 204:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (reply.headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def serve(host: str = "127.0.0.1", port: int = 8765, state_file: str | os.PathLike | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), printing the address first; saves ``state_file`` on exit."""
    import signal

    emulator = Emulator(host=host, port=port, state_file=state_file).start()
    print(f"Sheets emulator listening on {emulator.url}", flush=True)
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
