"""The Annotate tab as sheetsync reads it back: the header row, the columns it needs, every row by id.

Only the columns a step needs are read (id, Status, the hidden key and the expert's four), in ONE request
when the columns are where the last read found them (the store remembers), in two when the expert moved
them. Headers are matched exactly (surrounding spaces aside; case counts); a header that is a near-miss of
one sheetsync expects is reported by name rather than read as "no such column", so a renamed Critique
column can never be read as "no critiques".

The hidden key column makes each row self-describing: ``<content hash>.<display hash>:<id>`` says whose
content sheetsync wrote into the row's cells, and which version. Ids and labels move together when the
expert sorts (sheetsync never rewrites an existing row's id), so a key that names another id means the
row's text is misplaced (a write landed while the expert moved rows): such a row is repaired by the next
write, and a label given beside it is not trusted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sheetsync.annotate import CRITIQUE, EXPERT_HEADERS, KEY, LEGACY_KEY, NOTES, ROOT_CAUSE, STATUS, VERDICT
from sheetsync.backends.base import Workbook

HEAD_ROWS = 20  # the header row is looked for in the first rows (someone may insert rows above it)
HEADER_ROW = "\x00header row"  # in a read hint: where the header row was (no header can be named so)
_KEY_RE = re.compile(r"([0-9a-f]{16})\.([0-9a-f]{8}):(.+)", re.DOTALL)


class SheetStructureError(ValueError):
    """The tab cannot be read safely: a column sheetsync needs is gone, renamed or repeated."""


@dataclass(frozen=True)
class RowKey:
    content: str  # hash of the input, output and context the row shows
    display: str  # hash of every cell sheetsync wrote in the row
    id: str


def make_key(content: str, display: str, rid: str) -> str:
    return f"{content}.{display}:{rid}"


def parse_key(text: str) -> RowKey | None:
    m = _KEY_RE.fullmatch(text)
    return RowKey(m.group(1), m.group(2), m.group(3)) if m else None


@dataclass
class SheetRow:
    """One row of the tab, wherever the expert moved it. Texts are exactly as read (nothing trimmed)."""

    row: int  # 0-based position in the tab
    id: str
    key: RowKey | None
    key_text: str
    status: str
    expert: dict[str, str]  # expert header -> text

    @property
    def labelled(self) -> bool:
        return any(v.strip() for v in self.expert.values())

    @property
    def misplaced(self) -> bool:
        """The text in the row's cells is another row's (or unknown): the key does not name this id."""
        return self.key is None or self.key.id != self.id


@dataclass
class AnnotateSheet:
    header_row: int
    headers: list[str]  # the header row, trimmed ("" for unnamed columns)
    at: dict[str, int]  # header -> column, for every named column
    rows: list[SheetRow]  # rows with an id, or with the expert's text but no id
    last_row: int  # last row holding anything in the columns read (the header row if none)
    legacy_key: bool = False  # the key column is still headed "sheetsync hash" (an earlier sheetsync)
    missing: list[str] = field(default_factory=list)  # sheetsync columns not found (Status, key)

    def by_id(self) -> dict[str, SheetRow]:
        return {r.id: r for r in self.rows if r.id}

    def hint(self) -> dict[str, int]:
        """What the store remembers so the next read is one small request: where the header row and each
        column are."""
        return {**self.at, HEADER_ROW: self.header_row}

    @property
    def key_header(self) -> str:
        return LEGACY_KEY if self.legacy_key else KEY


def needed_headers(id_header: str) -> set[str]:
    """The columns every read of the tab needs: the id, Status, the key and the expert's."""
    return {id_header, STATUS, KEY, LEGACY_KEY, *EXPERT_HEADERS}


def read_annotate(
    wb: Workbook, tab: str, *, id_header: str, hint: dict[str, int] | None = None, data_headers: Sequence[str] = ()
) -> AnnotateSheet | None:
    """Read the tab (``None`` if it does not exist) in one request when ``hint`` (:meth:`AnnotateSheet.hint`
    of the last read) is right, else two: the second reads the first rows in full to find the header row
    and then the columns where they are now.

    ``data_headers`` are sheetsync's data columns (id, dimensions, context, input, output): a near-miss of
    one of them is reported too. Raises :class:`SheetStructureError` with what to do.
    """
    wanted = needed_headers(id_header)
    hint = hint or {}
    cols = sorted({c for h, c in hint.items() if h in wanted})
    head_rows = hint[HEADER_ROW] + 1 if HEADER_ROW in hint else HEAD_ROWS
    for _ in range(3):
        got = wb.read_columns(tab, cols, head_rows=head_rows)
        if got is None:
            return None
        try:
            header_row, headers = _find_header(got.head, id_header, tab)
        except SheetStructureError:
            if head_rows >= HEAD_ROWS:
                raise
            head_rows = HEAD_ROWS  # rows were inserted above the header: look further down
            continue
        at = _locate(headers, id_header, tab, data_headers)
        need = sorted({c for h, c in at.items() if h in wanted})
        if set(need) <= set(got.columns):
            return _rows(got.columns, header_row, headers, at, id_header, tab)
        cols, head_rows = need, header_row + 1  # the columns moved: read them where they are now
    raise SheetStructureError(
        f"tab “{tab}”: its columns kept moving while sheetsync read it; run the command again."
    )


