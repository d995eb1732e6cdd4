"""Rewriting one tab's XML from a spec, keeping every cell and element sheetsync does not own.

The part is handled in two pieces. Everything around the rows (views, column widths, filter, conditional
formats, dropdowns…) is small: it is parsed, edited and serialised with lxml, and only the elements a spec
speaks about change. The rows are streamed: each original row is copied with its cells as they are, except
the cells a block writes (replaced) and the cells a spec style covers (their style index re-pointed at the
composed style); rows the spec adds are generated in between. Nothing is ever built for the whole tab.

sheetsync's dropdowns carry ``promptTitle="sheetsync"`` and its rules the layout's owner tag: a write
removes exactly those and adds the spec's, so the expert's own dropdowns and rules stay as they are.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree
from openpyxl.worksheet.datavalidation import DataValidation

from sheetsync.backends.xlsx_package import MAIN_NS, REL_NS, parse_xml
from sheetsync.backends.xlsx_read import Tags, attributes, column_index, escape_text
from sheetsync.backends.xlsx_shift import shift_cell_formula
from sheetsync.backends.xlsx_styles import StyleBook, _in_main
from sheetsync.errors import BackendError
from sheetsync.layout import CellValue, Range, Style, TabSpec, Validation, column_letter, is_sheetsync_rule

_M = f"{{{MAIN_NS}}}"
EXCEL_MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32767
EXACT_INT_LIMIT = 2**53  # larger ints would lose digits as Excel doubles: written as text
ROW_HEIGHT_CELL_LIMIT = 200_000  # above this many data rows, only the sheet's default row height is set
HEADER_HEIGHT_PT = 15  # Excel's default row height for 11 pt text

DV_MARK = "sheetsync"
"""``promptTitle`` of every dropdown sheetsync writes: how a later write tells its own from the expert's."""
_LEGACY_DV_ERRORS = {  # what sheetsync's dropdowns said before they carried the mark
    "Pick a value from the list.",
    "This value is not in the list. You can keep it: new values are welcome.",
}

_PLACEHOLDER = b"<!--sheetsync rows-->"
ORDER = ["sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
         "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
         "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
         "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
         "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
         "legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts",
         "extLst"]

EMPTY_SHEET = (f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetData/>'
               '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>').encode()


def is_sheetsync_validation(el: Any) -> bool:
    if el.get("promptTitle") == DV_MARK:
        return True
    return el.get("errorTitle") == "Not in the list" and el.get("error") in _LEGACY_DV_ERRORS


def child(root: Any, name: str, *, create: bool = True) -> Any:
    """The worksheet's ``name`` element, created at its place in the schema's order if missing."""
    el = root.find(f"{_M}{name}")
    if el is None and create:
        el = etree.Element(f"{_M}{name}")
        place(root, el)
    return el


def place(root: Any, el: Any) -> None:
    """Insert ``el`` after every sibling that the schema puts before it."""
    position = ORDER.index(etree.QName(el).localname)
    index = 0
    for i, sibling in enumerate(root):
        name = etree.QName(sibling).localname if isinstance(sibling.tag, str) else ""
        if name in ORDER and ORDER.index(name) <= position:
            index = i + 1
    root.insert(index, el)


_LETTERS: dict[int, str] = {}


def letter(col: int) -> str:
    """Cached :func:`column_letter` (every cell written needs one)."""
    found = _LETTERS.get(col)
    if found is None:
        found = _LETTERS[col] = column_letter(col)
    return found


def a1(r0: int, c0: int, r1: int, c1: int) -> str:
    """Half-open 0-based bounds → "A1:C10"."""
    return f"{column_letter(c0)}{r0 + 1}:{column_letter(c1 - 1)}{r1}"


def open_range_a1(rng: Range, n_cols: int) -> str:
    """Validations and conditional formats cost nothing per row, so an open-ended range runs to Excel's
    last row: rows the expert adds at the bottom get dropdowns and highlights too."""
    r0, c0, r1, c1 = rng.resolve(EXCEL_MAX_ROWS, n_cols)
    return a1(r0, c0, r1, c1)


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


@dataclass
class Extents:
    """What a pass over the original rows learnt: needed before the rows are rewritten."""

    last_value_row: int = -1  # 0-based; -1: no value anywhere
    max_row: int = -1  # last row element, value or not
    max_col: int = -1


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
        self.end = max(self.styled_end, block_end, self.append_end, self.height_end)
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
        if self.points is None:
            return None
        if r < self.spec.frozen_rows:
            return None if current is not None else str(HEADER_HEIGHT_PT).encode()
        if r < self.height_end and self.per_row_heights:
            return _num(self.points)
        return None


