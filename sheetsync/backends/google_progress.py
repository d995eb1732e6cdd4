"""How a write of several requests reports its progress (the CLI shows the ``sheetsync.google`` logger)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sheetsync.backends.base import WriteProgress
from sheetsync.backends.google_http import log


class ProgressLog:
    """Reports a write of several requests as it goes: at most one line every ``every`` seconds, plus the
    last, each with requests and bytes done and an estimate of the time left (from the bytes sent so far:
    pacing and Google's speed both show in it)."""

    def __init__(self, every: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self._start = self._last = 0.0
        self._first_bytes = 0

    def __call__(self, p: WriteProgress) -> None:
        if p.requests_total < 2:
            return
        now = self.clock()
        if p.requests_done == 1:  # timed from the end of the first request on
            self._start, self._last, self._first_bytes = now, now, p.bytes_done
        if p.requests_done < p.requests_total and now - self._last < self.every:
            return
        self._last = now
        rate = (p.bytes_done - self._first_bytes) / max(now - self._start, 1e-9)
        left = (p.bytes_total - p.bytes_done) / rate if rate > 0 else 0.0
        eta = "done" if p.requests_done == p.requests_total else f"about {_duration(left)} left"
        log.info(
            f"Writing: request {p.requests_done} of {p.requests_total} "
            f"({p.bytes_done / 1e6:.1f} of {p.bytes_total / 1e6:.1f} MB), {eta}"
        )


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
