"""Where a workspace's store is: ``[store] url`` (or ``SHEETSYNC_STORE_URL``), else ``.sheetsync/state.db``.

* empty: the local SQLite file ``.sheetsync/state.db`` (one person, zero setup);
* ``sqlite:///path/to/file.db``: another SQLite file (relative paths from the workspace root; four slashes
  for an absolute path, as in SQLAlchemy's URLs). A file holds one workspace;
* ``postgresql://user:password@host:5432/dbname`` (any libpq URL, ``postgres://`` too): a database a team
  shares. The workspace's name picks its namespace there (``sheetsync.store.postgres``): ``[store]
  workspace``, else the Google id of the config's ``spreadsheet`` — so every clone of a workspace whose
  sheetsync.toml names the spreadsheet by URL lands in the same place with nothing more to set. A title or
  an .xlsx path is not unique enough to share a database under (every demo is called labels.xlsx): those
  workspaces must name themselves.

The URL's password is a secret: it is registered with ``sheetsync.redact`` the moment it is read, and the
store is always shown as ``postgresql://***@host:5432/dbname``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from sheetsync.errors import ConfigError
from sheetsync.redact import redact, register

if TYPE_CHECKING:
    from sheetsync.config import Config

SQLITE_PREFIX = "sqlite:///"
# a Google spreadsheet's id, in its URL or alone (as sheetsync.backends.google.spreadsheet_key reads it)
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)|/_emulator/spreadsheets/([A-Za-z0-9_-]+)")
_KEY = re.compile(r"[A-Za-z0-9_-]{25,}")


@dataclass(frozen=True)
class Location:
    engine: str  # "sqlite" or "postgresql"
    path: Path | None = None  # SQLite
    url: str = ""  # PostgreSQL, with its secrets: never print it, print ``shown``
    workspace: str = ""  # PostgreSQL: the namespace inside the database
    shown: str = ""  # fit to print

    @property
    def default_file(self) -> bool:
        return self.engine == "sqlite" and self.path is not None and self.path.name == "state.db"


def locate(cfg: Config) -> Location:
    """Where ``cfg``'s workspace keeps its store (``ConfigError`` when a PostgreSQL one has no name)."""
    url = cfg.store.url
    if not url:
        path = cfg.state_dir / "state.db"
        return Location("sqlite", path=path, shown=str(path))
    if url.lower().startswith("sqlite:"):
        path = cfg.path(unquote(url[len(SQLITE_PREFIX):]))
        return Location("sqlite", path=path, shown=str(path))
    parts = urlsplit(url)
    if parts.password:
        register(unquote(parts.password))
    if parts.scheme == "postgresql+psycopg":
        url = "postgresql" + url[len(parts.scheme):]
    return Location("postgresql", url=url, workspace=workspace_name(cfg), shown=shown_url(url))


def nothing_to_report(cfg: Config) -> str:
    """Why a report has nothing to read, naming the store it looked in: with no store URL set, that may be a
    CI job or a new clone whose SHEETSYNC_STORE_URL is missing (the history is in the team's store)."""
    try:
        where = locate(cfg).shown
    except ConfigError:
        where = "the store"
    text = f"nothing to report: {where} holds no rows for this workspace. Run `sheetsync push DATA` first"
    if not cfg.store.url:
        text += (" — or, if this workspace's history is in a team store (a CI job, a new clone), set "
                 "SHEETSYNC_STORE_URL (or [store] url) to it")
    return text + "."


def postgres_url_problem(url: str) -> str | None:
    """Why a PostgreSQL URL cannot be read as one (None: it can). What looks like its password is registered
    as a secret first — also one whose unencoded ``/`` or ``#`` hides it from the URL's parser, and so from
    ``redact``'s URL rule — so the message that shows the value (the config loader's) masks it."""
    rest = url.split("://", 1)[1] if "://" in url else url
    if "@" in rest:
        userinfo = rest[: rest.rfind("@")]
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            register(password)
            register(unquote(password))
    encode = ("percent-encode / @ : ? # in the user or password (%2F %40 %3A %3F %23), or leave the password out "
              "of the URL and set PGPASSWORD")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return f"the URL parser cannot read it (a port that is not a number, or unmatched [ ] around an address): {encode}"
    if "@" in rest.split("?", 1)[0] and "@" not in parts.netloc:
        return f"has an @ after the host, so the password is not where a URL's parser looks for it: {encode}"
    return None


def shown_url(url: str) -> str:
    """The URL without its credentials or secret-looking query parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if parts.username or parts.password else "") + host + (f":{parts.port}" if parts.port else "")
    return redact(f"{parts.scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else ""))


def workspace_name(cfg: Config) -> str:
    if cfg.store.workspace:
        return cfg.store.workspace
    key = spreadsheet_id(cfg.spreadsheet)
    if key:
        return key
    named = f" (spreadsheet = {cfg.spreadsheet!r} is not a Google Sheets URL or id)" if cfg.spreadsheet else ""
    raise ConfigError(
        f"[store] url points at a database several workspaces can share, and this workspace has no name there{named}: "
        f"set [store] workspace = \"a-name-for-this-project\" in {cfg.source or 'sheetsync.toml'} (or "
        "SHEETSYNC_STORE_WORKSPACE), the same in every clone of it."
    )


def spreadsheet_id(spreadsheet: str) -> str | None:
    s = spreadsheet.strip()
    m = _URL_ID.search(s)
    if m:
        return m.group(1) or m.group(2)
    return s if _KEY.fullmatch(s) else None
