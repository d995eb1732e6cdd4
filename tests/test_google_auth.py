"""Credential resolution: the four sources in order, and a clear ConfigError for every bad file."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import google.auth.exceptions
import google.oauth2.credentials
import google.oauth2.service_account
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials

from sheetsync.backends import google_auth
from sheetsync.backends.google_auth import (
    SCOPES,
    TOKEN_FILE,
    Principal,
    describe_refresh_failure,
    resolve_credentials,
)
from sheetsync.errors import ConfigError

SECRET_MARK = "MIIEsecretKEYmaterial"


def service_account_info(token_uri: str = "https://oauth2.googleapis.com/token") -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "sheetsync-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "labeller@sheetsync-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


CLIENT_SECRETS = {
    "installed": {
        "client_id": "desktop-client.apps.googleusercontent.com",
        "client_secret": "shh",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "redirect_uris": ["http://localhost"],
    }
}


@pytest.fixture
def no_adc(monkeypatch, tmp_path):
    """No gcloud ADC file and no metadata-server probe."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    return tmp_path / "gcloud"


def test_emulator_first_even_with_a_key(monkeypatch, tmp_path):
    key = write_json(tmp_path / "key.json", service_account_info())
    creds, who = resolve_credentials(
        credentials_file=str(key), oauth_client_file=None, emulator_host="127.0.0.1:9"
    )
    assert isinstance(creds, AnonymousCredentials)
    assert who == Principal("emulator", "anonymous (emulator at 127.0.0.1:9)", "SHEETS_EMULATOR_HOST")
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", "localhost:8085")
    creds, who = resolve_credentials(credentials_file=None, oauth_client_file=None, emulator_host=None)
    assert isinstance(creds, AnonymousCredentials) and "localhost:8085" in who.who


def test_service_account_file_from_argument(tmp_path):
    key = write_json(tmp_path / "key.json", service_account_info())
    creds, who = resolve_credentials(credentials_file=str(key), oauth_client_file=None, emulator_host=None)
    assert isinstance(creds, google.oauth2.service_account.Credentials)
    assert set(creds.scopes) == set(SCOPES)
    assert who.kind == "service account"
    assert who.who == "labeller@sheetsync-test.iam.gserviceaccount.com"
    assert "share the spreadsheet with labeller@" in who.share_hint()


def test_service_account_file_from_env(monkeypatch, tmp_path):
    key = write_json(tmp_path / "key.json", service_account_info())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    creds, who = resolve_credentials(
        credentials_file=None, oauth_client_file=str(tmp_path / "nope.json"), emulator_host=None
    )
    assert isinstance(creds, google.oauth2.service_account.Credentials)
    assert who.source == str(key)


def test_authorized_user_file_accepted(tmp_path):
    info = {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    key = write_json(tmp_path / "user.json", info)
    creds, who = resolve_credentials(credentials_file=str(key), oauth_client_file=None, emulator_host=None)
    assert isinstance(creds, google.oauth2.credentials.Credentials)
    assert who.kind == "oauth user"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        resolve_credentials(
            credentials_file=str(tmp_path / "gone.json"), oauth_client_file=None, emulator_host=None
        )
    msg = str(e.value)
    assert "gone.json" in msg and "does not exist" in msg and "[google] credentials" in msg
    assert "GOOGLE_APPLICATION_CREDENTIALS" in msg


def test_missing_file_from_env_names_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gone.json"))
    with pytest.raises(
        ConfigError, match=r"gone\.json \(from GOOGLE_APPLICATION_CREDENTIALS\) does not exist"
    ):
        resolve_credentials(credentials_file=None, oauth_client_file=None, emulator_host=None)


def test_invalid_json_never_echoes_the_file(tmp_path):
    bad = tmp_path / "key.json"
    bad.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----' + SECRET_MARK, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        resolve_credentials(credentials_file=str(bad), oauth_client_file=None, emulator_host=None)
    assert "not readable JSON" in str(e.value) and str(bad) in str(e.value)
    assert SECRET_MARK not in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"hello": "world"}, "not a service-account key"),
        ([1, 2], "not a key file"),
        (CLIENT_SECRETS, "OAuth client-secrets file"),
        ({"type": "service_account", "private_key": SECRET_MARK}, "not a valid service-account key"),
        ({"type": "authorized_user", "client_id": "x"}, "authorized_user file without"),
    ],
)
def test_json_that_is_not_a_usable_key(tmp_path, content, expected):
    path = write_json(tmp_path / "key.json", content)
    with pytest.raises(ConfigError) as e:
        resolve_credentials(credentials_file=str(path), oauth_client_file=None, emulator_host=None)
    assert expected in str(e.value)
    assert SECRET_MARK not in str(e.value)


def test_corrupt_private_key(tmp_path):
    info = service_account_info()
    info["private_key"] = "-----BEGIN PRIVATE KEY-----\n" + SECRET_MARK + "\n-----END PRIVATE KEY-----\n"
    path = write_json(tmp_path / "key.json", info)
    with pytest.raises(ConfigError) as e:
        resolve_credentials(credentials_file=str(path), oauth_client_file=None, emulator_host=None)
    assert "not a valid service-account key" in str(e.value) and SECRET_MARK not in str(e.value)


