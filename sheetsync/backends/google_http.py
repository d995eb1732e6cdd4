"""gspread's HTTP transport for sheetsync: emulator routing, a timeout, pacing, and retries that are safe.

gspread 6.2.1 sends requests with no timeout, and its BackOffHTTPClient retries 429/5xx forever without
jitter or Retry-After (sheets-api.md §1.2). This client:

* always sets a timeout;
* paces Sheets reads and writes to the per-minute quota before sending (:mod:`google_pacing`);
* on a spent quota (429, or Drive's 403 rate-limit reasons) waits with exponential backoff until the
  quota refills — Google "documents no Retry-After header" and refills each minute, so the waits add up
  to more than a minute (``quota_wait_max``, default 120 s) [D] sheets/api/limits, google-reality.md;
* retries 5xx, 408 and lost connections a bounded number of times with full jitter, honouring
  Retry-After — but only for requests that are safe to repeat. A create or a share whose answer was
  lost may have been applied: repeating it blindly makes a second spreadsheet ("creates are not
  idempotent", [D] files.create, google-reality.md "Drive"), so such requests are raised to the caller,
  which looks the result up before trying again (:mod:`google_drive`).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gspread
import requests
import urllib3.exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from sheetsync.backends.google_pacing import DEFAULT_QUOTA_WAIT_MAX, DRIVE, Pacer, request_kind
from sheetsync.errors import BackendError

GOOGLE_HOSTS = ("https://sheets.googleapis.com/", "https://www.googleapis.com/")
EMULATOR_ENV = "SHEETS_EMULATOR_HOST"
RETRY_STATUSES = frozenset({408})
#: Drive's 403s in the ``usageLimits`` domain that mean "slow down". The same domain also carries
#: ``storageQuotaExceeded`` (a service account has no Drive storage), which no wait can fix: read the
#: reason, not only the domain [I] iterative/PyDrive2#238; [D] developers.google.com/drive/api/guides/handle-errors.
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
#: POSTs that make something new each time they are sent (a Drive file, a copy, a permission, an
#: appended row, a copied tab). Everything else sheetsync sends is safe to repeat: GETs, PUT/PATCH of
#: explicit ranges, clears — and Sheets ``batchUpdate``, which Google applies atomically and which
#: GoogleWorkbook.write re-plans if a repeated batch collides with its own first attempt.
_UNSAFE_POST = re.compile(
    r"^/(?:upload/)?drive/v[23]/files(?:/[^/]+/(?:copy|permissions))?/?$"
    r"|^/v4/spreadsheets/?$"
    r"|:append$|:copyTo$"
)

log = logging.getLogger("sheetsync.google")


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
        return None  # an HTTP-date: rare from Google; fall back to backoff


def error_reasons(err: APIError) -> set[str]:
    """The ``reason`` of every entry in Drive's older ``errors[]`` list (empty for Sheets errors)."""
    try:
        errors = err.response.json()["error"].get("errors") or []
    except (ValueError, KeyError, AttributeError, TypeError):
        return set()
    return {str(e.get("reason")) for e in errors if isinstance(e, dict)}


def _why_retry(err: APIError) -> str | None:
    """``"quota"`` for a spent quota (wait for the window), ``"transient"`` for a server-side hiccup
    (retry a few times), ``None`` when retrying cannot help."""
    code = err.response.status_code
    if code == 429:
        return "quota"
    if code == 403:
        return "quota" if error_reasons(err) & RATE_LIMIT_REASONS else None
    if code in RETRY_STATUSES or code >= 500:
        return "transient"
    return None


def safe_to_repeat(method: str, url: str) -> bool:
    """Whether sending this request twice has the same effect as sending it once (see ``_UNSAFE_POST``)."""
    return method.upper() != "POST" or not _UNSAFE_POST.search(urlsplit(url).path)


