"""The Google transport through the real gspread client over HTTP against the emulator: pacing inside the
per-minute quota, backoff that outlasts the window, which requests may be repeated, and what the user is
told (issue 10; issue 14 for the emulator-down message)."""

from __future__ import annotations

import random
import socket

import pytest
import requests
from click.testing import CliRunner

from sheetsync.backends.google_http import RetriesExhaustedError, client_for_emulator, safe_to_repeat
from sheetsync.backends.google_pacing import READ, WRITE, Pacer, request_kind
from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.errors import BackendError, ConfigError


class FakeTime:
    """A clock that only moves when someone sleeps: a minute of quota traffic in milliseconds."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(sheets_emulator) -> FakeTime:
    t = FakeTime()
    sheets_emulator.quotas.clock = t.clock  # the emulator's quota buckets run on the same clock
    return t


def paced_client(em, t: FakeTime, *, reads: int = 60, writes: int = 60, pace: bool = True, **kw):
    pacer = Pacer(reads, writes, clock=t.clock, sleep=t.sleep) if pace else None
    notes: list[str] = []
    client = client_for_emulator(em.address, pacer=pacer, sleep=t.sleep, rng=random.Random(7),
                                 notify=notes.append, **kw)
    return client, notes


def statuses(em) -> list[int]:
    return [e.status for e in em.request_log]


# ------------------------------------------------------------------------------------------- pacing


def test_pacing_keeps_a_long_run_inside_the_quota(sheets_emulator, fake_time):
    """150 reads and 130 writes against Google's 60 + 60 per minute: no 429 at all, and the run takes
    the two minutes the quota needs, not more."""
    client, notes = paced_client(sheets_emulator, fake_time)
    sh = client.create("Paced")
    sheets_emulator.set_quotas(60, 60)
    sheets_emulator.clear_log()
    start = fake_time.now
    for i in range(150):
        client.http_client.values_get(sh.id, "Sheet1!A1:B2")
        if i < 130:
            client.http_client.values_update(sh.id, f"Sheet1!A{i + 1}", params={"valueInputOption": "RAW"},
                                             body={"values": [[str(i)]]})
    assert statuses(sheets_emulator).count(200) == 280 and 429 not in statuses(sheets_emulator)
    assert 119.0 <= fake_time.now - start <= 121.0  # reads 121..150 go out in the third minute
    assert notes and all("Pacing read requests to 60 a minute" in n and "[google] reads_per_minute" in n
                         for n in notes)  # the reads' waits pace the interleaved writes too


def test_without_pacing_the_same_run_provokes_429s(sheets_emulator, fake_time):
    """The control for the test above: the emulator's quota is real, so an unpaced client hits it."""
    client, _ = paced_client(sheets_emulator, fake_time, pace=False)
    sh = client.create("Unpaced")
    sheets_emulator.set_quotas(60, 60)
    sheets_emulator.clear_log()
    for _ in range(90):
        client.http_client.values_get(sh.id, "Sheet1!A1")
    assert statuses(sheets_emulator).count(429) >= 1
    assert statuses(sheets_emulator).count(200) == 90  # and the backoff still got every read through