def _find_header(head: list[list[str]], id_header: str, tab: str) -> tuple[int, list[str]]:
    for i, row in enumerate(head):
        cells = [c.strip() for c in row]
        if id_header in cells and VERDICT in cells:
            return i, cells
    near = [c.strip() for row in head for c in row if c.strip()]
    hint = ""
    for want in (id_header, VERDICT):
        if want not in near:
            close = difflib.get_close_matches(want, near, n=1, cutoff=0.6)
            if close:
                hint = f" A column is headed “{close[0]}”: rename it back to “{want}” (headers are matched exactly)."
                break
    raise SheetStructureError(
        f"tab “{tab}”: no header row with “{id_header}” and “{VERDICT}” in the first {HEAD_ROWS} rows.{hint} "
        "Restore the header row (undo the change in the sheet), then run the command again."
    )


def _locate(headers: list[str], id_header: str, tab: str, data_headers: Sequence[str]) -> dict[str, int]:
    named = [h for h in headers if h]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise SheetStructureError(
            f"tab “{tab}”: header(s) {', '.join(repeated)} appear twice; rename or delete the copy."
        )
    at = {h: i for i, h in enumerate(headers) if h}
    expected = [id_header, *data_headers, STATUS, *EXPERT_HEADERS, KEY]
    others = [h for h in named if h not in expected and h != LEGACY_KEY]
    for want in expected:
        if want in at or (want == KEY and LEGACY_KEY in at):
            continue
        close = [h for h in others if h.casefold() == want.casefold()] or difflib.get_close_matches(
            want, others, n=1, cutoff=0.8
        )
        if close:
            raise SheetStructureError(
                f"tab “{tab}”: column {_letter(at[close[0]])} is headed “{close[0]}”, which looks like "
                f"sheetsync's “{want}”. Headers are matched exactly: rename it back to “{want}”, then run the "
                "command again. Nothing was read into the store or written to the sheet."
            )
    gone = [h for h in EXPERT_HEADERS if h not in at]
    if gone:
        raise SheetStructureError(
            f"tab “{tab}”: the expert's column(s) {', '.join(f'“{h}”' for h in gone)} are missing. Undo the "
            "deletion in the sheet (Edit → Undo, or File → Version history), or, if the column was removed on "
            "purpose, add an empty column with that exact header. sheetsync never reads a missing column as "
            "“no labels”; nothing was read into the store or written to the sheet."
        )
    return at


def _letter(col: int) -> str:
    from sheetsync.layout import column_letter

    return column_letter(col)


def _rows(
    columns: dict[int, list[str]],
    header_row: int,
    headers: list[str],
    at: dict[str, int],
    id_header: str,
    tab: str,
) -> AnnotateSheet:
    legacy = KEY not in at and LEGACY_KEY in at
    key_col = at.get(KEY, at.get(LEGACY_KEY))
    missing = [h for h, c in ((STATUS, at.get(STATUS)), (KEY, key_col)) if c is None]

    def col(c: int | None) -> list[str]:
        return columns.get(c, []) if c is not None else []

    ids, keys, statuses = col(at[id_header]), col(key_col), col(at.get(STATUS))
    expert = {h: col(at[h]) for h in EXPERT_HEADERS}
    height = max((len(v) for v in (ids, keys, statuses, *expert.values())), default=0)
    rows: list[SheetRow] = []
    seen: dict[str, int] = {}
    dupes: list[str] = []
    last = header_row
    for r in range(header_row + 1, height):
        cell = lambda values, r=r: values[r] if r < len(values) else ""  # noqa: E731
        rid, key_text = cell(ids).strip(), cell(keys)
        texts = {h: cell(v) for h, v in expert.items()}
        status = cell(statuses)
        if rid or key_text or status or any(t for t in texts.values()):
            last = r
        if not rid and not key_text and not any(t.strip() for t in texts.values()):
            continue
        key = parse_key(key_text) if key_text else None
        if legacy and key_text and key is None and re.fullmatch(r"[0-9a-f]{16}", key_text.strip()):
            key = RowKey(key_text.strip(), "", rid)  # an earlier sheetsync's hash column: content only
        if rid in seen:
            dupes.append(f"{rid} (rows {seen[rid] + 1} and {r + 1})")
        elif rid:
            seen[rid] = r
        rows.append(SheetRow(r, rid, key, key_text, status, texts))
    if dupes:
        raise SheetStructureError(
            f"tab “{tab}”: id(s) appear on more than one row: {', '.join(dupes[:10])}. "
            "Delete the duplicate rows (keep the one with the expert's label), then run the command again."
        )
    return AnnotateSheet(header_row, headers, at, rows, last, legacy_key=legacy, missing=missing)


__all__ = [
    "CRITIQUE",
    "NOTES",
    "ROOT_CAUSE",
    "AnnotateSheet",
    "RowKey",
    "SheetRow",
    "SheetStructureError",
    "make_key",
    "needed_headers",
    "parse_key",
    "read_annotate",
]
