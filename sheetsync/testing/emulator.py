"""pytest fixtures for the Sheets emulator: register with ``pytest_plugins = ["sheetsync.testing.emulator"]``.

One in-process server per test session (starting it costs a few ms, but a session server keeps tests
fast); every test gets it freshly reset: no spreadsheets, faults, quotas or log entries from another test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import gspread
import pytest

from sheetsync.backends.google_http import client_for_emulator
from sheetsync.emulator import Emulator


@pytest.fixture(scope="session")
def _sheets_emulator_server() -> Iterator[Emulator]:
    with Emulator() as em:
        yield em


@pytest.fixture
def sheets_emulator(_sheets_emulator_server: Emulator) -> Iterator[Emulator]:
    """The running emulator, reset before and after the test (quotas and latency off). A test hook
    (``on_request``) whose callback raised fails the test here, even if the client swallowed the 500."""
    em = _sheets_emulator_server
    em.reset()
    yield em
    errors = list(em.hooks.errors)
    em.reset()
    if errors:
        raise AssertionError(f"an emulator test hook raised: {errors[0]!r}") from errors[0]


@pytest.fixture
def gspread_client(sheets_emulator: Emulator) -> gspread.Client:
    """A real gspread.Client routed to the emulator through SheetsyncHTTPClient. Retries are kept but every
    wait (Retry-After included) is cut to at most 10 ms, so fault tests stay fast."""
    return client_for_emulator(sheets_emulator.address, timeout=5.0, base_delay=0.001, max_delay=0.01,
                               sleep=lambda seconds: time.sleep(min(seconds, 0.01)))
