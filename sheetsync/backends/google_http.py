"""gspread's HTTP transport for sheetsync: emulator routing, a request timeout, and bounded retries.

gspread 6.2.1 sends requests with no timeout, and its BackOffHTTPClient retries 429/5xx forever without
jitter or Retry-After. This client always sets a timeout and retries a bounded number of times with full
jitter, honouring Retry-After, then raises :class:`RetriesExhaustedError` with what failed and what to do.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from typing import Any

import gspread
import requests
from google.auth.credentials import AnonymousCredentials, Credentials
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from sheetsync.errors import BackendError

GOOGLE_HOSTS = ("https://sheets.googleapis.com/", "https://www.googleapis.com/")
RETRY_STATUSES = frozenset({408, 429})


class RetriesExhaustedError(BackendError):
    """A Sheets/Drive call kept failing with retryable errors until the retry budget ran out."""

    def __init__(self, message: str, *, attempts: int, status: int | None, last_error: BaseException) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.last_error = last_error


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare from Google; fall back to jittered backoff


def _retryable(err: APIError) -> bool:
    code = err.response.status_code
    if code in RETRY_STATUSES or code >= 500:
        return True
    if code == 403:  # Drive's per-user rate limit is a 403 with domain usageLimits
        try:
            errors = err.response.json()["error"].get("errors") or []
        except (ValueError, KeyError, AttributeError, TypeError):
            return False
        return bool(errors) and errors[0].get("domain") == "usageLimits"
    return False


class SheetsyncHTTPClient(HTTPClient):
    """An ``HTTPClient`` that may send Google traffic to a local emulator, with a timeout and bounded retry.

    ``emulator_host`` (``host:port``) defaults to ``$SHEETS_EMULATOR_HOST``. ``sleep`` and ``rng`` are
    injectable so tests never sleep for real.
    """

    def __init__(
        self,
        auth: Credentials | None,
        session: requests.Session | None = None,
        *,
        emulator_host: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 32.0,
        max_total_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(auth, session)  # type: ignore[arg-type]
        host = emulator_host if emulator_host is not None else os.environ.get("SHEETS_EMULATOR_HOST")
        self.emulator_host = host.strip().removeprefix("http://").rstrip("/") if host else None
        if self.emulator_host:
            self.session.trust_env = False  # never send loopback traffic through a proxy
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_total_wait = max_total_wait
        self.sleep = sleep
        self.rng = rng or random.Random()

    def rewrite(self, url: str) -> str:
        """Send a Google API URL to the emulator when one is configured."""
        if self.emulator_host:
            for prefix in GOOGLE_HOSTS:
                if url.startswith(prefix):
                    return f"http://{self.emulator_host}/{url[len(prefix):]}"
        return url

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        url = self.rewrite(endpoint)
        waited = 0.0
        for attempt in range(1, self.max_attempts + 1):
            try:
                return super().request(method, url, *args, **kwargs)
            except APIError as err:
                if not _retryable(err):
                    raise
                last: BaseException = err
                status: int | None = err.response.status_code
                hint = _retry_after(err.response)
            except (requests.ConnectionError, requests.Timeout) as err:
                last, status, hint = err, None, None
            delay = hint if hint is not None else self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
            if attempt == self.max_attempts or waited + delay > self.max_total_wait:
                break
            self.sleep(delay)
            waited += delay
        what = f"HTTP {status}" if status is not None else type(last).__name__
        raise RetriesExhaustedError(
            f"{method.upper()} {endpoint} failed {attempt} time(s) (last: {what}: {_short(last)}); "
            f"gave up after waiting {waited:.1f}s in total. Google may be rate-limiting or unavailable: "
            "wait a minute and run the command again, or lower the request rate.",
            attempts=attempt,
            status=status,
            last_error=last,
        ) from last


def _short(err: BaseException) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


def client_for_emulator(host: str, **kw: Any) -> gspread.Client:
    """A real ``gspread.Client`` with anonymous credentials whose every call goes to the emulator at ``host``
    (``host:port``). Keyword arguments go to :class:`SheetsyncHTTPClient` (timeout, retries, sleep...)."""
    factory = functools.partial(SheetsyncHTTPClient, emulator_host=host, **kw)
    return gspread.Client(auth=AnonymousCredentials(), http_client=factory)  # type: ignore[arg-type]
