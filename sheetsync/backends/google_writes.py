"""Plan one write into ``spreadsheets.batchUpdate`` bodies that each stay under a size limit. Pure: no I/O.

Google refuses a request body over 10 MiB (HTTP 400 "Request payload size exceeds the limit: 10485760
bytes") and recommends at most 2 MB (developers.google.com/sheets/api/limits; google-reality.md). A write
that fits is ONE batch, atomic as before. One that does not is split so that what the single batch
guaranteed still holds:

* A tab that is rebuilt (``replace``: report tabs, the Judge tab, the first push of Annotate) is built
  under another title, hidden and marked (:data:`~sheetsync.backends.sheet_meta.STAGING_KEY`), then
  swapped in by one small final request that deletes the old tab and renames the new one. Nobody sees a
  half-built tab; if the command dies half-way the old tab is intact and the next write removes the
  leftover.
* A tab that is updated in place (the Annotate tab) is written in whole rows: every request carries all of
  a row's cells, so each row is wholly old or wholly new whatever fails between two requests. Appended
  rows go in ``appendCells``, which Google places below the last row with data when it applies it.

Bodies are serialised here, compactly and with UTF-8 text (``json.dumps``'s default ``\\uXXXX`` escapes
make non-Latin text up to three times larger), and measured on exactly the bytes that are sent. Planning
runs over the specs twice — once to size the batches, once to render each batch as it is sent — so at
most one batch body exists at a time.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sheetsync.backends.cell_requests import Request, append_requests, cell_data, value_requests
from sheetsync.backends.sheet_meta import STAGING_KEY, SheetMeta
from sheetsync.backends.sheet_size import check_row_lengths, needed_size
from sheetsync.backends.tab_requests import check_specs, tab_requests, unmark
from sheetsync.errors import UserInputError
from sheetsync.layout import TabSpec

#: Google's hard limit on a request body (bytes).
GOOGLE_BODY_LIMIT = 10 * 1024 * 1024
#: sheetsync's default: Google's recommended maximum payload ("we recommend a 2 MB maximum payload").
DEFAULT_BODY_LIMIT = 2_000_000
#: "Spreadsheets can have up to 10 million cells" (support.google.com/drive/answer/37603).
MAX_CELLS = 10_000_000
#: Column ZZZ, the last a Sheets tab can have.
MAX_COLUMNS = 18_278
STAGING_SUFFIX = " (sheetsync: building)"

_OPEN, _CLOSE = b'{"requests":[', b"]}"
#: Developer metadata (on the spreadsheet) naming the last batch applied: a batch whose answer was lost is
#: looked up by it, never blindly sent again (appendCells or insertDimension applied twice would duplicate
#: rows or columns). Every batch replaces it with its own token.
WRITE_MARK = "sheetsync.write"
_TOKEN_CHARS = 32


def marker_requests(token: str) -> list[Request]:
    return [
        {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {
            "metadataKey": WRITE_MARK, "locationType": "SPREADSHEET"}}}},
        {"createDeveloperMetadata": {"developerMetadata": {
            "metadataKey": WRITE_MARK, "metadataValue": token, "location": {"spreadsheet": True},
            "visibility": "DOCUMENT"}}},
    ]


_MARKER = len(",".join(json.dumps(r, separators=(",", ":")) for r in marker_requests("x" * _TOKEN_CHARS))) + 1
# The largest possible head and tail of an updateCells / appendCells around its rows (ids of 10 digits,
# rows of 9, columns of 5): the planner counts these, the renderer writes the real, shorter ones.
_UPDATE_OVERHEAD = len(
    '{"updateCells":{"start":{"sheetId":2147483647,"rowIndex":999999999,"columnIndex":99999},"rows":[],'
    '"fields":"userEnteredValue"}},'
)
_APPEND_OVERHEAD = len('{"appendCells":{"sheetId":2147483647,"rows":[],"fields":"userEnteredValue"}},')


def dumps(obj: Any) -> str:
    """JSON as sent: compact, UTF-8 text, never NaN."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def row_json(values: list[Any]) -> str:
    return dumps({"values": [cell_data(v) for v in values]})


@dataclass
class _Group:
    """Requests that must land in the same batch."""

    requests: list[Request]
    size: int = 0

    def __post_init__(self) -> None:
        self.size = sum(len(dumps(r).encode()) + 1 for r in self.requests)


