"""The Google Sheets ``Workbook``: one spreadsheet on gspread's low-level HTTP client.

Why not gspread's ``Spreadsheet``/``Worksheet`` objects: constructing them reads the spreadsheet's metadata,
and their helpers read it again on nearly every call, while the quota is 60 reads + 60 writes per minute
per user. Here every method is a known, small number of requests:

* ``read(titles)``: ONE ``values:batchGet`` (a missing tab costs one metadata read more, then one
  batchGet of the tabs that exist).
* ``read(titles, with_layout=True)``: ONE ``spreadsheets.get`` (metadata only) + ONE ``values:batchGet``.
* ``write(specs)``: ONE ``spreadsheets.batchUpdate`` for every tab (values and formatting together,
  applied atomically by Google), preceded by one metadata read only if no ``read(with_layout=True)``
  came before. A 20,000-row tab makes a request body of several MB: larger than Google's recommended
  2 MB, but accepted (there is no hard limit), and still one request against the quota.
* ``share``: one Drive permissions list, then one permission create per email that lacks the role;
  ``tab_titles``: one metadata read.

Pacing, retries (429 until the per-minute quota refills; 5xx bounded and jittered; nothing that could
duplicate a create) and the timeout live in the transport, ``SheetsyncHTTPClient``; here every remaining
failure becomes a ``BackendError`` or ``ConfigError`` that says what to do (``google_errors``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import gspread
import requests
from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEET_DRIVE_URL
from gspread.utils import absolute_range_name

from sheetsync.backends.base import ColumnsRead, Grid, Identity, Workbook, WriteProgress
from sheetsync.backends.google_auth import Principal
from sheetsync.backends.google_drive import SHARE_ROLES, share_spreadsheet
from sheetsync.backends.google_errors import api_error, guard
from sheetsync.backends.google_http import log
from sheetsync.backends.google_identity import write_by_identity
from sheetsync.backends.google_progress import ProgressLog
from sheetsync.backends.google_writes import DEFAULT_BODY_LIMIT, WRITE_MARK, Batch, WritePlan, plan_write
from sheetsync.backends.sheet_meta import METADATA_FIELDS, SheetMeta, parse_metadata, spreadsheet_locale
from sheetsync.backends.sheet_size import needed_size
from sheetsync.errors import BackendError
from sheetsync.layout import TabSpec, column_letter

T = TypeVar("T")
LOST_ANSWER_TRIES = 4  # sends of one batch whose answers were lost, each after checking it did not land


def spreadsheet_url(client: gspread.Client, key: str) -> str:
    """Where a person opens the spreadsheet: Google's URL, or the emulator's own view of it (a
    docs.google.com link to an emulator id would open nothing, or someone else's file)."""
    host = getattr(client.http_client, "emulator_host", None)
    return f"http://{host}/_emulator/spreadsheets/{key}" if host else SPREADSHEET_DRIVE_URL % key


class GoogleWorkbook(Workbook):
    """One Google spreadsheet, addressed by key; see the module docstring for the request budget."""

    max_cell_chars = 50_000
    #: Writes can address cells by column identity (TabSpec.by_column; google_identity).
    column_identity = True

    def __init__(
        self,
        client: gspread.Client,
        key: str,
        principal: Principal,
        *,
        created: bool = False,
        max_request_bytes: int = DEFAULT_BODY_LIMIT,
    ) -> None:
        self.client = client
        self.key = key
        self.principal = principal
        self.locator = key
        self.url = spreadsheet_url(client, key)
        #: Metadata of every tab as last read, for the next ``write``; dropped after each write.
        self._meta: dict[str, SheetMeta] | None = None
        #: We created the spreadsheet: its default empty "Sheet1" goes on the first write.
        self._created = created
        #: The largest request body a write may send ([google] max_request_bytes).
        self.max_request_bytes = max_request_bytes
        #: The spreadsheet's locale, from the last metadata read (custom formulas are written in it).
        self.locale = "en_US"
        #: Called after each request of a write; by default a write of several requests reports its
        #: progress (requests, bytes, time left) on the ``sheetsync.google`` logger, which the CLI shows.
        self.progress: Callable[[WriteProgress], None] | None = ProgressLog()
        self.last_request_bytes = 0
        self.last_write_requests = 0
        self.last_write_bytes = 0
        #: Per tab, the columns the last write could not find by identity (their cells were not written).
        self.unwritten: dict[str, set[str]] = {}
        #: Per tab, header -> (column, metadataId) of the column marks checked by this command's writes.
        self.column_ids: dict[str, dict[str, tuple[int, int]]] = {}

    def __repr__(self) -> str:
        return f"GoogleWorkbook({self.url!r}, as {self.principal.who!r})"

    # ----------------------------------------------------------------------------------- requests

    def _call(self, fn: Callable[[], T]) -> T:
        return guard(self.principal, self.key, fn)

    def _fetch_metadata(self) -> dict[str, SheetMeta]:
        """ONE ``spreadsheets.get``, metadata only, masked to what a write needs."""
        params = {"includeGridData": "false", "fields": METADATA_FIELDS}
        raw = self._call(lambda: self.client.http_client.fetch_sheet_metadata(self.key, params=params))
        self._meta = parse_metadata(raw)
        self.locale = spreadsheet_locale(raw)
        return self._meta

    def _batch_get(self, titles: list[str]) -> dict[str, Grid]:
        """ONE ``values:batchGet`` of whole tabs, as the expert sees them (formatted text)."""
        ranges = [absolute_range_name(t) for t in titles]
        params = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"}
        resp = self._call(
            lambda: _missing_tab_aware(
                lambda: self.client.http_client.values_batch_get(self.key, ranges, params)
            )
        )
        value_ranges = resp.get("valueRanges", [])
        if len(value_ranges) != len(titles):
            raise BackendError(
                f"spreadsheet {self.key}: asked for {len(titles)} ranges, Google returned {len(value_ranges)}"
            )
        return {
            t: [["" if c is None else str(c) for c in row] for row in vr.get("values", [])]
            for t, vr in zip(titles, value_ranges, strict=True)
        }

    # ------------------------------------------------------------------------------- the interface

    def read(self, titles: list[str], *, with_layout: bool = False) -> dict[str, Grid | None]:
        """See :meth:`Workbook.read`. One request (two with ``with_layout``)."""
        wanted = list(dict.fromkeys(titles))
        if not wanted:
            return {}
        if with_layout:
            meta = self._fetch_metadata()
            present = [t for t in wanted if t in meta]
            grids = self._batch_get(present) if present else {}
            return {t: grids.get(t) for t in wanted}
        try:
            grids = self._batch_get(wanted)
        except _MissingTab:
            # A tab does not exist (Google cannot parse its range): learn which, then read the others.
            meta = self._fetch_metadata()
            present = [t for t in wanted if t in meta]
            grids = self._batch_get(present) if present else {}
        return {t: grids.get(t) for t in wanted}

    def read_columns(self, title: str, columns: Sequence[int], *, head_rows: int = 20) -> ColumnsRead | None:
        """See :meth:`Workbook.read_columns`: ONE ``values:batchGet`` of the first rows and of whole
        columns, by column (``majorDimension=COLUMNS``: a column's cells come as one list, with no per-row
        brackets), so a step receives little more than the text it asked for.

        Google refuses a range that reaches past the grid ("exceeds grid limits"); for a tab smaller than
        ``head_rows`` rows, or a column that no longer exists, one metadata read learns the grid's size
        and the read is made again inside it."""
        cols = list(dict.fromkeys(columns))
        try:
            return self._read_columns(title, cols, head_rows)
        except _OutsideGrid:
            meta = self._fetch_metadata().get(title)
            if meta is None:
                return None
            out = self._read_columns(title, [c for c in cols if c < meta.col_count], min(head_rows, meta.row_count))
            for c in cols:
                out.columns.setdefault(c, [])
            return out

    def _read_columns(self, title: str, cols: list[int], head_rows: int) -> ColumnsRead | None:
        quoted = absolute_range_name(title)
        ranges = [f"{quoted}!A1:{max(head_rows, 1)}"] + [f"{quoted}!{column_letter(c)}:{column_letter(c)}" for c in cols]
        params = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "COLUMNS"}

        def get() -> Any:
            try:
                return _missing_tab_aware(lambda: self.client.http_client.values_batch_get(self.key, ranges, params))
            except APIError as e:
                if e.code == 400 and "exceeds grid limits" in str(e.error.get("message", "")):
                    raise _OutsideGrid() from None
                raise

        try:
            resp = self._call(get)
        except _MissingTab:
            return None
        value_ranges = resp.get("valueRanges", [])
        if len(value_ranges) != len(ranges):
            raise BackendError(
                f"spreadsheet {self.key}: asked for {len(ranges)} ranges, Google returned {len(value_ranges)}"
            )
        text = [[["" if c is None else str(c) for c in col] for col in vr.get("values", [])] for vr in value_ranges]
        head_cols = text[0]
        height = max((len(c) for c in head_cols), default=0)
        head = [[col[r] if r < len(col) else "" for col in head_cols] for r in range(height)]
        for row in head:
            while row and row[-1] == "":
                row.pop()
        out = {c: (got[0] if got else []) for c, got in zip(cols, text[1:], strict=True)}
        for values in out.values():
            while values and values[-1] == "":
                values.pop()
        return ColumnsRead(head=head, columns=out)

    def write(self, specs: list[TabSpec]) -> None:
        """See :meth:`Workbook.write`: one ``batchUpdate`` when the write fits ``max_request_bytes``, else
        the fewest batches that do, planned by :mod:`sheetsync.backends.google_writes` (tabs rebuilt are
        built hidden and swapped in; tabs updated in place are written in whole rows). One metadata read
        first unless a ``read(with_layout=True)`` just made it.

        If Google refuses the first batch with a 400 because the spreadsheet changed since our metadata
        read (e.g. a retried request whose first attempt had in fact succeeded, so its ``addSheet`` now
        says "already exists"; or a protection someone deleted), the metadata is read again and the write
        planned again once. Google applies each batch all or nothing, so a refused batch wrote nothing.
        """
        self.unwritten = {}
        if not specs:
            return
        self.last_write_requests, self.last_write_bytes = 0, 0
        if all(_identity_only(s) for s in specs):  # cells of existing rows only: no batchUpdate, no metadata
            for spec in specs:
                self.unwritten[spec.title] = write_by_identity(self, spec)
            return
        meta = self._meta if self._meta is not None else self._fetch_metadata()
        self._meta = None  # whatever happens, the tabs change: never reuse this metadata
        structural = [s for s in specs if _structural(s, meta.get(s.title))]
        if structural:
            plan = self._plan(structural, meta)
            try:
                self._send(plan, first_refusal=True)
            except _Refused as refused:
                fresh = self._fetch_metadata()
                self._meta = None
                if fresh == meta:  # not a stale-metadata problem: report Google's answer
                    raise api_error(refused.error, self.principal, self.key) from None
                self._send(self._plan(structural, fresh), first_refusal=False)
        self._created = False
        for spec in specs:  # cells addressed by column identity (google_identity), after the structure
            if spec.by_column:
                self.unwritten[spec.title] = write_by_identity(self, spec)

    def _plan(self, specs: list[TabSpec], meta: Mapping[str, SheetMeta]) -> WritePlan:
        default_tab = None
        if self._created and len(meta) == 1:
            (only,) = meta.values()
            if only.title not in {s.title for s in specs}:
                default_tab = only.sheet_id  # the empty "Sheet1" of a spreadsheet we just created
        return plan_write(
            specs, meta, limit=self.max_request_bytes, locale=self.locale, default_tab=default_tab
        )

    def _send(self, plan: WritePlan, *, first_refusal: bool) -> None:
        """Send the plan's batches in order, reporting progress; a failure after the first batch says
        what stands (whole rows, or the old tab) and that running the command again finishes the job."""
        total, sent_bytes = len(plan), 0
        self.last_write_requests, self.last_write_bytes = 0, 0
        for number, batch in enumerate(plan, start=1):
            try:
                self._send_once(batch, refusable=number == 1 and first_refusal)
            except BackendError as exc:
                if number == 1:
                    raise
                raise BackendError(
                    f"{exc} — after {number - 1} of {total} requests of this write had landed. Every row "
                    "written is complete and tabs being rebuilt are unchanged until their last request; "
                    "run the command again to finish."
                ) from exc
            sent_bytes += len(batch.body)
            self.last_write_requests, self.last_write_bytes = number, sent_bytes
            if self.progress is not None:
                self.progress(WriteProgress(number, total, sent_bytes, plan.total_bytes))

    def _send_once(self, batch: Batch, *, refusable: bool) -> None:
        """One batch, applied exactly once. A batch is not safe to send twice (appended rows or inserted
        columns would be doubled), so after a lost answer — a dropped connection, a timeout, a 5xx, any of
        which may come after Google applied it — the spreadsheet's write mark (one metadata read) says
        whether it landed, and only a batch that did not is sent again."""
        sleep = getattr(self.client.http_client, "sleep", time.sleep)
        for attempt in range(1, LOST_ANSWER_TRIES + 1):
            try:
                if refusable:
                    self._call(lambda: _catch_400(lambda: self._post_batch(batch.body)))
                else:
                    self._call(lambda: self._post_batch(batch.body))
                return
            except _LostAnswer as lost:
                if self._applied(batch.token):
                    return
                if attempt == LOST_ANSWER_TRIES:
                    raise BackendError(
                        f"spreadsheet {self.key}: a write request failed {attempt} times without an answer "
                        f"({lost}); it was not applied. Check the connection and run the command again."
                    ) from None
                sleep(min(2.0**attempt, 16.0))

    def _applied(self, token: str) -> bool:
        params = {"fields": "developerMetadata(metadataKey,metadataValue)"}
        raw = self._call(lambda: self.client.http_client.fetch_sheet_metadata(self.key, params=params))
        return any(m.get("metadataKey") == WRITE_MARK and m.get("metadataValue") == token
                   for m in raw.get("developerMetadata", []) or [])

    def _post_batch(self, body: bytes) -> Any:
        self.last_request_bytes = len(body)
        try:
            return self.client.http_client.request(
                "post", SPREADSHEET_BATCH_UPDATE_URL % self.key, data=body,
                headers={"Content-Type": "application/json; charset=utf-8"}, repeat_safe=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _LostAnswer(f"{type(exc).__name__}") from None
        except APIError as exc:
            if exc.code >= 500:
                raise _LostAnswer(f"HTTP {exc.code}") from None
            raise

    def tab_titles(self) -> list[str]:
        """Titles in tab order (one metadata read, kept for a following ``write``)."""
        meta = self._fetch_metadata()
        return [m.title for m in sorted(meta.values(), key=lambda m: m.index)]

    def share(self, emails: list[str], *, role: str = "writer") -> None:
        """See :func:`~sheetsync.backends.google_drive.share_spreadsheet` (the rules live there)."""
        if role not in SHARE_ROLES:
            raise BackendError(f"cannot share as {role!r}: use one of {', '.join(SHARE_ROLES)}")
        for note in self._call(lambda: share_spreadsheet(self.client, self.key, emails, role)):
            log.warning(note)

    def identity(self) -> Identity:
        return Identity(kind=self.principal.kind, who=self.principal.who, where=self.url)


class _MissingTab(Exception):
    """A ``values:batchGet`` named a tab that does not exist."""


def _identity_only(spec: TabSpec) -> bool:
    """Only cells of existing rows, by column identity: nothing for a ``batchUpdate`` to do."""
    return bool(spec.by_column) and not (spec.replace or spec.formats or spec.blocks or spec.append_rows
                                         or spec.insert_columns or spec.column_marks)


def _structural(spec: TabSpec, meta: SheetMeta | None) -> bool:
    """Whether the spec needs a ``batchUpdate`` at all (a re-push that only changes cells of existing rows
    sends them by column identity alone)."""
    if meta is None or spec.replace or spec.formats or spec.blocks or spec.append_rows:
        return True
    if spec.insert_columns or spec.column_marks or not meta.owned:
        return True
    rows, cols = needed_size(spec)
    return rows > meta.row_count or cols > meta.col_count


class _LostAnswer(Exception):
    """A batchUpdate got no usable answer: it may or may not have been applied."""


class _OutsideGrid(Exception):
    """A ``values:batchGet`` range reached past the tab's grid."""


class _Refused(Exception):
    """Google refused a batchUpdate with a 400 (nothing was applied)."""

    def __init__(self, error: APIError) -> None:
        super().__init__(str(error))
        self.error = error


def _missing_tab_aware(call: Callable[[], T]) -> T:
    try:
        return call()
    except APIError as e:
        if e.code == 400 and "Unable to parse range" in str(e.error.get("message", "")):
            raise _MissingTab() from None
        raise


def _catch_400(call: Callable[[], T]) -> T:
    try:
        return call()
    except APIError as e:
        if e.code == 400:
            raise _Refused(e) from None
        raise
