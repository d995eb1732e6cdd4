"""The Drive calls sheetsync makes: find a spreadsheet by title, create one (idempotently), share it.

Drive creates are not idempotent: a create whose answer is lost (timeout, dropped connection, a 5xx
after the file was made) and is sent again leaves two spreadsheets with the same title, and the next
workspace that opens the title refuses the ambiguity ([D] files.create, google-reality.md "Drive"). So
every file sheetsync creates carries a random tag in its ``appProperties`` ([D] Drive "Add custom file
properties": private to the app, searchable with ``appProperties has {…}``); the transport never
repeats the POST itself (``google_http.safe_to_repeat``), and before trying again this module looks the
tag up. Sharing is handled the same way: the file's permissions are listed before a permission is
(re)created, which also spares people a second notification email on every push.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.urls import DRIVE_FILES_API_V3_URL

from sheetsync.backends.google_http import error_reasons
from sheetsync.errors import BackendError, ConfigError

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
CREATE_TOKEN_KEY = "sheetsync-create-token"
CREATE_ATTEMPTS = 3
SHARE_ROLES = ("reader", "commenter", "writer")
#: Drive's roles from least to most access; a person who already has at least the asked role is left
#: alone (never downgraded) [D] developers.google.com/drive/api/guides/ref-roles.
ROLE_RANK = {"reader": 1, "commenter": 2, "writer": 3, "fileOrganizer": 4, "organizer": 5, "owner": 6}
#: Listing by title must see shared-drive files too: the default ``corpora=user`` leaves out files on a
#: shared drive the caller never opened, and a duplicate gets created [D] files.list, google-reality.md.
ALL_DRIVES = {"corpora": "allDrives", "includeItemsFromAllDrives": "true", "supportsAllDrives": "true"}
_FOLDER_RE = re.compile(r"/folders/([A-Za-z0-9_-]+)|[?&]id=([A-Za-z0-9_-]+)")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{10,}")

log = logging.getLogger("sheetsync.google")


def drive_quote(text: str) -> str:
    """``text`` as a Drive ``q`` string literal: single quotes, with ``\\`` and ``'`` backslash-escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def folder_id(folder: str) -> str:
    """The id in a Drive folder URL (``…/drive/folders/ID``, ``…?id=ID``) or a bare id; ``""`` for none."""
    s = folder.strip()
    if not s:
        return ""
    m = _FOLDER_RE.search(s)
    if m:
        return m.group(1) or m.group(2)
    if _ID_RE.fullmatch(s):
        return s
    raise ConfigError(
        f"folder {folder!r} (--folder or [google] folder) is not a Google Drive folder: give its URL "
        "(https://drive.google.com/drive/folders/…) or its id."
    )


def folder_problem(client: gspread.Client, folder: str, principal: Any) -> str | None:
    """Why creating in ``folder`` would fail (one Drive get), or ``None`` when it should work.

    A service account can only create on a shared drive (files it owns in a person's My Drive still
    need storage it does not have) [D] Drive shared-drives guide, google-reality.md "service accounts".
    """
    who = principal.who
    params = {"supportsAllDrives": "true", "fields": "id,name,mimeType,driveId,capabilities(canAddChildren)"}
    try:
        meta = client.http_client.request("get", f"{DRIVE_FILES_API_V3_URL}/{folder}", params=params).json()
    except APIError as err:
        if err.code == 404:
            return (f"the folder {folder} (--folder or [google] folder) does not exist or {who} cannot see it: "
                    f"add {who} to the shared drive (or share the folder with it) as Content manager.")
        return f"Google Drive would not show the folder {folder} to {who}: {_message(err)}."
    except requests.RequestException as err:
        return f"could not reach Google Drive to check the folder {folder} ({type(err).__name__})."
    name = meta.get("name") or folder
    if meta.get("mimeType") != FOLDER_MIME:
        return f"{folder} ({name!r}) is not a folder: give the URL of a folder on a shared drive."
    if principal.kind == "service account" and not meta.get("driveId"):
        return (f"the folder {name!r} is not on a shared drive, and a service account has no Drive storage "
                "of its own for the files it creates there: use a folder on a shared drive, or create the "
                f"spreadsheet yourself and share it with {who}.")
    if (meta.get("capabilities") or {}).get("canAddChildren") is False:
        return (f"{who} may not add files to the folder {name!r}: give it the Content manager (or "
                "Contributor) role on the shared drive.")
    return None


