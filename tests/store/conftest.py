"""The store suite runs on both engines: every test taking ``make_store`` (or ``engine``) runs once on SQLite
and once on a real PostgreSQL server the tests start themselves (sheetsync.testing.postgres)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sheetsync.config import load_config
from sheetsync.store import Store, open_store

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def store_url(engine, tmp_path, request) -> str:
    """A URL for an empty store of ``engine``: an SQLite file, or a fresh database on the test server."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'team' / 'state.db'}"
    return request.getfixturevalue("postgres_url")


def workspace_config(root: Path, url: str, workspace: str = "support-bot", spreadsheet: str = "labels.xlsx"):
    """A workspace folder whose sheetsync.toml names the store (as a team's committed config would)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sheetsync.toml").write_text(
        f'spreadsheet = "{spreadsheet}"\n\n[store]\nurl = "{url}"\nworkspace = "{workspace}"\n'
    )
    return load_config(root / "sheetsync.toml")


@pytest.fixture
def make_store(store_url, tmp_path) -> Iterator[Callable[..., Store]]:
    """Open (a new connection to) the test's store; ``workspace`` picks the namespace on PostgreSQL."""
    opened: list[Store] = []

    def make(workspace: str = "support-bot") -> Store:
        store = open_store(workspace_config(tmp_path / f"ws-{len(opened)}", store_url, workspace))
        assert store is not None
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
