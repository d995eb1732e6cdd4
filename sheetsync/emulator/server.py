"""The :class:`Emulator`: state, settings (limits, quotas, latency), test controls (faults, hooks, acting
as the expert) and the request pipeline every server thread runs.

A request goes through, in order: the body-size limit (Google refuses bodies over 10 MiB before anything
else), "before" hooks, scripted faults, the quota buckets, the handler (under the state lock, atomically),
"after" hooks, then the HTTP layer holds the answer by the latency model and sends, hangs or drops it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sheetsync.emulator import batch_update, control_api, drive, values
from sheetsync.emulator.errors import ApiError
from sheetsync.emulator.faults import Fault, Faults, LogEntry, RequestLog, fault_error
from sheetsync.emulator.hooks import Hook, HookError, Hooks, RequestInfo
from sheetsync.emulator.http_server import Outcome, gc_paused, make_handler
from sheetsync.emulator.identity import Identities, OAuthError, Principal
from sheetsync.emulator.latency import NO_LATENCY, REALISTIC_LATENCY, Latency
from sheetsync.emulator.model import Spreadsheet, State
from sheetsync.emulator.params import Params
from sheetsync.emulator.quotas import GOOGLE_QUOTAS, QuotaConfig, Quotas
from sheetsync.emulator.routes import Call, Reply, classify, error_reply, parse_body, route

#: Google refuses a request body over this many bytes with HTTP 400 "Request payload size exceeds the
#: limit: 10485760 bytes." (googleworkspace/dotnet-samples#23, jlolling/talendcomp_tGoogleSheet#1,
#: SCRT-HQ/PSGSuite#62; the limits page itself only recommends 2 MB: developers.google.com/sheets/api/limits).
MAX_BODY_BYTES = 10_485_760


def payload_too_large(limit: int) -> ApiError:
    return ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.", "INVALID_ARGUMENT")


class Emulator:
    """A local Google Sheets v4 + Drive v3 server. See the package docstring for the public API.

    ``realistic=True`` switches on Google's quotas (:data:`~sheetsync.emulator.quotas.GOOGLE_QUOTAS`) and
    the latency model (:data:`~sheetsync.emulator.latency.REALISTIC_LATENCY`) unless ``quotas`` /
    ``latency`` say otherwise; by default both are off so unit tests stay fast. The body-size limit is
    always on. :meth:`reset` returns to these constructor settings.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state_file: str | os.PathLike | None = None, *,
                 realistic: bool = False, quotas: QuotaConfig | None = None, latency: Latency | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, default_locale: str = "en_US",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.port = port
        self.state_file = os.fspath(state_file) if state_file else None
        self.state = State()
        self.lock = threading.RLock()
        self._baseline: dict[str, Any] = {
            "quotas": quotas if quotas is not None else (GOOGLE_QUOTAS if realistic else QuotaConfig()),
            "latency": latency if latency is not None else (REALISTIC_LATENCY if realistic else NO_LATENCY),
            "max_body_bytes": max_body_bytes,
            "default_locale": default_locale,
        }
        self.quotas = Quotas(self._baseline["quotas"], clock=clock)
        self.latency: Latency = self._baseline["latency"]
        self.max_body_bytes: int = max_body_bytes
        self.default_locale: str = default_locale
        self.faults = Faults()
        self.hooks = Hooks()
        self.log = RequestLog()
        self.identities = Identities()
        self._wake = threading.Event()  # set to release every wait: on stop, and (a new one) on reset
        self.epoch = 0  # bumped by reset(): a request that waited across a reset is dropped, not applied
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
        self._wake = threading.Event()
        server = ThreadingHTTPServer((self.host, self.port), make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sheets-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hung answers and latency waits are released) and save the state file if any."""
        self._wake.set()
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

    def wait(self, seconds: float) -> None:
        """Sleep on a server thread; returns at once when the emulator stops or is reset."""
        if seconds > 0:
            self._wake.wait(seconds)

    # -- settings
    def reset(self) -> None:
        """Forget all spreadsheets and files, faults, hooks and the log; settings return to the
        constructor's (quotas, latency, body limit, default locale)."""
        with self.lock:
            self.state = State()
            self.epoch += 1
            old, self._wake = self._wake, threading.Event()
        old.set()
        self.faults.clear()
        self.hooks.clear()
        self.log.clear()
        self.identities.clear()
        self.quotas.configure(self._baseline["quotas"])
        self.latency = self._baseline["latency"]
        self.max_body_bytes = self._baseline["max_body_bytes"]
        self.default_locale = self._baseline["default_locale"]
        self.save()

    def set_quotas(self, read_per_minute: int | None = None, write_per_minute: int | None = None, *,
                   project_read_per_minute: int | None = None, project_write_per_minute: int | None = None,
                   period: float = 60.0, refill: str = "window", retry_after: bool = False) -> QuotaConfig:
        """Replace the Sheets quotas (per user and per project, per ``period`` seconds; None = unlimited).
        ``set_quotas(60, 60)`` is Google's per-user rule; ``set_quotas()`` switches quotas off. Every
        bucket starts full. See :mod:`sheetsync.emulator.quotas` for ``refill`` and ``retry_after``."""
        config = QuotaConfig(read_per_minute, write_per_minute, project_read_per_minute,
                             project_write_per_minute, period, refill, retry_after)
        self.quotas.configure(config)
        return config

    def set_latency(self, per_request: float = 0.0, per_kb: float = 0.0) -> Latency:
        """Hold each Sheets/Drive answer ``per_request`` s plus ``per_kb`` s per KiB of request and
        response body (0, 0 = off). See :mod:`sheetsync.emulator.latency`."""
        self.latency = Latency(per_request, per_kb)
        return self.latency

    def set_limits(self, max_body_bytes: int | None = None) -> None:
        """Change the request body limit (Google's is :data:`MAX_BODY_BYTES`)."""
        if max_body_bytes is not None:
            if max_body_bytes < 0:
                raise ValueError("max_body_bytes must not be negative")
            self.max_body_bytes = max_body_bytes

    def settings(self) -> dict[str, Any]:
        return {"quotas": self.quotas.config.to_json(), "latency": self.latency.to_json(),
                "max_body_bytes": self.max_body_bytes, "default_locale": self.default_locale}

    # -- test controls
    def add_fault(self, kind: str, *, method: str | None = None, path_contains: str | None = None,
                  count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` matching requests fail or lose their answer; kinds are listed in
        :mod:`sheetsync.emulator.faults` (500, 503, 429, hang, drop, drop_after, hang_after)."""
        self.faults.add(Fault(str(kind), method, path_contains, count, seconds))

    def clear_faults(self) -> None:
        self.faults.clear()

    def on_request(self, callback: Callable[[RequestInfo], Any], *, method: str | None = None,
                   path_contains: str | None = None, kind: str | None = None, nth: int | None = None,
                   when: str = "before") -> Hook:
        """Run ``callback(info)`` in the server when a matching request arrives (``when="before"``, before
        it is applied) or once it was applied (``"after"``, before the answer goes out). ``kind`` is
        read / write / drive / token; ``nth`` fires on the nth matching request only (from 1), otherwise
        on every one. Returns the :class:`~sheetsync.emulator.hooks.Hook` (``.calls``, ``.remove()``)."""
        return self.hooks.add(callback, method=method, path_contains=path_contains, kind=kind, nth=nth, when=when)

    def act(self, spreadsheet_id: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply a batchUpdate as another user (the expert in the web UI): atomically, validated like any
        batchUpdate, not logged, not charged to any quota, firing no hooks. Returns the replies; raises
        :class:`~sheetsync.emulator.errors.ApiError` when Google would refuse it."""
        with self.lock:
            out = batch_update.batch_update(self.state, spreadsheet_id, {"requests": requests})
        self.save()
        return out["replies"]

    def act_values(self, spreadsheet_id: str, a1_range: str, rows: list[list[Any]], *,
                   value_input_option: str = "USER_ENTERED") -> dict[str, Any]:
        """Write values as another user (typed in the UI, so USER_ENTERED by default); like :meth:`act`."""
        with self.lock:
            out = values.update(self.state, spreadsheet_id, a1_range,
                                Params(f"valueInputOption={value_input_option}"), {"values": rows})
        self.save()
        return out

    # -- identities and Drive
    def add_principal(self, email: str, *, service_account: bool | None = None,
                      drive_storage: bool | None = None) -> Principal:
        """Register a user or service account; ``.token`` is a bearer token acting as it, ``.refresh_token``
        trades for one at ``POST /token``. An unregistered e-mail ending in ``.iam.gserviceaccount.com`` is a
        service account; service accounts have no Drive storage unless ``drive_storage=True``. See
        :mod:`sheetsync.emulator.identity`."""
        return self.identities.add(email, service_account=service_account, drive_storage=drive_storage)

    def add_shared_drive(self, name: str, members: list[str] | None = None) -> str:
        """A shared drive (returns its id, usable as a parent); only ``members`` (e-mails; None = everyone)
        may see it or create in it."""
        with self.lock:
            return drive.add_shared_drive(self.state, name, members)

    def add_folder(self, name: str, parent: str | None = None) -> str:
        """A folder inside a shared drive (``parent``: the drive's id or a folder in it), or in My Drive."""
        with self.lock:
            return drive.add_folder(self.state, name, parent)

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """The sharing e-mails Drive would have sent (permissions.create with sendNotificationEmail)."""
        with self.lock:
            return list(self.state.notifications)

    def fail_share_emails(self, count: int = 1, emails: list[str] | None = None) -> None:
        """The next ``count`` permissions.create calls that notify (one of ``emails``, or anyone) make the
        share and then answer Google's 400 invalidSharingRequest (see drive_permissions)."""
        with self.lock:
            self.state.share_email_failures.append(
                {"count": count, "emails": None if emails is None else {e.lower() for e in emails}})

    @property
    def request_log(self) -> list[LogEntry]:
        return self.log.snapshot()

    def clear_log(self) -> None:
        self.log.clear()

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
    def handle(self, method: str, raw_target: str, data: bytes,
               headers: Mapping[str, str] | None = None) -> Outcome:
        """Run one request through the pipeline (see the module docstring)."""
        epoch = self.epoch
        parts = urlsplit(raw_target)
        raw_path, query = parts.path, parts.query
        segs = [s for s in raw_path.split("/") if s != ""]
        kind = classify(method, segs)
        if kind == "control":
            try:
                out = Outcome(control_api.control(self, method, segs[1:], parse_body(data, lenient=True)), kind)
            except ApiError as err:
                out = Outcome(error_reply(err), kind)
            out.epoch = self.epoch  # a reset's own answer is delivered
            return out
        if kind == "token":
            out = self._token(method, data)
            out.epoch = epoch
            return out
        try:
            caller = self.identities.caller(headers, drive=kind == "drive")
        except ApiError as err:
            return Outcome(error_reply(err), kind, "unknown-token", epoch=epoch)
        who = caller.identity
        try:
            if len(data) > self.max_body_bytes:  # refused at Google's front door: nothing else happens
                out = Outcome(error_reply(payload_too_large(self.max_body_bytes)), kind, who)
            else:
                with gc_paused(len(data) > 1_000_000):
                    out = self._handle_api(method, raw_path, query, segs, kind, caller, data, epoch)
        except HookError as err:
            out = Outcome(error_reply(ApiError(500, f"Internal error encountered. ({err})", "INTERNAL")), kind, who)
        out.epoch = epoch
        return out

    def _handle_api(self, method: str, raw_path: str, query: str, segs: list[str], kind: str,
                    caller: Principal, data: bytes, epoch: int) -> Outcome:
        who = caller.identity
        body, body_error = None, None
        try:
            body = parse_body(data, lenient=kind == "drive")
        except ApiError as err:
            body_error = err
        info = RequestInfo(method, unquote(raw_path), raw_path, query, kind, who, body)
        self.hooks.fire("before", info)
        fault = self.faults.take(method, raw_path, info.path, kind)
        after = None
        if fault is not None:
            if fault.kind == "drop":
                return Outcome(Reply(status=0), kind, who, "drop", deliver="drop")
            if fault.kind == "hang":
                self.wait(fault.seconds or 0)
                if self.epoch != epoch:  # the emulator was reset meanwhile: this request belongs to no one
                    return Outcome(Reply(status=0), kind, who, "hang", deliver="drop")
            elif fault.kind in ("drop_after", "hang_after"):
                after = fault
            else:
                return Outcome(error_reply(fault_error(fault.kind, fault.seconds)), kind, who, fault.kind)
        try:
            if body_error is not None:
                raise body_error
            self.quotas.charge(kind, who)
            with self.lock:
                call = Call(caller, write=kind == "write", locale=self.default_locale)
                reply = route(self.state, method, segs, Params(query), body, call)
                if kind in ("write", "drive") and method != "GET":
                    self.save()
        except ApiError as err:
            if kind == "drive" and method != "GET":
                self.save()  # a Drive error may follow a change that stays (invalidSharingRequest)
            reply = error_reply(err)
        except Exception as exc:  # a bug in the emulator: answer like Google's 500, but say what broke
            print(f"sheets emulator: internal error on {method} {raw_path}: {exc!r}", file=sys.stderr)
            reply = error_reply(ApiError(500, f"Internal error encountered. ({exc!r})", "INTERNAL"))
        info.status, info.reply = reply.status, reply.body
        self.hooks.fire("after", info)
        fault_name = fault.kind if fault is not None else None
        if after is not None and after.kind == "drop_after":
            return Outcome(reply, kind, who, fault_name, deliver="drop")
        if after is not None:
            return Outcome(reply, kind, who, fault_name, deliver="hang", hang_seconds=after.seconds or 0)
        return Outcome(reply, kind, who, fault_name)

    def _token(self, method: str, data: bytes) -> Outcome:
        """The fake OAuth endpoint (see :mod:`sheetsync.emulator.identity`): no quotas, hooks or faults
        unless a fault names ``/token``."""
        fault = self.faults.take(method, "/token", "/token", "token")
        if fault is not None and fault.kind in ("500", "503"):
            return Outcome(error_reply(fault_error(fault.kind, None)), "token", fault=fault.kind)
        if fault is not None and fault.kind == "drop":
            return Outcome(Reply(status=0), "token", fault="drop", deliver="drop")
        if method != "POST":
            return Outcome(Reply(status=405, body={"error": "invalid_request", "error_description": "POST only"}),
                           "token")
        try:
            return Outcome(Reply(body=self.identities.grant(data)), "token", fault=fault.kind if fault else None)
        except OAuthError as err:
            return Outcome(Reply(status=err.status, body=err.body), "token")


def serve(host: str = "127.0.0.1", port: int = 8765, state_file: str | os.PathLike | None = None, *,
          realistic: bool = False) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), printing the address first; saves ``state_file`` on exit.
    ``realistic`` switches on Google's quotas and the latency model (see :class:`Emulator`)."""
    import signal

    emulator = Emulator(host=host, port=port, state_file=state_file, realistic=realistic).start()
    extra = " (Google's quotas and latency model on)" if realistic else ""
    print(f"Sheets emulator listening on {emulator.url}{extra}", flush=True)
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


__all__ = ["MAX_BODY_BYTES", "Emulator", "serve"]
