"""The rows of a tab being written: the original rows streamed through, merged with what a spec writes.

Each original row is copied with its cells as they are, except the cells a block writes (replaced) and the
cells a spec style covers (their style index re-pointed at the composed style); rows the spec adds are
generated in between. Nothing is ever built for the whole tab: one row at a time.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from sheetsync.backends.xlsx_read import Tags, attributes, column_index
from sheetsync.backends.xlsx_shift import shift_cell_formula
from sheetsync.backends.xlsx_styles import StyleBook
from sheetsync.backends.xlsx_text import MAX_CELL_CHARS, escape_text
from sheetsync.errors import BackendError
from sheetsync.layout import CellValue, Range, Style, TabSpec, column_letter

EXCEL_MAX_ROWS = 1_048_576
EXACT_INT_LIMIT = 2**53  # larger ints would lose digits as Excel doubles: written as text
ROW_HEIGHT_CELL_LIMIT = 200_000  # above this many data rows, only the sheet's default row height is set
HEADER_HEIGHT_PT = 15  # Excel's default row height for 11 pt text

_LETTERS: dict[int, str] = {}


def letter(col: int) -> str:
    """Cached :func:`column_letter` (every cell written needs one)."""
    found = _LETTERS.get(col)
    if found is None:
        found = _LETTERS[col] = column_letter(col)
    return found


# ---------------------------------------------------------------------- cell values


def cell_xml(tags_p: bytes, ref: str, style: int, value: CellValue, tab: str) -> bytes:
    """One cell. A str is always literal text (an inline string: never a formula, never an error)."""
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return b"<%bc r=\"%b\"%b/>" % (tags_p, ref.encode(), s.encode())
    if not isinstance(value, bool | int | float | str) and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar from a DataFrame → the Python bool/int/float it holds
    if isinstance(value, bool):
        body = f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    elif isinstance(value, int) and abs(value) <= EXACT_INT_LIMIT:
        body = f'<c r="{ref}"{s}><v>{value}</v></c>'
    elif isinstance(value, float) and math.isfinite(value):
        body = f'<c r="{ref}"{s}><v>{float(value)!r}</v></c>'
    elif isinstance(value, float) and math.isnan(value):
        return b"<%bc r=\"%b\"%b/>" % (tags_p, ref.encode(), s.encode())
    else:
        if isinstance(value, int | float):
            value = str(value)  # beyond 2**53, or infinite: Excel has no such number
        elif not isinstance(value, str):
            raise TypeError(f"{tab}!{ref}: cannot write {type(value).__name__} {value!r}")
        if len(value) > MAX_CELL_CHARS:
            raise BackendError(
                f"{tab}!{ref} holds {len(value):,} characters; an Excel cell holds at most "
                f"{MAX_CELL_CHARS:,}. Nothing was written."
            )
        text = escape_text(value)
        if "&" in text:
            text = text.replace("&", "&amp;")
        if "<" in text:
            text = text.replace("<", "&lt;")
        if ">" in text:
            text = text.replace(">", "&gt;")
        space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
        body = f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{text}</t></is></c>'
    data = body.encode("utf-8")
    if tags_p:  # a prefixed sheet: the same elements with its prefix
        data = data.replace(b"<", b"<" + tags_p).replace(b"<" + tags_p + b"/", b"</" + tags_p)
    return data


# ---------------------------------------------------------------------- what a spec puts in rows


class RowPlan:
    """For each row: the values the spec writes, the styles that cover each column, the height."""

    def __init__(self, spec: TabSpec, book: StyleBook, append_at: int, shift: Any = None) -> None:
        self.spec = spec
        self.shift = shift  # a ColumnShift when the spec inserts columns: original cells move right
        self.book = book
        self.blocks = [(b.row, b.row + len(b.values), b.col, b.values) for b in spec.blocks if b.values]
        # Row → the pieces of blocks in it, in block order: a re-push sends many small blocks, and looking
        # through all of them for every row would cost rows × blocks.
        self.by_row: dict[int, list[tuple[int, list[CellValue]]]] = {}
        for start, _end, col, values in self.blocks:
            for i, row in enumerate(values):
                self.by_row.setdefault(start + i, []).append((col, row))
        self.append_at = append_at
        self.append_end = append_at + len(spec.append_rows)
        n_rows, n_cols = spec.n_rows, spec.n_cols
        cuts = {0}
        resolved: list[tuple[int, int, int, int, Style]] = []
        for style in spec.styles:
            r0, c0, r1, c1 = style.range.resolve(n_rows, n_cols)
            if r1 > r0 and c1 > c0:
                resolved.append((r0, c0, r1, c1, style))
                cuts.update((r0, r1))
        self.cuts = sorted(cuts)
        self.bands: list[dict[int, tuple[Style, ...]]] = []
        for lo in self.cuts:
            per_col: dict[int, list[Style]] = {}
            for r0, c0, r1, c1, style in resolved:
                if r0 <= lo < r1:
                    for c in range(c0, c1):
                        per_col.setdefault(c, []).append(style)
            self.bands.append({c: tuple(v) for c, v in sorted(per_col.items())})
        self.styled_end = max((r1 for _, _, r1, _, _ in resolved), default=0)
        block_end = max((end for _, end, _, _ in self.blocks), default=0)
        self.height_end = n_rows if spec.row_height is not None else 0
        self.row_points = {r: round(px * 0.75, 2) for r, px in spec.row_heights.items()}  # rows sized one by one
        self.end = max(self.styled_end, block_end, self.append_end, self.height_end,
                       max(spec.row_heights, default=-1) + 1)
        self.points = round(spec.row_height * 0.75, 2) if spec.row_height is not None else None
        self.per_row_heights = n_rows - spec.frozen_rows <= ROW_HEIGHT_CELL_LIMIT
        self._style_memo: dict[tuple[bytes, int], int] = {}
        self._band_keys: list[dict[int, int]] = []
        keys: dict[tuple[Style, ...], int] = {}
        self._key_styles: list[tuple[Style, ...]] = []
        for band in self.bands:
            mapping = {}
            for c, styles in band.items():
                if styles not in keys:
                    keys[styles] = len(self._key_styles)
                    self._key_styles.append(styles)
                mapping[c] = keys[styles]
            self._band_keys.append(mapping)

    def band(self, r: int) -> dict[int, int]:
        """Column → style-combination id for row ``r`` (empty dict: no spec style there)."""
        i = bisect.bisect_right(self.cuts, r) - 1
        return self._band_keys[i] if r < self.styled_end else {}

    def restyle(self, old: bytes, key: int) -> int:
        """The style index for a cell whose style was ``old`` (its ``s`` attribute) under combination ``key``."""
        memo = (old, key)
        found = self._style_memo.get(memo)
        if found is None:
            found = self.book.compose(int(old or b"0"), self._key_styles[key])
            self._style_memo[memo] = found
        return found

    def values(self, r: int) -> dict[int, CellValue]:
        """Column → value the spec writes in row ``r`` (later blocks win; appended rows last)."""
        out: dict[int, CellValue] = {}
        for col, row in self.by_row.get(r, ()):
            for j, v in enumerate(row):
                out[col + j] = v
        if self.append_at <= r < self.append_end:
            for j, v in enumerate(self.spec.append_rows[r - self.append_at]):
                if v is not None:
                    out[j] = v
        return out

    def height(self, r: int, current: bytes | None) -> bytes | None:
        """The row's height in points (as text), or None to leave the row's height as it is."""
        if r in self.row_points:
            return decimal_text(self.row_points[r])
        if self.points is None:
            return None
        if r < self.spec.frozen_rows:
            return None if current is not None else str(HEADER_HEIGHT_PT).encode()
        if r < self.height_end and self.per_row_heights:
            return decimal_text(self.points)
        return None


def decimal_text(x: float) -> bytes:
    return (str(int(x)) if float(x).is_integer() else repr(x)).encode()


# ---------------------------------------------------------------------- the rows


def merge_rows(rows: Iterable[tuple[bytes, bytes]], tags: Tags, plan: RowPlan) -> Iterator[bytes]:
    """The new sheetData content, row by row, in order: original rows merged with the plan's."""
    p = tags.row[1:-3]  # b"" or b"x:"
    next_new = 0
    last = -1
    for start, inner in rows:
        m = _ROW_NUMBER(start)
        r = int(m.group(1)) - 1 if m else last + 1
        last = r
        while next_new < min(r, plan.end):
            out = _new_row(next_new, p, plan)
            if out:
                yield out
            next_new += 1
        if r < plan.end or plan.shift:
            yield _merged_row(r, start, inner, tags, p, plan)
        else:
            yield start + inner + (tags.row_end if not start.endswith(b"/>") else b"")
        next_new = max(next_new, r + 1)
    while next_new < plan.end:
        out = _new_row(next_new, p, plan)
        if out:
            yield out
        next_new += 1