def _num(x: float) -> bytes:
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
    import re

    return re.compile(rb"""\sr\s*=\s*["']([0-9]+)["']""").search


_ROW_NUMBER = _row_number_pattern()


# ---------------------------------------------------------------------- around the rows


class SheetDom:
    """The worksheet part without its rows, as an lxml tree to edit."""

    def __init__(self, head: bytes | None, tail: bytes | None) -> None:
        self.root = parse_xml(EMPTY_SHEET if head is None else head + (tail or b""))
        data = self.root.find(f"{_M}sheetData")
        if data is None:
            data = etree.Element(f"{_M}sheetData")
            place(self.root, data)
        for row in list(data):
            data.remove(row)
        data.text = None
        self.prefix = (self.root.prefix or "").encode()

    def apply(self, spec: TabSpec, book: StyleBook, max_row: int, max_col: int) -> None:
        root = self.root
        n_cols = spec.n_cols
        rows = max(max_row, 1)
        cols = max(max_col, 1)
        child(root, "dimension").set("ref", "A1" if max_row <= 1 and max_col <= 1 else a1(0, 0, rows, cols))
        self._views(spec.frozen_rows, spec.frozen_cols)
        self._columns(spec)
        if spec.row_height is not None:
            fmt = child(root, "sheetFormatPr")
            fmt.set("defaultRowHeight", _num(round(spec.row_height * 0.75, 2)).decode())
            fmt.set("customHeight", "1")
        if spec.tab_color is not None:
            pr = child(root, "sheetPr")
            colour = pr.find(f"{_M}tabColor")
            if colour is None:
                colour = etree.Element(f"{_M}tabColor")
                pr.insert(0, colour)
            colour.attrib.clear()
            colour.set("rgb", "FF" + spec.tab_color.lstrip("#").upper())
        if spec.basic_filter is not None:  # rows the expert appended are inside the filter too
            r0, c0, r1, c1 = spec.basic_filter.resolve(max(spec.n_rows, max_row), n_cols)
            child(root, "autoFilter").set("ref", a1(r0, c0, r1, c1))
            self.filter = (r0, c0, r1, c1)
        self._conditional_formats(spec, book)
        self._validations(spec)

    def _views(self, rows: int, cols: int) -> None:
        """Frozen header rows and id columns; the expert's active cell is kept."""
        views = child(self.root, "sheetViews")
        view = views.find(f"{_M}sheetView")
        if view is None:
            view = etree.SubElement(views, f"{_M}sheetView", workbookViewId="0")
        pane = view.find(f"{_M}pane")
        active_pane = pane.get("activePane", "topLeft") if pane is not None else "topLeft"
        active = None
        for sel in view.findall(f"{_M}selection"):
            if sel.get("pane", "topLeft") == active_pane:
                active = sel
        keep = {k: active.get(k) for k in ("activeCell", "sqref") if active is not None and active.get(k)}
        for el in view.findall(f"{_M}pane") + view.findall(f"{_M}selection"):
            view.remove(el)
        at = 0
        if rows or cols:
            top_left = f"{column_letter(cols)}{rows + 1}"
            pane_name = "bottomRight" if rows and cols else ("bottomLeft" if rows else "topRight")
            attrs = {"xSplit": str(cols)} if cols else {}
            if rows:
                attrs["ySplit"] = str(rows)
            attrs.update(topLeftCell=top_left, activePane=pane_name, state="frozen")
            view.insert(0, etree.Element(f"{_M}pane", attrs))
            at = 1
            panes = ["topRight", "bottomLeft"] if rows and cols else []
            for name in panes:
                view.insert(at, etree.Element(f"{_M}selection", pane=name))
                at += 1
            sel = etree.Element(f"{_M}selection", pane=pane_name, **keep)
        else:
            sel = etree.Element(f"{_M}selection", **keep)
        view.insert(at, sel)

    def _columns(self, spec: TabSpec) -> None:
        """Widths (px → Excel character widths: px ≈ 7·width + 5) and hidden columns. Runs of equal columns
        (``<col min max>``, as Excel saves them) are split around a changed column: overlapping entries
        make a file Excel calls corrupt. Columns the expert hid stay hidden; sheetsync only ever hides."""
        touched = sorted(set(spec.column_widths) | set(spec.hidden_columns))
        if not touched:
            return
        cols = child(self.root, "cols")
        for col in touched:
            index = col + 1
            target = None
            for el in list(cols):
                lo, hi = int(el.get("min", "0")), int(el.get("max", "0"))
                if lo <= index <= hi:
                    if lo != hi:
                        position = list(cols).index(el)
                        cols.remove(el)
                        for k, (a, b) in enumerate(p for p in ((lo, index - 1), (index, index), (index + 1, hi)) if p[0] <= p[1]):
                            piece = etree.Element(el.tag, dict(el.attrib))
                            piece.set("min", str(a))
                            piece.set("max", str(b))
                            cols.insert(position + k, piece)
                            if a == index:
                                target = piece
                    else:
                        target = el
                    break
            if target is None:
                target = etree.Element(f"{_M}col", min=str(index), max=str(index))
                later = [i for i, el in enumerate(cols) if int(el.get("min", "0")) > index]
                cols.insert(later[0] if later else len(cols), target)
                if "width" not in target.attrib:
                    target.set("width", "8.43")  # Excel's default, so a hidden-only column keeps its size
            if col in spec.column_widths:
                target.set("width", _num(round(max(spec.column_widths[col] - 5, 0) / 7, 2)).decode())
                target.set("customWidth", "1")
            if col in spec.hidden_columns:
                target.set("hidden", "1")

    def _conditional_formats(self, spec: TabSpec, book: StyleBook) -> None:
        root = self.root
        priorities = [0]
        for block in root.findall(f"{_M}conditionalFormatting"):
            for rule in block.findall(f"{_M}cfRule"):
                formulas = [f.text or "" for f in rule.findall(f"{_M}formula")]
                if any(is_sheetsync_rule(f) for f in formulas):
                    block.remove(rule)
                else:
                    priorities.append(int(rule.get("priority", "0") or 0))
            if block.find(f"{_M}cfRule") is None:
                root.remove(block)
        priority = max(priorities)
        for cf in spec.conditional_formats:
            priority += 1
            block = etree.Element(f"{_M}conditionalFormatting", sqref=open_range_a1(cf.range, spec.n_cols))
            rule = etree.SubElement(block, f"{_M}cfRule", type="expression", dxfId=str(book.dxf(cf)),
                                    priority=str(priority))
            etree.SubElement(rule, f"{_M}formula").text = cf.tagged_formula().removeprefix("=")
            place(root, block)

    def _validations(self, spec: TabSpec) -> None:
        root = self.root
        holder = child(root, "dataValidations")
        for el in list(holder):
            if is_sheetsync_validation(el):
                holder.remove(el)
        for validation in spec.validations:
            el = self._validation(validation, spec.n_cols)
            if el is not None:
                holder.append(el)
        if len(holder):
            holder.set("count", str(len(holder)))
        else:
            root.remove(holder)

    lists: Any = None  # set by the package writer: the hidden tab's choice lists
    filter: tuple[int, int, int, int] | None = None  # the filter's bounds, for the workbook's defined name

    def _validation(self, validation: Validation, n_cols: int) -> Any:
        """A dropdown. Not strict: Excel warns and lets the expert keep free text; strict: Excel refuses
        values outside the list. (openpyxl's ``showDropDown=False`` means *show* the arrow.)"""
        if not validation.choices:
            return None
        joined = ",".join(validation.choices)
        if len(joined) > 255 or any("," in c or '"' in c for c in validation.choices):
            formula = self.lists.reference(validation.choices)  # Excel rejects longer inline lists
        else:
            formula = f'"{joined}"'
        strict = validation.strict
        dv = DataValidation(
            type="list",
            formula1=formula,
            allow_blank=True,
            showDropDown=False,
            showErrorMessage=True,
            errorStyle="stop" if strict else "warning",
            errorTitle="Not in the list",
            error=(
                "Pick a value from the list."
                if strict
                else "This value is not in the list. You can keep it: new values are welcome."
            ),
            showInputMessage=validation.input_message is not None,
            promptTitle=DV_MARK,
            prompt=validation.input_message,
        )
        dv.sqref = open_range_a1(validation.range, n_cols)
        return _in_main(dv.to_tree())

    def split(self) -> tuple[bytes, bytes]:
        """The serialised part before and after the rows."""
        data = self.root.find(f"{_M}sheetData")
        data.append(etree.Comment("sheetsync rows"))
        text = etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", standalone=True)
        data.remove(data[-1])
        before, after = text.split(_PLACEHOLDER, 1)
        return before, after
