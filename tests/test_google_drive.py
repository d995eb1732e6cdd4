"""Drive as it really is, through the real gspread client over HTTP against the emulator: creates and shares
whose answer is lost are never blindly repeated, service accounts have no Drive storage, shared drives are
searched, and the CLI says what to do (issue 10)."""

from __future__ import annotations

import json
import time

import pytest
import requests
from click.testing import CliRunner

from sheetsync.backends.google import connect, make_client, open_google_workbook
from sheetsync.backends.google_auth import Principal, resolve_credentials
from sheetsync.backends.google_drive import CREATE_TOKEN_KEY, folder_id
from sheetsync.backends.google_http import client_for_emulator
from sheetsync.backends.google_workbook import spreadsheet_url
from sheetsync.cli import cli
from sheetsync.errors import BackendError, ConfigError
from tests.test_google_auth import service_account_info

EMU = Principal("emulator", "anonymous (emulator)", "SHEETS_EMULATOR_HOST")
SA_EMAIL = "labeller@sheetsync-test.iam.gserviceaccount.com"


def spreadsheets_named(em, title: str) -> list[str]:
    with em.lock:
        return [s.id for s in em.state.spreadsheets.values() if s.title == title]


def quick(em, **kw):
    """The sheetsync transport with waits cut short (the logic under test is the same)."""
    return client_for_emulator(em.address, timeout=kw.pop("timeout", 2.0), base_delay=0.001, max_delay=0.01,
                               sleep=kw.pop("sleep", lambda s: None), **kw)


# ----------------------------------------------------------------------------------- idempotent creates


@pytest.mark.parametrize("fault,seconds", [("drop_after", None), ("hang_after", 5.0), ("drop", None), ("503", None)])
def test_a_create_whose_answer_is_lost_leaves_exactly_one_spreadsheet(sheets_emulator, fault, seconds):
    """drop_after / hang_after: Drive made the file and the answer never came; drop / 503: nothing made.
    Either way the command succeeds and one spreadsheet carries the title."""
    client = quick(sheets_emulator, timeout=0.5)
    sheets_emulator.add_fault(fault, method="POST", path_contains="/drive/v3/files", seconds=seconds)
    wb = connect(client, "Team labels", EMU)
    assert spreadsheets_named(sheets_emulator, "Team labels") == [wb.key]
    creates = [e for e in sheets_emulator.request_log if e.method == "POST" and e.path == "/drive/v3/files"]
    applied_first = fault in ("drop_after", "hang_after")
    assert len(creates) == (1 if applied_first else 2)  # found by its tag, or created once more
    with sheets_emulator.lock:
        tags = sheets_emulator.state.spreadsheets[wb.key].app_properties
    assert set(tags) == {CREATE_TOKEN_KEY}


def test_a_create_still_in_flight_when_we_look_is_found_after_a_wait(sheets_emulator):
    """'hang': Google is slow and makes the file after the client gave up. The lookup waits one backoff
    step first, so the late file is found instead of duplicated."""
    client = quick(sheets_emulator, timeout=0.2, sleep=lambda s: time.sleep(0.6))
    sheets_emulator.add_fault("hang", method="POST", path_contains="/drive/v3/files", seconds=0.4)
    wb = connect(client, "Slow Drive", EMU)
    assert spreadsheets_named(sheets_emulator, "Slow Drive") == [wb.key]


def test_every_create_is_lost_then_nothing_is_left_behind(sheets_emulator):
    client = quick(sheets_emulator)
    sheets_emulator.add_fault("drop", method="POST", path_contains="/drive/v3/files", count=10)
    with pytest.raises(BackendError, match="3 attempts lost their answer.*no file from them"):
        connect(client, "Never made", EMU)
    assert spreadsheets_named(sheets_emulator, "Never made") == []


# ------------------------------------------------------------------------------------------------ sharing


def test_a_share_whose_answer_is_lost_is_not_sent_again(sheets_emulator):
    client = quick(sheets_emulator)
    wb = connect(client, client.create("Shared").id, EMU)
    sheets_emulator.add_fault("drop_after", method="POST", path_contains="/permissions")
    wb.share(["expert@example.com"])
    posts = [e for e in sheets_emulator.request_log if e.method == "POST" and e.path.endswith("/permissions")]
    assert len(posts) == 1  # the list after the lost answer showed the share had been made
    assert [n["emailAddress"].lower() for n in sheets_emulator.notifications] == ["expert@example.com"]
    wb.share(["expert@example.com"])  # a second push with the same --share: no second email
    assert len(sheets_emulator.notifications) == 1


