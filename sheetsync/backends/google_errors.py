"""Google's error answers, turned into messages that say what to do (after the transport's retries).

Google uses two error shapes: Sheets' ``google.rpc.Status`` (``code``, ``message``, ``status`` and
``details[]`` with an ``ErrorInfo.reason``) and Drive's older ``errors[]`` list with ``domain`` and
``reason`` (sheets-api.md §5.3). The same HTTP code means different things depending on the reason —
Drive's ``usageLimits`` 403 is both "slow down" and "a service account has no storage" — so the
reason decides the message, never the code alone ([I] iterative/PyDrive2#238).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import google.auth.exceptions
import requests
from gspread.exceptions import APIError

from sheetsync.backends.google_auth import Principal, describe_refresh_failure
from sheetsync.backends.google_http import EMULATOR_ENV
from sheetsync.errors import BackendError, SheetsyncError

T = TypeVar("T")

SCOPES_HINT = "https://www.googleapis.com/auth/spreadsheets,https://www.googleapis.com/auth/drive"


def reasons(err: Mapping[str, Any]) -> set[str]:
    """Every ``reason`` in an error body: Drive's ``errors[]`` and Sheets' ``details[]`` (ErrorInfo)."""
    out: set[str] = set()
    for key in ("errors", "details"):
        for item in err.get(key) or []:
            if isinstance(item, Mapping) and item.get("reason"):
                out.add(str(item["reason"]))
    return out


def api_error(
    e: APIError, principal: Principal, key: str | None, *, creating: str = "", folder: str = ""
) -> BackendError:
    """The BackendError for a Google error answer. ``creating``: the title of a spreadsheet being
    created (in ``folder``, a Drive folder id, when given)."""
    err: Mapping[str, Any] = e.error if isinstance(e.error, Mapping) else {}
    code = e.code
    message = str(err.get("message", ""))[:500]
    why = reasons(err)
    what = f"spreadsheet {key}" if key else "Google Drive"
    if code == 403 and "storageQuotaExceeded" in why:
        return storage_quota_error(principal, creating, folder)
    if creating and folder and code == 404:
        return BackendError(
            f"the folder {folder} (--folder or [google] folder) does not exist or {principal.who} cannot see "
            f"it: add {principal.who} to the shared drive (or share the folder with it) as Content manager, "
            "or fix the folder's URL."
        )
    if creating and folder and code == 403:
        return BackendError(
            f"{principal.who} can see the folder {folder} but may not add files to it ({message}): give it "
            "the Content manager (or Contributor) role on the shared drive or folder."
        )
    if code == 404 and key:
        return BackendError(f"{what} not found — check the id or {principal.share_hint()}.")
    if code == 403 and ("ACCESS_TOKEN_SCOPE_INSUFFICIENT" in why or "insufficient authentication scopes" in message):
        return scope_error(principal, message)
    if code == 403 and _wants_quota_project(why, message):
        return BackendError(
            f"Google refused the user credentials of {principal.who} because they name no quota project "
            f"({message}). Run `gcloud auth application-default set-quota-project YOUR_PROJECT_ID` (a project "
            "with the Sheets and Drive APIs enabled), then run the command again."
        )
    if code == 403:
        return BackendError(
            f"{principal.who} has no access to {what} ({message or 'permission denied'}) — "
            f"{principal.share_hint()}."
        )
    if code == 401:
        return BackendError(
            f"Google rejected the credentials of {principal.who} ({principal.source}): {message}. "
            "Check the credentials (see `sheetsync auth check`)."
        )
    if code == 429:
        return BackendError(
            f"Google's quota for {principal.who} is exhausted, even after retrying ({message}). "
            "Wait a minute and run the command again; nothing was half-written."
        )
    return BackendError(f"Google Sheets API error {code} on {what}: {message}")


def storage_quota_error(principal: Principal, title: str, folder: str) -> BackendError:
    """What to do when Drive refuses a create with ``storageQuotaExceeded``.

    A service account has no Drive storage: creating without a parent on a shared drive fails, and the
    working paths are a spreadsheet a person creates and shares with the account, or a create inside a
    shared-drive folder (``parents`` + ``supportsAllDrives``) [D] Drive shared-drives guide (quoted in
    n8n-io/n8n#26050); google-reality.md "service accounts".
    """
    name = f" {title!r}" if title else ""
    if principal.kind != "service account":
        return BackendError(
            f"Google Drive refused to create the spreadsheet{name}: the Drive storage of {principal.who} is "
            "full (storageQuotaExceeded). Free some space, or create it in a folder on a shared drive "
            '(--folder FOLDER_URL on push, or [google] folder = "FOLDER_URL" in sheetsync.toml).'
        )
    where = (
        f"in the folder {folder}: that folder is not on a shared drive (a file a service account creates "
        "in a person's My Drive still needs storage of its own)"
        if folder
        else "(service accounts have no Drive storage of their own)"
    )
    return BackendError(
        f"{principal.who} is a service account and cannot create the spreadsheet{name} {where}. Either:\n"
        f"  1. create the spreadsheet yourself in Google Sheets, share it with {principal.who} as Editor, "
        'and pass its URL (--spreadsheet URL, or spreadsheet = "URL" in sheetsync.toml); or\n'
        f"  2. use a folder on a shared drive where {principal.who} is a Content manager: --folder "
        'FOLDER_URL on push, or [google] folder = "FOLDER_URL" in sheetsync.toml.'
    )


def scope_error(principal: Principal, message: str) -> BackendError:
    """The token lacks the Sheets/Drive scopes: what an application-default login made with gcloud's own
    OAuth client gets since 2025-06-23, when that client stopped being allowed to ask for them
    ([I] Google notice quoted in gcpug/nouhau#124; xing5/mcp-google-sheets#29)."""
    fix = (
        "Log in again with your own OAuth client (Desktop app) and both scopes: `gcloud auth "
        f"application-default login --client-id-file=CLIENT.json --scopes={SCOPES_HINT},"
        "https://www.googleapis.com/auth/cloud-platform`"
        if principal.kind == "application default"
        else "Give the credentials the Sheets and Drive scopes (see the README's \"Setting up Google Sheets\")"
    )
    return BackendError(
        f"the credentials of {principal.who} ({principal.source}) lack the Google Sheets/Drive scopes "
        f"({message}). {fix}."
    )


def _wants_quota_project(why: set[str], message: str) -> bool:
    """User ADC without a quota project: Google bills such calls to gcloud's own project, where the
    Sheets API is not enabled for you ([I] xing5/mcp-google-sheets#30; the wording of the 403 is
    inferred from google-auth's own warning about it [inf])."""
    text = message.lower()
    return "quota project" in text or ("SERVICE_DISABLED" in why and "764086051850" in message)


def guard(
    principal: Principal, key: str | None, call: Callable[[], T], *, creating: str = "", folder: str = ""
) -> T:
    """Run one API call; turn every failure into an error that says what to do."""
    try:
        return call()
    except SheetsyncError:
        raise
    except APIError as e:
        raise api_error(e, principal, key, creating=creating, folder=folder) from None
    except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError) as e:
        raise describe_refresh_failure(principal, e) from None
    except google.auth.exceptions.GoogleAuthError as e:
        raise BackendError(
            f"Google authentication failed for {principal.who}: {type(e).__name__}: {e}"
        ) from None
    except requests.RequestException as e:
        where = f"the Sheets emulator ({principal.who}; {EMULATOR_ENV})" if principal.kind == "emulator" else "Google Sheets"
        raise BackendError(
            f"could not reach {where} ({type(e).__name__}): {str(e)[:300]}. Check the network and retry."
        ) from None