def _list(client: gspread.Client, q: str, fields: str) -> tuple[list[dict[str, Any]], bool]:
    """Every file matching ``q`` on every drive the caller can see (paged); and whether Drive said the
    search was incomplete (it may skip some shared drives with ``allDrives`` [D] files.list)."""
    params: dict[str, Any] = {"q": q, "pageSize": 1000, "fields": f"nextPageToken,incompleteSearch,files({fields})",
                              **ALL_DRIVES}
    files: list[dict[str, Any]] = []
    incomplete = False
    while True:
        page = client.http_client.request("get", DRIVE_FILES_API_V3_URL, params=params).json()
        files += page.get("files", [])
        incomplete = incomplete or bool(page.get("incompleteSearch"))
        token = page.get("nextPageToken")
        if not token:
            return files, incomplete
        params["pageToken"] = token


def find_by_title(client: gspread.Client, title: str) -> tuple[list[str], bool]:
    """Ids of the non-trashed spreadsheets named exactly ``title`` on every drive the caller can see, and
    whether the search was incomplete (one Drive list, paged if huge)."""
    q = f"mimeType = '{SPREADSHEET_MIME}' and name = {drive_quote(title)} and trashed = false"
    files, incomplete = _list(client, q, "id,name")
    return [f["id"] for f in files if f.get("name") == title], incomplete


def find_by_create_token(client: gspread.Client, token: str) -> list[str]:
    """Ids of the files one create of ours made (normally none or one), oldest first."""
    q = f"appProperties has {{ key='{CREATE_TOKEN_KEY}' and value={drive_quote(token)} }} and trashed = false"
    files, _ = _list(client, q, "id,createdTime")
    return [f["id"] for f in sorted(files, key=lambda f: f.get("createdTime", ""))]


def _lost(err: Exception) -> bool:
    """The request may have been applied, but its answer never arrived (or Google failed after it)."""
    if isinstance(err, requests.ConnectionError | requests.Timeout):
        return True
    return isinstance(err, APIError) and err.code >= 500


def create_spreadsheet(client: gspread.Client, title: str, *, folder: str = "") -> str:
    """Create a spreadsheet named ``title`` (inside ``folder`` when given: a folder on a shared drive
    needs ``parents`` + ``supportsAllDrives`` [D] Drive shared-drives guide) and return its id.

    A lost answer is followed by a lookup of the create's tag — after one backoff wait, so a create still
    in flight at Google can land — and only if nothing carries the tag is the create sent again.
    """
    token = uuid.uuid4().hex
    body: dict[str, Any] = {"name": title, "mimeType": SPREADSHEET_MIME, "appProperties": {CREATE_TOKEN_KEY: token}}
    if folder:
        body["parents"] = [folder]
    params = {"supportsAllDrives": "true", "fields": "id"}
    http = client.http_client
    last: Exception | None = None
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            made = str(http.request("post", DRIVE_FILES_API_V3_URL, params=params, json=body).json()["id"])
        except (requests.RequestException, APIError) as err:
            if not _lost(err):
                raise
            last = err
            found = find_by_create_token(client, token)
            if not found:
                _pause(http, attempt)
                found = find_by_create_token(client, token)
            if found:
                return _keep_one(client, found, found[0])
            continue
        if attempt > 1:  # an earlier attempt may have landed after our lookup: keep exactly one
            made = _keep_one(client, find_by_create_token(client, token) or [made], made)
        return made
    raise BackendError(
        f"could not create the spreadsheet {title!r}: {CREATE_ATTEMPTS} attempts lost their answer "
        f"(last: {type(last).__name__}), and Drive holds no file from them. Check the network and run the "
        "command again."
    )