@dataclass
class _Row:
    """One row of a tab: its cells in every block that covers it (the unit of an in-place update)."""

    sheet_id: int
    row: int
    parts: list[tuple[int, int, str]]  # (block number, block's first column, '{"values":[...]}')
    size: int = 0

    def __post_init__(self) -> None:
        self.size = sum(len(p[2].encode()) + 1 for p in self.parts)


@dataclass
class _Append:
    sheet_id: int
    row: str
    size: int = 0

    def __post_init__(self) -> None:
        self.size = len(self.row.encode()) + 1


_Atom = _Group | _Row | _Append


@dataclass
class WritePlan:
    """The batches of one write. Iterating renders them, one at a time, as the bytes to send."""

    specs: list[TabSpec]
    meta: Mapping[str, SheetMeta]
    limit: int
    locale: str
    default_tab: int | None
    seed: int
    sizes: list[int] = field(default_factory=list)  # body bytes of each batch
    counts: list[int] = field(default_factory=list)  # atoms in each batch
    staged: list[str] = field(default_factory=list)  # tabs built hidden and swapped in

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[Batch]:
        atoms = _atoms(self, [])
        for count in self.counts:
            token = uuid.uuid4().hex
            yield Batch(_render([next(atoms) for _ in range(count)], token), token)


@dataclass(frozen=True)
class Batch:
    """One request body, and the token its :data:`WRITE_MARK` carries once Google applied it."""

    body: bytes
    token: str


def plan_write(
    specs: list[TabSpec],
    meta: Mapping[str, SheetMeta],
    *,
    limit: int = DEFAULT_BODY_LIMIT,
    locale: str = "en_US",
    default_tab: int | None = None,
    rng: random.Random | None = None,
) -> WritePlan:
    """Size the batches that make every tab look like its spec (see the module docstring).

    ``default_tab`` is the sheetId of the empty tab of a spreadsheet sheetsync just created: it is deleted
    at the end. Raises :class:`UserInputError`, before anything is sent, when the write cannot fit Google's
    limits at all (cells per spreadsheet, columns per tab, a single row larger than ``limit``).
    """
    check_specs(specs, meta)
    _check_cells(specs, meta, default_tab)
    seed = (rng or random.SystemRandom()).randrange(2**31)
    plan = WritePlan(list(specs), meta, limit, locale, default_tab, seed)
    room = limit - len(_OPEN) - len(_CLOSE) - _MARKER
    size = count = 0
    opened: set[tuple[int, int]] = set()  # (sheet, block) with an updateCells in the current batch
    appending: set[int] = set()
    for atom in _atoms(plan, plan.staged):
        need = atom.size
        if isinstance(atom, _Row):
            need += _UPDATE_OVERHEAD * sum((atom.sheet_id, b) not in opened for b, _, _ in atom.parts)
        elif isinstance(atom, _Append):
            need += _APPEND_OVERHEAD * (atom.sheet_id not in appending)
        if need > room:
            fresh = need if count == 0 else _fresh_need(atom)
            if fresh > room:
                raise UserInputError(_too_big(atom, fresh, limit))
        if count and size + need > room:
            plan.sizes.append(size + len(_OPEN) + len(_CLOSE) + _MARKER)
            plan.counts.append(count)
            size = count = 0
            opened, appending = set(), set()
            need = _fresh_need(atom)
        size += need
        count += 1
        if isinstance(atom, _Row):
            opened.update((atom.sheet_id, b) for b, _, _ in atom.parts)
        elif isinstance(atom, _Append):
            appending.add(atom.sheet_id)
        else:  # a group ends the runs before it: what follows opens new requests
            opened, appending = set(), set()
    if count:
        plan.sizes.append(size + len(_OPEN) + len(_CLOSE) + _MARKER)
        plan.counts.append(count)
    return plan


def _fresh_need(atom: _Atom) -> int:
    if isinstance(atom, _Row):
        return atom.size + _UPDATE_OVERHEAD * len(atom.parts)
    if isinstance(atom, _Append):
        return atom.size + _APPEND_OVERHEAD
    return atom.size


