"""Client-side pacing for Google's per-minute, per-user request quotas.

Google counts "60 read and 60 write requests per minute per user per project" for the Sheets API, and
"quota refills each minute"; a request over the quota is refused with a 429 that "rarely" carries
Retry-After [D] developers.google.com/sheets/api/limits (notes: google-reality.md "quota",
sheets-api.md §5.1). Provoking 429s and backing off is slow (each 429 costs a round trip plus a wait that
must outlast the window), so every request of the process first takes a slot here and waits, if
needed, until it fits.

The limiter is a sliding window: at most N requests of a kind in any 60 s. That stays inside both models
Google's wording allows — fixed one-minute windows and a token bucket of N refilled at N/60 per second —
because any fixed window is one of the sliding windows, and a bucket never runs dry on traffic that puts
at most N in every 60 s (the bucket refills N over 60 s while at most N leave).

Drive calls (find, create, share) count against Drive's own, much larger quota (325,000 units per
minute per user, [D] developers.google.com/drive/api/guides/limits, sheets-api.md §5.1) and are not
paced; their 429/403 rate-limit answers are still retried by the transport.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

READ, WRITE, DRIVE = "read", "write", "drive"
WINDOW = 60.0  # seconds: Google's quotas are per minute
DEFAULT_PER_MINUTE = 60  # per user per project, reads and writes each [D] sheets/api/limits
DEFAULT_QUOTA_WAIT_MAX = 120.0  # seconds of 429 backoff per request: two windows, so one always refills

#: Sheets methods sent as POST that only retrieve data: Google counts "any method that retrieves data …
#: such as get or search" as a read [D] sheets/api/limits.
_READ_VERBS = (":getByDataFilter", ":batchGetByDataFilter", "developerMetadata:search")


def request_kind(method: str, url: str) -> str:
    """Which quota a request counts against, as Google counts: ``read``, ``write`` or ``drive``.

    Reads retrieve (GET values, GET metadata, the data-filter and metadata-search POSTs); writes change
    ("update, clear, or copyTo", batchUpdate); a batchUpdate counts once however many subrequests it
    holds [D] sheets/api/limits.
    """
    path = urlsplit(url).path
    if path.startswith(("/drive/", "/upload/drive/")):
        return DRIVE
    if method.upper() == "GET" or path.endswith(_READ_VERBS):
        return READ
    return WRITE


@dataclass(frozen=True)
class Pacing:
    """The ``[google]`` settings that shape request pacing (see the module docstring).

    ``reads_per_minute``/``writes_per_minute``: 0 turns pacing of that kind off (requests go out at once
    and a 429 is handled by backoff alone). ``quota_wait_max``: the longest, in seconds, one request waits
    in total for a spent quota (429 with no Retry-After) before sheetsync gives up.
    """

    reads_per_minute: int = DEFAULT_PER_MINUTE
    writes_per_minute: int = DEFAULT_PER_MINUTE
    quota_wait_max: float = DEFAULT_QUOTA_WAIT_MAX


class Pacer:
    """Sliding-window limiter per request kind, safe to share between threads.

    ``clock`` and ``sleep`` are injectable so tests run a whole minute of traffic without waiting: a
    fake whose ``sleep`` advances its ``clock`` is enough. ``acquire`` reserves the slot under the lock
    and sleeps outside it, so concurrent callers queue in order instead of all waking at once.
    """

    def __init__(
        self,
        reads_per_minute: int = DEFAULT_PER_MINUTE,
        writes_per_minute: int = DEFAULT_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._limits: dict[str, int] = {}
        self._sent: dict[str, deque[float]] = {READ: deque(), WRITE: deque()}
        self.set_rates(reads_per_minute, writes_per_minute)
        #: Seconds waited so far, per kind (for messages and benchmarks).
        self.waited: dict[str, float] = {READ: 0.0, WRITE: 0.0}

    def set_rates(self, reads_per_minute: int, writes_per_minute: int) -> None:
        with self._lock:
            self._limits = {READ: max(0, reads_per_minute), WRITE: max(0, writes_per_minute)}

    def limit(self, kind: str) -> int:
        return self._limits.get(kind, 0)

    def reserve(self, kind: str) -> float:
        """Take a slot for one request of ``kind``; returns how long to wait before sending it (0 when it
        fits now). Kinds without a limit (Drive, or a rate of 0) never wait."""
        limit = self._limits.get(kind, 0)
        if limit <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            sent = self._sent[kind]
            while sent and sent[0] <= now - WINDOW:
                sent.popleft()
            if len(sent) < limit:
                sent.append(now)
                return 0.0
            # the window is full: this request goes out when the oldest one in it leaves
            at = sent.popleft() + WINDOW
            sent.append(at)
            wait = max(0.0, at - now)
            self.waited[kind] += wait
            return wait

    def acquire(self, kind: str) -> float:
        """:meth:`reserve`, then sleep until the slot comes; returns the seconds waited."""
        wait = self.reserve(kind)
        if wait > 0:
            self.sleep(wait)
        return wait


_shared: dict[tuple[str, str], Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(target: str, who: str, pacing: Pacing) -> Pacer:
    """The process-wide pacer for one quota user: every client of the process that acts as ``who`` on
    ``target`` (Google, or one emulator address) takes its slots from the same windows, so opening a
    second workbook cannot double the rate. Google counts per user per project [D] sheets/api/limits."""
    with _shared_lock:
        pacer = _shared.get((target, who))
        if pacer is None:
            pacer = _shared[(target, who)] = Pacer(pacing.reads_per_minute, pacing.writes_per_minute)
        else:
            pacer.set_rates(pacing.reads_per_minute, pacing.writes_per_minute)
        return pacer


def reset_shared_pacers() -> None:
    """Forget every process-wide window (tests: each test starts with Google's quota unspent)."""
    with _shared_lock:
        _shared.clear()