def _pause(http: Any, attempt: int) -> None:
    delay = getattr(http, "base_delay", 1.0) * 2 ** (attempt - 1)
    getattr(http, "sleep", lambda s: None)(delay)


def _keep_one(client: gspread.Client, ids: list[str], keep: str) -> str:
    """Delete the extra copies one create of ours made (they are seconds old, empty, and carry our tag)."""
    for extra in (i for i in ids if i != keep):
        try:
            client.http_client.request(
                "delete", f"{DRIVE_FILES_API_V3_URL}/{extra}", params={"supportsAllDrives": "true"}
            )
        except (requests.RequestException, APIError) as err:
            log.warning(
                "An interrupted create left a second, empty spreadsheet %s that sheetsync could not delete "
                "(%s): delete it by hand.", extra, type(err).__name__,
            )
    return keep


# ------------------------------------------------------------------------------------------- sharing


def _roles(client: gspread.Client, key: str) -> dict[str, str]:
    """email (lower case) -> role, for every person or group with access to the file."""
    url = f"{DRIVE_FILES_API_V3_URL}/{key}/permissions"
    params: dict[str, Any] = {"supportsAllDrives": "true", "pageSize": 100,
                              "fields": "nextPageToken,permissions(id,type,role,emailAddress)"}
    roles: dict[str, str] = {}
    while True:
        page = client.http_client.request("get", url, params=params).json()
        for p in page.get("permissions", []):
            if p.get("emailAddress"):
                roles[str(p["emailAddress"]).lower()] = str(p.get("role", ""))
        token = page.get("nextPageToken")
        if not token:
            return roles
        params["pageToken"] = token


def _has(roles: dict[str, str], email: str, role: str) -> bool:
    return ROLE_RANK.get(roles.get(email.lower(), ""), 0) >= ROLE_RANK[role]


def share_spreadsheet(client: gspread.Client, key: str, emails: list[str], role: str = "writer") -> list[str]:
    """Give each person ``role`` on the file, once: one permissions list, then one create per person who
    lacks the role. Returns notes for the user (a share that worked but whose email did not go out).

    Google sends each new person a notification email with the link: the expert needs the link anyway,
    and Drive refuses to share silently with an address that has no Google account.
    """
    if role not in SHARE_ROLES:
        raise BackendError(f"cannot share as {role!r}: use one of {', '.join(SHARE_ROLES)}")
    wanted = list(dict.fromkeys(e.strip() for e in emails if e.strip()))
    if not wanted:
        return []
    roles = _roles(client, key)
    notes: list[str] = []
    for email in wanted:
        if not _has(roles, email, role):
            notes += _share_one(client, key, email, role)
    return notes


def _share_one(client: gspread.Client, key: str, email: str, role: str) -> list[str]:
    url = f"{DRIVE_FILES_API_V3_URL}/{key}/permissions"
    body = {"type": "user", "role": role, "emailAddress": email}
    params = {"supportsAllDrives": "true", "sendNotificationEmail": "true", "fields": "id"}
    for _attempt in range(CREATE_ATTEMPTS):
        try:
            client.http_client.request("post", url, params=params, json=body)
            return []
        except (requests.RequestException, APIError) as err:
            if isinstance(err, APIError) and err.code == 400 and "invalidSharingRequest" in error_reasons(err):
                # "can mean the share worked but the e-mail failed" [D] Drive handle-errors
                if _has(_roles(client, key), email, role):
                    return [f"{email} now has {role} access, but Google could not send them the notification "
                            "email: send them the spreadsheet's link yourself."]
                raise BackendError(
                    f"Google refused to share the spreadsheet with {email}: {_message(err)}. Check the address "
                    "(it needs a Google account), or share it by hand from the spreadsheet's Share button."
                ) from None
            if not _lost(err):
                raise
            if _has(_roles(client, key), email, role):
                return []  # the lost create had been applied
    raise BackendError(f"could not share the spreadsheet with {email}: the answers kept getting lost. Run again.")


def _message(err: APIError) -> str:
    error = err.error if isinstance(err.error, dict) else {}
    return str(error.get("message", ""))[:300] or f"HTTP {err.code}"
