"""Writes into the Annotate tab addressed by column identity, so that a column the expert inserts, moves or
deletes while a command runs can never put sheetsync's text over the expert's cells.

The Sheets API has no conditional write: every ``batchUpdate`` request addresses cells by the positions
sheetsync read a moment earlier. So, after the atomic structural write (new tabs, inserted columns and their
marks, appended rows, formatting), the cells go through ``values:batchUpdateByDataFilter``:

* **Existing rows, header cells** — one ``DataFilterValueRange`` per column (or per slice of a column, where
  a request fills up), addressed by the column's developer metadata
  (:data:`~sheetsync.backends.identity_requests.COLUMN_KEY`, by ``metadataId``). The metadata moves with
  its column and goes when it is deleted (DeveloperMetadata), so a moved column is still written and a
  deleted one is written nowhere. A filter matches the whole column, so a slice starts at row 0 and says
  "leave this row" for each row it skips: ``[]`` ROWS-major (3 bytes with its comma; "If the provided
  values are less than the matched ranges only the specified values are written", DataFilterValueRange)
  or ``null`` COLUMNS-major ("Null values will be skipped", ValueRange), whichever is smaller. Rows stay
  addressed by position: the key column says which row's text a row shows, and push's verify round
  repairs rows sorted, inserted or deleted meanwhile. ``valueInputOption=RAW``: text is never a formula.
  Idempotent, so the transport may send it again after a lost answer. Each request carries whole rows
  (every column written of every row it covers), so a row's new text never shows under its old key, and
  stays under ``max_request_bytes``. Each column of a request spends 3 bytes on every row above the first
  one it writes, so far down a tall tab (where that would be more than :data:`DEEP` of a request: past
  ~9,500 rows for a new row's 7 cells at the default 2 MB, ~33,000 for an output and its key) a row goes
  in two steps: its other cells column after column, then its last cell with its key. Meanwhile it shows
  text of neither version under its old key (what the key says the row shows is what a label is
  attributed to, so a label given then counts only once re-checked). Push writes only the cells that
  change (push_plan), so a re-push of changed outputs sends outputs and keys, not whole rows of text.
  Once checked, a column's mark is kept for the rest of the command (it is the column's identity
  wherever it moves).
* **Which metadata is trusted** — one read (``spreadsheets.get`` of the header row with each column's
  metadata) shows headers and metadata together, as of one instant. A mark counts only where its
  column's header is its value; any other mark is deleted by its id (nothing is written through it).
  A sheetsync column without a mark (a tab from an earlier sheetsync) is marked where that read saw
  its header, and the next such read checks the mark before anything is written through it.
* **New rows** — appended (``appendCells``, placed below the last row with data when Google applies it,
  so a row the expert typed meanwhile is neither overwritten nor paired) holding only their id; push's
  verify round then finds them by id and writes their cells like any row's. Only the id cell is placed by
  a column position: a row cannot be addressed by row and column identity at once, and a new row has no
  row identity before it exists. If the id column itself moved in that instant, the ids land in the column
  that took its place, in the new rows only (never over a cell the expert had filled).

Formatting is positional too; it is sent only when the layout changed since the last push formatted the
tab (push decides; :attr:`TabSpec.formats`), so a re-push over an unchanged layout sends none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEETS_API_V4_BASE_URL
from gspread.utils import absolute_range_name

from sheetsync.backends.base import WriteProgress
from sheetsync.backends.identity_requests import COLUMN_KEY, column_marks, delete_metadata
from sheetsync.errors import UserInputError
from sheetsync.layout import CellValue, TabSpec

if TYPE_CHECKING:
    from sheetsync.backends.google import GoogleWorkbook

VALUES_BY_FILTER_URL = SPREADSHEETS_API_V4_BASE_URL + "/%s/values:batchUpdateByDataFilter"
SNAPSHOT_FIELDS = (
    "sheets(properties(sheetId,title),data(startColumn,rowData(values(formattedValue)),"
    "columnMetadata(developerMetadata(metadataId,metadataKey,metadataValue))))"
)
CHECK_ROUNDS = 3
#: A row whose request of its own would spend more than this share of the limit on skipping rows above is
#: written in two steps (see :func:`_batches`).
DEEP = 0.1


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass
class Snapshot:
    """The header row and the column marks of one tab, from one read (one instant)."""

    sheet_id: int
    headers: list[str]  # trimmed, aliases resolved
    marks: list[tuple[int, int, str]]  # (column, metadataId, value)


@dataclass
class Columns:
    """What a snapshot says: the trusted mark of each named column, and what must be fixed first."""

    at: dict[str, tuple[int, int]]  # header -> (column, metadataId)
    deletes: list[int]
    tags: dict[int, str]
    trusted: bool  # the header row was where it was expected (else nothing is trusted or removed)


def snapshot(wb: GoogleWorkbook, spec: TabSpec) -> Snapshot | None:
    """ONE ``spreadsheets.get`` of the header row (``top``) with each column's developer metadata."""
    top = spec.header_row + 1
    params = {"ranges": f"{absolute_range_name(spec.title)}!{top}:{top}", "fields": SNAPSHOT_FIELDS}
    raw = wb._call(lambda: wb.client.http_client.fetch_sheet_metadata(wb.key, params=params))
    for sheet in raw.get("sheets", []) or []:
        props = sheet.get("properties") or {}
        if props.get("title") != spec.title:
            continue
        data = (sheet.get("data") or [{}])[0]
        start = int(data.get("startColumn", 0) or 0)
        cells = ((data.get("rowData") or [{}])[0] or {}).get("values") or []
        headers = [""] * start + [str((c or {}).get("formattedValue", "")).strip() for c in cells]
        headers = [spec.header_aliases.get(h, h) for h in headers]
        marks = []
        for i, col in enumerate(data.get("columnMetadata") or []):
            for md in (col or {}).get("developerMetadata") or []:
                if md.get("metadataKey") == COLUMN_KEY:
                    marks.append((start + i, int(md["metadataId"]), str(md.get("metadataValue", ""))))
        return Snapshot(int(props.get("sheetId", 0)), headers, marks)
    return None


