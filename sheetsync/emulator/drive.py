"""The Drive v3 subset gspread and sheetsync use: files create/get/list/update/delete/copy/export and
(empty) comments; permissions live in :mod:`drive_permissions`, access rules in :mod:`drive_access`, the
``q`` language and list visibility in :mod:`drive_query`.

Lenient on bodies, as Drive is (gspread sends the non-v3 ``withLink`` field); errors use Drive's older
``errors[]`` shape. ``appProperties`` (private to the app) and ``properties`` are stored on create, merged on
update (a null value deletes a key) and copied by files.copy; they are returned only when ``fields`` asks
(guides/properties; File.appProperties in the drive.v3 discovery document).
"""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

from sheetsync.emulator import drive_query
from sheetsync.emulator.drive_access import Meta, placement, reach
from sheetsync.emulator.drive_permissions import owner_permission
from sheetsync.emulator.errors import drive_error, drive_not_found
from sheetsync.emulator.fieldmask import mask, project
from sheetsync.emulator.identity import Principal
from sheetsync.emulator.model import (
    FOLDER_MIME,
    SPREADSHEET_MIME,
    Spreadsheet,
    State,
    new_id,
    new_spreadsheet,
    now_iso,
)
from sheetsync.emulator.params import Params

_FILE_DEFAULT = "kind,id,name,mimeType"
_PROPERTY_LIMIT = 124  # bytes of key + value (guides/properties: "Maximum size of properties (key + value)")


def resource(state: State, fid: str) -> dict[str, Any]:
    """The full File JSON (before any ``fields`` mask)."""
    ss = state.spreadsheets.get(fid)
    if ss is not None:
        return _spreadsheet_file(ss)
    f = state.files.get(fid)
    if f is None:
        raise drive_not_found(fid)
    return {k: copy.deepcopy(v) for k, v in f.items() if not k.startswith("_") and v not in (None, {})}


def _spreadsheet_file(ss: Spreadsheet) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "drive#file", "id": ss.id, "name": ss.title, "mimeType": SPREADSHEET_MIME}
    if ss.parents:
        out["parents"] = list(ss.parents)
    if ss.drive_id:
        out["driveId"] = ss.drive_id
    if ss.app_properties:
        out["appProperties"] = dict(ss.app_properties)
    out.update({
        "createdTime": ss.created,
        "modifiedTime": ss.modified,
        "trashed": False,
        "webViewLink": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit?usp=drivesdk",
    })
    if ss.owner:
        out["owners"] = [{"kind": "drive#user", "emailAddress": ss.owner, "displayName": ss.owner.partition("@")[0]}]
    return out


def _fields(params: Params, default: str) -> dict | None:
    return mask(params.get("fields") or default)


def _props(body: dict, key: str, old: dict[str, str] | None = None) -> dict[str, str]:
    """Merge ``body[key]`` into ``old``: a null value deletes; each key + value fits 124 bytes."""
    out = dict(old or {})
    for k, v in (body.get(key) or {}).items():
        if v is None:
            out.pop(k, None)
            continue
        if len(str(k).encode()) + len(str(v).encode()) > _PROPERTY_LIMIT:
            # Google's wording for this limit was not found; the reason and location follow its other 400s
            raise drive_error(400, f"The {key} entry '{k}' exceeds the {_PROPERTY_LIMIT}-byte limit on key plus "
                              "value.", "invalid", location=f"{key}.{k}")
        out[str(k)] = str(v)
    return out


def create(state: State, caller: Principal, params: Params, body: dict | None, locale: str = "en_US") -> dict[str, Any]:
    body = body or {}
    mime = body.get("mimeType") or "application/octet-stream"
    parents = [p for p in body.get("parents") or [] if p]
    drive_id = placement(state, caller, params, parents, mime)
    app_props, props = _props(body, "appProperties"), _props(body, "properties")
    owner = None if drive_id else caller.email
    if mime == SPREADSHEET_MIME:
        ss = new_spreadsheet(body.get("name") or "Untitled spreadsheet")
        ss.props["locale"] = locale
        ss.parents, ss.drive_id, ss.owner, ss.app_properties = parents, drive_id, owner, app_props
        ss.permissions = [] if drive_id else [owner_permission(caller.email)]
        state.spreadsheets[ss.id] = ss
        fid = ss.id
    else:
        now = now_iso()
        fid = new_id()[:33]
        state.files[fid] = {"kind": "drive#file", "id": fid, "name": body.get("name") or "Untitled", "mimeType": mime,
                            "parents": parents, "driveId": drive_id, "appProperties": app_props,
                            "properties": props, "createdTime": now, "modifiedTime": now, "trashed": False,
                            "_owner": owner, "permissions": [] if drive_id else [owner_permission(caller.email)]}
        if owner:
            state.files[fid]["owners"] = [{"kind": "drive#user", "emailAddress": owner}]
    Meta(state, fid).opened_by(caller)
    return project(resource(state, fid), _fields(params, _FILE_DEFAULT))


