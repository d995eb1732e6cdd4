"""The Drive v3 subset gspread uses: files create/get/list/update/delete/copy/export, permissions and
(empty) comments. Lenient on bodies, as Drive is (gspread sends the non-v3 ``withLink`` field); errors use
Drive's older ``errors[]`` shape."""

from __future__ import annotations

import copy
import csv
import io
import random
import re
from typing import Any

from sheetsync.emulator.errors import drive_error, drive_not_found
from sheetsync.emulator.fieldmask import mask, project
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

OWNER_EMAIL = "emulator@sheetsync.local"
_FILE_DEFAULT = "kind,id,name,mimeType"
_TOKEN_RE = re.compile(r"\s*('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|!=|<=|>=|[=<>()]|[A-Za-z_][A-Za-z0-9_.]*)")


def _file(state: State, fid: str) -> dict[str, Any]:
    ss = state.spreadsheets.get(fid)
    if ss is not None:
        return _spreadsheet_file(ss)
    f = state.files.get(fid)
    if f is None:
        raise drive_not_found(fid)
    return copy.deepcopy(f)


def _spreadsheet_file(ss: Spreadsheet) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "drive#file", "id": ss.id, "name": ss.title, "mimeType": SPREADSHEET_MIME}
    if ss.parents:
        out["parents"] = list(ss.parents)
    out.update({
        "createdTime": ss.created,
        "modifiedTime": ss.modified,
        "trashed": False,
        "webViewLink": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit?usp=drivesdk",
        "owners": [{"kind": "drive#user", "emailAddress": OWNER_EMAIL, "displayName": "Emulator"}],
    })
    return out


def _fields(params: Params, default: str) -> dict | None:
    return mask(params.get("fields") or default)


