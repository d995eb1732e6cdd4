"""Application-default and user credentials as Google treats them since mid-2025: gcloud's own OAuth client
can no longer be granted the Sheets/Drive scopes, and user credentials need a quota project. sheetsync says
so before the first request, and explains a refused refresh or a refused scope (issue 10)."""

from __future__ import annotations

import json
import logging
import warnings

import google.auth.exceptions
import pytest

from sheetsync.backends.google_auth import (
    ADC_LOGIN,
    GCLOUD_CLIENT_ID,
    QUOTA_PROJECT_FIX,
    Principal,
    describe_refresh_failure,
    resolve_credentials,
)
from sheetsync.backends.google_errors import api_error


@pytest.fixture
def adc_file(monkeypatch, tmp_path):
    """gcloud's application-default login file, where gcloud writes it ($CLOUDSDK_CONFIG)."""
    folder = tmp_path / "gcloud"
    folder.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(folder))
    monkeypatch.delenv("GOOGLE_CLOUD_QUOTA_PROJECT", raising=False)

    def write(**fields) -> None:
        info = {"type": "authorized_user", "client_id": "mine.apps.googleusercontent.com",
                "client_secret": "s", "refresh_token": "r", **fields}
        (folder / "application_default_credentials.json").write_text(json.dumps(info))

    return write


def resolve() -> Principal:
    return resolve_credentials(credentials_file=None, oauth_client_file=None, emulator_host=None)[1]


def test_a_login_with_gclouds_own_client_and_no_quota_project_is_flagged(adc_file, caplog):
    adc_file(client_id=GCLOUD_CLIENT_ID)
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        principal = resolve()
    assert principal.kind == "application default"
    blocked, quota = principal.warnings
    assert "gcloud's own OAuth client" in blocked and "--client-id-file=CLIENT.json" in blocked
    assert "spreadsheets" in blocked and "auth/drive" in blocked
    assert "no quota project" in quota and QUOTA_PROJECT_FIX in quota
    # google-auth's own warnings (quota project, project id) are not shown on top of ours
    assert not [w for w in seen if "quota project" in str(w.message)]
    assert "No project ID could be determined" not in caplog.text


def test_a_login_with_an_own_client_and_a_quota_project_is_fine(adc_file, monkeypatch):
    adc_file(quota_project_id="my-project")
    assert resolve().warnings == ()
    adc_file()
    assert len(resolve().warnings) == 1  # the quota project is missing
    monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "my-project")
    assert resolve().warnings == ()  # google-auth takes the quota project from the environment too


def test_an_authorized_user_key_file_is_checked_the_same_way(tmp_path):
    key = tmp_path / "user.json"
    key.write_text(json.dumps({"type": "authorized_user", "client_id": GCLOUD_CLIENT_ID, "client_secret": "s",
                               "refresh_token": "r"}))
    principal = resolve_credentials(credentials_file=str(key), oauth_client_file=None, emulator_host=None)[1]
    assert len(principal.warnings) == 2 and str(key) in principal.warnings[0]


@pytest.mark.parametrize("reason,expected", [
    ("invalid_grant: Token has been expired or revoked.", "has expired or was revoked"),
    ("invalid_grant: reauth related error (invalid_rapt)", "has expired or was revoked"),
    ("access_denied: Access blocked: this app's request is invalid", "blocked for them since June 2025"),
    ("invalid_scope: Bad Request", "blocked for them since June 2025"),
])
def test_a_refused_adc_refresh_says_how_to_log_in_today(adc_file, reason, expected):
    adc_file(quota_project_id="p")
    principal = resolve()
    message = str(describe_refresh_failure(principal, google.auth.exceptions.RefreshError(reason, {})))
    assert expected in message and ADC_LOGIN in message
    assert reason.split(":")[0] in message  # Google's own reason is kept


def test_a_token_without_the_sheets_scopes_is_explained(adc_file):
    """What a plain `gcloud auth application-default login` gives: a token the Sheets API refuses."""
    import requests
    from gspread.exceptions import APIError

    adc_file(quota_project_id="p")
    resp = requests.Response()
    resp.status_code = 403
    resp._content = json.dumps({"error": {
        "code": 403, "message": "Request had insufficient authentication scopes.", "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                     "domain": "googleapis.com"}]}}).encode()
    message = str(api_error(APIError(resp), resolve(), "k" * 30))
    assert "lack the Google Sheets/Drive scopes" in message and "--client-id-file=CLIENT.json" in message


def test_a_user_login_without_quota_project_refused_by_the_api_is_explained(adc_file):
    import requests
    from gspread.exceptions import APIError

    adc_file()
    resp = requests.Response()
    resp.status_code = 403
    resp._content = json.dumps({"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "Your application is authenticating by using local Application Default Credentials. The "
                   "sheets.googleapis.com API requires a quota project, which is not set by default."}}).encode()
    message = str(api_error(APIError(resp), resolve(), "k" * 30))
    assert QUOTA_PROJECT_FIX in message


# ------------------------------------------------------------------- against the emulator's token endpoint


def user_file(tmp_path, em, refresh_token: str, **fields) -> str:
    path = tmp_path / "user.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": GCLOUD_CLIENT_ID, "client_secret": "s",
                                "refresh_token": refresh_token, "token_uri": f"{em.url}/token", **fields}))
    return str(path)


def test_auth_check_warns_about_a_user_login_that_google_will_refuse(sheets_emulator, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sheetsync.cli import cli

    person = sheets_emulator.add_principal("me@example.com")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", user_file(tmp_path, sheets_emulator, person.refresh_token))
    result = CliRunner().invoke(cli, ["auth", "check", "--spreadsheet", "Team labels"])
    assert result.exit_code == 0, result.output
    assert "(oauth user)" in result.stdout and "none named 'Team labels' yet" in result.stdout
    assert "gcloud's own OAuth client" in result.stderr and "names no quota project" in result.stderr
    assert any(e.identity == "me@example.com" for e in sheets_emulator.request_log)  # it really acted as them


def test_a_revoked_user_login_is_a_message_saying_how_to_log_in(sheets_emulator, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sheetsync.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    path = user_file(tmp_path, sheets_emulator, "revoked-long-ago", quota_project_id="p")
    (tmp_path / "sheetsync.toml").write_text(f'[google]\ncredentials = "{path}"\n')
    result = CliRunner().invoke(cli, ["auth", "check", "--spreadsheet", "Team labels"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "invalid_grant" in result.stderr and "has expired or was revoked" in result.stderr
    assert f"Create {path} again" in result.stderr and "--client-id-file=CLIENT.json" in result.stderr
