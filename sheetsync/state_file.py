"""Opening ``.sheetsync/state.db``: the store must be a healthy SQLite file this user can write *before* a
command changes anything. A command that found out at its first store write (after writing the sheet)
would leave the sheet and the store disagreeing, which is how labels get lost.

Four checks, each cheap: the file, its journal files and its folder are writable (asked of the system
first, so a refusal leaves nothing behind); the file opens as SQLite in WAL mode (a damaged header fails
here); an integrity check; and a write probe (a table created and rolled back: ``BEGIN IMMEDIATE`` alone
succeeds on a read-only file in WAL mode, so the probe must really write).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sheetsync.errors import StoreError

#: ``PRAGMA quick_check`` reads every page: measured at about 0.6 ms per MB (an 84 MB store: 50–75 ms).
#: Up to this size it runs on every open; a larger store (mostly the judge-call cache) gets the schema
#: read only, so no command pays more than ~40 ms for the check.
QUICK_CHECK_MAX_BYTES = 64 * 2**20
_DAMAGED = ("not a database", "malformed", "corrupt", "disk image")
_UNWRITABLE = ("readonly", "read-only", "unable to open", "permission", "access", "disk i/o")


def open_state_file(path: Path) -> sqlite3.Connection:
    """A connection to the store at ``path`` (created if missing), checked as the module docstring says;
    ``StoreError`` naming the file and what to do otherwise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{path.parent}: cannot create the folder for sheetsync's local store ({exc.strerror or exc}). "
            "Run sheetsync in a folder you can write to, or make this one writable. Nothing was written."
        ) from exc
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: is not a file. Move it away; sheetsync keeps its local store there.")
    _check_writable(path)
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        _check_integrity(db, path)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE sheetsync_write_probe (x)")
        finally:
            db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise explain(path, exc) from exc
    return db


def _check_writable(path: Path) -> None:
    """The file, its journal files and its folder can be written — found out without SQLite, which would
    otherwise leave read-only journal files behind that keep failing after the user fixes the file.

    Asked with ``access()``, never by opening the files: closing any descriptor of a database file drops
    every POSIX lock this process holds on it, including those of a connection still open (SQLite's "how to
    corrupt", 2.2). Another process then takes the last connection for gone, folds the WAL in and deletes
    it under the open connection, which reads the store as "malformed" — seen with two commands at once."""
    effective = os.access in os.supports_effective_ids  # a setuid or seteuid process: its effective user
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and not os.access(file, os.W_OK, effective_ids=effective):
            raise explain(path, sqlite3.OperationalError(f"{file.name}: permission denied"))
    if not os.access(path.parent, os.W_OK | os.X_OK, effective_ids=effective):
        raise explain(path, sqlite3.OperationalError(f"{path.parent.name}/: permission denied"))


def _check_integrity(db: sqlite3.Connection, path: Path) -> None:
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    if size > QUICK_CHECK_MAX_BYTES:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return
    found = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    if found != ["ok"]:
        raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(found))


def explain(path: Path, exc: sqlite3.Error) -> StoreError:
    """What an SQLite error on the store means for the user, and what to do."""
    text = str(exc)
    lower = text.lower()
    if any(word in lower for word in _DAMAGED):
        return StoreError(
            f"{path} is damaged ({text}). It holds every pull, pushed row, judge run and cached judge call: "
            f"restore it from a backup, or move it away (rename it {path.name}.damaged) to start a new store; "
            "the next `sheetsync push` and `sheetsync pull` rebuild what is still in the sheet. Nothing was written."
        )
    if "locked" in lower or "busy" in lower:
        return StoreError(
            f"{path} is in use by another sheetsync command (still locked after 30 s). Wait for it to finish, "
            "then run this one again. Nothing was written."
        )
    if any(word in lower for word in _UNWRITABLE):
        return StoreError(
            f"{path} cannot be written ({text}). sheetsync records every push and pull there, so it stops "
            f"before changing anything: make the file and its folder writable by you (e.g. `chmod u+w {path} "
            f"{path.parent}`), or run as the user who owns them. Nothing was written."
        )
    return StoreError(f"{path}: the local store failed ({text}). Nothing was written.")
