"""A real PostgreSQL server for tests, started from the machine's own binaries (Debian's ``postgresql``
package; ``.ci/run`` installs it) in a temporary folder, on a free loopback port, and stopped at the end.

Register with ``pytest_plugins = ["sheetsync.testing.postgres"]``: ``postgres_server`` is one server per test
process (xdist worker), ``postgres_url`` a URL for one test, with a database of its own.

The server runs as the ``postgres`` user (else ``nobody``) when the tests run as root, because PostgreSQL
refuses to start as root. It is tuned for tests only (no fsync: a crash loses the test's data, nothing else).
Logins need a password (SCRAM, as a real server): the URL carries one, so the tests also show it is never
printed. A missing server is a failure that says how to install one, never a skip.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "sheetsync"
PASSWORD = "pg-test-secret-7f3a9c"  # a throwaway server's login, on loopback
START_TIMEOUT = 120  # seconds: a loaded 2-core machine is slow to start a cluster, not minutes slow


def bindir() -> Path:
    """Where ``initdb`` and ``postgres`` are: ``SHEETSYNC_PG_BINDIR``, Debian's versioned folder (newest), or PATH."""
    if os.environ.get("SHEETSYNC_PG_BINDIR"):
        return Path(os.environ["SHEETSYNC_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, postgres) are not installed, and the store tests run against a real "
        "server: `apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does it), or set SHEETSYNC_PG_BINDIR."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway cluster: ``start()``, then ``url(dbname)``, ``create_database()``, ``stop()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sheetsync-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "run"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres" if _user_exists("postgres") else "nobody"

    def _run(self, *args: str) -> None:
        proc = subprocess.run(args, user=self.user, capture_output=True, text=True, timeout=START_TIMEOUT,
                              cwd=self.root)
        if proc.returncode:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")

    def start(self) -> PostgresServer:
        bins = bindir()
        self.sockets.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            for p in (self.root, self.sockets, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        self._run(str(bins / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "-E", "UTF8",
                  "--locale=C", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--no-sync")
        self.port = _free_port()
        log = (self.root / "server.log").open("w")
        self.proc = subprocess.Popen(
            [str(bins / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sockets),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "shared_buffers=32MB"],
            user=self.user, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, preexec_fn=_die_with_parent,
        )
        self._wait()
        return self

    def _wait(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited at start: " + (self.root / "server.log").read_text()[-2000:])
            try:
                psycopg.connect(self.url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, dbname: str = "postgres", *, password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # "immediate" shutdown: a throwaway cluster needs no checkpoint
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


try:  # loaded here: a child between fork and exec should not import
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the server's process, before exec: if the test process is killed (a timeout, Ctrl-C twice), the
    server gets SIGQUIT rather than running on (Linux's PR_SET_PDEATHSIG; set after the switch of user,
    which would clear it)."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGQUIT), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of the test's own on the session's server (with the password in the URL)."""
    return postgres_server.create_database()
