"""Rewriting what surrounds one tab's rows from a spec, keeping every element sheetsync does not own.

A sheet part is handled in two pieces. Everything around the rows (views, column widths, filter,
conditional formats, dropdowns…) is small: it is parsed, edited and serialised here with lxml, and only the
elements a spec speaks about change. The rows are streamed (:mod:`xlsx_rows`).

sheetsync's dropdowns carry ``promptTitle="sheetsync"`` and its rules the layout's owner tag: a write
removes exactly those and adds the spec's, so the expert's own dropdowns and rules stay as they are.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from openpyxl.worksheet.datavalidation import DataValidation

from sheetsync.backends.xlsx_package import MAIN_NS, REL_NS, parse_xml
from sheetsync.backends.xlsx_rows import EXCEL_MAX_ROWS, decimal_text
from sheetsync.backends.xlsx_styles import StyleBook, _in_main
from sheetsync.layout import Range, TabSpec, Validation, column_letter, is_sheetsync_rule

_M = f"{{{MAIN_NS}}}"
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


def a1(r0: int, c0: int, r1: int, c1: int) -> str:
    """Half-open 0-based bounds → "A1:C10"."""
    return f"{column_letter(c0)}{r0 + 1}:{column_letter(c1 - 1)}{r1}"


def open_range_a1(rng: Range, n_cols: int) -> str:
    """Validations and conditional formats cost nothing per row, so an open-ended range runs to Excel's
    last row: rows the expert adds at the bottom get dropdowns and highlights too."""
    r0, c0, r1, c1 = rng.resolve(EXCEL_MAX_ROWS, n_cols)
    return a1(r0, c0, r1, c1)


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
            fmt.set("defaultRowHeight", decimal_text(round(spec.row_height * 0.75, 2)).decode())
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
        self._merges(spec)
        if spec.page is not None and (spec.replace or child(root, "pageSetup", create=False) is None):
            self._page(spec)  # on a tab that keeps the expert's work, their print settings win once made

    def _merges(self, spec: TabSpec) -> None:
        """The spec's merged ranges; a rebuilt tab's earlier ones go, an updated tab keeps the expert's."""
        merges = child(self.root, "mergeCells", create=False)
        if spec.replace and merges is not None:
            self.root.remove(merges)
            merges = None
        if not spec.merges:
            return
        if merges is None:
            merges = child(self.root, "mergeCells")
        have = {el.get("ref") for el in merges}
        for m in spec.merges:
            r0, c0, r1, c1 = m.resolve(spec.n_rows, spec.n_cols)
            ref = a1(r0, c0, r1, c1)
            if ref not in have:
                etree.SubElement(merges, f"{_M}mergeCell", ref=ref)
        merges.set("count", str(len(merges)))

    def _page(self, spec: TabSpec) -> None:
        """Landscape, one page wide (``fitToHeight=0``: as many pages tall as it takes), narrow margins, the
        tab's name and the page number in the footer. The repeated header rows are a workbook-level name
        (``_xlnm.Print_Titles``, written with the workbook)."""
        page = spec.page
        assert page is not None
        pr = child(self.root, "sheetPr")
        setup_pr = pr.find(f"{_M}pageSetUpPr")
        if setup_pr is None:
            setup_pr = etree.SubElement(pr, f"{_M}pageSetUpPr")  # after tabColor and outlinePr, as the schema has
        setup_pr.set("fitToPage", "1" if page.fit_width else "0")
        margins = child(self.root, "pageMargins")
        for side, inches in (("left", "0.4"), ("right", "0.4"), ("top", "0.5"), ("bottom", "0.6"),
                             ("header", "0.3"), ("footer", "0.3")):
            margins.set(side, inches)
        setup = child(self.root, "pageSetup")
        setup.attrib.clear()
        setup.set("orientation", "landscape" if page.landscape else "portrait")
        if page.fit_width:
            setup.set("fitToWidth", "1")
            setup.set("fitToHeight", "0")
        footer = child(self.root, "headerFooter")
        for el in list(footer):
            footer.remove(el)
        etree.SubElement(footer, f"{_M}oddFooter").text = "&L&A&RPage &P of &N"

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
                target.set("width", decimal_text(round(max(spec.column_widths[col] - 5, 0) / 7, 2)).decode())
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
