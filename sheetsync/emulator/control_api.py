"""The emulator's own HTTP controls under ``/_emulator/``, for tests and benchmarks that run it in another
process. Each mirrors a Python method of :class:`~sheetsync.emulator.Emulator`:

=========================================  ==================================================
``GET health``                             ``{"ok": true}``
``GET config``                             every setting (quotas, latency, body limit, locale)
``POST reset``                             :meth:`Emulator.reset`
``GET|POST|DELETE faults``                 list / :meth:`add_fault` (same keys) / clear
``GET|POST quotas``                        :meth:`set_quotas` (same keys; absent = unlimited)
``GET|POST latency``                       :meth:`set_latency` (``per_request``, ``per_kb``, s)
``GET|POST limits``                        :meth:`set_limits` (``max_body_bytes``)
``GET|DELETE log``                         :attr:`request_log` / :meth:`clear_log`
``GET spreadsheets/<id>``                  the stored spreadsheet with grid data
``POST act``                               :meth:`act` (``spreadsheetId``, ``requests``)
``POST act-values``                        :meth:`act_values` (``spreadsheetId``, ``range``, ``values``)
``POST principals``                        :meth:`add_principal` (``email``, ...) -> token, refresh_token
``POST shared-drives``                     :meth:`add_shared_drive` (``name``, ``members``) -> id
``POST folders``                           :meth:`add_folder` (``name``, ``parent``) -> id
``GET notifications``                      :attr:`notifications`
``POST share-email-failures``              :meth:`fail_share_emails` (``count``, ``emails``)
=========================================  ==================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sheetsync.emulator.errors import invalid_argument, not_found
from sheetsync.emulator.routes import Reply

if TYPE_CHECKING:
    from sheetsync.emulator.server import Emulator

_QUOTA_KEYS = ("read_per_minute", "write_per_minute", "project_read_per_minute", "project_write_per_minute",
               "period", "refill", "retry_after")


def control(em: Emulator, method: str, segs: list[str], body: Any) -> Reply:
    body = body if isinstance(body, dict) else {}
    what = segs[0] if segs else ""
    try:
        return _control(em, method, what, segs, body)
    except (ValueError, TypeError) as exc:
        raise invalid_argument(f"/_emulator/{what}: {exc}") from None


def _control(em: Emulator, method: str, what: str, segs: list[str], body: dict[str, Any]) -> Reply:
    if what == "health":
        return Reply(body={"ok": True})
    if what == "config" and method == "GET":
        return Reply(body=em.settings())
    if what == "reset" and method == "POST":
        em.reset()
        return Reply(body={})
    if what == "faults":
        if method == "POST":
            em.add_fault(str(body.get("kind")), method=body.get("method"), path_contains=body.get("path_contains"),
                         count=int(body.get("count", 1)), seconds=body.get("seconds"))
            return Reply(body={})
        if method == "DELETE":
            em.clear_faults()
            return Reply(body={})
        if method == "GET":
            return Reply(body={"faults": em.faults.to_json()})
    if what == "quotas":
        if method == "POST":
            unknown = set(body) - set(_QUOTA_KEYS)
            if unknown:
                raise ValueError(f"unknown quota settings {sorted(unknown)}; expected {', '.join(_QUOTA_KEYS)}")
            em.set_quotas(**body)
        if method in ("GET", "POST"):
            return Reply(body=em.quotas.config.to_json())
    if what == "latency":
        if method == "POST":
            em.set_latency(float(body.get("per_request", 0.0)), float(body.get("per_kb", 0.0)))
        if method in ("GET", "POST"):
            return Reply(body=em.latency.to_json())
    if what == "limits":
        if method == "POST":
            em.set_limits(max_body_bytes=body.get("max_body_bytes"))
        if method in ("GET", "POST"):
            return Reply(body={"max_body_bytes": em.max_body_bytes})
    if what == "log":
        if method == "GET":
            return Reply(body={"entries": [e.to_json() for e in em.request_log]})
        if method == "DELETE":
            em.clear_log()
            return Reply(body={})
    if what == "spreadsheets" and len(segs) == 2 and method == "GET":
        with em.lock:
            return Reply(body=em.state.get(unquote(segs[1])).to_resource(include_grid_data=True))
    if what == "act" and method == "POST":
        return Reply(body={"replies": em.act(str(body.get("spreadsheetId")), list(body.get("requests") or []))})
    if what == "act-values" and method == "POST":
        return Reply(body=em.act_values(str(body.get("spreadsheetId")), str(body.get("range")),
                                        list(body.get("values") or []),
                                        value_input_option=body.get("valueInputOption") or "USER_ENTERED"))
    if what == "principals" and method == "POST":
        p = em.add_principal(str(body.get("email") or ""), service_account=body.get("service_account"),
                             drive_storage=body.get("drive_storage"))
        return Reply(body={"email": p.email, "service_account": p.service_account, "drive_storage": p.drive_storage,
                           "token": p.token, "refresh_token": p.refresh_token})
    if what == "shared-drives" and method == "POST":
        return Reply(body={"id": em.add_shared_drive(str(body.get("name") or "Shared drive"), body.get("members"))})
    if what == "folders" and method == "POST":
        return Reply(body={"id": em.add_folder(str(body.get("name") or "Folder"), body.get("parent"))})
    if what == "notifications" and method == "GET":
        return Reply(body={"notifications": em.notifications})
    if what == "share-email-failures" and method == "POST":
        em.fail_share_emails(int(body.get("count", 1)), body.get("emails"))
        return Reply(body={})
    raise not_found()