def create(state: State, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    mime = body.get("mimeType") or "application/octet-stream"
    name = body.get("name") or "Untitled"
    parents = [p for p in body.get("parents") or [] if p]
    if mime == SPREADSHEET_MIME:
        ss = new_spreadsheet(body.get("name") or "Untitled spreadsheet")
        ss.parents = parents
        ss.permissions = [_owner_permission()]
        state.spreadsheets[ss.id] = ss
        return project(_spreadsheet_file(ss), _fields(params, _FILE_DEFAULT))
    now = now_iso()
    fid = new_id()[:33]
    state.files[fid] = {"kind": "drive#file", "id": fid, "name": name, "mimeType": mime, "parents": parents,
                        "createdTime": now, "modifiedTime": now, "trashed": False}
    return project(_file(state, fid), _fields(params, _FILE_DEFAULT))


def get(state: State, fid: str, params: Params) -> dict[str, Any]:
    return project(_file(state, fid), _fields(params, _FILE_DEFAULT))


def update(state: State, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    add = [p for p in (params.get("addParents") or "").split(",") if p]
    remove = [p for p in (params.get("removeParents") or "").split(",") if p]
    ss = state.spreadsheets.get(fid)
    if ss is not None:
        if body.get("name"):
            ss.props["title"] = body["name"]
        ss.parents = [p for p in ss.parents if p not in remove] + [p for p in add if p not in ss.parents]
        ss.modified = now_iso()
    else:
        f = state.files.get(fid)
        if f is None:
            raise drive_not_found(fid)
        if body.get("name"):
            f["name"] = body["name"]
        f["parents"] = [p for p in f["parents"] if p not in remove] + [p for p in add if p not in f["parents"]]
        f["modifiedTime"] = now_iso()
    return project(_file(state, fid), _fields(params, _FILE_DEFAULT))


def delete(state: State, fid: str) -> None:
    if state.spreadsheets.pop(fid, None) is None and state.files.pop(fid, None) is None:
        raise drive_not_found(fid)


def copy_file(state: State, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    src = state.spreadsheets.get(fid)
    if src is None:
        if fid in state.files:
            raise drive_error(400, "Only spreadsheets can be copied by the sheetsync emulator.", "invalid")
        raise drive_not_found(fid)
    dup = src.clone()
    dup.id = new_id()
    dup.props["title"] = body.get("name") or f"Copy of {src.title}"
    dup.parents = [p for p in body.get("parents") or [] if p] or list(src.parents)
    dup.created = dup.modified = now_iso()
    dup.permissions = [_owner_permission()]
    state.spreadsheets[dup.id] = dup
    return project(_spreadsheet_file(dup), _fields(params, _FILE_DEFAULT))


def export(state: State, fid: str, params: Params) -> tuple[bytes, str]:
    """files.export: CSV/TSV of the first sheet (the formats gspread's ``export`` asks for most)."""
    from sheetsync.emulator.values import read_block

    ss = state.spreadsheets.get(fid)
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


# ---- files.list and the q language -----------------------------------------------------------------------


def _tokens(q: str) -> list[str]:
    out, pos = [], 0
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(q, pos)
        if not m:
            raise _bad_q()
        out.append(m.group(1))
        pos = m.end()
    return out


def _bad_q():
    return drive_error(400, "Invalid Value", "invalid", location="q")


def _literal(tok: str) -> Any:
    if tok[:1] in ("'", '"'):
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    low = tok.lower()
    if low in ("true", "false"):
        return low == "true"
    raise _bad_q()


class _Query:
    """Recursive-descent parser for Drive's q: ``a = 'x' and (b != 'y' or 'p' in parents) and not ...``."""

    def __init__(self, q: str) -> None:
        self.toks = _tokens(q)
        self.i = 0
        self.tree = self._or() if self.toks else ("true",)
        if self.i != len(self.toks):
            raise _bad_q()

    def _peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _next(self) -> str:
        if self.i >= len(self.toks):
            raise _bad_q()
        self.i += 1
        return self.toks[self.i - 1]

    def _or(self):
        left = self._and()
        while (self._peek() or "").lower() == "or":
            self._next()
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._not()
        while (self._peek() or "").lower() == "and":
            self._next()
            left = ("and", left, self._not())
        return left

    def _not(self):
        if (self._peek() or "").lower() == "not":
            self._next()
            return ("not", self._not())
        if self._peek() == "(":
            self._next()
            inner = self._or()
            if self._next() != ")":
                raise _bad_q()
            return inner
        a = self._next()
        op = self._next()
        b = self._next()
        if op.lower() == "in":
            if a[:1] in ("'", '"'):
                return ("in", _literal(a), b)  # 'folder' in parents
            return ("in", _literal(b), a)  # parents in "folder" (as gspread writes it)
        if op.lower() == "contains":
            return ("contains", a, _literal(b))
        if op not in ("=", "!=", "<", ">", "<=", ">="):
            raise _bad_q()
        return ("cmp", a, op, _literal(b))

    def match(self, f: dict[str, Any], node=None) -> bool:
        node = node or self.tree
        kind = node[0]
        if kind == "true":
            return True
        if kind == "and":
            return self.match(f, node[1]) and self.match(f, node[2])
        if kind == "or":
            return self.match(f, node[1]) or self.match(f, node[2])
        if kind == "not":
            return not self.match(f, node[1])
        if kind == "in":
            value, field = node[1], node[2]
            if field not in ("parents", "owners", "writers", "readers"):
                raise _bad_q()
            if field == "parents":
                return value in f.get("parents", [])
            return True
        if kind == "contains":
            field, value = node[1], node[2]
            if field in ("name", "fullText"):
                return str(value).lower() in f.get("name", "").lower()
            if field == "mimeType":
                return str(value) in f.get("mimeType", "")
            raise _bad_q()
        _, field, op, value = node
        if field not in ("name", "mimeType", "trashed", "starred", "modifiedTime", "createdTime"):
            raise _bad_q()
        have = f.get(field, False if field in ("trashed", "starred") else "")
        ops = {"=": have == value, "!=": have != value, "<": have < value, ">": have > value,
               "<=": have <= value, ">=": have >= value}
        return ops[op]


def list_files(state: State, params: Params) -> dict[str, Any]:
    query = _Query(params.get("q") or "")
    files = [_spreadsheet_file(s) for s in state.spreadsheets.values()]
    files += [copy.deepcopy(f) for f in state.files.values()]
    files = [f for f in files if query.match(f)]
    files.sort(key=lambda f: f.get("modifiedTime", ""), reverse=True)
    size = min(max(params.int("pageSize", 100) or 100, 1), 1000)
    start = int(params.get("pageToken") or 0)
    page = files[start : start + size]
    out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False, "files": page}
    if start + size < len(files):
        out["nextPageToken"] = str(start + size)
    default = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"
    return project(out, _fields(params, default))


# ---- permissions ---------------------------------------------------------------------------------------


def _owner_permission() -> dict[str, Any]:
    return {"kind": "drive#permission", "id": "00000000000000000000", "type": "user", "role": "owner",
            "emailAddress": OWNER_EMAIL, "displayName": "Emulator"}


def _perms(state: State, fid: str) -> list[dict[str, Any]]:
    ss = state.spreadsheets.get(fid)
    if ss is not None:
        return ss.permissions
    f = state.files.get(fid)
    if f is None:
        raise drive_not_found(fid)
    return f.setdefault("permissions", [_owner_permission()])


def create_permission(state: State, fid: str, params: Params, body: dict | None) -> dict[str, Any]:
    body = body or {}
    perms = _perms(state, fid)
    ptype, role = body.get("type"), body.get("role")
    if ptype not in ("user", "group", "domain", "anyone"):
        raise drive_error(400, "The permission type field is required.", "required", location="permission.type")
    if role not in ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
        raise drive_error(400, "The permission role field is required.", "required", location="permission.role")
    if ptype in ("user", "group") and not body.get("emailAddress"):
        raise drive_error(400, "The permission emailAddress field is required.", "required",
                          location="permission.emailAddress")
    if ptype == "domain" and not body.get("domain"):
        raise drive_error(400, "The permission domain field is required.", "required", location="permission.domain")
    existing = [p["id"] for p in perms if p.get("emailAddress", p.get("domain")) == body.get("emailAddress", body.get("domain")) and p["type"] == ptype]
    perm: dict[str, Any] = {"kind": "drive#permission", "id": existing[0] if existing else f"{random.randint(10**19, 10**20 - 1)}",
                            "type": ptype, "role": role}
    for key in ("emailAddress", "domain", "allowFileDiscovery", "expirationTime"):
        if body.get(key) is not None:
            perm[key] = body[key]
    perms[:] = [p for p in perms if p["id"] != perm["id"]] + [perm]
    return project(perm, _fields(params, "kind,id,type,role"))


def list_permissions(state: State, fid: str, params: Params) -> dict[str, Any]:
    perms = copy.deepcopy(_perms(state, fid))
    return project({"kind": "drive#permissionList", "permissions": perms},
                   _fields(params, "kind,nextPageToken,permissions(kind,id,type,role,emailAddress,domain)"))


def get_permission(state: State, fid: str, pid: str, params: Params) -> dict[str, Any]:
    for p in _perms(state, fid):
        if p["id"] == pid:
            return project(copy.deepcopy(p), _fields(params, "kind,id,type,role"))
    raise drive_error(404, f"Permission not found: {pid}.", "notFound", location="permissionId")


def delete_permission(state: State, fid: str, pid: str) -> None:
    perms = _perms(state, fid)
    if not any(p["id"] == pid for p in perms):
        raise drive_error(404, f"Permission not found: {pid}.", "notFound", location="permissionId")
    perms[:] = [p for p in perms if p["id"] != pid]


def list_comments(state: State, fid: str) -> dict[str, Any]:
    _file(state, fid)
    return {"kind": "drive#commentList", "comments": []}


__all__ = ["FOLDER_MIME", "create", "get", "list_files"]
