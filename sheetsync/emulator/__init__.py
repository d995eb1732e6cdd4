"""A local Google Sheets v4 + Drive v3 emulator for tests, dry runs and CI (no internet needed), as strict
as Google where Google is strict.

Start it in-process::

    from sheetsync.emulator import Emulator
    with Emulator() as em:                     # port 0: a free port
        client = client_for_emulator(em.address)  # from sheetsync.backends.google_http

or as a server: ``python -m sheetsync.emulator --port 8765 [--state FILE] [--realistic]``, then point
sheetsync at it with ``SHEETS_EMULATOR_HOST=127.0.0.1:8765``.

Public API of :class:`Emulator`: ``start``/``stop``/context manager, ``address``, ``url``, ``reset``,
``spreadsheet``, ``request_log``/``clear_log``; settings ``set_quotas``, ``set_latency``, ``set_limits``,
``settings`` (constructor: ``realistic=``, ``quotas=``, ``latency=``, ``max_body_bytes=``, ``clock=``);
test controls ``add_fault``/``clear_faults``, ``on_request`` (hooks), ``act``/``act_values`` (the expert,
as another user); identities and Drive ``add_principal``, ``add_shared_drive``, ``add_folder``,
``notifications``, ``fail_share_emails``. The same controls exist over HTTP under ``/_emulator/`` (see
:mod:`sheetsync.emulator.control_api`), and ``POST /token`` is a fake OAuth token endpoint for the
service-account code path.

Google's rules modelled, each cited beside its code:

* request bodies over 10 MiB: 400 "Request payload size exceeds the limit: 10485760 bytes.", nothing
  applied (:mod:`~sheetsync.emulator.server`);
* per-minute, per-user (and per-project) read and write quotas, a batchUpdate counting once, 429s without
  Retry-After (:mod:`~sheetsync.emulator.quotas`); a latency model (:mod:`~sheetsync.emulator.latency`);
* identities from the fake OAuth endpoint; per-file access (owner, shares, shared-drive members); service
  accounts without Drive storage (403 storageQuotaExceeded); shared drives, ``supportsAllDrives`` and the
  files.list ``corpora`` rules; Drive ``appProperties``; sharing notifications and invalidSharingRequest
  (:mod:`~sheetsync.emulator.identity`, :mod:`~sheetsync.emulator.drive_access`,
  :mod:`~sheetsync.emulator.drive_query`, :mod:`~sheetsync.emulator.drive_permissions`);
* the spreadsheet's locale (``properties.locale``; Drive-created spreadsheets get
  ``Emulator(default_locale=...)``, en_US by default) and formulas parsed in it: a conditional-format or
  validation formula that does not parse there (``,`` between arguments in de_DE) refuses the batch; a
  formula cell that does not parse is stored and shows ``#ERROR!`` (:mod:`~sheetsync.emulator.locales`,
  :mod:`~sheetsync.emulator.formulas`);
* ``updateSheetProperties.index`` counts positions before the move; setDataValidation skips rows a basic
  filter hides unless ``filteredRowsIncluded``; rows inserted inside a validated range inherit the rule;
  warning-only protections take no editors (:mod:`~sheetsync.emulator.filters`);
* request bodies validated against Google's discovery document; batchUpdate atomic, errors worded like
  Google's; 10,000,000 cells per spreadsheet; 50,000 characters per cell;
* rows and columns that move carry formats, validation, protections, conditional formats, filters,
  named ranges, chart ranges and developer metadata with them.

Formulas are checked but not evaluated (FORMULA returns the text, FORMATTED/UNFORMATTED return ``#NAME?``,
or ``#ERROR!`` for one the locale cannot parse).
"""

from sheetsync.emulator.faults import LogEntry
from sheetsync.emulator.hooks import Hook, RequestInfo
from sheetsync.emulator.latency import REALISTIC_LATENCY, Latency
from sheetsync.emulator.model import Sheet, Spreadsheet
from sheetsync.emulator.quotas import GOOGLE_QUOTAS, QuotaConfig
from sheetsync.emulator.server import MAX_BODY_BYTES, Emulator, serve

__all__ = ["GOOGLE_QUOTAS", "MAX_BODY_BYTES", "REALISTIC_LATENCY", "Emulator", "Hook", "Latency", "LogEntry",
           "QuotaConfig", "RequestInfo", "Sheet", "Spreadsheet", "serve"]
