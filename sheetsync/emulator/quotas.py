"""Sheets API quotas: per-minute token buckets per user and per project, reads and writes counted apart.

Google's rules, as modelled here (developers.google.com/sheets/api/limits, read 2026-11; see
../shared/notes/sheets-api.md §5.1 and google-reality.md "Limits and errors"):

* 60 read and 60 write requests per minute per user per project, 300 of each per minute per project.
  "Read requests are calls to any method that retrieves data", writes "update, clear, or copyTo".
* "Each batch request, including any subrequest, is counted as one API request" (a batchUpdate of 500
  subrequests costs one write).
* Quotas refill every minute. Each bucket here holds ``limit`` tokens and, by default, is refilled to the
  full limit ``period`` seconds after its minute began (``refill="window"``: a client that spent its 60
  writes must wait for the next minute, as on Google). ``refill="steady"`` trickles tokens back at
  ``limit / period`` per second instead.
* Past the quota Google answers 429 RESOURCE_EXHAUSTED with an ErrorInfo detail (body from
  Sage-Bionetworks/data_curator#110, google/garf#299) and documents **no** ``Retry-After`` header, so none
  is sent unless ``retry_after=True`` asks for one (seconds until the bucket has a token again).
* Drive calls (create, list, share) count against Drive's own, far larger quota and are not charged.

"Per user" means per identity the request carries (see :mod:`sheetsync.emulator.identity`); every
anonymous request is the same user. Requests the emulator's test hooks make as the expert
(``Emulator.act``) are never charged.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sheetsync.emulator.errors import ApiError

REFILL_MODES = ("window", "steady")


@dataclass(frozen=True)
class QuotaConfig:
    """Limits per ``period`` seconds (None: unlimited). All None (the default) switches quotas off."""

    read_per_minute: int | None = None
    write_per_minute: int | None = None
    project_read_per_minute: int | None = None
    project_write_per_minute: int | None = None
    period: float = 60.0
    refill: str = "window"
    retry_after: bool = False

    def __post_init__(self) -> None:
        if self.refill not in REFILL_MODES:
            raise ValueError(f"refill must be one of {', '.join(REFILL_MODES)}, not {self.refill!r}")
        if self.period <= 0:
            raise ValueError("period must be positive")
        for name in ("read_per_minute", "write_per_minute", "project_read_per_minute", "project_write_per_minute"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, not {value!r}")

    def limit(self, scope: str, kind: str) -> int | None:
        prefix = "project_" if scope == "project" else ""
        return getattr(self, f"{prefix}{kind}_per_minute")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: Google's published Sheets quotas (developers.google.com/sheets/api/limits).
GOOGLE_QUOTAS = QuotaConfig(read_per_minute=60, write_per_minute=60,
                            project_read_per_minute=300, project_write_per_minute=300)


def quota_error(kind: str, scope: str, limit: int, retry_after: float | None) -> ApiError:
    """Google's 429 RESOURCE_EXHAUSTED body for the per-user (or per-project) read or write quota."""
    label = "Read" if kind == "read" else "Write"
    metric = "read_requests" if kind == "read" else "write_requests"
    per = "per minute per user" if scope == "user" else "per minute"
    quota_limit = f"{label}RequestsPerMinutePer{'User' if scope == 'user' else 'Project'}"
    message = (
        f"Quota exceeded for quota metric '{label} requests' and limit '{label} requests {per}' "
        "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
    )
    details = [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "consumer": "projects/000000000000",
            "quota_limit": quota_limit,
            "quota_metric": f"sheets.googleapis.com/{metric}",
            "service": "sheets.googleapis.com",
            "quota_limit_value": str(limit),
        },
    }]
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return ApiError(429, message, "RESOURCE_EXHAUSTED", details=details, headers=headers)


@dataclass
class _Bucket:
    tokens: float
    started: float  # window mode: when the current minute began; steady mode: the last refill


@dataclass
class Quotas:
    """Token buckets keyed by (scope, identity, kind); thread-safe."""

    config: QuotaConfig = field(default_factory=QuotaConfig)
    clock: Callable[[], float] = time.monotonic
    lock: threading.Lock = field(default_factory=threading.Lock)
    buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict)

    def configure(self, config: QuotaConfig) -> None:
        """Replace the limits; every bucket starts full again."""
        with self.lock:
            self.config = config
            self.buckets.clear()

    def update(self, **changes: Any) -> QuotaConfig:
        """Change some settings (``read_per_minute=2``...), keeping the others; returns the new config."""
        new = replace(self.config, **changes)
        self.configure(new)
        return new

    def charge(self, kind: str, identity: str) -> None:
        """Take one token for a read or write by ``identity``; 429 when the user's or project's bucket is
        empty. Nothing is taken from either bucket when one of them refuses."""
        if kind not in ("read", "write"):
            return
        with self.lock:
            cfg = self.config
            now = self.clock()
            taken: list[_Bucket] = []
            for scope, who in (("user", identity), ("project", "")):
                limit = cfg.limit(scope, kind)
                if limit is None:
                    continue
                bucket = self._refilled((scope, who, kind), limit, now)
                if bucket.tokens < 1:
                    wait = self._wait(bucket, limit, now) if cfg.retry_after else None
                    raise quota_error(kind, scope, limit, wait)
                taken.append(bucket)
            for bucket in taken:
                bucket.tokens -= 1

    def _refilled(self, key: tuple[str, str, str], limit: int, now: float) -> _Bucket:
        cfg = self.config
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(float(limit), now)
        elif cfg.refill == "window":
            if now - bucket.started >= cfg.period:
                bucket.tokens = float(limit)
                bucket.started += cfg.period * math.floor((now - bucket.started) / cfg.period)
        else:
            bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.started) * limit / cfg.period)
            bucket.started = now
        return bucket

    def _wait(self, bucket: _Bucket, limit: int, now: float) -> float:
        cfg = self.config
        if cfg.refill == "window" or limit == 0:
            return max(0.0, bucket.started + cfg.period - now)
        return (1 - bucket.tokens) * cfg.period / limit
