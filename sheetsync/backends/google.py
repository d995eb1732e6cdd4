"""Open a Google spreadsheet as a :class:`~sheetsync.backends.google_workbook.GoogleWorkbook`: by URL,
key or title, on a gspread client with sheetsync's transport.

* By URL or key: no request at all (a wrong key or missing access surfaces on the first read or write).
* By title: one Drive list over every drive the caller can see (plus one Drive create when it does not
  exist yet; see ``google_drive``). Never a second spreadsheet of that title: several visible ones are
  refused, and none is created when Drive could not search every shared drive.

See ``google_workbook`` for the requests each read and write costs.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

import gspread
from google.auth.credentials import Credentials

from sheetsync.backends.google_auth import Principal, resolve_credentials
from sheetsync.backends.google_drive import create_spreadsheet, drive_quote, find_by_title, folder_id
from sheetsync.backends.google_errors import api_error, guard
from sheetsync.backends.google_http import EMULATOR_ENV, SheetsyncHTTPClient
from sheetsync.backends.google_pacing import Pacer, Pacing, shared_pacer
from sheetsync.backends.google_workbook import GoogleWorkbook, spreadsheet_url
from sheetsync.errors import BackendError

__all__ = ["GoogleWorkbook", "SpreadsheetNotFound", "api_error", "connect", "drive_quote", "make_client", "open_google_workbook"]

#: A spreadsheet URL: Google's (``/spreadsheets/d/ID``) or the emulator's (``/_emulator/spreadsheets/ID``).
URL_KEY_RE = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)|/_emulator/spreadsheets/([A-Za-z0-9_-]+)")
KEY_RE = re.compile(r"[A-Za-z0-9_-]{25,}")


def spreadsheet_key(spreadsheet: str) -> str | None:
    """The key in a Sheets URL or a bare key; ``None`` when ``spreadsheet`` is a title.

    A title that looks exactly like a key (25+ letters, digits, ``-``, ``_`` and no space) is taken as a
    key; give such a spreadsheet by URL.
    """
    s = spreadsheet.strip()
    m = URL_KEY_RE.search(s)
    if m:
        return m.group(1) or m.group(2)
    if KEY_RE.fullmatch(s):
        return s
    return None


def make_client(
    credentials: Credentials,
    *,
    emulator_host: str | None = None,
    timeout: float = 30.0,
    pacing: Pacing | None = None,
    quota_user: str = "",
    pacer: Pacer | None = None,
    **http_options: Any,
) -> gspread.Client:
    """A gspread client on sheetsync's transport (emulator routing, pacing, safe retries) with a timeout
    (gspread's default is none at all). ``emulator_host`` defaults to ``$SHEETS_EMULATOR_HOST``.

    Requests are paced by the process-wide pacer of ``quota_user`` (Google counts quotas per user), at
    the rates of ``pacing`` (default: Google's 60 reads and 60 writes a minute) — or by ``pacer``.
    ``http_options`` go to :class:`SheetsyncHTTPClient` (``sleep``, ``notify``, retry bounds…).
    """
    pacing = pacing or Pacing()
    if pacer is None and (pacing.reads_per_minute or pacing.writes_per_minute):
        target = emulator_host or os.environ.get(EMULATOR_ENV) or "google"
        pacer = shared_pacer(target, quota_user, pacing)
    factory = functools.partial(
        SheetsyncHTTPClient, emulator_host=emulator_host, timeout=timeout, pacer=pacer,
        quota_wait_max=pacing.quota_wait_max, **http_options,
    )
    client = gspread.Client(auth=credentials, http_client=factory)  # type: ignore[arg-type]
    client.set_timeout(timeout)
    return client


def open_google_workbook(
    spreadsheet: str,
    *,
    credentials_file: str | None = None,
    oauth_client_file: str | None = None,
    emulator_host: str | None = None,
    create: bool = True,
    timeout: float = 30.0,
    folder: str = "",
    pacing: Pacing | None = None,
    pacer: Pacer | None = None,
) -> GoogleWorkbook:
    """Open a spreadsheet given as a URL, a key or a title (found via Drive, or created when ``create``,
    inside ``folder`` — a Drive folder URL or id — when given).

    Opening by URL or key makes no request: a wrong key or missing access surfaces on the first read or
    write, as a ``BackendError`` that says whom to share the spreadsheet with.
    """
    creds, principal = resolve_credentials(
        credentials_file=credentials_file, oauth_client_file=oauth_client_file, emulator_host=emulator_host
    )
    client = make_client(
        creds, emulator_host=emulator_host, timeout=timeout, pacing=pacing, quota_user=principal.who, pacer=pacer
    )
    return connect(client, spreadsheet, principal, create=create, folder=folder)


def connect(
    client: gspread.Client, spreadsheet: str, principal: Principal, *, create: bool = True, folder: str = ""
) -> GoogleWorkbook:
    """:func:`open_google_workbook` with a ready client and principal (for tests and embedding)."""
    key = spreadsheet_key(spreadsheet)
    if key is not None:
        return GoogleWorkbook(client, key, principal)
    title = spreadsheet.strip()
    if not title:
        raise BackendError("no spreadsheet given: pass a Google Sheets URL, key or title, or a .xlsx path")
    parent = folder_id(folder)
    ids, incomplete = guard(principal, None, lambda: find_by_title(client, title))
    if len(ids) == 1:
        return GoogleWorkbook(client, ids[0], principal)
    if ids:
        urls = ", ".join(spreadsheet_url(client, i) for i in ids)
        raise BackendError(
            f"{len(ids)} spreadsheets visible to {principal.who} are named {title!r}: {urls}. "
            "Pass the URL of the one to use."
        )
    if not create:
        raise SpreadsheetNotFound(title, principal, client, parent)
    if incomplete:
        # Drive could not search every shared drive: creating now might duplicate one we did not see.
        raise BackendError(
            f"Google Drive could not search every shared drive for a spreadsheet named {title!r}, so sheetsync "
            "will not create one (it might exist already). Pass the spreadsheet's URL instead."
        )
    key = guard(
        principal, None, lambda: create_spreadsheet(client, title, folder=parent), creating=title, folder=parent
    )
    return GoogleWorkbook(client, key, principal, created=True)


class SpreadsheetNotFound(BackendError):
    """No spreadsheet has this title (and we were asked not to create one): before a first push that is
    normal, so ``auth check`` says what the push will do instead of failing."""

    def __init__(self, title: str, principal: Principal, client: gspread.Client, folder: str) -> None:
        super().__init__(
            f"no spreadsheet named {title!r} is visible to {principal.who}: {principal.share_hint()}, "
            "or pass its URL."
        )
        self.title, self.principal, self.client, self.folder = title, principal, client, folder
