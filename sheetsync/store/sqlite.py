"""The SQLite engine: the zero-setup default, one file per workspace (``.sheetsync/state.db``).

The file is checked before anything is written (``sheetsync.state_file``: writable, not damaged) and runs in
WAL mode, so readers never wait for a writer and a writer waits (up to 30 s, the busy timeout) only for
another writer. ``BEGIN IMMEDIATE`` takes the write lock at the start of a write transaction rather than at
its first write: a transaction that read first and then found another writer ahead of it would have to
fail, not wait.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sheetsync.errors import StoreError
from sheetsync.state_file import explain, open_state_file
from sheetsync.store.conn import Conn, quote


class SqliteConn(Conn):
    engine = "sqlite"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.where = str(self.path)
        self.raw = open_state_file(self.path)  # healthy and writable, or a StoreError before anything is written

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        return self.raw.execute(sql, params)

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.raw.executemany(sql, rows)

    def _begin(self, write: bool) -> None:
        self.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _end(self, commit: bool) -> None:
        self.raw.execute("COMMIT" if commit else "ROLLBACK")

    def _explain(self, exc: Exception) -> StoreError:
        return explain(self.path, exc)  # type: ignore[arg-type]

    def _driver_errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error,)

    def tables(self) -> list[str]:
        cur = self.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                           "ORDER BY name")
        return [r[0] for r in cur]

    def references(self, table: str) -> list[str]:
        return sorted({r[2] for r in self.execute(f"PRAGMA foreign_key_list({quote(table)})")})

    def close(self) -> None:
        self.raw.close()