def test_pacer_is_a_sliding_window_per_kind():
    t = FakeTime()
    pacer = Pacer(3, 2, clock=t.clock, sleep=t.sleep)
    assert [pacer.reserve(READ) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(WRITE) == 0.0  # reads and writes have separate quotas
    assert pacer.reserve(READ) == 60.0  # the 4th read waits for the 1st to leave the window
    t.now += 30
    assert pacer.reserve(READ) == 30.0  # queued behind the 4th: the 2nd leaves at 60 s
    assert pacer.reserve("drive") == 0.0  # Drive is not paced (its quota is far larger)
    off = Pacer(0, 0, clock=t.clock, sleep=t.sleep)
    assert all(off.reserve(READ) == 0.0 for _ in range(100))


def test_reads_and_writes_are_classified_as_google_counts_them(sheets_emulator, gspread_client):
    """Our classification agrees with the emulator's (which documents Google's rule) on every request
    gspread sends for a typical session."""
    sh = gspread_client.create("Kinds")
    ws = sh.sheet1
    ws.update(values=[["a", "b"]], range_name="A1")
    ws.get_all_values()
    ws.batch_clear(["A1"])
    sh.batch_update({"requests": [{"updateSheetProperties": {"properties": {"sheetId": ws.id, "title": "T"},
                                                              "fields": "title"}}]})
    sh.values_batch_get(["T!A1"])
    sh.fetch_sheet_metadata()
    gspread_client.list_spreadsheet_files()
    seen = {(e.method, e.path, e.kind) for e in sheets_emulator.request_log if e.kind != "control"}
    assert {k for _, _, k in seen} == {"read", "write", "drive"}
    for method, path, kind in seen:
        assert request_kind(method, f"http://h{path}") == kind, (method, path)


# ------------------------------------------------------------------------------------ backoff on 429


def test_a_429_without_retry_after_backs_off_until_the_window_refills(sheets_emulator, fake_time):
    """Google's per-minute quota sends no Retry-After: the waits grow exponentially and add up to more
    than what is left of the minute, so the request gets through instead of failing after ~15 s."""
    client, notes = paced_client(sheets_emulator, fake_time, pace=False)
    sh = client.create("Backoff")
    sheets_emulator.set_quotas(read_per_minute=5)  # window refill, no Retry-After: Google's shape
    start = fake_time.now
    for _ in range(6):
        client.http_client.values_get(sh.id, "Sheet1!A1")
    log = sheets_emulator.request_log
    assert [e.status for e in log if e.kind == "read"][:5] == [200] * 5
    refused = [e for e in log if e.status == 429]
    assert refused and log[-1].status == 200
    assert fake_time.now - start >= 60  # outlasted the window
    assert len(fake_time.sleeps) == len(refused) <= 7  # a handful of growing waits, not a flood
    assert all(b > a / 2 for a, b in zip(fake_time.sleeps, fake_time.sleeps[1:], strict=False))
    assert len(notes) == len(refused)
    assert notes[0].startswith("Waiting ") and "per-minute quota for read requests to refill" in notes[0]
    assert "[google] quota_wait_max" in notes[0]


def test_a_quota_that_never_refills_gives_up_after_quota_wait_max(sheets_emulator, fake_time):
    client, notes = paced_client(sheets_emulator, fake_time, pace=False, quota_wait_max=100)
    sh = client.create("Never")
    sheets_emulator.set_quotas(write_per_minute=0)
    with pytest.raises(RetriesExhaustedError) as info:
        client.http_client.values_update(sh.id, "Sheet1!A1", params={"valueInputOption": "RAW"},
                                         body={"values": [["x"]]})
    assert sum(fake_time.sleeps) == pytest.approx(100)  # the whole budget, and not a second more
    message = str(info.value)
    assert "per-minute quota for write requests was used up (HTTP 429)" in message
    assert "still after waiting 100s" in message and "[google] quota_wait_max" in message
    assert info.value.status == 429 and info.value.attempts == len(fake_time.sleeps) + 1


def test_the_cli_says_on_stderr_that_it_waits_for_the_quota(sheets_emulator, gspread_client, tmp_path, monkeypatch):
    key = gspread_client.create("Waiting").id
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.setenv("SHEETSYNC_GOOGLE_QUOTA_WAIT_MAX", "0.05")  # the test waits 50 ms, for real
    sheets_emulator.add_fault("429", method="GET", path_contains=key)
    result = CliRunner().invoke(cli, ["auth", "check", "--spreadsheet", key])
    assert result.exit_code == 0, result.output
    assert "Waiting 0.1s for the emulator's" in result.stderr and "read requests to refill" in result.stderr
    assert "reachable: yes" in result.stdout and "Waiting" not in result.stdout


# --------------------------------------------------------------------------------- what may be repeated


@pytest.mark.parametrize("method,url,safe", [
    ("POST", "https://www.googleapis.com/drive/v3/files", False),
    ("POST", "https://www.googleapis.com/drive/v3/files/abc/copy", False),
    ("POST", "https://www.googleapis.com/drive/v3/files/abc/permissions", False),
    ("POST", "https://sheets.googleapis.com/v4/spreadsheets", False),
    ("POST", "https://sheets.googleapis.com/v4/spreadsheets/abc/values/A1:append", False),
    ("GET", "https://www.googleapis.com/drive/v3/files", True),
    ("GET", "https://www.googleapis.com/drive/v3/files/abc/permissions", True),
    ("POST", "https://sheets.googleapis.com/v4/spreadsheets/abc:batchUpdate", True),
    ("POST", "https://sheets.googleapis.com/v4/spreadsheets/abc/values:batchUpdate", True),
    ("PUT", "https://sheets.googleapis.com/v4/spreadsheets/abc/values/A1", True),
])
def test_which_requests_are_safe_to_repeat(method, url, safe):
    assert safe_to_repeat(method, url) is safe


def test_a_create_whose_connection_drops_is_not_sent_again(sheets_emulator, gspread_client):
    """The transport must not repeat a create: the caller (which can look the file up) decides."""
    sheets_emulator.add_fault("drop", method="POST", path_contains="/drive/v3/files")
    with pytest.raises(requests.ConnectionError):
        gspread_client.create("Once")
    posts = [e for e in sheets_emulator.request_log if e.method == "POST"]
    assert len(posts) == 1


def test_a_create_that_gets_a_503_is_not_sent_again(sheets_emulator, gspread_client):
    sheets_emulator.add_fault("503", method="POST", path_contains="/drive/v3/files")
    with pytest.raises(Exception) as info:
        gspread_client.create("Once")
    assert getattr(info.value, "code", None) == 503
    assert [e.status for e in sheets_emulator.request_log if e.method == "POST"] == [503]


def test_a_create_refused_for_quota_is_retried(sheets_emulator, gspread_client):
    """A 429 proves nothing was made, so even a create is sent again."""
    sheets_emulator.add_fault("429", method="POST", path_contains="/drive/v3/files", seconds=1)
    gspread_client.create("After a 429")
    assert [e.status for e in sheets_emulator.request_log if e.method == "POST"] == [429, 200]


def test_storage_quota_403_is_not_mistaken_for_rate_limiting(monkeypatch):
    """Drive's usageLimits domain covers both; only the rate-limit reasons are waited on."""
    answers = {
        "storageQuotaExceeded": [(403, "storageQuotaExceeded")],
        "userRateLimitExceeded": [(403, "userRateLimitExceeded"), (200, None)],
    }
    for reason, script in answers.items():
        script = list(script)
        sleeps: list[float] = []
        session = requests.Session()

        def answer(*a, script=script, **k):
            code, why = script.pop(0)
            resp = requests.Response()
            resp.status_code = code
            errors = [{"domain": "usageLimits", "reason": why}] if why else []
            resp._content = (b'{"error":{"code":%d,"message":"m","errors":%s}}'
                             % (code, str(errors).replace("'", '"').encode()))
            return resp

        monkeypatch.setattr(session, "request", answer)
        from sheetsync.backends.google_http import SheetsyncHTTPClient

        http = SheetsyncHTTPClient(None, session, emulator_host="h:1", sleep=sleeps.append, notify=lambda m: None)
        if reason == "storageQuotaExceeded":
            with pytest.raises(Exception) as info:
                http.request("post", "https://www.googleapis.com/drive/v3/files")
            assert getattr(info.value, "code", None) == 403 and sleeps == []
        else:
            assert http.request("get", "https://www.googleapis.com/drive/v3/files").status_code == 200
            assert len(sleeps) == 1


# ----------------------------------------------------------------------------------- the emulator down


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_emulator_down_names_the_variable_and_address(tmp_path, monkeypatch):
    port = free_port()
    client = client_for_emulator(f"127.0.0.1:{port}", sleep=lambda s: None)
    with pytest.raises(BackendError) as info:
        client.http_client.values_get("k" * 30, "A1")
    assert f"127.0.0.1:{port}" in str(info.value) and "sheetsync emulator --port" in str(info.value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", f"127.0.0.1:{port}")
    result = CliRunner().invoke(cli, ["auth", "check", "--spreadsheet", "k" * 30])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"SHEETS_EMULATOR_HOST=127.0.0.1:{port}" in result.stderr and "is it running?" in result.stderr
    assert "Google may" not in result.stderr and "docs.google.com" not in result.output


def test_emulator_errors_show_the_emulators_url(sheets_emulator):
    client = client_for_emulator(sheets_emulator.address, sleep=lambda s: None, max_attempts=2)
    sh = client.create("Flaky")
    sheets_emulator.add_fault("503", path_contains="/values/", count=5)
    with pytest.raises(RetriesExhaustedError) as info:
        sh.sheet1.get_all_values()
    message = str(info.value)
    assert f"http://{sheets_emulator.address}/v4/" in message and "googleapis.com" not in message
    assert "the Sheets emulator at" in message


# ------------------------------------------------------------------------------------------- settings


def test_google_settings_are_type_and_range_checked(tmp_path):
    def load(text: str):
        (tmp_path / "sheetsync.toml").write_text(text)
        return load_config(tmp_path / "sheetsync.toml")

    cfg = load("[google]\nreads_per_minute = 30\nwrites_per_minute = 0\nquota_wait_max = 300\n"
               "folder = 'https://drive.google.com/drive/folders/0ABcdEfGhIjK'\n")
    assert (cfg.google.reads_per_minute, cfg.google.writes_per_minute, cfg.google.quota_wait_max) == (30, 0, 300.0)
    defaults = load("")
    assert (defaults.google.reads_per_minute, defaults.google.writes_per_minute) == (60, 60)
    assert defaults.google.quota_wait_max == 120.0 and defaults.google.folder == ""
    for text, key in [
        ("[google]\nreads_per_minute = -1\n", "[google] reads_per_minute = -1 is not valid: must be between 0 and 10000"),
        ("[google]\nwrites_per_minute = 1e9\n", "[google] writes_per_minute"),
        ("[google]\nwrites_per_minute = 2.5\n", "[google] writes_per_minute = 2.5 is not valid"),
        ("[google]\nreads_per_minute = true\n", "[google] reads_per_minute = True is not valid"),
        ("[google]\nquota_wait_max = 'long'\n", "[google] quota_wait_max = 'long' is not valid"),
        ("[google]\nquota_wait_max = 4000\n", "[google] quota_wait_max = 4000 is not valid: must be between 0 and 3600"),
        ("[google]\ntimeout = 0\n", "[google] timeout = 0 is not valid: must be between 0.5 and 3600"),
        ("[google]\nfolder = 3\n", "[google] folder = 3 is not valid"),
    ]:
        with pytest.raises(ConfigError) as info:
            load(text)
        assert key in str(info.value), text
