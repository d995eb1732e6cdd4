"""Moving a workspace's whole history between stores: ``sheetsync store export FILE`` writes it to a new SQLite
file, ``sheetsync store import FILE`` reads such a file into the workspace's (empty) store — so a person's
``.sheetsync/state.db`` moves onto the team's PostgreSQL database, and back, and any store can be backed up.

The export file is itself a store (``[store] url = "sqlite:///FILE"`` opens it), at the same schema version.
Every table is copied — found in the database, not from a list here, so a table added by a later migration
travels too — with every column by name and every value as it is (text, NULLs, 8-byte floats: PostgreSQL's
DOUBLE PRECISION and SQLite's REAL are both IEEE doubles), in one read snapshot of the source and one write
transaction on the destination: a copy is whole, or nothing is written.

Importing into a store that already holds some of the workspace's history is refused rather than merged:
two histories' pull numbers, stale flags and looks cannot be interleaved without inventing an order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sheetsync.errors import StoreError, UserInputError
from sheetsync.store import Store, open_location
from sheetsync.store.conn import Conn, quote
from sheetsync.store.schema import VERSION_TABLE, version

if TYPE_CHECKING:
    from sheetsync.config import Config

BATCH = 2000  # rows per executemany: bounded memory for a store of any size


def copy_store(src: Store, dst: Store) -> dict[str, int]:
    """Every row of every table of ``src`` into ``dst``, which must hold nothing yet; rows copied, by table."""
    if version(src.db) != version(dst.db):
        raise StoreError(f"{src.where} is at schema version {version(src.db)}, {dst.where} at {version(dst.db)}: "
                         "open both with the same sheetsync first.")
    counts: dict[str, int] = {}
    with src.reading(), dst.transaction():
        held = {t: n for t in _tables(dst.db) if (n := _count(dst.db, t))}
        if held:
            raise UserInputError(
                f"{dst.where} already holds history for this workspace ({_summary(held)}); an import goes into an "
                "empty store only. Name a new workspace ([store] workspace) or point [store] url at an empty "
                "database; nothing was written."
            )
        theirs = set(_tables(dst.db))
        for table in _parents_first(src.db, _tables(src.db)):
            if table not in theirs:
                raise StoreError(f"{dst.where} has no table {table!r}, which {src.where} has: nothing was written.")
            cols = src.db.columns(table)
            missing = set(cols) - set(dst.db.columns(table))
            if missing:
                raise StoreError(f"{dst.where}: table {table} lacks column(s) {', '.join(sorted(missing))}: nothing "
                                 "was written.")
            counts[table] = _copy_table(src.db, dst.db, table, cols)
    return counts


def _copy_table(src: Conn, dst: Conn, table: str, cols: list[str]) -> int:
    names = ", ".join(quote(c) for c in cols)
    insert = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join('?' for _ in cols)})"
    cur = src.execute(f"SELECT {names} FROM {quote(table)}")
    n = 0
    while batch := cur.fetchmany(BATCH):
        dst.executemany(insert, batch)
        n += len(batch)
    return n


def _tables(conn: Conn) -> list[str]:
    return [t for t in conn.tables() if t != VERSION_TABLE]


def _count(conn: Conn, table: str) -> int:
    return int(conn.one(f"SELECT COUNT(*) FROM {quote(table)}")[0])  # type: ignore[index]


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} in {t}" for t, n in sorted(counts.items()))


def _parents_first(conn: Conn, tables: list[str]) -> list[str]:
    """Tables ordered so that one a foreign key points at comes before the table pointing (PostgreSQL checks
    each row's reference as it is inserted)."""
    refs = {t: set(conn.references(t)) & set(tables) - {t} for t in tables}
    ordered: list[str] = []
    while refs:
        ready = sorted(t for t, parents in refs.items() if parents <= set(ordered))
        if not ready:  # a cycle: no order satisfies it, let the destination say which row fails
            ready = sorted(refs)
        ordered += ready
        for t in ready:
            refs.pop(t)
    return ordered


def export_workspace(cfg: Config, file: str | Path) -> dict[str, Any]:
    """The workspace's store, whole, into a new SQLite file ``file``."""
    from sheetsync.store.location import locate

    path = Path(file)
    if path.exists():
        raise UserInputError(f"{path}: already exists. Export into a new file (nothing was written).")
    loc = locate(cfg)
    src = open_location(loc, create=False)
    if src is None:
        raise UserInputError(f"nothing to export: {loc.shown} holds no history for this workspace yet.")
    try:
        dst = Store(path)
        try:
            counts = copy_store(src, dst)
        except BaseException:
            dst.close()
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                p.unlink(missing_ok=True)
            raise
        dst.close()
    finally:
        src.close()
    return {"from": loc.shown, "to": str(path), "tables": counts}


def import_workspace(cfg: Config, file: str | Path) -> dict[str, Any]:
    """A file ``store export`` wrote, into the workspace's store (which must be empty)."""
    from sheetsync.store.location import locate

    path = Path(file)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file (an export written by `sheetsync store export FILE`).")
    loc = locate(cfg)
    if loc.engine == "sqlite" and loc.path is not None and loc.path.resolve() == path.resolve():
        raise UserInputError(f"{path} is this workspace's own store: import another file.")
    src = Store(path)
    try:
        dst = open_location(loc)
        assert dst is not None
        try:
            counts = copy_store(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    return {"from": str(path), "to": loc.shown, "tables": counts}


def describe(cfg: Config) -> dict[str, Any]:
    """Where the workspace's store is and what it holds (``sheetsync store info``)."""
    from sheetsync.store.location import locate

    loc = locate(cfg)
    info: dict[str, Any] = {"engine": loc.engine, "store": loc.shown}
    if loc.engine == "postgresql":
        from sheetsync.store.postgres import schema_name

        info |= {"workspace": loc.workspace, "schema": schema_name(loc.workspace)}
    store = open_location(loc, create=False)
    if store is None:
        return {**info, "exists": False}
    try:
        with store.reading():
            info |= {"exists": True, "schema_version": version(store.db),
                     "tables": {t: _count(store.db, t) for t in _tables(store.db)}}
    finally:
        store.close()
    return info
