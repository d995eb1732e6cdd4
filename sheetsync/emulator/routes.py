"""Routing: the Sheets v4 and Drive v3 paths, on the raw (still percent-encoded) path.

Routing happens before any decoding: a range's ``:`` arrives as ``%3A`` while the verb's ``:`` (``:append``,
``:batchUpdate``) is literal, and a ``/`` inside a sheet title arrives as ``%2F``; each segment is decoded
on its own after the split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sheetsync.emulator import batch_update, drive, drive_permissions, spreadsheets, values, values_filter
from sheetsync.emulator.drive_access import caller_cannot, sheets_access
from sheetsync.emulator.errors import ApiError, invalid_argument, not_found
from sheetsync.emulator.identity import ANONYMOUS_PRINCIPAL, Principal
from sheetsync.emulator.model import State
from sheetsync.emulator.params import Params

_VALUE_VERBS = ("append", "clear")
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> as is; None -> empty
    content_type: str = JSON_TYPE
    headers: dict[str, str] | None = None


def split_verb(segment: str, verbs: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """``abc:batchUpdate`` -> (``abc``, ``batchUpdate``). With ``verbs``, only those count as a verb (a range
    written with a literal ``:`` stays whole)."""
    if ":" not in segment:
        return segment, None
    head, _, verb = segment.rpartition(":")
    if verbs is not None and verb not in verbs:
        return segment, None
    return head, verb


@dataclass
class Call:
    """Who is calling and what the emulator's settings say about it."""

    caller: Principal = field(default_factory=lambda: ANONYMOUS_PRINCIPAL)
    write: bool = False  # a Sheets write (needs writer access)
    locale: str = "en_US"  # the locale of spreadsheets created through Drive


def route(state: State, method: str, segs: list[str], params: Params, body: Any, call: Call | None = None) -> Reply:
    """Answer one Sheets or Drive request (token and control paths are the server's)."""
    call = call or Call()
    if segs[:2] == ["v4", "spreadsheets"]:
        return _sheets(state, call, method, segs[2:], params, body)
    if segs[:3] == ["drive", "v3", "files"]:
        return _drive(state, call, method, [unquote(s) for s in segs[3:]], params, body)
    raise not_found()


def _sheets(st: State, call: Call, method: str, segs: list[str], params: Params, body: Any) -> Reply:
    if not segs:
        if method == "POST":
            if call.caller.service_account and not call.caller.drive_storage:
                raise caller_cannot()  # it would own the file in a My Drive it has no storage for
            return Reply(body=spreadsheets.create(st, body, owner=call.caller.email, locale=call.locale))
        raise not_found()
    sid_raw, verb = split_verb(segs[0])
    sid = unquote(sid_raw)
    sheets_access(st, call.caller, sid, call.write)
    if len(segs) == 1:
        if verb is None and method == "GET":
            return Reply(body=spreadsheets.get(st, sid, params))
        if verb == "batchUpdate" and method == "POST":
            return Reply(body=batch_update.batch_update(st, sid, body))
        if verb == "getByDataFilter" and method == "POST":
            return Reply(body=spreadsheets.get_by_data_filter(st, sid, body))
        raise not_found()
    sub, sub_verb = split_verb(segs[1])
    if sub == "values":
        if len(segs) == 2:
            if sub_verb == "batchGet" and method == "GET":
                return Reply(body=values.batch_get(st, sid, params))
            if sub_verb == "batchUpdate" and method == "POST":
                return Reply(body=values.batch_update(st, sid, body))
            if sub_verb == "batchClear" and method == "POST":
                return Reply(body=values.batch_clear(st, sid, body))
            if sub_verb == "batchGetByDataFilter" and method == "POST":
                return Reply(body=spreadsheets.batch_get_by_data_filter(st, sid, body))
            if sub_verb == "batchUpdateByDataFilter" and method == "POST":
                return Reply(body=values_filter.batch_update_by_data_filter(st, sid, body))
            if sub_verb == "batchClearByDataFilter" and method == "POST":
                return Reply(body=values_filter.batch_clear_by_data_filter(st, sid, body))
            raise not_found()
        if len(segs) == 3:
            rng_raw, rverb = split_verb(segs[2], _VALUE_VERBS)
            rng = unquote(rng_raw)
            if rverb is None and method == "GET":
                return Reply(body=values.get(st, sid, rng, params))
            if rverb is None and method == "PUT":
                return Reply(body=values.update(st, sid, rng, params, body))
            if rverb == "append" and method == "POST":
                return Reply(body=values.append(st, sid, rng, params, body))
            if rverb == "clear" and method == "POST":
                return Reply(body=values.clear(st, sid, rng, body))
        raise not_found()
    if sub == "developerMetadata":
        if len(segs) == 2 and sub_verb == "search" and method == "POST":
            return Reply(body=spreadsheets.search_metadata(st, sid, body))
        if len(segs) == 3 and method == "GET":
            return Reply(body=spreadsheets.get_metadata(st, sid, unquote(segs[2])))
    if sub == "sheets" and len(segs) == 3 and method == "POST":
        sheet_raw, sverb = split_verb(segs[2])
        if sverb == "copyTo":
            sheets_access(st, call.caller, str((body or {}).get("destinationSpreadsheetId") or ""), True)
            return Reply(body=spreadsheets.copy_to(st, sid, unquote(sheet_raw), body))
    raise not_found()


