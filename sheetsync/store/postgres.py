"""The PostgreSQL engine: a store a team (and its CI) shares, through psycopg 3.

Why psycopg 3 directly: it is PostgreSQL's maintained driver (psycopg2 is in maintenance), its binary wheel
ships libpq (no compiler, no system library), and the store needs nothing a query builder would add — the
SQL is the subset both engines share (``sheetsync.store.conn``). It is imported only when a store URL names
PostgreSQL, so the SQLite user pays nothing for it (the ``[postgres]`` extra brings it).

**Workspaces.** Several workspaces (spreadsheets) share one database, each in a PostgreSQL schema of its
own, ``ss_<name>_<hash>``, named from the workspace's name (``[store] workspace``, else the spreadsheet's
Google id — see ``sheetsync.store.location``). The connection's ``search_path`` is that schema alone, so the
store's SQL — the same text SQLite runs — cannot see another workspace's tables; dropping a workspace is
``DROP SCHEMA … CASCADE``. The schema's comment holds the workspace's name, for whoever looks in psql.

**Concurrency.** A write transaction first takes ``pg_advisory_xact_lock`` on a key derived from the schema:
one writer per workspace at a time (as SQLite's ``BEGIN IMMEDIATE``), other workspaces never wait, and the
lock ends with the transaction even if the client dies. A read of several queries runs in one
``REPEATABLE READ READ ONLY`` snapshot. ``lock_timeout`` (60 s) bounds a wait behind a stuck writer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sheetsync.errors import StoreError
from sheetsync.redact import redact
from sheetsync.store.conn import Conn, quote

CONNECT_TIMEOUT = 10  # seconds: an unreachable store is reported, not waited on for minutes
LOCK_TIMEOUT = "60s"
# the driver by its own name: "sheetsync" on PyPI is another project (sheetsync installs from its source)
_INSTALL = "pip install 'psycopg[binary]>=3.1' (or, in sheetsync's source folder, pip install -e '.[postgres]')"


def schema_name(workspace: str) -> str:
    """The workspace's schema: readable, and unique by its hash (63 bytes at most, PostgreSQL's limit)."""
    slug = re.sub(r"[^a-z0-9]+", "_", workspace.lower()).strip("_")[:36] or "workspace"
    return f"ss_{slug}_{hashlib.sha256(workspace.encode()).hexdigest()[:10]}"


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(b"sheetsync-write:" + schema.encode()).digest()[:8], "big", signed=True)


def _driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            f"[store] url names a PostgreSQL database, which needs the psycopg driver: {_INSTALL} "
            "(or leave [store] url empty to use the local file .sheetsync/state.db)."
        ) from exc
    return psycopg


class PostgresConn(Conn):
    engine = "postgresql"

    def __init__(self, url: str, workspace: str, where: str):
        super().__init__()
        self.psycopg = _driver()
        self.workspace, self.where = workspace, where
        self.schema = schema_name(workspace)
        self._key = _lock_key(self.schema)
        self._sql_cache: dict[str, str] = {}
        params = self.psycopg.conninfo.conninfo_to_dict(url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        params.setdefault("application_name", "sheetsync")
        try:
            self.raw = self.psycopg.connect(autocommit=True, **params)
            self.raw.execute(f"SET search_path TO {quote(self.schema)}")
            self.raw.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        except self.psycopg.Error as exc:
            raise self._explain(exc) from exc

    def _sql(self, sql: str) -> str:
        found = self._sql_cache.get(sql)
        if found is None:
            found = self._sql_cache[sql] = placeholders(sql)
        return found

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        return self.raw.execute(sql, params)  # never None: psycopg would then send "%%" (escaped by _sql) as is

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(sql, rows)

    def _begin(self, write: bool) -> None:
        if write:
            self.raw.execute("BEGIN")
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
        else:
            self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _end(self, commit: bool) -> None:
        self.raw.execute("COMMIT" if commit else "ROLLBACK")

    def _driver_errors(self) -> tuple[type[Exception], ...]:
        return (self.psycopg.Error,)

    def _explain(self, exc: Exception) -> StoreError:
        return explain(self.where, exc)

    def exists(self) -> bool:
        """Whether this workspace has a schema in the database yet (a read-only command creates none)."""
        return self.one("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,)) is not None

    def write_problem(self) -> str | None:
        """Why this login could not write the workspace's tables (a read-only role, a standby), or None.
        Asked before a command that writes changes anything, as the SQLite opener's write probe is: a push
        that wrote the sheet and then failed at the store would leave the two disagreeing."""
        row = self.one(
            """SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery(),
                      COALESCE(bool_and(has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE')), true), current_user
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'""",
            (self.schema,))
        assert row is not None
        read_only, allowed, user = row
        if read_only:
            return "the server accepts no writes (a read-only server or standby)"
        if not allowed:
            return f"the database user {user!r} may read this workspace's tables but not write them"
        return None

    def ensure_namespace(self) -> None:
        sql = self.psycopg.sql
        try:
            self.raw.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self.raw.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(self.schema), sql.Literal(f"sheetsync workspace: {self.workspace}")))
        except self.psycopg.Error as exc:
            raise self._explain(exc) from exc

    def tables(self) -> list[str]:
        cur = self.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                           "AND table_type = 'BASE TABLE' ORDER BY table_name", (self.schema,))
        return [r[0] for r in cur]

    def references(self, table: str) -> list[str]:
        cur = self.execute(
            """SELECT DISTINCT parent.relname FROM pg_constraint c JOIN pg_class child ON c.conrelid = child.oid
               JOIN pg_namespace n ON child.relnamespace = n.oid JOIN pg_class parent ON c.confrelid = parent.oid
               WHERE c.contype = 'f' AND n.nspname = ? AND child.relname = ? ORDER BY 1""", (self.schema, table))
        return [r[0] for r in cur]

    def close(self) -> None:
        self.raw.close()


