"""SheetsyncHTTPClient: routing, timeout, bounded jittered retries honouring Retry-After."""

from __future__ import annotations

import random

import gspread
import pytest
from google.auth.credentials import AnonymousCredentials

from sheetsync.backends.google_http import RetriesExhaustedError, SheetsyncHTTPClient, client_for_emulator


def make(em, **kw):
    sleeps: list[float] = []
    client = client_for_emulator(em.address, sleep=sleeps.append, rng=random.Random(1), **kw)
    return client, sleeps


def test_rewrites_google_hosts_and_sets_timeout(monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", "127.0.0.1:9")
    http = SheetsyncHTTPClient(AnonymousCredentials())
    assert http.rewrite("https://sheets.googleapis.com/v4/spreadsheets/x") == "http://127.0.0.1:9/v4/spreadsheets/x"
    assert http.rewrite("https://www.googleapis.com/drive/v3/files") == "http://127.0.0.1:9/drive/v3/files"
    assert http.timeout == 30.0
    monkeypatch.delenv("SHEETS_EMULATOR_HOST")
    assert SheetsyncHTTPClient(AnonymousCredentials()).rewrite("https://sheets.googleapis.com/v4") == "https://sheets.googleapis.com/v4"


def test_full_jitter_backoff_is_bounded(sheets_emulator):
    client, sleeps = make(sheets_emulator, max_attempts=4, base_delay=1.0, max_delay=3.0)
    sh = client.create("R")
    sheets_emulator.add_fault("503", path_contains="/values/", count=10)
    with pytest.raises(RetriesExhaustedError) as info:
        sh.sheet1.get_all_values()
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, (1.0, 2.0, 3.0), strict=True))
    assert len(set(sleeps)) == 3  # jittered, not a fixed ladder
    message = str(info.value)
    assert "failed 4 time(s)" in message and "HTTP 503" in message and "run the command again" in message
    assert info.value.attempts == 4 and info.value.status == 503


def test_retry_after_is_honoured(sheets_emulator):
    client, sleeps = make(sheets_emulator)
    sh = client.create("R")
    sheets_emulator.add_fault("429", path_contains="/values/", seconds=7)
    sh.sheet1.get_all_values()
    assert sleeps == [7.0]


def test_total_wait_cap_gives_up_early(sheets_emulator):
    client, sleeps = make(sheets_emulator, quota_wait_max=10)  # 429s: the quota wait budget bounds them
    sh = client.create("R")
    sheets_emulator.add_fault("429", path_contains="/values/", seconds=6, count=5)
    with pytest.raises(RetriesExhaustedError, match="refused 2 time"):
        sh.sheet1.get_all_values()
    assert sleeps == [6.0]


def test_client_errors_are_not_retried(sheets_emulator):
    client, sleeps = make(sheets_emulator)
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        client.open_by_key("nope")
    sh = client.create("R")
    with pytest.raises(gspread.exceptions.APIError):
        sh.sheet1.get("Nope!A1")
    assert sleeps == []


def test_drive_usage_limits_403_is_retried(monkeypatch):
    import requests

    class Resp(requests.Response):
        def __init__(self, code: int, body: bytes) -> None:
            super().__init__()
            self.status_code, self._content = code, body

    answers = [Resp(403, b'{"error":{"code":403,"message":"Rate","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}'),
               Resp(200, b"{}")]
    sleeps: list[float] = []
    session = requests.Session()
    monkeypatch.setattr(session, "request", lambda *a, **k: answers.pop(0))
    http = SheetsyncHTTPClient(None, session, emulator_host="h:1", sleep=sleeps.append)
    assert http.request("get", "https://www.googleapis.com/drive/v3/files").status_code == 200
    assert len(sleeps) == 1
