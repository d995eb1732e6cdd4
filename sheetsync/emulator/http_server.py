"""The HTTP side of the emulator: a request handler for Python's threading HTTP server that reads a body,
hands it to :meth:`Emulator.handle`, then holds the answer back by the latency model, hangs or drops it
when a fault says so, logs it, and sends it with Google's headers."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from sheetsync.emulator.faults import LogEntry
from sheetsync.emulator.routes import Reply

if TYPE_CHECKING:
    from sheetsync.emulator.server import Emulator

API_KINDS = ("read", "write", "drive")


@dataclass
class Outcome:
    """What :meth:`Emulator.handle` decided: the answer, and how to deliver it."""

    reply: Reply
    kind: str
    identity: str = "anonymous"
    fault: str | None = None
    deliver: str = "send"  # "send", "drop" (close without answering), "hang" (hold, then send)
    hang_seconds: float = 0.0
    epoch: int = 0


def encode(reply: Reply, *, pretty: bool = False) -> bytes:
    """The answer's body. Google's JSON answers are indented unless the request says ``prettyPrint=false``
    ("prettyPrint: Returns response with indentations and line breaks", default true: the system
    parameters, cloud.google.com/apis/docs/system-parameters), which makes a read of many short cells
    several times larger on the wire."""
    if isinstance(reply.body, bytes):
        return reply.body
    if reply.body is None:
        return b""
    if pretty:
        return json.dumps(reply.body, ensure_ascii=False, indent=2).encode("utf-8")
    return json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def wants_pretty(query: str) -> bool:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "prettyPrint":
            return value.lower() not in ("false", "0")
    return True


def make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
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
            out = emulator.handle(self.command, self.path, data, self.headers)
            path, _, query = self.path.partition("?")
            pretty = out.kind in API_KINDS and wants_pretty(query)
            payload = b"" if out.deliver == "drop" else encode(out.reply, pretty=pretty)
            if out.kind in API_KINDS and out.reply.status != 0:
                emulator.wait(emulator.latency.delay(len(data), len(payload)))
            status = 0 if out.deliver == "drop" else out.reply.status
            if out.deliver == "hang":  # logged before the hang: the client gives up long before the answer
                self._record(out, path, query, status, data, payload)
                emulator.wait(out.hang_seconds)
            if emulator.epoch != out.epoch:  # reset while this answer was held back: nobody is waiting
                out.deliver = "drop"
            elif out.deliver != "hang":
                self._record(out, path, query, status, data, payload)
            if out.deliver == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            reply = out.reply
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

        def _record(self, out: Outcome, path: str, query: str, status: int, data: bytes, payload: bytes) -> None:
            emulator.log.record(LogEntry(self.command, path, status, len(data), out.kind, query,
                                         fault=out.fault, identity=out.identity, response_size=len(payload)))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


_gc_lock = threading.Lock()
_gc_state = {"pausers": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused(active: bool) -> Iterator[None]:
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
