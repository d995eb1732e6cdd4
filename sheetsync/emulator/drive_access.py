"""Drive's access rules: who may see or change a file, shared drives, and where a new file may go.

Modelled after Google's documentation and observed answers:

* A file is reachable by its owner, by anyone named in its permissions (user / group e-mail, its domain,
  ``anyone``), by anyone who can reach a folder it sits in (permissions are inherited), and, inside a
  shared drive, by the drive's members. Anyone else gets 404 "File not found" from Drive (Google does not
  confirm a file exists to someone who cannot see it) and 403 "The caller does not have permission" from
  the Sheets API (cassettes in sheets-api.md §3; googleapis/google-api-ruby-client#461: a service
  account must be shared on the spreadsheet like any user). Readers and commenters cannot write.
* Shared-drive items are invisible to an app that does not pass ``supportsAllDrives=true``: files.get and
  friends answer 404 (developers.google.com/workspace/drive/api/guides/enable-shareddrives;
  plotlinelabs/loma#111, seattleflu/id3c#214), and a shared-drive parent of files.create is "not found".
* A service account without Drive storage can create a file only inside a shared drive; anywhere else,
  a My Drive folder shared with it included (burnash/gspread#1568), Drive answers 403 with reason
  ``storageQuotaExceeded`` in domain ``usageLimits`` (n8n-io/n8n#26050, PyDrive2#238) and the Sheets API's
  spreadsheets.create answers 403 PERMISSION_DENIED (xing5/mcp-google-sheets#24). Folders take no storage
  and stay allowed [inference: the storage quota counts file bytes].
* The anonymous user (no credentials) is the emulator's superuser: it reaches every file, so tests that
  never think about identity keep working, but the ``supportsAllDrives`` rules still apply to it.
"""

from __future__ import annotations

from typing import Any

from sheetsync.emulator.errors import ApiError, drive_error, drive_not_found
from sheetsync.emulator.identity import Principal
from sheetsync.emulator.model import FOLDER_MIME, SPREADSHEET_MIME, Spreadsheet, State
from sheetsync.emulator.params import Params

STORAGE_MESSAGE = ("Service Accounts do not have storage quota. Leverage shared drives "
                   "(https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use OAuth "
                   "delegation (http://support.google.com/a/answer/7281227) instead.")
_RANK = {"reader": 1, "commenter": 2, "writer": 3, "fileOrganizer": 4, "organizer": 5, "owner": 6}


def storage_quota_exceeded() -> ApiError:
    return ApiError(403, STORAGE_MESSAGE, "PERMISSION_DENIED",
                    errors=[{"message": STORAGE_MESSAGE, "domain": "usageLimits", "reason": "storageQuotaExceeded"}])


def caller_cannot() -> ApiError:
    return ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")


class Meta:
    """A uniform view of the Drive-side facts of a spreadsheet (a :class:`Spreadsheet`) or another file
    (a dict in ``state.files``)."""

    def __init__(self, state: State, fid: str) -> None:
        self.ss: Spreadsheet | None = state.spreadsheets.get(fid)
        self.f: dict[str, Any] | None = None if self.ss is not None else state.files.get(fid)
        if self.ss is None and self.f is None:
            raise drive_not_found(fid)
        self.id = fid

    def _get(self, attr: str, key: str, default: Any) -> Any:
        if self.ss is not None:
            return getattr(self.ss, attr)
        assert self.f is not None
        return self.f.get(key, default)

    @property
    def mime(self) -> str:
        return SPREADSHEET_MIME if self.ss is not None else self.f["mimeType"]  # type: ignore[index]

    @property
    def parents(self) -> list[str]:
        return self._get("parents", "parents", [])

    @property
    def drive_id(self) -> str | None:
        return self._get("drive_id", "driveId", None)

    @property
    def owner(self) -> str | None:
        return self._get("owner", "_owner", None)

    @property
    def permissions(self) -> list[dict[str, Any]]:
        if self.ss is not None:
            return self.ss.permissions
        assert self.f is not None
        return self.f.setdefault("permissions", [])

    @property
    def viewers(self) -> list[str]:
        if self.ss is not None:
            return self.ss.viewers
        assert self.f is not None
        return self.f.setdefault("_viewers", [])

    def opened_by(self, caller: Principal) -> None:
        if not caller.anonymous and caller.email.lower() not in self.viewers:
            self.viewers.append(caller.email.lower())