def _too_big(atom: _Atom, need: int, limit: int) -> str:
    what = (
        f"row {atom.row + 1}" if isinstance(atom, _Row) else "an appended row" if isinstance(atom, _Append)
        else "the tab's formatting"
    )
    return (
        f"{what} needs a request of {need:,} bytes, more than the {limit:,} allowed ([google] "
        f"max_request_bytes; Google refuses any request over {GOOGLE_BODY_LIMIT:,}). Raise max_request_bytes "
        "(up to 10485760) or shorten the longest texts. Nothing was written."
    )


def _check_cells(specs: list[TabSpec], meta: Mapping[str, SheetMeta], default_tab: int | None) -> None:
    """Google refuses a spreadsheet over 10 million cells: stop before writing anything, with the numbers."""
    sized = {t: m.row_count * m.col_count for t, m in meta.items() if m.staging_for is None}
    if default_tab is not None:
        sized = {t: n for t, n in sized.items() if meta[t].sheet_id != default_tab}
    total = sum(sized.values())
    peak = 0
    for spec in specs:
        rows, cols = needed_size(spec)
        rows += len(spec.append_rows)
        if cols > MAX_COLUMNS:
            raise UserInputError(
                f"the tab “{spec.title}” would need {cols:,} columns; a Google Sheets tab holds at most "
                f"{MAX_COLUMNS:,}. Show fewer context columns. Nothing was written."
            )
        old = meta.get(spec.title)
        if old is not None and not spec.replace:
            rows, cols = max(rows, old.row_count), max(cols, old.col_count)
        new = rows * cols
        total += new - sized.get(spec.title, 0)
        if spec.replace and old is not None:
            peak = max(peak, sized.get(spec.title, 0))  # old and new exist together while a tab is staged
    if total + peak > MAX_CELLS:
        raise UserInputError(
            f"this write needs {total + peak:,} cells in the spreadsheet; Google Sheets allows at most "
            f"{MAX_CELLS:,}. Push fewer rows (--sample N), show fewer context columns, or use another "
            "spreadsheet for this dataset. Nothing was written."
        )


def _atoms(plan: WritePlan, staged: list[str]) -> Iterator[_Atom]:
    """Every atom of the write, in order. Deterministic for a plan (same seed, same sheet ids), so the
    sizing pass and the rendering pass see the same atoms."""
    rng = random.Random(plan.seed)
    taken = {m.sheet_id for m in plan.meta.values()}
    leftovers = [m for m in plan.meta.values() if m.staging_for is not None]
    if leftovers:  # stand-ins an interrupted write left behind
        yield _Group([{"deleteSheet": {"sheetId": m.sheet_id}} for m in leftovers])
    swaps: list[Request] = []
    default_tab = [plan.default_tab] if plan.default_tab is not None else []

    def without_default_tab(requests: list[Request]) -> list[Request]:
        """The empty tab of a new spreadsheet goes right after the first visible tab is added (a
        spreadsheet cannot be left without a visible tab), so later ``index``es count as in a spreadsheet
        holding only our tabs."""
        if default_tab:
            for i, r in enumerate(requests):
                if "addSheet" in r and not r["addSheet"]["properties"].get("hidden"):
                    return [*requests[: i + 1], {"deleteSheet": {"sheetId": default_tab.pop()}}, *requests[i + 1 :]]
        return requests

    for spec in plan.specs:
        old = plan.meta.get(spec.title)
        tab_rng = random.Random(rng.random())
        if not spec.replace:
            tab = tab_requests(spec, old, taken, rng=tab_rng, locale=plan.locale)
            yield _Group(without_default_tab(tab.setup + tab.finish))
            yield from _rows(tab.sheet_id, spec)
            yield from _appends(tab.sheet_id, spec)
            continue
        if _fits(spec, plan.limit):
            tab = tab_requests(spec, old, set(taken), rng=tab_rng, locale=plan.locale)
            whole = _Group(without_default_tab(
                tab.setup + value_requests(tab.sheet_id, spec) + append_requests(tab.sheet_id, spec) + tab.finish
            ))
            if whole.size + len(_OPEN) + len(_CLOSE) + _MARKER <= plan.limit:
                taken.add(tab.sheet_id)
                yield whole
                continue
            del whole
        staged.append(spec.title)
        index = spec.index if spec.index is not None else (old.index if old is not None else None)
        stand_in = tab_requests(
            spec, None, taken, rng=tab_rng, locale=plan.locale,
            as_title=_staging_title(spec.title), staging_for=spec.title, index=index,
        )
        yield _Group(stand_in.setup + stand_in.finish)
        yield from _rows(stand_in.sheet_id, spec)
        yield from _appends(stand_in.sheet_id, spec)
        if old is not None:
            swaps.append({"deleteSheet": {"sheetId": old.sheet_id}})
        swaps.append({
            "updateSheetProperties": {
                "properties": {"sheetId": stand_in.sheet_id, "title": spec.title, "hidden": False},
                "fields": "title,hidden",
            }
        })
        swaps.append(unmark(stand_in.sheet_id, STAGING_KEY))
    if swaps:  # the new tabs become visible first: then the default tab may go too
        final = [{"deleteSheet": {"sheetId": default_tab.pop()}}] if default_tab else []
        yield _Group(swaps + final)
    elif default_tab:
        yield _Group([{"deleteSheet": {"sheetId": default_tab.pop()}}])