def columns(snap: Snapshot, names: list[str], identity_header: str, fresh: set[str] = frozenset()) -> Columns:
    """``fresh``: columns the write just inserted and marked (their header is written by identity, so
    until then it is empty)."""
    header = lambda c: snap.headers[c] if c < len(snap.headers) else ""  # noqa: E731
    trusted = not identity_header or identity_header in snap.headers
    out = Columns({}, [], {}, trusted)
    if not trusted:
        return out
    seen: dict[str, list[tuple[int, int]]] = {}
    for c, mid, value in snap.marks:
        if header(c) != value and not (header(c) == "" and value in fresh):
            out.deletes.append(mid)  # landed on, or was moved to, a column that is not its own
        else:
            seen.setdefault(value, []).append((c, mid))
    for name in names:
        hits = seen.get(name, [])
        cols = {c for c, _ in hits}
        if len(cols) == 1:
            out.at[name] = hits[0]
        elif not hits and snap.headers.count(name) == 1:
            out.tags[snap.headers.index(name)] = name
    return out


def write_by_identity(wb: GoogleWorkbook, spec: TabSpec) -> set[str]:
    """Write ``spec.by_column`` (see the module docstring). Returns the headers of the columns that could not
    be written (no trustworthy mark): their cells wait for the next write. With ``spec.all_or_nothing``
    nothing is written unless every column is found."""
    names = list(spec.by_column)
    if not names:
        return set()
    sent = (0, 0)
    known = wb.column_ids.get(spec.title, {})
    for _ in range(CHECK_ROUNDS):
        if all(n in known for n in names):  # checked earlier in this command: a mark is its column's identity
            at = known
        else:
            found = _trusted_columns(wb, spec, names)
            if found is None or not found.trusted:
                return set(names)
            at = found.at
            wb.column_ids[spec.title] = {**known, **at}
        missing = {n for n in names if n not in at}
        if missing and spec.all_or_nothing:
            return set(names)
        matched: set[int] = set()
        done = send_values(wb, list(_batches(spec, at, wb.max_request_bytes)), matched)
        sent = (sent[0] + abs(done[0]), sent[1] + done[1])
        if done[0] >= 0:
            # A filter Google matched to no range (its column was deleted since the marks were checked)
            # wrote nothing: those cells wait for the next write.
            missing |= {n for n in names if n in at and at[n][1] not in matched}
            break
        known = {}  # refused: read the marks again
    else:  # refused every time: the tab kept changing under the write; its cells wait for the next write
        missing = set(names)
    wb.last_write_requests += sent[0]
    wb.last_write_bytes += sent[1]
    return missing


def _trusted_columns(wb: GoogleWorkbook, spec: TabSpec, names: list[str]) -> Columns | None:
    """The trusted mark of each column, after removing wrong marks and marking unmarked columns (checked
    by a second read before anything goes through a new mark)."""
    for _ in range(2):
        snap = snapshot(wb, spec)
        if snap is None:
            return None
        found = columns(snap, names, spec.identity_header, set(spec.column_marks.values()))
        fixes = delete_metadata(found.deletes) + column_marks(snap.sheet_id, found.tags)
        if not fixes:
            break
        _post(wb, SPREADSHEET_BATCH_UPDATE_URL % wb.key, {"requests": fixes})
    return found