def test_a_share_whose_email_failed_is_kept_with_a_warning(sheets_emulator, caplog):
    client = quick(sheets_emulator)
    wb = connect(client, client.create("Shared").id, EMU)
    sheets_emulator.fail_share_emails(1)
    with caplog.at_level("WARNING", logger="sheetsync.google"):
        wb.share(["expert@example.com"])
    assert "expert@example.com now has writer access" in caplog.text and "send them the spreadsheet's link" in caplog.text
    perms = client.list_permissions(wb.key)
    assert [p["role"] for p in perms if p.get("emailAddress", "").lower() == "expert@example.com"] == ["writer"]


# -------------------------------------------------------------------------------------- service accounts


@pytest.fixture
def sa_key(sheets_emulator, tmp_path):
    """A service-account key whose token endpoint is the emulator's: the emulator knows it as a service
    account, without Drive storage, as Google does."""
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_info(token_uri=f"{sheets_emulator.url}/token")))
    return path


def sa_client(em, key):
    creds, principal = resolve_credentials(credentials_file=str(key), emulator_host=em.address)
    assert principal.kind == "service account" and principal.who == SA_EMAIL
    return make_client(creds, emulator_host=em.address, timeout=5, quota_user=principal.who), principal


def test_a_service_accounts_create_fails_with_what_to_do(sheets_emulator, sa_key):
    client, principal = sa_client(sheets_emulator, sa_key)
    with pytest.raises(BackendError) as info:
        connect(client, "Team labels", principal)
    message = str(info.value)
    assert f"{SA_EMAIL} is a service account and cannot create the spreadsheet 'Team labels'" in message
    assert f"share it with {SA_EMAIL} as Editor" in message and "--folder FOLDER_URL" in message
    assert '[google] folder = "FOLDER_URL"' in message
    assert spreadsheets_named(sheets_emulator, "Team labels") == []
    creates = [e for e in sheets_emulator.request_log if e.method == "POST" and e.path == "/drive/v3/files"]
    assert [e.status for e in creates] == [403]  # refused once, not retried as if it were rate limiting


def test_a_service_account_creates_in_a_shared_drive_folder(sheets_emulator, sa_key):
    drive = sheets_emulator.add_shared_drive("Team", members=[SA_EMAIL])
    folder = sheets_emulator.add_folder("Labels", parent=drive)
    client, principal = sa_client(sheets_emulator, sa_key)
    wb = connect(client, "Team labels", principal, folder=f"https://drive.google.com/drive/folders/{folder}")
    with sheets_emulator.lock:
        assert sheets_emulator.state.spreadsheets[wb.key].parents == [folder]
    again = connect(client, "Team labels", principal)  # found on the shared drive, not created twice
    assert again.key == wb.key and spreadsheets_named(sheets_emulator, "Team labels") == [wb.key]


def test_a_spreadsheet_on_a_shared_drive_is_found_not_duplicated(sheets_emulator, sa_key):
    """Someone else made it on a shared drive the service account belongs to; it never opened it, so
    Drive's default corpora=user would not list it."""
    drive = sheets_emulator.add_shared_drive("Team", members=[SA_EMAIL, "lead@example.com"])
    made = sheets_emulator.add_principal("lead@example.com")
    lead = client_for_emulator(sheets_emulator.address)
    lead.http_client.session.headers["Authorization"] = f"Bearer {made.token}"
    key = lead.http_client.request("post", "https://www.googleapis.com/drive/v3/files",
                                   params={"supportsAllDrives": "true"},
                                   json={"name": "Team labels", "mimeType": "application/vnd.google-apps.spreadsheet",
                                         "parents": [drive]}).json()["id"]
    client, principal = sa_client(sheets_emulator, sa_key)
    assert connect(client, "Team labels", principal, create=False).key == key


def test_a_folder_outside_a_shared_drive_is_explained(sheets_emulator, sa_key):
    client, principal = sa_client(sheets_emulator, sa_key)
    with pytest.raises(BackendError, match="does not exist or .* cannot see it"):
        connect(client, "Team labels", principal, folder="1NoSuchFolderAnywhere00000")


def test_folder_urls_and_ids():
    assert folder_id("https://drive.google.com/drive/folders/0ABcdEfGhIjKlMnOp?usp=sharing") == "0ABcdEfGhIjKlMnOp"
    assert folder_id("https://drive.google.com/drive/u/1/folders/1aB-c_D") == "1aB-c_D"
    assert folder_id("https://drive.google.com/open?id=1aBcDeFgHiJk") == "1aBcDeFgHiJk"
    assert folder_id("1aBcDeFgHiJkLmN") == "1aBcDeFgHiJkLmN" and folder_id("") == ""
    with pytest.raises(ConfigError, match="not a Google Drive folder"):
        folder_id("my labels folder")