def get(state: State, caller: Principal, fid: str, params: Params) -> dict[str, Any]:
    meta = reach(state, caller, params, fid)
    meta.opened_by(caller)
    return project(resource(state, fid), _fields(params, _FILE_DEFAULT))


def update(state: State, caller: Principal, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    meta = reach(state, caller, params, fid, write=True)
    add = [p for p in (params.get("addParents") or "").split(",") if p]
    remove = [p for p in (params.get("removeParents") or "").split(",") if p]
    parents = [p for p in meta.parents if p not in remove] + [p for p in add if p not in meta.parents]
    drive_id = placement(state, caller, params, parents, meta.mime) if add else meta.drive_id
    if meta.ss is not None:
        ss = meta.ss
        if body.get("name"):
            ss.props["title"] = body["name"]
        ss.parents, ss.drive_id = parents, drive_id
        ss.app_properties = _props(body, "appProperties", ss.app_properties)
        ss.modified = now_iso()
    else:
        f = meta.f
        assert f is not None
        if body.get("name"):
            f["name"] = body["name"]
        f["parents"], f["driveId"] = parents, drive_id
        f["appProperties"] = _props(body, "appProperties", f.get("appProperties"))
        f["properties"] = _props(body, "properties", f.get("properties"))
        f["modifiedTime"] = now_iso()
    return project(resource(state, fid), _fields(params, _FILE_DEFAULT))


def delete(state: State, caller: Principal, fid: str, params: Params) -> None:
    reach(state, caller, params, fid, write=True)
    if state.spreadsheets.pop(fid, None) is None:
        state.files.pop(fid, None)


def copy_file(state: State, caller: Principal, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    meta = reach(state, caller, params, fid)
    src = meta.ss
    if src is None:
        raise drive_error(400, "Only spreadsheets can be copied by the sheetsync emulator.", "invalid")
    parents = [p for p in body.get("parents") or [] if p] or list(src.parents)
    drive_id = placement(state, caller, params, parents, SPREADSHEET_MIME)
    dup = src.clone()
    dup.id = new_id()
    dup.props["title"] = body.get("name") or f"Copy of {src.title}"
    dup.parents, dup.drive_id = parents, drive_id
    dup.owner = None if drive_id else caller.email
    dup.app_properties = _props(body, "appProperties", src.app_properties)
    dup.created = dup.modified = now_iso()
    dup.permissions = [] if drive_id else [owner_permission(caller.email)]
    dup.viewers = []
    state.spreadsheets[dup.id] = dup
    Meta(state, dup.id).opened_by(caller)
    return project(_spreadsheet_file(dup), _fields(params, _FILE_DEFAULT))


def export(state: State, caller: Principal, fid: str, params: Params) -> tuple[bytes, str]:
    """files.export: CSV/TSV of the first sheet (the formats gspread's ``export`` asks for most)."""
    from sheetsync.emulator.values import read_block

    ss = reach(state, caller, params, fid).ss
    if ss is None:
        raise drive_not_found(fid)
    mime = params.get("mimeType") or ""
    if mime not in ("text/csv", "text/tab-separated-values"):
        raise drive_error(400, f"Export to {mime!r} is not supported by the sheetsync emulator.", "badRequest")
    sheet = ss.sheets[0]
    rows = read_block(sheet, 0, 0, sheet.row_count, sheet.col_count, "FORMATTED_VALUE", "ROWS")
    buf = io.StringIO()
    csv.writer(buf, delimiter="," if mime == "text/csv" else "\t", lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8"), mime


def list_files(state: State, caller: Principal, params: Params) -> dict[str, Any]:
    return drive_query.list_files(state, caller, params, resource)


def list_comments(state: State, caller: Principal, fid: str, params: Params) -> dict[str, Any]:
    reach(state, caller, params, fid)
    return {"kind": "drive#commentList", "comments": []}


# ---- shared drives (set up from Python or /_emulator/: the Drive API's drives.create is not modelled)


def add_shared_drive(state: State, name: str, members: list[str] | None = None) -> str:
    """A shared drive; ``members`` (e-mails) may create and see its files (None: everyone)."""
    drive_id = "0A" + new_id()[:13] + "Uk9PVA"  # the shape of real shared drive ids
    state.shared_drives[drive_id] = {"id": drive_id, "name": name, "createdTime": now_iso(),
                                     "members": None if members is None else [m.lower() for m in members]}
    return drive_id


def add_folder(state: State, name: str, parent: str | None = None) -> str:
    """A folder in a shared drive (``parent`` = its id or a folder in it) or, without parent, in My Drive."""
    from sheetsync.emulator.identity import ANONYMOUS_PRINCIPAL

    params = Params("supportsAllDrives=true")
    body = {"name": name, "mimeType": FOLDER_MIME, "parents": [parent] if parent else []}
    return create(state, ANONYMOUS_PRINCIPAL, params, body)["id"]
