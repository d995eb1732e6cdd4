"""Inserting empty columns into a tab's XML, as Excel's "Insert column" does, before a spec is applied.

Everything in the tab that names a column at or right of an insertion point moves right with it: cells
(and the references inside the expert's formulas to this tab), column widths, merged ranges, the expert's
dropdowns and rules (their ranges and formulas), hyperlinks, the filter, notes and the anchors of charts
and pictures. Not followed (as a reader of the module should know): references from *other* tabs' formulas,
defined names and chart series to the moved columns.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer

from sheetsync.backends.xlsx_package import MAIN_NS
from sheetsync.backends.xlsx_read import column_index
from sheetsync.backends.xlsx_text import unescape_text
from sheetsync.layout import column_letter

_M = f"{{{MAIN_NS}}}"
_CELL = re.compile(r"(\$?)([A-Z]{1,3})(\$?)([0-9]+)")
_PIECE = re.compile(r"(\$?)([A-Z]{1,3})(\$?)([0-9]*)")


class ColumnShift:
    """Where each original column lands once empty columns are inserted before ``positions``."""

    def __init__(self, positions: tuple[int, ...]) -> None:
        self.positions = sorted(positions)

    def __bool__(self) -> bool:
        return bool(self.positions)

    def col(self, c: int) -> int:
        return c + bisect.bisect_right(self.positions, c)

    def letters(self, letters: str) -> str:
        return column_letter(self.col(column_index(letters)))

    def ref(self, ref: str) -> str:
        """"B3" / "$B$3" / "B" / "B3:D9" / "B:D" with its columns moved."""

        def one(m: re.Match[str]) -> str:
            return f"{m.group(1)}{self.letters(m.group(2))}{m.group(3)}{m.group(4)}"

        return ":".join(_PIECE.sub(one, part, count=1) if _PIECE.fullmatch(part) else part for part in ref.split(":"))

    def sqref(self, sqref: str) -> str:
        return " ".join(self.ref(part) for part in sqref.split())

    def formula(self, formula: str, title: str) -> str:
        """A formula with its references to this tab moved (references to other tabs as they were)."""
        text = formula if formula.startswith("=") else "=" + formula
        try:
            tokens = Tokenizer(text).items
        except Exception:
            return formula
        out = []
        for token in tokens:
            value = token.value
            if token.type == Token.OPERAND and token.subtype == Token.RANGE:
                sheet, _, ref = value.rpartition("!")
                own = not sheet or sheet.strip("'").replace("''", "'") == title
                if own and all(_PIECE.fullmatch(p) for p in ref.split(":")):
                    value = (sheet + "!" if sheet else "") + self.ref(ref)
            out.append(value)
        shifted = "".join(out)  # the tokens, without the leading "="
        return "=" + shifted if formula.startswith("=") else shifted


def shift_dom(root: Any, shift: ColumnShift, title: str) -> None:
    """Move the columns named by the elements around the rows (widths, merges, dropdowns, rules…)."""
    cols = root.find(f"{_M}cols")
    for el in [] if cols is None else list(cols):
        lo, hi = int(el.get("min", "1")) - 1, int(el.get("max", "1")) - 1
        new_lo, new_hi = shift.col(lo), shift.col(hi)
        if new_hi - new_lo == hi - lo:  # moved as a whole
            el.set("min", str(new_lo + 1))
            el.set("max", str(new_hi + 1))
        else:  # an insertion inside the run: the run keeps its columns, the new ones get defaults
            position = list(cols).index(el)
            cols.remove(el)
            start = lo
            for c in range(lo, hi + 1):
                if c == hi or shift.col(c + 1) != shift.col(c) + 1:
                    piece = _copy(el)
                    piece.set("min", str(shift.col(start) + 1))
                    piece.set("max", str(shift.col(c) + 1))
                    cols.insert(position, piece)
                    position += 1
                    start = c + 1
    for el in root.iter(f"{_M}mergeCell", f"{_M}hyperlink", f"{_M}selection"):
        for attr in ("ref", "sqref", "activeCell"):
            if el.get(attr):
                el.set(attr, shift.sqref(el.get(attr)))
    for el in root.iter(f"{_M}dataValidation", f"{_M}conditionalFormatting"):
        if el.get("sqref"):
            el.set("sqref", shift.sqref(el.get("sqref")))
    for el in root.iter(f"{_M}formula", f"{_M}formula1", f"{_M}formula2"):
        if el.text:
            el.text = shift.formula(el.text, title)
    auto = root.find(f"{_M}autoFilter")
    if auto is not None:
        start = auto.get("ref", "A1").split(":")[0]
        first = column_index(_CELL.match(start.replace("$", "")).group(2)) if _CELL.match(start.replace("$", "")) else 0
        if auto.get("ref"):
            auto.set("ref", shift.ref(auto.get("ref")))
        for fc in auto.findall(f"{_M}filterColumn"):
            col = first + int(fc.get("colId", "0"))
            fc.set("colId", str(shift.col(col) - shift.col(first)))


def _copy(el: Any) -> Any:
    import copy

    return copy.deepcopy(el)


def shift_cell_formula(content: bytes, shift: ColumnShift, title: str, f_open: bytes) -> bytes:
    """A cell's XML with the references in its formula (and a shared formula's range) moved."""
    at = content.find(f_open)
    if at == -1:
        return content
    close = content.find(b">", at)
    tag = content[at : close + 1]
    m = re.search(rb'\sref="([^"]+)"', tag)
    if m:
        tag = tag[: m.start(1)] + shift.sqref(m.group(1).decode()).encode() + tag[m.end(1) :]
    if tag.endswith(b"/>"):
        return content[:at] + tag + content[close + 1 :]
    end = content.find(b"</", close)
    text = unescape_text(content[close + 1 : end])
    moved = shift.formula(text, title).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return content[:at] + tag + moved.encode() + content[end:]


def shift_notes(comments: Any, shapes: Any, shift: ColumnShift) -> None:
    """Move notes (their cells, and their boxes in the VML drawing) with their columns."""
    for comment in comments.iter(f"{_M}comment"):
        if comment.get("ref"):
            comment.set("ref", shift.ref(comment.get("ref")))
    x = "{urn:schemas-microsoft-com:office:excel}"
    for data in shapes.iter(f"{x}ClientData"):
        column = data.find(f"{x}Column")
        if column is not None and (column.text or "").strip().isdigit():
            column.text = str(shift.col(int(column.text)))
        anchor = data.find(f"{x}Anchor")
        if anchor is not None and anchor.text:
            parts = [p.strip() for p in anchor.text.split(",")]
            if len(parts) == 8 and parts[0].isdigit() and parts[4].isdigit():
                parts[0], parts[4] = str(shift.col(int(parts[0]))), str(shift.col(int(parts[4])))
                anchor.text = ", ".join(parts)


def shift_anchors(drawing: Any, shift: ColumnShift) -> None:
    """Move charts and pictures anchored at or right of an insertion point."""
    xdr = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
    for marker in list(drawing.iter(f"{xdr}from")) + list(drawing.iter(f"{xdr}to")):
        col = marker.find(f"{xdr}col")
        if col is not None and (col.text or "").strip().isdigit():
            col.text = str(shift.col(int(col.text)))