def placeholders(sql: str) -> str:
    """SQL written for both engines (``?`` placeholders) as psycopg takes it (``%s``; a literal ``%`` doubled);
    a ``?`` inside a quoted string or identifier is text, not a placeholder."""
    out, quote_char = [], ""
    for ch in sql:
        if quote_char:
            quote_char = "" if ch == quote_char else quote_char  # '' inside a string: closes, then reopens
        elif ch in "'\"":
            quote_char = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


def explain(where: str, exc: Exception) -> StoreError:
    """What a PostgreSQL error means for the user, and what to do (the server's text, secrets masked)."""
    text = redact(" ".join(str(exc).split()))
    sqlstate = getattr(exc, "sqlstate", None) or ""
    kind = type(exc).__name__
    if sqlstate == "55P03" or "lock timeout" in text:
        return StoreError(f"{where}: the workspace is in use by another sheetsync command (still locked after "
                          f"{LOCK_TIMEOUT}). Wait for it to finish, then run this one again. Nothing was written.")
    if sqlstate.startswith("28") or "authentication" in text:
        return StoreError(f"{where}: the PostgreSQL server refused the login ({text}). Check the user and password "
                          "in [store] url or SHEETSYNC_STORE_URL (or PGPASSWORD). Nothing was written.")
    if sqlstate == "25006":
        return StoreError(f"{where}: the server accepts no writes ({text}): point [store] url at the primary, not "
                          "a read-only standby. Nothing was written.")
    if sqlstate.startswith("42501") or "permission denied" in text:
        return StoreError(f"{where}: the database user may not do this ({text}). It needs to create a schema in "
                          "the database (once per workspace) and tables in it. Nothing was written.")
    if kind in ("OperationalError", "InterfaceError") or sqlstate.startswith("08"):
        return StoreError(
            f"{where}: cannot reach the team store ({text}). Check [store] url (or SHEETSYNC_STORE_URL), that the "
            "server is running and reachable from here, and the network. Nothing was written."
        )
    return StoreError(f"{where}: the team store failed ({text}). Nothing was written.")
