"""Which Google credentials sheetsync acts with, and a message that says what to do when there are none.

Order (first match wins):

1. ``SHEETS_EMULATOR_HOST`` (or the ``emulator_host`` argument): anonymous credentials for the local
   emulator, so tests, demos and CI never need a key and can never touch a real spreadsheet — unless the
   configured key file names the emulator's own token endpoint (an emulator identity, e.g. a service
   account without Drive storage).
2. A key file: the ``credentials_file`` argument (config ``[google] credentials``) or
   ``GOOGLE_APPLICATION_CREDENTIALS``: a service-account key, or an ``authorized_user`` file.
3. An OAuth desktop client (config ``[google] oauth_client``): the browser consent flow once, then the
   token cached (mode 0600) in the user's config dir and refreshed from there.
4. Application-default credentials (``gcloud auth application-default login --client-id-file=…``, or a
   cloud runtime).

Every failure is a :class:`~sheetsync.errors.ConfigError` naming the file and the fix. Messages never
contain key material, and google.auth's own exceptions never reach the user.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import google.auth
import google.auth.exceptions
import google.oauth2.credentials
import google.oauth2.service_account
from google.auth.credentials import AnonymousCredentials, Credentials

from sheetsync.errors import ConfigError

SCOPES = [
    "https://www.googleapis.com/auth/spreadsheets",
    # Full Drive (not drive.file): finding a spreadsheet by title must see files shared with us.
    "https://www.googleapis.com/auth/drive",
]
EMULATOR_ENV = "SHEETS_EMULATOR_HOST"
KEY_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
TOKEN_FILE = "authorized_user.json"

SCOPES_ARG = ",".join([*SCOPES, "https://www.googleapis.com/auth/cloud-platform"])
ADC_LOGIN = f"gcloud auth application-default login --client-id-file=CLIENT.json --scopes={SCOPES_ARG}"
QUOTA_PROJECT_FIX = "gcloud auth application-default set-quota-project YOUR_PROJECT_ID"
#: gcloud's own OAuth client. Since 2025-06-23 Google blocks it from asking for the Sheets/Drive scopes
#: ("Access blocked"), so an ADC login made with it cannot reach spreadsheets: users need an OAuth client
#: of their own (``--client-id-file``) [I] Google notice quoted in gcpug/nouhau#124;
#: xing5/mcp-google-sheets#29/#30 (google-reality.md "Credentials").
GCLOUD_CLIENT_ID = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"

_ADC_RELOGIN = f"Run `{ADC_LOGIN}`, then `{QUOTA_PROJECT_FIX}`"

HOW_TO_AUTHENTICATE = (
    "Give sheetsync Google credentials in one of these ways:\n"
    f"  1. a service-account key: set {KEY_ENV}=/path/to/key.json (e.g. in .env), or "
    '[google] credentials = "key.json" in sheetsync.toml; then share the spreadsheet with the '
    "service account's email as Editor (or set [google] folder to a shared-drive folder it can edit);\n"
    '  2. your own Google account: [google] oauth_client = "client_secret.json" in sheetsync.toml '
    "(an OAuth client of type Desktop app); a browser opens once;\n"
    f"  3. application-default credentials from your own OAuth client: `{ADC_LOGIN}`, then "
    f"`{QUOTA_PROJECT_FIX}`.\n"
    f"For a local dry run without Google, set {EMULATOR_ENV}=host:port to use the sheetsync emulator."
)


@dataclass(frozen=True)
class Principal:
    """Who the credentials act as, for messages and ``sheetsync auth check``. Never holds a secret."""

    kind: str  # "service account", "oauth user", "application default", "emulator"
    who: str  # an email when known, else a description
    source: str = ""  # the file or mechanism the credentials came from, for error messages
    #: Problems seen in the credentials before any request (e.g. user ADC without a quota project),
    #: for ``sheetsync auth check``.
    warnings: tuple[str, ...] = ()
    #: How to get fresh credentials when Google refuses these (for refresh-failure messages).
    relogin: str = ""

    def share_hint(self) -> str:
        """What the owner must do so that this principal can open a spreadsheet."""
        if self.kind == "service account":
            return f"share the spreadsheet with {self.who} as Editor"
        if self.kind == "emulator":
            return "create it in the emulator first (or open it by title to create it)"
        return f"share the spreadsheet as Editor with the Google account behind {self.who} ({self.source})"


def config_dir() -> Path:
    """The user's sheetsync config dir (``SHEETSYNC_CONFIG_DIR`` overrides it, e.g. in tests)."""
    return Path(os.environ.get("SHEETSYNC_CONFIG_DIR") or click.get_app_dir("sheetsync"))


