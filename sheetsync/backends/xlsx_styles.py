"""The workbook's style table (styles.xml), extended with the styles a write needs.

A cell's look is an index into ``cellXfs``; each entry points at a font, a fill, a number format and holds
an alignment. Applying a spec ``Style`` to a cell means: take the cell's current entry, change only the
attributes the spec sets, and find or add the resulting entry. Entries are only ever appended (never
renumbered), so every cell sheetsync does not write keeps its index, and the expert's formatting with it.
Identical entries are reused, so repeated writes do not grow the table.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree
from openpyxl.styles.colors import Color
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.styles.fills import PatternFill
from openpyxl.styles.fonts import Font
from openpyxl.styles.numbers import BUILTIN_FORMATS

from sheetsync.backends.xlsx_package import MAIN_NS, parse_xml
from sheetsync.layout import ConditionalFormat, Style

_M = f"{{{MAIN_NS}}}"
_BUILTIN_IDS = {code: fmt_id for fmt_id, code in BUILTIN_FORMATS.items()}
_FIRST_CUSTOM_FORMAT = 164
# Where each list sits among styleSheet's children (the schema fixes the order).
_ORDER = ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs",
          "tableStyles", "colors", "extLst"]


def argb(color: str) -> str:
    """"#RRGGBB" → "FFRRGGBB"."""
    digits = color.lstrip("#").upper()
    if len(digits) != 6 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"expected a colour like '#D9EAD3', got {color!r}")
    return "FF" + digits


def _key(el: Any) -> bytes:
    return etree.tostring(el, method="c14n")


class StyleBook:
    """styles.xml, parsed once per write; ``changed`` says whether it must be written back."""

    def __init__(self, data: bytes) -> None:
        self.root = parse_xml(data)
        self.changed = False
        self.fonts = self._list("fonts", "font")
        self.fills = self._list("fills", "fill")
        self.borders = self._list("borders", "border")
        self.xfs = self._list("cellXfs", "xf")
        self.dxfs = self._list("dxfs", "dxf")
        self.numfmts = self._list("numFmts", "numFmt")
        self._font_ids = {_key(el): i for i, el in enumerate(self.fonts)}
        self._fill_ids = {_key(el): i for i, el in enumerate(self.fills)}
        self._xf_ids: dict[bytes, int] = {}
        for i, el in enumerate(self.xfs):
            self._xf_ids.setdefault(_key(el), i)
        self._dxf_ids: dict[bytes, int] = {}
        for i, el in enumerate(self.dxfs):
            self._dxf_ids.setdefault(_key(el), i)
        self._formats = {el.get("formatCode"): int(el.get("numFmtId")) for el in self.numfmts}
        self._memo: dict[tuple[int, tuple[Style, ...]], int] = {}
        if not len(self.fonts):
            self._append("fonts", etree.fromstring(f'<font xmlns="{MAIN_NS}"><sz val="11"/><name val="Calibri"/></font>'))
        if not len(self.fills):
            for pattern in ("none", "gray125"):
                self._append("fills", etree.fromstring(
                    f'<fill xmlns="{MAIN_NS}"><patternFill patternType="{pattern}"/></fill>'))
        if not len(self.borders):
            self._append("borders", etree.fromstring(f'<border xmlns="{MAIN_NS}"><left/><right/><top/><bottom/><diagonal/></border>'))
        if not len(self.xfs):
            self._append("cellXfs", etree.fromstring(f'<xf xmlns="{MAIN_NS}" numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'))

    def _container(self, name: str) -> Any:
        el = self.root.find(f"{_M}{name}")
        if el is None:
            el = etree.Element(f"{_M}{name}")
            position = _ORDER.index(name)
            for i, child in enumerate(self.root):
                tag = etree.QName(child).localname
                if tag in _ORDER and _ORDER.index(tag) > position:
                    self.root.insert(i, el)
                    break
            else:
                self.root.append(el)
        return el

    def _list(self, container: str, item: str) -> list[Any]:
        el = self.root.find(f"{_M}{container}")
        return [] if el is None else el.findall(f"{_M}{item}")

    def _append(self, container: str, el: Any) -> int:
        parent = self._container(container)
        parent.append(el)
        items = {"fonts": self.fonts, "fills": self.fills, "borders": self.borders, "cellXfs": self.xfs,
                 "dxfs": self.dxfs, "numFmts": self.numfmts}[container]
        items.append(el)
        parent.set("count", str(len(items)))
        self.changed = True
        return len(items) - 1

    # ------------------------------------------------------------------ cell styles

    def compose(self, xf_id: int, styles: tuple[Style, ...]) -> int:
        """The ``cellXfs`` index for cell style ``xf_id`` with ``styles`` applied in order."""
        key = (xf_id, styles)
        found = self._memo.get(key)
        if found is None:
            found = self._compose(xf_id, styles)
            self._memo[key] = found
        return found

    def _compose(self, xf_id: int, styles: tuple[Style, ...]) -> int:
        base = self.xfs[xf_id] if 0 <= xf_id < len(self.xfs) else self.xfs[0]
        xf = copy.deepcopy(base)
        for style in styles:
            self._apply(xf, style)
        k = _key(xf)
        index = self._xf_ids.get(k)
        if index is None:
            index = self._append("cellXfs", xf)
            self._xf_ids[k] = index
        return index

    def _apply(self, xf: Any, style: Style) -> None:
        if any(v is not None for v in (style.bold, style.italic, style.color, style.font_size)):
            font_id = int(xf.get("fontId", "0"))
            font = Font.from_tree(self.fonts[font_id]) if font_id < len(self.fonts) else Font()
            font = copy.copy(font)
            if style.bold is not None:
                font.b = style.bold
            if style.italic is not None:
                font.i = style.italic
            if style.color is not None:
                font.color = Color(rgb=argb(style.color))
            if style.font_size is not None:
                font.sz = style.font_size
            xf.set("fontId", str(self._font(font.to_tree())))
            xf.set("applyFont", "1")
        if style.background is not None:
            fill = PatternFill(fill_type="solid", fgColor=argb(style.background))
            xf.set("fillId", str(self._fill(fill.to_tree())))
            xf.set("applyFill", "1")
        if any(v is not None for v in (style.wrap, style.halign, style.valign)):
            alignment = xf.find(f"{_M}alignment")
            if alignment is None:
                alignment = etree.Element(f"{_M}alignment")
                xf.insert(0, alignment)
            if style.wrap is not None:
                alignment.set("wrapText", "1" if style.wrap else "0")
            if style.halign is not None:
                alignment.set("horizontal", style.halign)
            if style.valign is not None:
                alignment.set("vertical", "center" if style.valign == "middle" else style.valign)
            xf.set("applyAlignment", "1")
        if style.number_format is not None:
            xf.set("numFmtId", str(self._number_format(style.number_format)))
            xf.set("applyNumberFormat", "1")

    def _font(self, el: Any) -> int:
        el = _in_main(el)
        k = _key(el)
        if k not in self._font_ids:
            self._font_ids[k] = self._append("fonts", el)
        return self._font_ids[k]

    def _fill(self, el: Any) -> int:
        el = _in_main(el)
        k = _key(el)
        if k not in self._fill_ids:
            self._fill_ids[k] = self._append("fills", el)
        return self._fill_ids[k]

    def _number_format(self, code: str) -> int:
        if code in _BUILTIN_IDS:
            return _BUILTIN_IDS[code]
        if code not in self._formats:
            used = [int(el.get("numFmtId", "0")) for el in self.numfmts]
            fmt_id = max([_FIRST_CUSTOM_FORMAT - 1, *used]) + 1
            el = etree.Element(f"{_M}numFmt", numFmtId=str(fmt_id), formatCode=code)
            self._append("numFmts", el)
            self._formats[code] = fmt_id
        return self._formats[code]

    # ------------------------------------------------------------------ conditional formats

    def dxf(self, cf: ConditionalFormat) -> int:
        """The ``dxfs`` index of a rule's highlight (reused when an identical one exists)."""
        font = None
        if cf.color is not None or cf.bold is not None:
            font = Font(color=argb(cf.color) if cf.color else None, b=cf.bold)
        colour = argb(cf.background)
        fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
        el = _in_main(DifferentialStyle(font=font, fill=fill).to_tree())
        k = _key(el)
        if k not in self._dxf_ids:
            self._dxf_ids[k] = self._append("dxfs", el)
        return self._dxf_ids[k]

    def to_bytes(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _in_main(el: Any) -> Any:
    """openpyxl's serializers give un-namespaced elements; styles.xml is in the main namespace."""
    data = etree.tostring(el)
    tree = etree.fromstring(data)
    for node in tree.iter():
        if isinstance(node.tag, str) and not node.tag.startswith("{"):
            node.tag = f"{_M}{node.tag}"
    etree.cleanup_namespaces(tree)
    return tree
