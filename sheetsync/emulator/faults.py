"""Scripted faults and the request log: how a client behaves when Google is slow, flaky or loses answers,
and how many API calls it made.

Fault kinds (the next ``count`` matching requests):

* ``"500"``, ``"503"``: Google's INTERNAL / UNAVAILABLE bodies; nothing is applied.
* ``"429"``: Google's RESOURCE_EXHAUSTED quota body; nothing is applied. Google documents no Retry-After
  (developers.google.com/sheets/api/limits), so the header is sent only when ``seconds`` is given.
* ``"hang"``: wait ``seconds`` before handling the request (a client with a shorter timeout gives up; the
  request is then applied when the wait ends, as a request Google received late would be).
* ``"drop"``: close the connection without handling the request.
* ``"drop_after"``: apply the request, then close the connection without an answer.
* ``"hang_after"``: apply the request, then hold the answer ``seconds`` (the client times out).

The last two model what makes creates non-idempotent: the change took effect but the client never heard
(google-reality.md, "creates are not idempotent"; Drive files.create docs).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync.emulator.errors import ApiError
from sheetsync.emulator.quotas import quota_error

FAULT_KINDS = ("500", "503", "429", "hang", "drop", "drop_after", "hang_after")
NEED_SECONDS = ("hang", "hang_after")


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path_contains: str | None = None
    count: int = 1
    seconds: float | None = None

    def matches(self, method: str, raw_path: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path_contains or self.path_contains in raw_path or self.path_contains in path


@dataclass
class LogEntry:
    """One request as the client saw it. ``kind`` is read / write (Sheets quota classes), drive, token or
    control; ``identity`` who sent it; ``status`` 0 when the connection was dropped."""

    method: str
    path: str
    status: int
    body_size: int
    kind: str
    query: str = ""
    time: float = field(default_factory=time.time)
    fault: str | None = None
    identity: str = "anonymous"
    response_size: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fault_error(kind: str, seconds: float | None) -> ApiError:
    if kind == "500":
        return ApiError(500, "Internal error encountered.", "INTERNAL")
    if kind == "503":
        return ApiError(503, "The service is currently unavailable.", "UNAVAILABLE")
    return quota_error("write", "user", 60, seconds)


class Faults:
    """The scripted faults, shared by every server thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if fault.kind in NEED_SECONDS and fault.seconds is None:
            raise ValueError(f"a {fault.kind!r} fault needs seconds=")
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            self.items.append(fault)

    def take(self, method: str, raw_path: str, path: str, kind: str = "") -> Fault | None:
        """The next fault for this request, if any. The fake OAuth token endpoint only takes faults
        that name it in ``path_contains`` (a plain "next POST fails" fault is about the API)."""
        with self.lock:
            for f in self.items:
                if kind == "token" and not f.path_contains:
                    continue
                if f.matches(method, raw_path, path):
                    f.count -= 1
                    if f.count == 0:
                        self.items.remove(f)
                    return f
        return None

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def to_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(f) for f in self.items]


class RequestLog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[LogEntry] = []

    def record(self, entry: LogEntry) -> None:
        with self.lock:
            self.entries.append(entry)

    def snapshot(self) -> list[LogEntry]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