def resolve_credentials(
    *,
    credentials_file: str | None = None,
    oauth_client_file: str | None = None,
    emulator_host: str | None = None,
) -> tuple[Credentials, Principal]:
    """The credentials to use and who they are, in the order described in the module docstring."""
    host = emulator_host or os.environ.get(EMULATOR_ENV)
    key_file = credentials_file or os.environ.get(KEY_ENV)
    origin = "[google] credentials" if credentials_file else KEY_ENV
    if host:
        if key_file and _made_for_emulator(Path(key_file).expanduser(), host):
            return _from_key_file(Path(key_file).expanduser(), origin, emulator=True)
        return AnonymousCredentials(), Principal("emulator", f"anonymous (emulator at {host})", EMULATOR_ENV)
    if key_file:
        return _from_key_file(Path(key_file).expanduser(), origin)
    if oauth_client_file:
        return _from_oauth_client(Path(oauth_client_file).expanduser())
    return _from_adc()


def _made_for_emulator(path: Path, host: str) -> bool:
    """A key file whose ``token_uri`` is the emulator's own token endpoint: an identity the emulator
    issued (a service account without Drive storage, a person), so tests and dry runs can act as it.
    Any other key is never used while the emulator is on: a real key must not meet a fake server."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    uri = info.get("token_uri") if isinstance(info, dict) else None
    return isinstance(uri, str) and uri.startswith(f"http://{host.strip().removeprefix('http://').rstrip('/')}/")


def _read_json(path: Path, origin: str, what: str) -> Mapping[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"{what} {path} (from {origin}) does not exist. Fix the path, or remove the setting.\n"
            + HOW_TO_AUTHENTICATE
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        # Deliberately no excerpt of the file: it may hold a private key.
        kind = type(e).__name__
        raise ConfigError(
            f"{what} {path} (from {origin}) is not readable JSON ({kind}). Download it again from the "
            "Google Cloud console (IAM & Admin → Service accounts → Keys → Add key → JSON)."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} (from {origin}) is JSON but not a key file (expected an object).")
    return data


def _from_key_file(path: Path, origin: str, *, emulator: bool = False) -> tuple[Credentials, Principal]:
    info = _read_json(path, origin, "Credentials file")
    kind = info.get("type")
    if kind == "service_account":
        try:
            creds = google.oauth2.service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"Credentials file {path} (from {origin}) is not a valid service-account key: it needs "
                "client_email, private_key and token_uri. Create a new JSON key for the service account "
                "in the Google Cloud console and point to it."
            ) from None
        return creds, Principal("service account", creds.service_account_email, str(path))
    if kind == "authorized_user":
        try:
            creds = google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"Credentials file {path} (from {origin}) is an authorized_user file without "
                "client_id, client_secret and refresh_token. Create it again "
                "(`gcloud auth application-default login`) or use a service-account key."
            ) from None
        if emulator:  # google-auth always sends user refresh tokens to Google's endpoint; this one is fake
            creds = creds.with_token_uri(info["token_uri"])
        who = info.get("account") or "oauth user"
        relogin = f"Create {path} again (`{ADC_LOGIN}` writes one), or use a service-account key"
        return creds, Principal("oauth user", who, str(path), user_credential_warnings(info, str(path)), relogin)
    if "installed" in info or "web" in info:
        raise ConfigError(
            f"{path} (from {origin}) is an OAuth client-secrets file, not a key. Set it as "
            f'[google] oauth_client = "{path}" in sheetsync.toml instead.'
        )
    raise ConfigError(
        f"Credentials file {path} (from {origin}) is not a service-account key "
        f"(its type is {kind!r}, expected 'service_account' or 'authorized_user').\n" + HOW_TO_AUTHENTICATE
    )


def _from_oauth_client(client_file: Path) -> tuple[Credentials, Principal]:
    """The desktop flow, once; afterwards the cached token, refreshed when expired."""
    secrets = _read_json(client_file, "[google] oauth_client", "OAuth client file")
    client = secrets.get("installed") or secrets.get("web")
    if not isinstance(client, dict) or "client_id" not in client:
        raise ConfigError(
            f"OAuth client file {client_file} is not a client-secrets file (no 'installed' client). "
            "In the Google Cloud console create an OAuth client ID of type Desktop app and download its JSON."
        )
    token_path = config_dir() / TOKEN_FILE
    principal = Principal("oauth user", "oauth user", str(client_file),
                          relogin=f"Sign in again: delete {token_path} and rerun the command")
    creds = _cached_token(token_path, client["client_id"])
    if creds is not None:
        return creds, principal

    from google_auth_oauthlib.flow import InstalledAppFlow

    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_file), scopes=SCOPES)
        creds = flow.run_local_server(port=0, open_browser=True)
    except ValueError as e:
        raise ConfigError(f"OAuth client file {client_file} cannot be used: {e}") from None
    except Exception as e:  # oauthlib and the local server raise many types; none should be a traceback
        raise ConfigError(
            f"The Google sign-in with OAuth client {client_file} did not complete ({type(e).__name__}). "
            "Run the command again and finish the consent in the browser, or use a service-account key."
        ) from None
    _save_token(token_path, creds)
    return creds, principal


def _cached_token(path: Path, client_id: str) -> Credentials | None:
    """The cached user token if it belongs to this client and is (or can be made) valid; else ``None``
    (the caller runs the consent flow again)."""
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("client_id") != client_id:
            return None
        creds = google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if creds.valid:
        return creds
    if not creds.refresh_token:
        return None
    from google.auth.transport.requests import Request

    try:
        creds.refresh(Request())
    except google.auth.exceptions.RefreshError:
        return None  # revoked or expired for good: sign in again
    except google.auth.exceptions.TransportError:
        raise ConfigError(
            f"Could not reach Google to refresh the cached sign-in ({path}). Check the network and retry."
        ) from None
    _save_token(path, creds)
    return creds


def _save_token(path: Path, creds: Any) -> None:
    """Write the token atomically, readable by the user only (it grants access to their Drive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".token-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(creds.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def _from_adc() -> tuple[Credentials, Principal]:
    path = _adc_path()
    try:
        with warnings.catch_warnings(), _quiet("google.auth._default"):
            # google-auth warns (on stderr) about user credentials without a quota project or a project id;
            # sheetsync does not need the project id, and auth check explains the quota project better
            warnings.simplefilter("ignore", UserWarning)
            creds = _gcloud_user_login(path) or google.auth.default(scopes=SCOPES)[0]
    except google.auth.exceptions.DefaultCredentialsError:
        raise ConfigError("No Google credentials found.\n" + HOW_TO_AUTHENTICATE) from None
    except google.auth.exceptions.GoogleAuthError as e:
        raise ConfigError(
            f"The application-default credentials cannot be used ({type(e).__name__}). Run "
            f"`{ADC_LOGIN}` again.\n" + HOW_TO_AUTHENTICATE
        ) from None
    if isinstance(creds, google.oauth2.credentials.Credentials):  # a person's login, made with gcloud
        source = f"application-default credentials ({path})"
        info = {"client_id": creds.client_id, "quota_project_id": creds.quota_project_id}
        return creds, Principal("application default", "your Google account (application-default login)",
                                source, user_credential_warnings(info, source), _ADC_RELOGIN)
    email = getattr(creds, "service_account_email", None)
    who = email if isinstance(email, str) and "@" in email else "application default"
    return creds, Principal("application default", who, "application-default credentials")


def _gcloud_user_login(path: str) -> Credentials | None:
    """A person's login in gcloud's ADC file, read directly: ``google.auth.default()`` would also run
    ``gcloud config config-helper`` (about a second per command) for a project id sheetsync never uses.
    Anything else (no file, another credential type) is left to ``google.auth.default()``."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("type") != "authorized_user":
        return None
    try:
        creds = google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    except (ValueError, KeyError, TypeError):
        return None  # google.auth.default() reports it
    return creds.with_quota_project_from_environment() if not creds.quota_project_id else creds


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _adc_path() -> str:
    """Where gcloud keeps the application-default login (``$CLOUDSDK_CONFIG`` moves it; Windows uses
    %APPDATA%): google-auth's own answer when it has one."""
    from google.auth import _cloud_sdk

    finder = getattr(_cloud_sdk, "get_application_default_credentials_path", None)
    if finder is not None:
        return str(finder())
    root = os.environ.get("CLOUDSDK_CONFIG") or str(Path("~/.config/gcloud").expanduser())
    return str(Path(root) / "application_default_credentials.json")


def user_credential_warnings(info: Mapping[str, Any], source: str) -> tuple[str, ...]:
    """What is wrong with a person's stored login before any request is made.

    * gcloud's own OAuth client cannot be granted the Sheets/Drive scopes since 2025-06-23, so its token
      is refused by the Sheets API (see ``GCLOUD_CLIENT_ID``);
    * user credentials need a quota project, or Google bills the calls to gcloud's project, where the
      Sheets API is not enabled for you (google-reality.md "Credentials"; [I] xing5/mcp-google-sheets#30).
    """
    out: list[str] = []
    if info.get("client_id") == GCLOUD_CLIENT_ID:
        out.append(
            f"{source} was made with gcloud's own OAuth client, which Google no longer lets ask for the "
            f"Sheets and Drive scopes (since June 2025): log in again with an OAuth client (Desktop app) of "
            f"your own project: `{ADC_LOGIN}`."
        )
    if not info.get("quota_project_id") and not os.environ.get("GOOGLE_CLOUD_QUOTA_PROJECT"):
        out.append(
            f"{source} names no quota project, so Google may refuse the Sheets API calls: run "
            f"`{QUOTA_PROJECT_FIX}` with a project where the Sheets and Drive APIs are enabled."
        )
    return tuple(out)


def describe_refresh_failure(principal: Principal, error: Exception) -> ConfigError:
    """A ConfigError for a token that could not be obtained while calling the API (credentials are
    fetched lazily, on the first request)."""
    reason = str(error.args[0]) if error.args else type(error).__name__
    reason = reason.split("\n")[0][:200]
    if isinstance(error, google.auth.exceptions.TransportError):
        return ConfigError(
            f"Could not reach Google's token server for {principal.who} ({principal.source}): {reason}. "
            "Check the network and retry."
        )
    low = reason.lower()
    if principal.kind == "service account":
        fix = (
            "The key may have been deleted or disabled: create a new JSON key for the service account in "
            "the Google Cloud console and point to it"
        )
    elif any(word in low for word in ("access_denied", "unauthorized_client", "invalid_scope", "blocked")):
        # the client may not ask for these scopes: gcloud's own, blocked for Sheets/Drive since 2025-06-23
        fix = (
            "Google would not grant the Sheets/Drive scopes to this OAuth client (gcloud's own client has been "
            "blocked for them since June 2025). Use an OAuth client (Desktop app) of your own project: "
            f"`{ADC_LOGIN}`" if principal.kind == "application default" else
            "Google would not grant the Sheets/Drive scopes to this OAuth client: check that the client is a "
            "Desktop app of a project with the Sheets and Drive APIs enabled, and that you may use it"
        )
    elif "invalid_grant" in low:
        # "invalid_grant": the refresh token expired, was revoked, or the organisation wants a new sign-in
        fix = f"The login has expired or was revoked. {principal.relogin or _ADC_RELOGIN}"
    else:
        fix = principal.relogin or _ADC_RELOGIN
    return ConfigError(
        f"Google refused the credentials of {principal.who} ({principal.source}): {reason}. {fix}."
    )
