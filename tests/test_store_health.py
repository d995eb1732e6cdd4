"""Check before writing: a damaged or read-only `.sheetsync/state.db`, or a workspace folder that cannot be
written, is found before a command's first write — exit 2 with the file and what to do, no traceback, the
workbook and the store untouched. (Today push wrote the workbook, then failed on the store with a
traceback: the sheet and the store disagreed.)"""

import gc
import os
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.state_file import QUICK_CHECK_MAX_BYTES
from tests.test_strict_input import assert_stopped


@contextmanager
def unprivileged():
    """Act as a user the file modes apply to. Root ignores them, and CI containers often run as root:
    there the effective user becomes `nobody` for the duration (file modes are checked against it)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def workspace(monkeypatch):
    """A pushed workspace in a folder any user may enter (pytest's own tmp folders are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="sheetsync-store-"))
    root.chmod(0o777)
    monkeypatch.chdir(root)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    rows = "".join(f"{i},question {i} {'x' * 300},answer {i}\n" for i in range(200))
    (root / "data.csv").write_text("id,input,output\n" + rows)
    assert runner.invoke(cli, ["push", "data.csv"]).exit_code == 0
    gc.collect()  # the push's store connection: closed, so SQLite folds its journal back into state.db
    (root / "data.csv").write_text("id,input,output\n" + rows + "new,a new question,a new answer\n")
    for path in root.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_refused(result, before, root, *messages):
    assert_stopped(result, *messages)
    assert snapshot(root) == before, "something was written"


def damage(db: Path, how: str) -> None:
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
    for journal in ("state.db-wal", "state.db-shm"):
        (db.parent / journal).unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    if how == "garbage":
        data = bytearray(b"this is not a database\n" * 200)
    elif how == "truncated":
        data = data[: len(data) // 2]
    else:  # a page in the middle overwritten: the header is fine, only an integrity check finds it
        page = int.from_bytes(data[16:18], "big")
        middle = (len(data) // page // 2) * page
        data[middle:middle + page] = bytes(range(256)) * (page // 256)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["garbage", "truncated", "page"])
@pytest.mark.parametrize("command", [["push", "data.csv"], ["pull"], ["report"], ["auth", "check"]])
def test_a_damaged_store_is_named_before_anything_is_written(workspace, how, command):
    db = workspace / ".sheetsync" / "state.db"
    damage(db, how)
    before = snapshot(workspace)
    result = CliRunner().invoke(cli, command)
    assert_refused(result, before, workspace, f"{db} is damaged", "restore it from a backup, or move it away",
                   "Nothing was written.")


def test_moving_the_damaged_store_away_recovers(workspace):
    """The way out the message offers: a new store; push and pull rebuild it from the sheet."""
    db = workspace / ".sheetsync" / "state.db"
    damage(db, "garbage")
    db.rename(db.with_name("state.db.damaged"))
    result = CliRunner().invoke(cli, ["push", "data.csv"])
    assert result.exit_code == 0 and "1 new, 0 updated" in result.output, result.output + result.stderr


def test_a_read_only_store_stops_push_before_the_workbook_is_written(workspace):
    db = workspace / ".sheetsync" / "state.db"
    for path in db.parent.iterdir():
        path.chmod(0o444)
    before = snapshot(workspace)
    with unprivileged():
        result = CliRunner().invoke(cli, ["push", "data.csv"])
    assert_refused(result, before, workspace, f"{db} cannot be written", "make the file and its folder writable",
                   "Nothing was written.")


def test_a_store_folder_that_cannot_be_written(workspace):
    """The file is writable but its folder is not: SQLite cannot make its journal there (WAL mode)."""
    state = workspace / ".sheetsync"
    for name in ("state.db-wal", "state.db-shm"):
        (state / name).unlink(missing_ok=True)
    state.chmod(0o555)
    before = snapshot(workspace)
    with unprivileged():
        result = CliRunner().invoke(cli, ["pull"])
    assert_refused(result, before, workspace, f"{state / 'state.db'} cannot be written")


def test_a_workspace_folder_that_cannot_be_written(workspace):
    shutil.rmtree(workspace / ".sheetsync")
    (workspace / "labels.xlsx").unlink()
    workspace.chmod(0o555)
    before = snapshot(workspace)
    with unprivileged():
        result = CliRunner().invoke(cli, ["push", "data.csv"])
    assert_refused(result, before, workspace, f"{workspace / '.sheetsync'}: cannot create the folder for "
                   "sheetsync's local store", "Run sheetsync in a folder you can write to")
    assert not (workspace / ".sheetsync").exists()


def test_a_healthy_store_opens_and_a_large_one_skips_the_full_scan(tmp_path):
    from sheetsync.store import Store

    store = Store(tmp_path / "state.db")
    store.set_meta("kept", "yes")
    store.close()
    assert Store(tmp_path / "state.db").get_meta("kept") == "yes"
    assert QUICK_CHECK_MAX_BYTES == 64 * 2**20  # the README and the module docstring quote this figure
