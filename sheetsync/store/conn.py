"""One connection to the store, whichever engine holds it: the SQL is written once, with ``?`` placeholders,
in the subset SQLite and PostgreSQL share (``INSERT … ON CONFLICT … DO UPDATE``, standard types), and each
engine's class supplies the three things that differ — how a placeholder is spelt, how a write transaction
takes the workspace's write lock, and what a driver error means for the user.

Transactions are the concurrency story, the same on both engines:

* ``write()``: one writer per workspace at a time (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction
  holding an advisory lock keyed by the workspace), so a read-modify-write such as "next pull id" or "the
  number of test looks so far" can never interleave with another command's. Writes never wait on the
  network (no Google or LLM call runs inside one), so the lock is held for milliseconds.
* ``read()``: one consistent snapshot for a read made of several queries (rows, then labels), so a reader
  never sees half of another command's write.

Both nest: a write inside a write (or a read inside either) joins the outer transaction, which is how a
command makes several store calls one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any

from sheetsync.errors import StoreError


class Conn:
    """The engine-neutral connection the ``Store`` methods use (subclassed per engine)."""

    engine: str = ""
    #: What to tell the user where the store is (a path, or a URL with its secrets masked).
    where: str = ""

    def __init__(self) -> None:
        self._depth = 0
        self._writing = False

    # -- what each engine supplies -----------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        raise NotImplementedError

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _begin(self, write: bool) -> None:
        raise NotImplementedError

    def _end(self, commit: bool) -> None:
        raise NotImplementedError

    def _explain(self, exc: Exception) -> StoreError:
        raise NotImplementedError

    def _driver_errors(self) -> tuple[type[Exception], ...]:
        raise NotImplementedError

    def tables(self) -> list[str]:
        """The workspace's tables, sorted."""
        raise NotImplementedError

    def references(self, table: str) -> list[str]:
        """The tables ``table``'s foreign keys point at."""
        raise NotImplementedError

    def ensure_namespace(self) -> None:
        """Create what holds the workspace's tables, if the engine has one (inside a write transaction)."""

    def close(self) -> None:
        raise NotImplementedError

    # -- queries ---------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor (``fetchone``, ``fetchall``, iteration, ``description``)."""
        try:
            return self._run(self._sql(sql), tuple(params))
        except self._driver_errors() as exc:
            raise self._explain(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row; ``rows`` is streamed to the driver (a push's 100,000 rows are never
        held twice)."""
        try:
            self._run_many(self._sql(sql), rows)
        except self._driver_errors() as exc:
            raise self._explain(exc) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def columns(self, table: str) -> list[str]:
        """The table's columns in order (read from an empty result, so it works on both engines)."""
        cur = self.execute(f"SELECT * FROM {quote(table)} WHERE 1 = 0")
        cur.fetchall()
        return [d[0] for d in cur.description]

    # -- transactions ----------------------------------------------------------------------------------------
    def write(self) -> AbstractContextManager[Conn]:
        """A write transaction holding the workspace's write lock (joins an enclosing one)."""
        if self._depth and not self._writing:
            raise RuntimeError("a store write inside a read transaction")  # a bug, not a user error
        return self._transaction(write=True)

    def read(self) -> AbstractContextManager[Conn]:
        """One snapshot for several queries (joins an enclosing read or write)."""
        return self._transaction(write=False)

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Conn]:
        if self._depth:  # joined: the outermost transaction commits or rolls back
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        try:
            self._begin(write)
        except self._driver_errors() as exc:
            raise self._explain(exc) from exc
        self._depth, self._writing = 1, write
        try:
            yield self
        except BaseException:
            self._depth, self._writing = 0, False
            with suppress(Exception):  # the connection is gone: the server rolled the transaction back itself
                self._end(commit=False)
            raise
        self._depth, self._writing = 0, False
        try:
            self._end(commit=True)
        except self._driver_errors() as exc:
            raise self._explain(exc) from exc

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0


def quote(name: str) -> str:
    """An identifier as both engines quote it."""
    return '"' + name.replace('"', '""') + '"'
