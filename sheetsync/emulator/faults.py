"""Scripted faults, per-minute quotas and the request log: the controls tests and benchmarks use to see
how a client behaves when Google is slow, flaky or rate-limiting, and to count the API calls it made."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync.emulator.errors import ApiError

FAULT_KINDS = ("500", "503", "429", "hang", "drop")


@dataclass
class Fault:
    """Answer the next ``count`` matching requests with ``kind`` (``seconds``: hang time, or Retry-After)."""

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
    """One answered request. ``kind`` is read / write (Sheets quota classes), drive or control."""

    method: str
    path: str
    status: int
    body_size: int
    kind: str
    query: str = ""
    time: float = field(default_factory=time.time)
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fault_error(kind: str, seconds: float | None) -> ApiError:
    if kind == "500":
        return ApiError(500, "Internal error encountered.", "INTERNAL")
    if kind == "503":
        return ApiError(503, "The service is currently unavailable.", "UNAVAILABLE")
    retry_after = str(max(1, math.ceil(seconds or 1)))
    return quota_error("write", retry_after)


def quota_error(kind: str, retry_after: str) -> ApiError:
    """Google's 429 RESOURCE_EXHAUSTED body for the per-user read or write quota."""
    label = "Read" if kind == "read" else "Write"
    metric = "read_requests" if kind == "read" else "write_requests"
    message = (
        f"Quota exceeded for quota metric '{label} requests' and limit '{label} requests per minute per user' "
        "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
    )
    details = [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "consumer": "projects/000000000000",
            "quota_limit": f"{label}RequestsPerMinutePerUser",
            "quota_metric": f"sheets.googleapis.com/{metric}",
            "service": "sheets.googleapis.com",
            "quota_limit_value": "60",
        },
    }]
    return ApiError(429, message, "RESOURCE_EXHAUSTED", details=details, headers={"Retry-After": retry_after})


class Controls:
    """Faults, quotas and the log, shared by every server thread (guarded by one lock)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.faults: list[Fault] = []
        self.limits: dict[str, int | None] = {"read": None, "write": None}
        self.windows: dict[str, deque[float]] = {"read": deque(), "write": deque()}
        self.log: list[LogEntry] = []

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.limits = {"read": None, "write": None}
            self.windows = {"read": deque(), "write": deque()}
            self.log.clear()

    def add_fault(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if fault.kind == "hang" and fault.seconds is None:
            raise ValueError("a 'hang' fault needs seconds=")
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, raw_path: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.count > 0 and f.matches(method, raw_path, path):
                    f.count -= 1
                    if f.count == 0:
                        self.faults.remove(f)
                    return f
        return None

    def set_quotas(self, read_per_minute: int | None, write_per_minute: int | None) -> None:
        with self.lock:
            self.limits = {"read": read_per_minute, "write": write_per_minute}
            self.windows = {"read": deque(), "write": deque()}

    def charge(self, kind: str) -> None:
        """Count one request against its per-minute quota (sliding 60 s window); 429 when it is spent."""
        if kind not in ("read", "write"):
            return
        with self.lock:
            limit = self.limits.get(kind)
            if limit is None:
                return
            now = self.clock()
            window = self.windows[kind]
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit:
                wait = max(1, math.ceil(window[0] + 60 - now)) if window else 60
                raise quota_error(kind, str(wait))
            window.append(now)

    def record(self, entry: LogEntry) -> None:
        with self.lock:
            self.log.append(entry)
