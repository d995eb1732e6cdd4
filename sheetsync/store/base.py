"""What every part of the ``Store`` shares: the connection, its transactions, and the workspace's meta
(settings a command remembers for the next one: the spreadsheet, the Annotate layout, the marker salt…)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sheetsync.store.conn import Conn


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` for ``columns`` (both engines run it; ``INSERT OR REPLACE``
    is SQLite's alone, and deletes the old row first)."""
    marks = ", ".join("?" for _ in columns)
    rest = [c for c in columns if c not in keys]
    action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in rest)) if rest else "DO NOTHING"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({', '.join(keys)}) {action}"


_META = upsert("meta", ("key", "value"), ("key",))


class StoreBase:
    """The connection and its transactions. Every public ``Store`` method is one transaction (a single
    upsert is one by itself; anything that reads before it writes takes the write lock); a command that
    makes several calls and needs them to land together wraps them in ``store.transaction()``."""

    def __init__(self, conn: Conn):
        self.db = conn

    @property
    def engine(self) -> str:
        return self.db.engine

    @property
    def where(self) -> str:
        """Where the store is, fit to print (a path, or a URL with its secrets masked)."""
        return self.db.where

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """One write transaction holding the workspace's write lock; the store calls made inside it join it."""
        with self.db.write() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Conn]:
        """One consistent snapshot for several reads."""
        with self.db.read() as db:
            yield db

    # -- settings remembered by the workspace ----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(_META, (key, value))  # one statement: atomic without the write lock

    def meta_default(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none: two commands that both
        find it missing agree on one value (the first to write), not one each."""
        with self.db.write() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            row = db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else value