def _drive(st: State, call: Call, method: str, segs: list[str], params: Params, body: Any) -> Reply:
    who = call.caller
    if not segs:
        if method == "GET":
            return Reply(body=drive.list_files(st, who, params))
        if method == "POST":
            return Reply(body=drive.create(st, who, params, body, call.locale))
        raise not_found()
    fid = segs[0]
    if len(segs) == 1:
        if method == "GET":
            return Reply(body=drive.get(st, who, fid, params))
        if method == "PATCH":
            return Reply(body=drive.update(st, who, fid, params, body))
        if method == "DELETE":
            drive.delete(st, who, fid, params)
            return Reply(status=204)
    elif segs[1] == "copy" and method == "POST" and len(segs) == 2:
        return Reply(body=drive.copy_file(st, who, fid, params, body))
    elif segs[1] == "export" and method == "GET" and len(segs) == 2:
        data, mime = drive.export(st, who, fid, params)
        return Reply(body=data, content_type=mime)
    elif segs[1] == "comments" and method == "GET" and len(segs) == 2:
        return Reply(body=drive.list_comments(st, who, fid, params))
    elif segs[1] == "permissions":
        if len(segs) == 2 and method == "POST":
            return Reply(body=drive_permissions.create_permission(st, who, fid, params, body))
        if len(segs) == 2 and method == "GET":
            return Reply(body=drive_permissions.list_permissions(st, who, fid, params))
        if len(segs) == 3 and method == "GET":
            return Reply(body=drive_permissions.get_permission(st, who, fid, segs[2], params))
        if len(segs) == 3 and method == "DELETE":
            drive_permissions.delete_permission(st, who, fid, segs[2], params)
            return Reply(status=204)
    raise not_found()


def classify(method: str, segs: list[str]) -> str:
    """Which quota a request counts against, as Google counts: reads retrieve, writes change. Also
    ``drive`` (Drive's own quota), ``token`` (the fake OAuth endpoint) and ``control`` (/_emulator/)."""
    if segs[:1] == ["_emulator"]:
        return "control"
    if segs and segs[-1] == "token":
        return "token"
    if segs[:1] in (["drive"], ["upload"]):
        return "drive"
    if method == "GET":
        return "read"
    last = segs[-1] if segs else ""
    if last.endswith((":getByDataFilter", ":batchGetByDataFilter", ":search")):
        return "read"
    return "write"


def parse_body(data: bytes, lenient: bool) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        if lenient:
            return None
        raise invalid_argument("Invalid JSON payload received. Unexpected token.") from None


def error_reply(err: ApiError) -> Reply:
    return Reply(status=err.code, body=err.body(), headers=err.headers)
