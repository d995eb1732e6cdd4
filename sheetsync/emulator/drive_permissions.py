"""Drive permissions: create / list / get / delete, the notification e-mail, and its documented failure.

* ``sendNotificationEmail`` "defaults to true for users and groups, and is not allowed for other requests"
  (drive.v3 discovery document, permissions.create). The e-mails Drive would have sent are kept in
  ``state.notifications`` (``Emulator.notifications``) so tests can check who was told.
* "Sharing succeeded, but the notification email was not correctly delivered" is a 400 with reason
  ``invalidSharingRequest`` (developers.google.com/workspace/drive/api/guides/handle-errors): the share
  *was* made. ``Emulator.fail_share_emails()`` makes the next notifying permissions.create end that way.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from sheetsync.emulator.drive_access import reach
from sheetsync.emulator.errors import ApiError, drive_error
from sheetsync.emulator.fieldmask import mask, project
from sheetsync.emulator.identity import ANONYMOUS_EMAIL, Principal
from sheetsync.emulator.model import State
from sheetsync.emulator.params import Params

_TYPES = ("user", "group", "domain", "anyone")
_ROLES = ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader")


def owner_permission(email: str = ANONYMOUS_EMAIL) -> dict[str, Any]:
    pid = "00000000000000000000" if email == ANONYMOUS_EMAIL else f"{random.randint(10**19, 10**20 - 1)}"
    return {"kind": "drive#permission", "id": pid, "type": "user", "role": "owner", "emailAddress": email,
            "displayName": "Emulator" if email == ANONYMOUS_EMAIL else email.partition("@")[0]}


def _fields(params: Params, default: str) -> dict | None:
    return mask(params.get("fields") or default)


def share_email_failed(email: str) -> ApiError:
    message = f'Bad Request. User message: "Sorry, the items were successfully shared but emails could not be sent to {email}."'
    return ApiError(400, message, "INVALID_ARGUMENT",
                    errors=[{"domain": "global", "reason": "invalidSharingRequest", "message": message}])


def _take_failure(state: State, email: str) -> bool:
    for pending in state.share_email_failures:
        emails = pending.get("emails")
        if emails is None or email.lower() in emails:
            pending["count"] -= 1
            if pending["count"] <= 0:
                state.share_email_failures.remove(pending)
            return True
    return False


def create_permission(state: State, caller: Principal, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    meta = reach(state, caller, params, fid, write=True)
    perms = meta.permissions
    ptype, prole = body.get("type"), body.get("role")
    if ptype not in _TYPES:
        raise drive_error(400, "The permission type field is required.", "required", location="permission.type")
    if prole not in _ROLES:
        raise drive_error(400, "The permission role field is required.", "required", location="permission.role")
    if ptype in ("user", "group") and not body.get("emailAddress"):
        raise drive_error(400, "The permission emailAddress field is required.", "required",
                          location="permission.emailAddress")
    if ptype == "domain" and not body.get("domain"):
        raise drive_error(400, "The permission domain field is required.", "required", location="permission.domain")
    who = body.get("emailAddress", body.get("domain"))
    existing = [p["id"] for p in perms if p.get("emailAddress", p.get("domain")) == who and p["type"] == ptype]
    perm: dict[str, Any] = {"kind": "drive#permission",
                            "id": existing[0] if existing else f"{random.randint(10**19, 10**20 - 1)}",
                            "type": ptype, "role": prole}
    for key in ("emailAddress", "domain", "allowFileDiscovery", "expirationTime"):
        if body.get(key) is not None:
            perm[key] = body[key]
    perms[:] = [p for p in perms if p["id"] != perm["id"]] + [perm]
    if ptype in ("user", "group") and params.bool("sendNotificationEmail", True):
        email = str(body["emailAddress"])
        if _take_failure(state, email):
            raise share_email_failed(email)  # the share above stays: Google's documented ambiguity
        state.notifications.append({"fileId": fid, "emailAddress": email, "role": prole,
                                    "emailMessage": params.get("emailMessage"), "from": caller.email})
    return project(perm, _fields(params, "kind,id,type,role"))


def list_permissions(state: State, caller: Principal, fid: str, params: Params) -> dict[str, Any]:
    perms = copy.deepcopy(reach(state, caller, params, fid).permissions)
    return project({"kind": "drive#permissionList", "permissions": perms},
                   _fields(params, "kind,nextPageToken,permissions(kind,id,type,role,emailAddress,domain)"))


def get_permission(state: State, caller: Principal, fid: str, pid: str, params: Params) -> dict[str, Any]:
    for p in reach(state, caller, params, fid).permissions:
        if p["id"] == pid:
            return project(copy.deepcopy(p), _fields(params, "kind,id,type,role"))
    raise drive_error(404, f"Permission not found: {pid}.", "notFound", location="permissionId")


def delete_permission(state: State, caller: Principal, fid: str, pid: str, params: Params) -> None:
    perms = reach(state, caller, params, fid, write=True).permissions
    if not any(p["id"] == pid for p in perms):
        raise drive_error(404, f"Permission not found: {pid}.", "notFound", location="permissionId")
    perms[:] = [p for p in perms if p["id"] != pid]
