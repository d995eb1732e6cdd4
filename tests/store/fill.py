"""Rows for every table and a value for every column of an SQLite store, found from its schema: so a round
trip that compares every table also covers the tables and columns later migrations add (another branch's
tables arrive filled, with no edit here). Values are awkward on purpose: quotes, ``?`` and ``%s``, newlines,
non-ASCII text, the largest 4-byte integer (PostgreSQL's INTEGER), floats a 4-byte float would change."""

from __future__ import annotations

from sheetsync.store import Store
from sheetsync.store.conn import quote
from sheetsync.store.schema import VERSION_TABLE

TEXT = "gen {table}.{col} #{i}: 'single' \"double\" ? %s :name\nline 2\tü ✓ 🦉"
ROWS_PER_TABLE = 2  # the second leaves every nullable column NULL


def fill_every_table(store: Store) -> dict[str, int]:
    """Rows into every empty table (parents first; a foreign key takes a parent's existing value), then a value
    into every column that holds only NULLs; what was added, by table."""
    db = store.db
    assert db.engine == "sqlite", "filled from SQLite's schema (PRAGMA); the round trip carries it elsewhere"
    tables = [t for t in db.tables() if t != VERSION_TABLE]
    added: dict[str, int] = {}
    with store.transaction():
        for table in _parents_first(store, tables):
            if db.one(f"SELECT COUNT(*) FROM {quote(table)}")[0] == 0:  # type: ignore[index]
                added[table] = _fill(store, table)
        for table in tables:
            for col in _columns(store, table):
                if col["pk"] or col["fk"]:
                    continue
                if db.one(f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(col['name'])} IS NOT NULL")[0] == 0:  # type: ignore[index]
                    db.execute(f"UPDATE {quote(table)} SET {quote(col['name'])} = ? WHERE rowid = "
                               f"(SELECT MIN(rowid) FROM {quote(table)})", (_value(table, col, 0),))
                    added[table] = added.get(table, 0)
    return added


def _columns(store: Store, table: str) -> list[dict]:
    fks = {r[3]: (r[2], r[4]) for r in store.db.all(f"PRAGMA foreign_key_list({quote(table)})")}
    return [{"name": name, "type": (kind or "").upper(), "notnull": bool(notnull), "pk": bool(pk),
             "fk": fks.get(name)} for _cid, name, kind, notnull, _default, pk in
            store.db.all(f"PRAGMA table_info({quote(table)})")]


def _parents_first(store: Store, tables: list[str]) -> list[str]:
    ordered: list[str] = []
    pending = {t: {fk[0] for c in _columns(store, t) if (fk := c["fk"])} - {t} for t in tables}
    while pending:
        ready = sorted(t for t, parents in pending.items() if parents <= set(ordered)) or sorted(pending)
        ordered += ready
        for t in ready:
            pending.pop(t)
    return ordered


def _fill(store: Store, table: str) -> int:
    cols = _columns(store, table)
    rows = []
    for i in range(ROWS_PER_TABLE):
        row = []
        for col in cols:
            if col["fk"]:
                parent, key = col["fk"]
                values = [r[0] for r in store.db.all(f"SELECT {quote(key or 'rowid')} FROM {quote(parent)} ORDER BY 1")]
                assert values, f"{table}.{col['name']} points at {parent}, which is empty"
                row.append(values[i % len(values)])
            elif i and not col["notnull"] and not col["pk"]:
                row.append(None)
            else:
                row.append(_value(table, col, i))
        rows.append(row)
    names = ", ".join(quote(c["name"]) for c in cols)
    store.db.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join('?' for _ in cols)})", rows)
    return len(rows)


def _value(table: str, col: dict, i: int) -> object:
    kind = col["type"]
    if "INT" in kind:
        return i + 1 if col["pk"] else 2**31 - 1 - i
    if any(k in kind for k in ("REAL", "DOUBLE", "FLOAT", "NUMERIC")):
        return (1 / 3, 1e-300)[i % 2]
    return TEXT.format(table=table, col=col["name"], i=i)