def is_member(state: State, caller: Principal, drive_id: str) -> bool:
    drive = state.shared_drives.get(drive_id)
    if drive is None:
        return False
    members = drive.get("members")
    return caller.anonymous or members is None or caller.email.lower() in members


def role(state: State, caller: Principal, meta: Meta, depth: int = 0) -> str | None:
    """The caller's best role on the file, or None when it cannot see it."""
    if caller.anonymous:
        return "owner"
    if meta.drive_id:
        return "organizer" if is_member(state, caller, meta.drive_id) else None
    email = caller.email.lower()
    if (meta.owner or "").lower() == email:
        return "owner"
    best: str | None = None
    domain = email.rpartition("@")[2]
    for p in meta.permissions:
        kind = p.get("type")
        hit = ((kind in ("user", "group") and (p.get("emailAddress") or "").lower() == email)
               or kind == "anyone" or (kind == "domain" and (p.get("domain") or "").lower() == domain))
        if hit and _RANK.get(p.get("role", ""), 0) > _RANK.get(best or "", 0):
            best = p.get("role")
    if depth < 20:
        for parent in meta.parents:
            if parent in state.files:
                inherited = role(state, caller, Meta(state, parent), depth + 1)
                if inherited == "owner":  # the folder's owner may edit what others put in it
                    inherited = "writer"
                if inherited and _RANK.get(inherited, 0) > _RANK.get(best or "", 0):
                    best = inherited
    return best


def reach(state: State, caller: Principal, params: Params, fid: str, *, write: bool = False) -> Meta:
    """A file addressed by id (files.get/update/delete/copy/export, permissions.*): 404 when it does not
    exist, sits in a shared drive and the app did not pass ``supportsAllDrives=true``, or the caller
    cannot see it; 403 when it can see but not change it."""
    meta = Meta(state, fid)
    if meta.drive_id and not params.bool("supportsAllDrives"):
        raise drive_not_found(fid)
    r = role(state, caller, meta)
    if r is None:
        raise drive_not_found(fid)
    if write and _RANK[r] < _RANK["writer"]:
        raise drive_error(403, "The user does not have sufficient permissions for this file.",
                          "insufficientFilePermissions")
    return meta


def sheets_access(state: State, caller: Principal, sid: str, write: bool) -> Spreadsheet:
    """A Sheets API call on ``sid``: 404 if it does not exist, 403 if the caller may not read (or write) it.
    Opening a spreadsheet makes it the caller's (files.list ``corpora=user`` then lists it)."""
    ss = state.get(sid)
    meta = Meta(state, sid)
    r = role(state, caller, meta)
    if r is None or (write and _RANK[r] < _RANK["writer"]):
        raise caller_cannot()
    meta.opened_by(caller)
    return ss


def placement(state: State, caller: Principal, params: Params, parents: list[str], mime: str) -> str | None:
    """Where a new (or copied, or moved) file lands: the shared drive id, or None for My Drive. Raises
    Google's errors for an unknown or unreachable parent and for a service account without storage."""
    drive_id: str | None = None
    for parent in parents:
        if parent in state.shared_drives:
            home = parent
        elif parent in state.files and state.files[parent].get("mimeType") == FOLDER_MIME:
            folder = Meta(state, parent)
            home = folder.drive_id
            if home is None:
                r = role(state, caller, folder)
                if r is None:
                    raise drive_not_found(parent)
                if _RANK[r] < _RANK["writer"]:
                    raise drive_error(403, "The user does not have sufficient permissions for this file.",
                                      "insufficientParentPermissions")
        elif parent == "root":
            home = None
        else:
            raise drive_not_found(parent)
        if home is not None and (not params.bool("supportsAllDrives") or not is_member(state, caller, home)):
            raise drive_not_found(parent)
        drive_id = home if home is not None else drive_id
    if drive_id is None and caller.service_account and not caller.drive_storage and mime != FOLDER_MIME:
        raise storage_quota_exceeded()
    return drive_id