# ----------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def sa_workspace(sheets_emulator, sa_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    assert CliRunner().invoke(cli, ["init", "--spreadsheet", "Team labels"]).exit_code == 0
    toml = (tmp_path / "sheetsync.toml").read_text().replace('credentials = ""', f'credentials = "{sa_key}"')
    (tmp_path / "sheetsync.toml").write_text(toml)
    (tmp_path / "traces.csv").write_text("id,input,output\na,How do I reset it?,Press the button.\n")
    return tmp_path


def test_auth_check_warns_a_service_account_before_the_first_push(sa_workspace, sheets_emulator):
    result = CliRunner().invoke(cli, ["auth", "check"])
    assert result.exit_code == 0, result.output
    assert f"identity: {SA_EMAIL} (service account)" in result.stdout
    assert "none named 'Team labels' yet" in result.stdout
    assert "the first push will fail" in result.stderr and f"share it with {SA_EMAIL}" in result.stderr
    push = CliRunner().invoke(cli, ["push", "traces.csv"])
    assert push.exit_code == 2 and "Traceback" not in push.output
    assert f"{SA_EMAIL} is a service account" in push.stderr and "--folder" in push.stderr
    assert spreadsheets_named(sheets_emulator, "Team labels") == []


def test_push_with_a_shared_drive_folder_works_for_a_service_account(sa_workspace, sheets_emulator):
    drive = sheets_emulator.add_shared_drive("Team", members=[SA_EMAIL])
    folder = sheets_emulator.add_folder("Labels", parent=drive)
    url = f"https://drive.google.com/drive/folders/{folder}"
    check = CliRunner().invoke(cli, ["auth", "check"], env={"SHEETSYNC_GOOGLE_FOLDER": url})
    assert check.exit_code == 0 and "new files can be added" in check.stdout and check.stderr == ""
    push = CliRunner().invoke(cli, ["push", "traces.csv", "--folder", url])
    assert push.exit_code == 0, push.output
    (key,) = spreadsheets_named(sheets_emulator, "Team labels")
    url = f"http://{sheets_emulator.address}/_emulator/spreadsheets/{key}"
    assert f"Pushed to {url}" in push.stdout and "docs.google.com" not in push.stdout
    assert requests.get(url, timeout=5).json()["spreadsheetId"] == key  # the printed URL opens it


def test_auth_check_explains_a_folder_on_my_drive(sa_workspace, sheets_emulator):
    folder = sheets_emulator.add_folder("Mine")  # in the anonymous user's My Drive
    hidden = CliRunner().invoke(cli, ["auth", "check"], env={"SHEETSYNC_GOOGLE_FOLDER": folder})
    assert hidden.exit_code == 0
    assert "the first push will fail" in hidden.stderr and f"{SA_EMAIL} cannot see it" in hidden.stderr
    owner = client_for_emulator(sheets_emulator.address)  # the folder's owner shares it with the account
    owner.insert_permission(folder, SA_EMAIL, perm_type="user", role="writer", notify=False)
    shared = CliRunner().invoke(cli, ["auth", "check"], env={"SHEETSYNC_GOOGLE_FOLDER": folder})
    assert shared.exit_code == 0
    assert "'Mine' is not on a shared drive" in shared.stderr
    push = CliRunner().invoke(cli, ["push", "traces.csv"], env={"SHEETSYNC_GOOGLE_FOLDER": folder})
    assert push.exit_code == 2 and f"in the folder {folder}: that folder is not on a shared drive" in push.stderr


def test_open_google_workbook_passes_the_folder(sheets_emulator, sa_key):
    drive = sheets_emulator.add_shared_drive("Team", members=[SA_EMAIL])
    wb = open_google_workbook("By title", credentials_file=str(sa_key), emulator_host=sheets_emulator.address,
                              folder=drive)
    assert wb.url == spreadsheet_url(wb.client, wb.key)
    with sheets_emulator.lock:
        assert sheets_emulator.state.spreadsheets[wb.key].parents == [drive]


def test_push_says_when_google_could_not_email_the_expert(sheets_emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    assert CliRunner().invoke(cli, ["init", "--spreadsheet", "Shared labels"]).exit_code == 0
    (tmp_path / "traces.csv").write_text("id,input,output\na,How do I reset it?,Press the button.\n")
    sheets_emulator.fail_share_emails(1)
    result = CliRunner().invoke(cli, ["push", "traces.csv", "--share", "expert@example.com"])
    assert result.exit_code == 0, result.output
    assert "Warning: expert@example.com now has writer access, but Google could not send" in result.stderr
    assert "shared with expert@example.com" in result.stdout
