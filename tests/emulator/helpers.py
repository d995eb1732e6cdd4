"""Raw-HTTP helpers for bodies gspread never sends."""

from __future__ import annotations

from typing import Any

import requests

from sheetsync.emulator import Emulator


def call(em: Emulator, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    return requests.request(method, em.url + path, json=body, params=params or None, timeout=10)


def batch(em: Emulator, sid: str, *reqs: dict, **extra: Any) -> requests.Response:
    return call(em, "POST", f"/v4/spreadsheets/{sid}:batchUpdate", {"requests": list(reqs), **extra})


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def error(resp: requests.Response, code: int = 400) -> dict:
    assert resp.status_code == code, resp.text
    return resp.json()["error"]