def send_values(wb: GoogleWorkbook, bodies: list[bytes], matched: set[int] | None = None) -> tuple[int, int]:
    """Send the bodies in order; (requests, bytes) sent — requests negative when Google refused one (a 400:
    e.g. the expert deleted a column or row the write reached, so it "exceeds" what the filter matches;
    nothing of that request was applied)."""
    done = 0
    total = sum(len(b) for b in bodies)
    for n, body in enumerate(bodies, start=1):
        resp = _post(wb, VALUES_BY_FILTER_URL % wb.key, body, refusable=True)
        if resp is None:
            return -n, done
        if matched is not None:
            for r in (resp.json() or {}).get("responses", []) or []:
                mid = (((r.get("dataFilter") or {}).get("developerMetadataLookup") or {}).get("metadataId"))
                if mid is not None:
                    matched.add(int(mid))
        done += len(body)
        if wb.progress is not None:
            wb.progress(WriteProgress(n, len(bodies), done, total))
    return len(bodies), done


def _post(wb: GoogleWorkbook, url: str, body: bytes | dict, *, refusable: bool = False) -> Any:
    """POST (safe to repeat: every request here is idempotent). ``refusable``: a 400 returns ``None``."""
    data = body if isinstance(body, bytes) else dumps(body).encode()
    wb.last_request_bytes = len(data)

    def send() -> Any:
        try:
            return wb.client.http_client.request(
                "post", url, data=data, headers={"Content-Type": "application/json; charset=utf-8"},
                repeat_safe=True,
            )
        except APIError as e:
            if refusable and e.code == 400:
                return None
            raise

    return wb._call(send)


# -------------------------------------------------------------------------------------- the request bodies


def _text(value: CellValue) -> Any:
    return "" if value is None else value


_SKIP = len("[],")  # a row a ROWS-major slice leaves as it is
_CELL = len("[],")  # what a written cell costs beside its JSON in a ROWS-major slice


def _slice(mid: int, cells: list[tuple[int, str]]) -> str:
    """One column's cells from row 0 to its last row written (``cells``: row, JSON text, in order).

    "If the provided values are less than the matched ranges only the specified values are written, existing
    values in the matched ranges remain unaffected" (DataFilterValueRange), so a row left out costs ``[]``
    (3 bytes with its comma) ROWS-major, and ``null`` (5 bytes: "Null values will be skipped", ValueRange)
    COLUMNS-major, where a written cell costs 2 bytes less. The cheaper of the two is sent."""
    gaps = cells[-1][0] + 1 - len(cells)
    columns = len(cells) > gaps
    skip, out, prev = ("null" if columns else "[]"), [], -1
    for r, text in cells:
        out.extend([skip] * (r - prev - 1))
        out.append(text if columns else "[" + text + "]")
        prev = r
    values = "[[" + ",".join(out) + "]]" if columns else "[" + ",".join(out) + "]"
    major = "COLUMNS" if columns else "ROWS"
    return ('{"dataFilter":{"developerMetadataLookup":{"metadataId":' + str(mid) + '}},"majorDimension":"'
            + major + '","values":' + values + "}")


def _body(parts: list[str]) -> bytes:
    return ('{"valueInputOption":"RAW","data":[' + ",".join(parts) + "]}").encode()


_FRAME = len(_body([]))
_RANGE = len(_slice(2**31, [(0, "")])) + 1  # a slice's frame, its comma included


class _Requests:
    """Request bodies being filled, in order: parts go into the open body until the next would pass the
    limit. The steps of one write share it, so a step never ends with a half-empty request of its own.
    Each step is a generator that yields when it closed a body, so the body is sent before the next is
    built (one body at a time in memory)."""

    def __init__(self, at: dict[str, tuple[int, int]], limit: int) -> None:
        self.at, self.limit = at, limit
        self.parts: list[str] = []
        self.size = _FRAME
        self.done: list[bytes] = []

    def room(self) -> int:
        return self.limit - self.size

    def add(self, h: str, cells: list[tuple[int, str]], need: int) -> None:
        self.parts.append(_slice(self.at[h][1], cells))
        self.size += need

    def close(self) -> None:
        if self.parts:
            self.done.append(_body(self.parts))
            self.parts, self.size = [], _FRAME

    def drain(self) -> Iterator[bytes]:
        yield from self.done
        self.done.clear()