def _row_start(p: bytes, r: int, attrs: dict[bytes, bytes], height: bytes | None) -> bytes:
    attrs = dict(attrs)
    attrs[b"r"] = str(r + 1).encode()
    attrs.pop(b"spans", None)  # an optional hint that the new cells could contradict
    if height is not None:
        attrs[b"ht"] = height
        attrs[b"customHeight"] = b"1"
    body = b"".join(b' %b="%b"' % (k, v) for k, v in attrs.items())
    return b"<%brow%b>" % (p, body)


def _new_row(r: int, p: bytes, plan: RowPlan) -> bytes:
    values = plan.values(r)
    band = plan.band(r)
    height = plan.height(r, None)
    if not values and not band and height is None:
        return b""
    cells = []
    for c in sorted(set(values) | set(band)):
        key = band.get(c)
        style = plan.restyle(b"", key) if key is not None else 0
        cells.append(cell_xml(p, f"{letter(c)}{r + 1}", style, values.get(c), plan.spec.title))
    return _row_start(p, r, {}, height) + b"".join(cells) + b"</%brow>" % p


def _merged_row(r: int, start: bytes, inner: bytes, tags: Tags, p: bytes, plan: RowPlan) -> bytes:
    row_attrs = attributes(start)
    height = plan.height(r, row_attrs.get(b"ht"))
    values = plan.values(r)
    band = plan.band(r)
    shift = plan.shift
    if not values and not band and height is None and not shift:
        return start + inner + (tags.row_end if not start.endswith(b"/>") else b"")
    cells: dict[int, bytes] = {}
    extra = b""  # a row's own extension elements, kept after its cells
    c = -1
    match = tags.fast_cell.match
    cell_tag, cell_end = tags.cell, tags.cell_end
    n_end = len(cell_end)
    title = plan.spec.title
    number = b"%d" % (r + 1)
    pos = 0
    while True:
        at = inner.find(cell_tag, pos)
        if at == -1:
            break
        m = match(inner, at)
        if m is not None:  # the usual start tag (r, s, t): read without building a dict
            letters = m.group(1)
            c = _COLUMNS.get(letters)
            if c is None:
                c = _COLUMNS[letters] = column_index(letters.decode())
            old_style = m.group(3) or b""
            tag_end = m.end()
            tag = None
        else:
            if inner[at + len(cell_tag) : at + len(cell_tag) + 1] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
                pos = at + len(cell_tag)
                continue
            tag_end = inner.find(b">", at) + 1
            tag = inner[at:tag_end]
            attrs = attributes(tag)
            ref = attrs.get(b"r")
            c = column_index(ref.decode().rstrip("0123456789")) if ref else c + 1
            old_style = attrs.get(b"s", b"")
        closed = inner[tag_end - 2 : tag_end - 1] == b"/"
        stop = tag_end if closed else inner.find(cell_end, tag_end) + n_end
        if stop < tag_end:
            raise ValueError(f"a cell of row {r + 1} is not closed")
        pos = stop
        if shift:
            c = shift.col(c)
            tag = inner[at:tag_end]
            m = None  # rebuilt below with its new reference
            body = inner[tag_end:stop]
            if tags.f_open in body:
                body = shift_cell_formula(body, shift, title, tags.f_open)
            if c not in values:
                key = band.get(c)
                style = plan.restyle(old_style, key) if key is not None else int(old_style or b"0")
                cells[c] = _restyled(tag, style, f"{letter(c)}{r + 1}") + body
                continue
        key = band.get(c)
        if c in values:
            style = plan.restyle(old_style, key) if key is not None else int(old_style or b"0")
            cells[c] = cell_xml(p, f"{letter(c)}{r + 1}", style, values[c], title)
        elif key is not None:
            new_style = plan.restyle(old_style, key)
            if m is not None:
                s_attr = b' s="%d"' % new_style if new_style else b""
                t_attr = b' t="%b"' % m.group(4) if m.group(4) else b""
                head = b'<%bc r="%b%b"%b%b' % (p, m.group(1), number, s_attr, t_attr)
                cells[c] = head + (b"/>" if closed else b">") + inner[tag_end:stop]
            else:
                cells[c] = _restyled(tag, new_style, f"{letter(c)}{r + 1}") + inner[tag_end:stop]
        else:
            cells[c] = inner[at:stop]
    ext_at = inner.find(b"<" + p + b"extLst")
    if ext_at != -1:
        extra = inner[ext_at:]
    for c, v in values.items():
        if c not in cells:
            key = band.get(c)
            style = plan.restyle(b"", key) if key is not None else 0
            cells[c] = cell_xml(p, f"{letter(c)}{r + 1}", style, v, plan.spec.title)
    for c, key in band.items():
        if c not in cells:
            cells[c] = cell_xml(p, f"{letter(c)}{r + 1}", plan.restyle(b"", key), None, plan.spec.title)
    body = b"".join(cells[c] for c in sorted(cells))
    return _row_start(p, r, row_attrs, height) + body + extra + tags.row_end


