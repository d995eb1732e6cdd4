"""When the server goes away: pause the run and probe it, instead of burning every row's retries.

A restart of a local server takes longer than a row's retry ladder (~30 s), so without this every row in
flight during a restart would be recorded as an error. Once ``threshold`` calls in a row have failed for
connection reasons (refused, reset, disconnected — not timeouts, which a slow server also causes), the
run is in an outage: workers stop sending, one of them probes ``GET /models`` every ``probe_interval``
seconds, and connection failures stop counting against any row. Any HTTP answer ends the outage and the
rows carry on. After ``outage_wait`` seconds without one, the run stops with ``ServerUnavailable``: nothing
was recorded as an error, every finished answer is kept, and running the command again resumes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import openai

from sheetsync.errors import SheetsyncError
from sheetsync.llm.calls import LLMSettings, normalise_base_url, resolve_base_url

log = logging.getLogger(__name__)


class ServerUnavailable(SheetsyncError):
    """The server stopped answering for longer than ``outage_wait``; the run stopped and can be resumed."""

    exit_code = 1


class Outage:
    """The run's view of the server's reachability, shared by every worker."""

    def __init__(
        self,
        settings: LLMSettings,
        client: Any,
        sleep: Callable[[float], Awaitable[Any]],
        notify: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.client = client
        self.sleep = sleep
        self.notify = notify
        self.threshold = max(1, min(3, settings.concurrency))
        self.streak = 0
        self.active = False
        self.reason = ""
        self.gave_up: ServerUnavailable | None = None
        self.outages = 0
        self.paused = 0.0  # seconds spent waiting for the server
        self._lock = asyncio.Lock()

    def succeeded(self) -> None:
        self.streak = 0

    def connection_failed(self, reason: str) -> bool:
        """Count a connection failure; True when it belongs to an outage (the row must not pay for it)."""
        if self.active:
            return True
        self.streak += 1
        if self.settings.outage_wait > 0 and self.streak >= self.threshold:
            self.active, self.reason = True, reason
            return True
        return False

    async def wait(self) -> None:
        """Before each attempt: return at once, or wait out an outage (the first waiter probes)."""
        if not self.active and self.gave_up is None:
            return
        async with self._lock:
            if self.gave_up is not None:
                raise self.gave_up
            if not self.active:
                return
            await self._probe_until_back()

    async def _probe_until_back(self) -> None:
        where = normalise_base_url(resolve_base_url(self.settings))
        wait, interval = self.settings.outage_wait, max(self.settings.probe_interval, 0.01)
        self.outages += 1
        self.notify(f"The server at {where} is not answering ({self.reason}); pausing the run and checking "
                    f"every {interval:g}s for up to {wait:g}s. No row is recorded as an error meanwhile.")
        started = time.monotonic()
        for probe in range(1, max(1, math.ceil(wait / interval)) + 1):  # bounded by count, not by the clock
            await self.sleep(interval)
            if await self._reachable():
                waited = time.monotonic() - started
                self.paused += waited
                self.active, self.streak = False, 0
                self.notify(f"The server at {where} answers again after {waited:.0f}s; resuming.")
                return
            log.debug("probe %d: still down", probe)
        self.paused += time.monotonic() - started
        self.gave_up = ServerUnavailable(
            f"the server at {where} did not answer for {wait:g}s ({self.reason}). Every answer finished "
            "before it went away is kept; start the server and run the same command again to resume "
            "(or raise [judge] outage_wait)."
        )
        raise self.gave_up

    async def _reachable(self) -> bool:
        """Any HTTP answer to ``GET /models`` (even 401 or 404) means the server is back."""
        try:
            if isinstance(self.client, openai.AsyncOpenAI):
                probe = self.client.with_options(timeout=min(10.0, self.settings.timeout), max_retries=0)
                await probe.models.list()
            else:
                await self.client.models.list()
        except openai.APIStatusError:
            return True
        except openai.APIConnectionError:
            return False
        except Exception:  # a duck-typed client without models.list(): try the next call instead
            log.debug("probe failed", exc_info=True)
            return True
        return True