def _nothing_sent(err: requests.RequestException) -> bool:
    """The connection was never made (refused, unresolvable, connect timeout): the server saw nothing,
    so even a create may be sent again."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    reason = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError included


class SheetsyncHTTPClient(HTTPClient):
    """An ``HTTPClient`` that may send Google traffic to a local emulator, with a timeout, pacing and
    the retries described in the module docstring.

    ``emulator_host`` (``host:port``) defaults to ``$SHEETS_EMULATOR_HOST``. ``pacer`` (``None``: no
    pacing) is usually the process-wide one (:func:`~sheetsync.backends.google_pacing.shared_pacer`).
    ``sleep`` and ``rng`` are injectable so tests never sleep for real; ``notify`` receives the
    "waiting for Google's quota" messages (default: INFO on the ``sheetsync.google`` logger, which the
    CLI shows on stderr).
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
        pacer: Pacer | None = None,
        quota_wait_max: float = DEFAULT_QUOTA_WAIT_MAX,
        quota_base_delay: float = 2.0,
        quota_max_delay: float = 32.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(auth, session)  # type: ignore[arg-type]
        env = os.environ.get(EMULATOR_ENV)
        host = env if emulator_host is None else emulator_host
        self.emulator_host = host.strip().removeprefix("http://").rstrip("/") if host else None
        from_env = bool(env) and env.strip() == (host or "").strip()
        self.emulator_origin = f"{EMULATOR_ENV}={self.emulator_host}" if from_env else "the emulator_host argument"
        if self.emulator_host:
            self.session.trust_env = False  # never send loopback traffic through a proxy
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_total_wait = max_total_wait
        self.pacer = pacer
        self.quota_wait_max = max(0.0, quota_wait_max)
        self.quota_base_delay = quota_base_delay
        self.quota_max_delay = quota_max_delay
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.notify = notify or log.info
        self._pacing_announced: set[str] = set()

    def rewrite(self, url: str) -> str:
        """Send a Google API URL to the emulator when one is configured."""
        if self.emulator_host:
            for prefix in GOOGLE_HOSTS:
                if url.startswith(prefix):
                    return f"http://{self.emulator_host}/{url[len(prefix):]}"
        return url

    def request(  # type: ignore[override]
        self, method: str, endpoint: str, *args: Any, repeat_safe: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send one API request with pacing and retries. ``repeat_safe`` overrides :func:`safe_to_repeat`
        (a caller that checked, e.g. a create it has just looked up, may say a retry is safe)."""
        url = self.rewrite(endpoint)
        kind = request_kind(method, url)
        safe = safe_to_repeat(method, url) if repeat_safe is None else repeat_safe
        if not args:  # Google indents every JSON answer unless asked not to (cloud.google.com/apis/docs/
            # system-parameters, "prettyPrint"): on a read of many short cells that is most of the bytes
            kwargs["params"] = {**(kwargs.get("params") or {}), "prettyPrint": "false"}
        attempt = failures = quota_tries = 0
        waited = quota_waited = 0.0
        while True:
            attempt += 1
            self._pace(kind)
            try:
                return super().request(method, url, *args, **kwargs)
            except APIError as err:
                why = _why_retry(err)
                if why is None or (why == "transient" and not safe):
                    raise  # a 5xx on a create may come after Google made the file: the caller checks
                last: BaseException = err
                status: int | None = err.response.status_code
                hint = _retry_after(err.response)
            except (requests.ConnectionError, requests.Timeout) as err:
                nothing_sent = _nothing_sent(err)
                if nothing_sent and self.emulator_host:
                    raise self._emulator_down(err) from None
                if not (safe or nothing_sent):
                    raise  # the answer was lost, not necessarily the request
                why, last, status, hint = "transient", err, None, None
            if why == "quota":
                quota_tries += 1
                left = self.quota_wait_max - quota_waited
                delay = hint if hint is not None else min(left, self._quota_delay(quota_tries))
                if left <= 0 or delay > left:
                    raise self._quota_exhausted(method, url, kind, attempt, status, quota_waited, last)
                self.notify(
                    f"Waiting {_secs(delay)} for {_quota_name(kind, status, self.emulator_host)} to refill "
                    f"(HTTP {status}; waited {_secs(quota_waited)} so far, at most {_secs(self.quota_wait_max)}: "
                    "[google] quota_wait_max)."
                )
                self.sleep(delay)
                quota_waited += delay
                continue
            failures += 1
            delay = hint if hint is not None else self.rng.uniform(
                0, min(self.max_delay, self.base_delay * 2 ** (failures - 1))
            )
            if failures >= self.max_attempts or waited + delay > self.max_total_wait:
                raise self._exhausted(method, url, attempt, status, waited, last)
            self.sleep(delay)
            waited += delay

    # ------------------------------------------------------------------------------------- helpers

    def _pace(self, kind: str) -> None:
        if self.pacer is None or kind == DRIVE:
            return
        wait = self.pacer.reserve(kind)
        if wait <= 0:
            return
        if wait >= 2.0 or kind not in self._pacing_announced:
            self._pacing_announced.add(kind)
            self.notify(
                f"Pacing {kind} requests to {self.pacer.limit(kind)} a minute, Google's per-user quota "
                f"([google] {kind}s_per_minute): waiting {_secs(wait)}."
            )
        self.pacer.sleep(wait)

    def _quota_delay(self, tries: int) -> float:
        """Exponential backoff with "equal jitter": at least half of each step is waited for sure, so a
        few steps always add up to more than the one-minute window (2, 4, 8, 16, 32, 32 … s caps)."""
        step = min(self.quota_max_delay, self.quota_base_delay * 2 ** (tries - 1))
        return step / 2 + self.rng.uniform(0, step / 2)

    def _where(self) -> str:
        return f"the Sheets emulator at {self.emulator_host}" if self.emulator_host else "Google"

    def _emulator_down(self, err: BaseException) -> BackendError:
        port = self.emulator_host.rpartition(":")[2] if self.emulator_host else ""
        return BackendError(
            f"could not connect to the Sheets emulator at {self.emulator_host} ({self.emulator_origin}; "
            f"{type(err).__name__}): is it running? Start it with `sheetsync emulator --port {port}`, or "
            f"unset {EMULATOR_ENV} to use Google Sheets."
        )

    def _quota_exhausted(
        self, method: str, endpoint: str, kind: str, attempt: int, status: int | None, waited: float,
        last: BaseException,
    ) -> RetriesExhaustedError:
        name = _quota_name(kind, status, self.emulator_host)
        return RetriesExhaustedError(
            f"{method.upper()} {endpoint} was refused {attempt} time(s) because {name} was used up "
            f"(HTTP {status}), still after waiting {_secs(waited)}. Another program or command may be using "
            "the same account's quota: wait a minute and run the command again, or raise "
            "[google] quota_wait_max.",
            attempts=attempt,
            status=status,
            last_error=last,
        )

    def _exhausted(
        self, method: str, endpoint: str, attempt: int, status: int | None, waited: float, last: BaseException
    ) -> RetriesExhaustedError:
        what = f"HTTP {status}" if status is not None else type(last).__name__
        advice = (
            f"check that the emulator ({self.emulator_origin}) is running and healthy, then run the command again"
            if self.emulator_host
            else "Google may be unavailable: wait a minute and run the command again"
        )
        return RetriesExhaustedError(
            f"{method.upper()} {endpoint} failed {attempt} time(s) at {self._where()} (last: {what}: "
            f"{_short(last)}); gave up after waiting {waited:.1f}s in total: {advice}.",
            attempts=attempt,
            status=status,
            last_error=last,
        )


def _quota_name(kind: str, status: int | None, emulator_host: str | None) -> str:
    owner = f"the emulator's (at {emulator_host})" if emulator_host else "Google's"
    if kind == DRIVE:
        return f"{owner} Drive rate limit"
    return f"{owner} per-minute quota for {kind} requests"


def _secs(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"


def _short(err: BaseException) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


def client_for_emulator(host: str, **kw: Any) -> gspread.Client:
    """A real ``gspread.Client`` with anonymous credentials whose every call goes to the emulator at ``host``
    (``host:port``). Keyword arguments go to :class:`SheetsyncHTTPClient` (timeout, retries, sleep,
    pacer...); without ``pacer`` nothing is paced (tests and tools that drive the emulator directly)."""
    factory = functools.partial(SheetsyncHTTPClient, emulator_host=host, **kw)
    return gspread.Client(auth=AnonymousCredentials(), http_client=factory)  # type: ignore[arg-type]