def _restyled(tag: bytes, style: int, ref: str) -> bytes:
    """A cell's start tag with its style index replaced (every other attribute as it was)."""
    attrs = attributes(tag)
    attrs[b"r"] = ref.encode()
    attrs.pop(b"s", None)
    if style:
        attrs[b"s"] = b"%d" % style
    name = tag[1 : tag.find(b" ")] if b" " in tag else tag[1:].rstrip(b"/>")
    body = b"".join(b' %b="%b"' % (k, v) for k, v in attrs.items())
    return b"<%b%b%b" % (name, body, b"/>" if tag.endswith(b"/>") else b">")


_COLUMNS: dict[bytes, int] = {}


def _row_number_pattern() -> Any:

    return re.compile(rb"""\sr\s*=\s*["']([0-9]+)["']""").search


_ROW_NUMBER = _row_number_pattern()


def grown(spec: TabSpec, end: int) -> TabSpec:
    """The spec for a grid that reaches row ``end`` (exclusive) because appended rows landed lower than
    the workflow could know (the expert typed rows meanwhile): every range that ran to the spec's last row
    runs to the new last row, so appended rows get the styles, dropdowns and highlights of the rows above."""
    if end <= spec.n_rows:
        return spec
    old = spec.n_rows

    def stretch(rng: Range) -> Range:
        return replace(rng, row1=end) if rng.row1 == old else rng

    return replace(
        spec,
        n_rows=end,
        styles=[replace(s, range=stretch(s.range)) for s in spec.styles],
        validations=[replace(v, range=stretch(v.range)) for v in spec.validations],
        protections=[replace(p, range=stretch(p.range)) for p in spec.protections],
        conditional_formats=[replace(c, range=stretch(c.range)) for c in spec.conditional_formats],
        basic_filter=None if spec.basic_filter is None else stretch(spec.basic_filter),
    )
