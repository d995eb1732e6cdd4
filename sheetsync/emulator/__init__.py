"""A local Google Sheets v4 + Drive v3 emulator for tests, dry runs and CI (no internet needed).

Start it in-process::

    from sheetsync.emulator import Emulator
    with Emulator() as em:                     # port 0: a free port
        client = client_for_emulator(em.address)  # from sheetsync.backends.google_http

or as a server: ``python -m sheetsync.emulator --port 8765 [--state FILE]``, then point sheetsync at it
with ``SHEETS_EMULATOR_HOST=127.0.0.1:8765``.

Public API: :class:`Emulator` (``start``/``stop``/context manager, ``address``, ``url``, ``reset``,
``set_quotas``, ``add_fault``, ``request_log``, ``clear_log``, ``spreadsheet``) and :func:`serve`. The same
controls exist over HTTP under ``/_emulator/`` (``POST reset``, ``POST|DELETE|GET faults``, ``POST quotas``,
``GET|DELETE log``, ``GET health``, ``GET spreadsheets/<id>``), and ``POST /token`` is a fake OAuth token
endpoint for the service-account code path.

Fidelity notes: request bodies are validated against Google's discovery document; formulas are stored but
not evaluated (FORMULA returns the text, FORMATTED/UNFORMATTED return ``#NAME?``).
"""

from sheetsync.emulator.faults import LogEntry
from sheetsync.emulator.model import Sheet, Spreadsheet
from sheetsync.emulator.server import Emulator, serve

__all__ = ["Emulator", "LogEntry", "Sheet", "Spreadsheet", "serve"]
