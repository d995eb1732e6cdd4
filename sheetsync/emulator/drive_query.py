"""files.list: Drive's ``q`` language and which files a caller's list can return.

``q`` (developers.google.com/workspace/drive/api/guides/search-files): comparisons on name, mimeType,
trashed, starred, modifiedTime, createdTime; ``'id' in parents``; ``name contains 'x'``; ``not``, ``and``,
``or``, parentheses; and ``appProperties has { key='k' and value='v' }`` / ``properties has {...}``
(guides/properties). A term the emulator does not know is a 400 ``invalid`` on ``q``, as Google answers.

Visibility (files.list parameters in the drive.v3 discovery document; guides/enable-shareddrives):

* ``corpora`` defaults to ``user``: the caller's My Drive files and files shared with it, plus shared-drive
  files only if it created or opened them; ``drive`` (with ``driveId``) searches one shared drive,
  ``allDrives`` every drive the caller is a member of.
* Shared-drive items are returned only with ``includeItemsFromAllDrives=true``, and only to an app that
  says ``supportsAllDrives=true`` (no source shows Google *refusing* includeItemsFromAllDrives without
  supportsAllDrives, so the emulator leaves such items out rather than inventing an error).
* ``driveId`` without ``corpora=drive`` (or the reverse): 403 teamDriveIdRequiresTeamDriveCorpora
  (googleapis/google-api-php-client#1825). ``corpora=drive|allDrives`` or ``driveId`` without
  ``includeItemsFromAllDrives=true``: 403 "The includeItemsFromAllDrives parameter must be set to true
  when driveId is specified or corpora contains drive or allDrives." (nithinmurali/pygsheets#437; the
  reason code there is not shown, ``teamDriveItemsRequired`` is the emulator's guess).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from sheetsync.emulator.drive_access import Meta, is_member, role
from sheetsync.emulator.errors import drive_error
from sheetsync.emulator.fieldmask import mask, project
from sheetsync.emulator.identity import Principal
from sheetsync.emulator.model import State
from sheetsync.emulator.params import Params

_TOKEN_RE = re.compile(r"\s*('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|!=|<=|>=|[=<>(){}]|[A-Za-z_][A-Za-z0-9_.]*)")
_CORPORA = ("user", "domain", "drive", "allDrives")
_LIST_DEFAULT = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"


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


class Query:
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
        if op.lower() == "has" and a in ("appProperties", "properties"):
            return self._has(a)
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

    def _has(self, field: str):
        """``{ key='k' and value='v' }``: both parts, in this order, as the properties guide writes them."""
        parts = [self._next() for _ in range(9)]
        if (parts[0] != "{" or parts[1] != "key" or parts[2] != "=" or parts[4].lower() != "and"
                or parts[5] != "value" or parts[6] != "=" or parts[8] != "}"):
            raise _bad_q()
        return ("has", field, str(_literal(parts[3])), str(_literal(parts[7])))

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
        if kind == "has":
            return (f.get(node[1]) or {}).get(node[2]) == node[3]
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


def _check_corpora(state: State, caller: Principal, params: Params) -> tuple[str, str | None, bool]:
    corpora = params.get("corpora") or "user"
    if corpora not in _CORPORA:
        raise drive_error(400, f"Invalid string value: '{corpora}'. Allowed values: [{', '.join(_CORPORA)}]",
                          "invalid", location="corpora")
    drive_id = params.get("driveId") or None
    include = params.bool("includeItemsFromAllDrives") or params.bool("includeTeamDriveItems")
    if (drive_id is not None) != (corpora == "drive"):
        raise drive_error(403, "The driveId parameter must be specified if and only if corpora is set to drive.",
                          "teamDriveIdRequiresTeamDriveCorpora")
    if (corpora in ("drive", "allDrives") or drive_id) and not include:
        raise drive_error(403, "The includeItemsFromAllDrives parameter must be set to true when driveId is "
                          "specified or corpora contains drive or allDrives.", "teamDriveItemsRequired")
    if drive_id is not None and not is_member(state, caller, drive_id):
        raise drive_error(404, f"Shared drive not found: {drive_id}", "notFound", location="driveId")
    return corpora, drive_id, include and params.bool("supportsAllDrives")


def list_files(state: State, caller: Principal, params: Params,
               resource: Callable[[State, str], dict[str, Any]]) -> dict[str, Any]:
    """files.list; ``resource(state, id)`` builds a file's full JSON."""
    query = Query(params.get("q") or "")
    corpora, drive_id, shared_too = _check_corpora(state, caller, params)
    found = []
    for fid in list(state.spreadsheets) + list(state.files):
        meta = Meta(state, fid)
        if meta.drive_id is None:
            visible = corpora != "drive" and role(state, caller, meta) is not None
        elif not shared_too or not is_member(state, caller, meta.drive_id):
            visible = False
        elif corpora == "drive":
            visible = meta.drive_id == drive_id
        elif corpora == "allDrives":
            visible = True
        else:  # user / domain: the shared-drive files this caller created or opened
            visible = caller.anonymous or caller.email.lower() in meta.viewers
        if visible:
            f = resource(state, fid)
            if query.match(f):
                found.append(f)
    found.sort(key=lambda f: f.get("modifiedTime", ""), reverse=True)
    size = min(max(params.int("pageSize", 100) or 100, 1), 1000)
    start = int(params.get("pageToken") or 0)
    out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                           "files": [copy.deepcopy(f) for f in found[start:start + size]]}
    if start + size < len(found):
        out["nextPageToken"] = str(start + size)
    return project(out, mask(params.get("fields") or _LIST_DEFAULT))