def _fits(spec: TabSpec, limit: int) -> bool:
    """Whether the spec's values alone stay under ``limit`` (stops counting as soon as they don't)."""
    total = 0
    for atom in _chain(spec):
        total += atom.size
        if total > limit:
            return False
    return True


def _chain(spec: TabSpec) -> Iterator[_Row | _Append]:
    yield from _rows(0, spec)
    yield from _appends(0, spec)


def _staging_title(title: str) -> str:
    return title[: 100 - len(STAGING_SUFFIX)] + STAGING_SUFFIX  # Sheets titles hold 100 characters


def _rows(sheet_id: int, spec: TabSpec) -> Iterator[_Row]:
    """The spec's blocks, row by row: each row with its cells from every block that covers it."""
    by_row: dict[int, list[tuple[int, int, list[Any]]]] = {}
    for b, block in enumerate(spec.blocks):
        check_row_lengths(spec, block.values, where="row", first=block.row, col=block.col)
        for i, values in enumerate(block.values):
            by_row.setdefault(block.row + i, []).append((b, block.col, values))
    for row in sorted(by_row):
        yield _Row(sheet_id, row, [(b, col, row_json(values)) for b, col, values in by_row[row]])


def _appends(sheet_id: int, spec: TabSpec) -> Iterator[_Append]:
    check_row_lengths(spec, spec.append_rows, where="appended row")
    for values in spec.append_rows:
        yield _Append(sheet_id, row_json(values))


def _render(atoms: list[_Atom], token: str) -> bytes:
    """One batch body. Consecutive rows become one ``updateCells`` per block, consecutive appends one
    ``appendCells`` per tab, in the order the atoms came."""
    parts: list[str] = []
    runs: dict[tuple[int, int], tuple[int, int, list[str]]] = {}  # (sheet, block) -> (first row, col, rows)
    appends: dict[int, list[str]] = {}

    def flush() -> None:
        for (sheet_id, _), (first, col, rows) in runs.items():
            parts.append(
                f'{{"updateCells":{{"start":{{"sheetId":{sheet_id},"rowIndex":{first},"columnIndex":{col}}},'
                f'"rows":[{",".join(rows)}],"fields":"userEnteredValue"}}}}'
            )
        for sheet_id, rows in appends.items():
            parts.append(
                f'{{"appendCells":{{"sheetId":{sheet_id},"rows":[{",".join(rows)}],"fields":"userEnteredValue"}}}}'
            )
        runs.clear()
        appends.clear()

    for atom in atoms:
        if isinstance(atom, _Row):
            if appends:
                flush()
            for b, col, fragment in atom.parts:
                key = (atom.sheet_id, b)
                if key in runs:
                    first, _, rows = runs[key]
                    if first + len(rows) != atom.row:  # a gap: this block's run ends here
                        flush()
                if key not in runs:
                    runs[key] = (atom.row, col, [])
                runs[key][2].append(fragment)
        elif isinstance(atom, _Append):
            if runs:
                flush()
            appends.setdefault(atom.sheet_id, []).append(atom.row)
        else:
            flush()
            parts.extend(dumps(r) for r in atom.requests)
    flush()
    parts.extend(dumps(r) for r in marker_requests(token))
    return _OPEN + ",".join(parts).encode() + _CLOSE
