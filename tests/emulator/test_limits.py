"""Google's hard edges: the 10 MiB body limit, per-minute per-user quotas without Retry-After, latency."""

from __future__ import annotations

import json
import time

import gspread
import pytest
import requests

from sheetsync.backends.google_http import RetriesExhaustedError, client_for_emulator
from sheetsync.emulator import Emulator
from sheetsync.emulator.latency import REALISTIC_LATENCY
from sheetsync.emulator.quotas import GOOGLE_QUOTAS
from sheetsync.emulator.server import MAX_BODY_BYTES
from tests.emulator.helpers import call, error, ok

TOO_BIG = "Request payload size exceeds the limit: 10485760 bytes."


def post_raw(em: Emulator, path: str, data: bytes, **headers: str) -> requests.Response:
    return requests.post(em.url + path, data=data, headers={"Content-Type": "application/json", **headers}, timeout=30)


def padded(body: dict, size: int) -> bytes:
    """``body`` as JSON followed by spaces up to exactly ``size`` bytes (JSON allows trailing blanks)."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


# ---- request body size ---------------------------------------------------------------------------------


def test_a_body_over_10_mib_is_refused_and_nothing_is_applied(gspread_client, sheets_emulator):
    sh = gspread_client.create("Big")
    body = {"requests": [{"addSheet": {"properties": {"title": "Half-built"}}},
                         {"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValue",
                                          "rows": [{"values": [{"userEnteredValue": {"stringValue": "x" * 900}}]}
                                                   for _ in range(12_000)]}}]}
    raw = json.dumps(body).encode()
    assert len(raw) > MAX_BODY_BYTES
    resp = post_raw(sheets_emulator, f"/v4/spreadsheets/{sh.id}:batchUpdate", raw)
    assert resp.status_code == 400
    assert resp.json() == {"error": {"code": 400, "message": TOO_BIG, "status": "INVALID_ARGUMENT"}}
    assert [s.title for s in sheets_emulator.spreadsheet(sh.id).sheets] == ["Sheet1"]
    with pytest.raises(gspread.exceptions.APIError, match="Request payload size exceeds the limit"):
        sh.batch_update(body)  # the real client sees Google's 400 too
    assert [e.status for e in sheets_emulator.request_log if ":batchUpdate" in e.path] == [400, 400]


def test_a_body_of_exactly_the_limit_is_accepted(gspread_client, sheets_emulator):
    sh = gspread_client.create("Edge")
    body = {"requests": [{"addSheet": {"properties": {"title": "Fits"}}}]}
    url = f"/v4/spreadsheets/{sh.id}:batchUpdate"
    assert post_raw(sheets_emulator, url, padded(body, MAX_BODY_BYTES)).status_code == 200
    assert post_raw(sheets_emulator, url, padded(body, MAX_BODY_BYTES + 1)).status_code == 400
    assert [s.title for s in sheets_emulator.spreadsheet(sh.id).sheets] == ["Sheet1", "Fits"]


def test_the_body_limit_is_configurable_and_covers_drive(sheets_emulator):
    sheets_emulator.set_limits(max_body_bytes=200)
    created = post_raw(sheets_emulator, "/drive/v3/files", padded({"name": "a", "mimeType": "text/plain"}, 201))
    assert error(created, 400)["message"] == "Request payload size exceeds the limit: 200 bytes."
    assert sheets_emulator.state.files == {}
    ok(call(sheets_emulator, "POST", "/_emulator/limits", {"max_body_bytes": 10}))
    assert ok(call(sheets_emulator, "GET", "/_emulator/config"))["max_body_bytes"] == 10
    sheets_emulator.reset()
    assert sheets_emulator.max_body_bytes == MAX_BODY_BYTES


# ---- quotas --------------------------------------------------------------------------------------------


def test_quota_429_has_googles_body_and_no_retry_after(gspread_client, sheets_emulator):
    sh = gspread_client.create("Q")
    sheets_emulator.set_quotas(read_per_minute=2)
    url = f"/v4/spreadsheets/{sh.id}"
    ok(call(sheets_emulator, "GET", url))
    ok(call(sheets_emulator, "GET", url))
    resp = call(sheets_emulator, "GET", url)
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    err = resp.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED" and "'Read requests per minute per user'" in err["message"]
    assert err["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert err["details"][0]["metadata"]["quota_limit"] == "ReadRequestsPerMinutePerUser"
    assert err["details"][0]["metadata"]["quota_limit_value"] == "2"
    ok(call(sheets_emulator, "POST", f"{url}:batchUpdate", {"requests": []}))  # writes are a separate quota
    ok(call(sheets_emulator, "GET", "/drive/v3/files"))  # Drive is not a Sheets quota
    sheets_emulator.set_quotas()
    ok(call(sheets_emulator, "GET", url))


def test_a_batch_update_counts_once_however_many_subrequests(gspread_client, sheets_emulator):
    sh = gspread_client.create("Once")
    sheets_emulator.set_quotas(write_per_minute=1)
    many = [{"addSheet": {"properties": {"title": f"T{i}"}}} for i in range(50)]
    ok(call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}:batchUpdate", {"requests": many}))
    assert call(sheets_emulator, "POST", f"/v4/spreadsheets/{sh.id}:batchUpdate", {"requests": []}).status_code == 429
    assert len(sheets_emulator.spreadsheet(sh.id).sheets) == 51


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked():
    clock = Clock()
    with Emulator(clock=clock) as em:
        em.clock = clock
        yield em


def write(em: Emulator, sid: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{em.url}/v4/spreadsheets/{sid}:batchUpdate", json={"requests": []}, headers=headers,
                         timeout=10)


def test_the_window_refills_once_a_minute(clocked):
    sid = client_for_emulator(clocked.address).create("W").id
    clocked.set_quotas(write_per_minute=2)
    assert [write(clocked, sid).status_code for _ in range(3)] == [200, 200, 429]
    clocked.clock.now += 59.9
    assert write(clocked, sid).status_code == 429  # a short backoff does not help: the minute is not over
    clocked.clock.now += 0.1
    assert [write(clocked, sid).status_code for _ in range(3)] == [200, 200, 429]


def test_steady_refill_and_the_optional_retry_after(clocked):
    sid = client_for_emulator(clocked.address).create("S").id
    clocked.set_quotas(write_per_minute=60, refill="steady", retry_after=True)
    assert all(write(clocked, sid).status_code == 200 for _ in range(60))
    refused = write(clocked, sid)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clocked.clock.now += 1.0
    assert [write(clocked, sid).status_code for _ in range(2)] == [200, 429]
    clocked.set_quotas(write_per_minute=1, retry_after=True)
    write(clocked, sid)
    clocked.clock.now += 20
    assert write(clocked, sid).headers["Retry-After"] == "40"  # until the minute that began 20 s ago ends


def test_quotas_are_per_user_and_per_project(clocked):
    sh = client_for_emulator(clocked.address).create("U")
    sid = sh.id
    alice, bob = (clocked.add_principal(f"{n}@example.com") for n in ("alice", "bob"))
    for p in (alice, bob):
        sh.share(p.email, perm_type="user", role="writer", notify=False)
    clocked.set_quotas(write_per_minute=2, project_write_per_minute=5)
    assert [write(clocked, sid, alice.token).status_code for _ in range(3)] == [200, 200, 429]
    assert [write(clocked, sid, bob.token).status_code for _ in range(2)] == [200, 200]
    assert write(clocked, sid).status_code == 200  # anonymous is a third user
    refused = write(clocked, sid)  # 5 of the project's writes are spent
    assert refused.status_code == 429
    assert refused.json()["error"]["details"][0]["metadata"]["quota_limit"] == "WriteRequestsPerMinutePerProject"
    assert "'Write requests per minute'" in refused.json()["error"]["message"]
    assert [e.identity for e in clocked.request_log if e.kind == "write"][:3] == ["alice@example.com"] * 3


def test_quota_controls_over_http_and_the_realistic_preset(sheets_emulator):
    got = ok(call(sheets_emulator, "POST", "/_emulator/quotas", {"read_per_minute": 60, "refill": "steady"}))
    assert got["read_per_minute"] == 60 and got["write_per_minute"] is None and got["refill"] == "steady"
    assert error(call(sheets_emulator, "POST", "/_emulator/quotas", {"reads": 1}))["message"].startswith(
        "/_emulator/quotas: unknown quota settings")
    em = Emulator(realistic=True)
    assert em.quotas.config == GOOGLE_QUOTAS and em.latency == REALISTIC_LATENCY
    assert (GOOGLE_QUOTAS.read_per_minute, GOOGLE_QUOTAS.write_per_minute) == (60, 60)
    assert Emulator().quotas.config.read_per_minute is None and not Emulator().latency.active


# ---- latency -------------------------------------------------------------------------------------------


def test_latency_per_request_and_per_kb(gspread_client, sheets_emulator):
    sh = gspread_client.create("Slow")
    url = f"/v4/spreadsheets/{sh.id}/values/A1"
    sheets_emulator.set_latency(per_request=0.3)
    started = time.monotonic()
    ok(call(sheets_emulator, "GET", url))
    assert time.monotonic() - started >= 0.3  # a lower bound only: a loaded machine is slower, never faster
    sheets_emulator.set_latency(per_kb=0.1)
    body = {"values": [["x" * 5000]]}
    started = time.monotonic()
    ok(call(sheets_emulator, "PUT", url, body, valueInputOption="RAW"))
    assert time.monotonic() - started >= 0.1 * 5000 / 1024
    assert ok(call(sheets_emulator, "POST", "/_emulator/latency", {"per_request": 0.5}))["per_request"] == 0.5
    sheets_emulator.reset()
    assert not sheets_emulator.latency.active


def test_a_client_timing_out_on_a_slow_answer_finds_the_write_applied(sheets_emulator):
    client = client_for_emulator(sheets_emulator.address, timeout=0.3, max_attempts=1)
    sh = client.create("T")
    ws = sh.sheet1
    sheets_emulator.set_latency(per_request=1.5)
    with pytest.raises(RetriesExhaustedError, match="failed 1 time"):
        ws.update([["landed"]], "A1")
    assert sheets_emulator.spreadsheet(sh.id).sheet("Sheet1").values() == [["landed"]]