def _batches(spec: TabSpec, at: dict[str, tuple[int, int]], limit: int) -> Iterator[bytes]:
    """The request bodies, each under ``limit``, so that no moment shows a row's new text under its old key.

    Whole rows per request: a row is wholly written or not at all. Each column of a request spends 3 bytes
    on every row above its first one, so a row far down a tall tab (where a request of its own would spend
    more than :data:`DEEP` of ``limit`` skipping rows) is written in two steps instead: first its cells before
    the last one that puts text in it, column after column; then that cell, the ones after it (clearing or
    empty) and its key, as whole rows. Push puts the Status flag first, so the last is a text cell. Meanwhile the row shows text
    of neither version under its old key (a label given then counts only once re-checked). With
    ``spec.whole_rows_only`` (an import of labels: nothing could repair a half-written row) a row is never
    split, and one too far down for any request is refused."""
    cols = [h for h in spec.by_column if h in at]  # the key column last
    rows: dict[int, dict[str, str]] = {}
    for h in cols:
        for r, v in spec.by_column[h].items():
            rows.setdefault(r, {})[h] = dumps(_text(v))
    out = _Requests(at, limit)
    deep = set() if spec.whole_rows_only else {r for r, row in rows.items() if len(row) * _SKIP * r > DEEP * limit}
    first: dict[int, dict[str, str]] = {}
    last: dict[int, dict[str, str]] = {}
    for r in deep:  # the key column is the last of ``cols``
        hs = [h for h in cols if h in rows[r]]
        text = [i for i, h in enumerate(hs) if h != cols[-1] and rows[r][h] != '""']
        j = text[-1] if text else 0  # the last cell that puts text in the row: it goes with the key
        for i, h in enumerate(hs):
            (last if i >= j else first).setdefault(r, {})[h] = rows[r][h]
    for step in (_whole_rows(out, {r: row for r, row in rows.items() if r not in deep}, cols,
                             strict=spec.whole_rows_only),
                 _by_column(out, _columns(first, cols)),
                 _whole_rows(out, last, cols, strict=False)):
        for _ in step:
            yield from out.drain()
    out.close()
    yield from out.drain()


def _columns(rows: dict[int, dict[str, str]], cols: list[str]) -> dict[str, list[tuple[int, str]]]:
    return {h: [(r, rows[r][h]) for r in sorted(rows) if h in rows[r]] for h in cols}


def _whole_rows(out: _Requests, rows: dict[int, dict[str, str]], cols: list[str], *, strict: bool) -> Iterator[None]:
    """Runs of rows, every column of each, per request. A row that fits no request is refused (``strict``),
    or it and the rows after it go column after column, the key column last."""
    run: dict[str, list[tuple[int, str]]] = {}
    need_run = 0
    order = sorted(rows)
    for i, r in enumerate(order):
        need = _row_need(rows[r], r, run)
        if run and need_run + need > out.room():
            _add_run(out, run, cols, need_run)
            out.close()
            yield
            run, need_run = {}, 0
            need = _row_need(rows[r], r, run)
        if need > out.room() and not run and out.parts:
            out.close()
            yield
        if need > out.room():
            if strict:
                raise UserInputError(_too_big(r, _FRAME + need, out.limit))
            yield from _by_column(out, _columns({x: rows[x] for x in order[i:]}, cols))
            return
        for h, text in rows[r].items():
            run.setdefault(h, []).append((r, text))
        need_run += need
    if run:
        _add_run(out, run, cols, need_run)


def _add_run(out: _Requests, run: dict[str, list[tuple[int, str]]], cols: list[str], need: int) -> None:
    for h in cols:
        if h in run:
            out.add(h, run[h], 0)
    out.size += need


def _row_need(row: dict[str, str], r: int, run: dict[str, list[tuple[int, str]]]) -> int:
    """Bytes row ``r`` adds to a request: its cells, and the rows skipped before them in each column."""
    n = 0
    for h, text in row.items():
        above = run[h][-1][0] if h in run else -1
        n += len(text.encode()) + _CELL + _SKIP * (r - above - 1) + (0 if h in run else _RANGE)
    return n


def _by_column(out: _Requests, cells: dict[str, list[tuple[int, str]]]) -> Iterator[None]:
    """Column after column (one slice per column, one more wherever a request fills up), the key column
    last, so a row whose write stops half-way keeps its old key (push rewrites it: the key says the row
    still shows the old text)."""
    for h, left in cells.items():
        while left:
            taken, need, prev, add = 0, _RANGE, -1, 0
            for r, text in left:
                add = len(text.encode()) + _CELL + _SKIP * (r - prev - 1)
                if need + add > out.room():
                    break
                need, prev, taken = need + add, r, taken + 1
            if not taken:
                if out.parts:  # the next cell fits in a request of its own
                    out.close()
                    yield
                    continue
                raise UserInputError(_too_big(left[0][0], _FRAME + need + add, out.limit))
            out.add(h, left[:taken], need)
            left = left[taken:]
            if left:
                out.close()
                yield


def _too_big(row: int, need: int, limit: int) -> str:
    what = f"row {row + 1}"
    return (
        f"{what} of the Annotate tab needs a request of {need:,} bytes, more than the {limit:,} allowed ([google] "
        "max_request_bytes; a write addressed by column identity also spends 3 bytes on every row above it in "
        "its column). Raise max_request_bytes (up to 10485760). Nothing more was written; labels stay with "
        "their ids."
    )