def test_nothing_found_lists_every_way(no_adc):
    with pytest.raises(ConfigError) as e:
        resolve_credentials(credentials_file=None, oauth_client_file=None, emulator_host=None)
    msg = str(e.value)
    for needle in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        '[google] credentials = "',
        '[google] oauth_client = "',
        "gcloud auth application-default login",
        "SHEETS_EMULATOR_HOST",
    ):
        assert needle in msg


def test_application_default_credentials(no_adc):
    no_adc.mkdir()
    info = {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    write_json(no_adc / "application_default_credentials.json", info)
    creds, who = resolve_credentials(credentials_file=None, oauth_client_file=None, emulator_host=None)
    assert isinstance(creds, google.oauth2.credentials.Credentials)
    assert who.kind == "application default" and who.who == "your Google account (application-default login)"
    assert str(no_adc / "application_default_credentials.json") in who.source


# ----------------------------------------------------------------------------------------- OAuth flow


class FakeFlow:
    runs = 0

    def run_local_server(self, **kw):
        FakeFlow.runs += 1
        return google.oauth2.credentials.Credentials(
            token="fresh-token",
            refresh_token="refresh-me",
            token_uri="https://oauth2.googleapis.com/token",
            client_id=CLIENT_SECRETS["installed"]["client_id"],
            client_secret="shh",
            scopes=SCOPES,
            expiry=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1),
        )


@pytest.fixture
def fake_flow(monkeypatch):
    from google_auth_oauthlib.flow import InstalledAppFlow

    FakeFlow.runs = 0
    monkeypatch.setattr(
        InstalledAppFlow, "from_client_secrets_file", classmethod(lambda cls, *a, **k: FakeFlow())
    )
    return FakeFlow


def token_path() -> Path:
    return google_auth.config_dir() / TOKEN_FILE


def test_oauth_flow_runs_once_then_cached_0600(tmp_path, fake_flow):
    client = write_json(tmp_path / "client_secret.json", CLIENT_SECRETS)
    creds, who = resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    assert creds.token == "fresh-token" and who.kind == "oauth user"
    assert fake_flow.runs == 1
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600
    assert json.loads(token_path().read_text())["refresh_token"] == "refresh-me"
    creds2, _ = resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    assert creds2.token == "fresh-token" and fake_flow.runs == 1  # reused, no second consent


def _expire_cached_token():
    info = json.loads(token_path().read_text())
    info["expiry"] = "2000-01-01T00:00:00Z"
    token_path().write_text(json.dumps(info))


def test_oauth_expired_token_is_refreshed(tmp_path, fake_flow, monkeypatch):
    client = write_json(tmp_path / "client_secret.json", CLIENT_SECRETS)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    _expire_cached_token()

    def refresh(self, request):
        self.token = "refreshed"
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)

    monkeypatch.setattr(google.oauth2.credentials.Credentials, "refresh", refresh)
    creds, _ = resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    assert creds.token == "refreshed" and fake_flow.runs == 1
    assert json.loads(token_path().read_text())["token"] == "refreshed"


def test_oauth_revoked_token_signs_in_again(tmp_path, fake_flow, monkeypatch):
    client = write_json(tmp_path / "client_secret.json", CLIENT_SECRETS)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    _expire_cached_token()

    def refresh(self, request):
        raise google.auth.exceptions.RefreshError("invalid_grant: Token has been expired or revoked.")

    monkeypatch.setattr(google.oauth2.credentials.Credentials, "refresh", refresh)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    assert fake_flow.runs == 2


def test_oauth_offline_refresh_is_a_config_error(tmp_path, fake_flow, monkeypatch):
    client = write_json(tmp_path / "client_secret.json", CLIENT_SECRETS)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    _expire_cached_token()

    def refresh(self, request):
        raise google.auth.exceptions.TransportError("connection refused")

    monkeypatch.setattr(google.oauth2.credentials.Credentials, "refresh", refresh)
    with pytest.raises(ConfigError, match="Could not reach Google to refresh"):
        resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)


def test_oauth_token_of_another_client_is_not_reused(tmp_path, fake_flow):
    client = write_json(tmp_path / "client_secret.json", CLIENT_SECRETS)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client), emulator_host=None)
    other = json.loads(json.dumps(CLIENT_SECRETS))
    other["installed"]["client_id"] = "another.apps.googleusercontent.com"
    client2 = write_json(tmp_path / "other.json", other)
    resolve_credentials(credentials_file=None, oauth_client_file=str(client2), emulator_host=None)
    assert fake_flow.runs == 2


def test_oauth_client_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="OAuth client file .* does not exist"):
        resolve_credentials(
            credentials_file=None, oauth_client_file=str(tmp_path / "x.json"), emulator_host=None
        )
    key = write_json(tmp_path / "key.json", {"type": "service_account"})
    with pytest.raises(ConfigError, match="not a client-secrets file"):
        resolve_credentials(credentials_file=None, oauth_client_file=str(key), emulator_host=None)


def test_refresh_failure_message():
    who = Principal("service account", "sa@x.iam.gserviceaccount.com", "/keys/key.json")
    err = describe_refresh_failure(
        who, google.auth.exceptions.RefreshError("invalid_grant: Invalid JWT Signature.", {})
    )
    assert isinstance(err, ConfigError)
    msg = str(err)
    assert "sa@x.iam.gserviceaccount.com" in msg and "/keys/key.json" in msg
    assert "invalid_grant: Invalid JWT Signature." in msg and "new JSON key" in msg
    err = describe_refresh_failure(who, google.auth.exceptions.TransportError("timed out"))
    assert "token server" in str(err)
