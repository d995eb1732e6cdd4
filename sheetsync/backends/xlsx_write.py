"""One write of a workbook: the specs applied to the package, the new file streamed out.

Parts no spec touches are copied byte for byte, still compressed (the expert's other tabs, images, pivot
tables, custom XML, anything sheetsync does not understand). The tabs written are streamed row by row
(:mod:`xlsx_sheet`); the small parts that tie the package together (workbook, relationships, content
types, styles) are edited as XML. Deflate runs at level 1: for sheet XML it is several times faster than
the default level for a file about a quarter larger, and it is what the expert waits for on every push.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import IO, Any

from lxml import etree

from sheetsync.backends.xlsx_lists import ChoiceLists
from sheetsync.backends.xlsx_names import mark_owned, owned, set_tab_name
from sheetsync.backends.xlsx_package import (
    BLANK,
    CHART_REL,
    COMMENTS_REL,
    CONTENT_TYPES,
    CT,
    CT_NS,
    DRAWING_REL,
    LEVEL,
    LISTS_SHEET,
    MAIN_NS,
    REL_NS,
    STYLES_REL,
    VML_REL,
    VML_TYPE,
    WORKSHEET_REL,
    Package,
    Rels,
    SheetRef,
    owner_of,
    parse_xml,
    rels_part,
    resolve_target,
    tree_bytes,
)
from sheetsync.backends.xlsx_parts import edit_drawing, edit_notes, protection_notes
from sheetsync.backends.xlsx_read import Extents, Scan, Tags, open_sheet, read_tab
from sheetsync.backends.xlsx_rows import RowPlan, grown, merge_rows
from sheetsync.backends.xlsx_sheet import SheetDom, place
from sheetsync.backends.xlsx_shift import ColumnShift, shift_dom
from sheetsync.backends.xlsx_styles import StyleBook
from sheetsync.backends.xlsx_zip import ZipOut
from sheetsync.errors import BackendError
from sheetsync.layout import TabSpec, column_letter

# workbook.xml's children that come before <definedNames> (the schema fixes their order)
_BEFORE_NAMES = {"fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
                 "functionGroups", "externalReferences"}
_M = f"{{{MAIN_NS}}}"
_R = f"{{{REL_NS}}}"


class PackageWriter:
    """Collects the edits of one write; :meth:`save` streams the new file."""

    def __init__(self, package: Package, scans: dict[str, Scan]) -> None:
        self.pkg = package
        self.scans = scans
        self.changed: dict[str, bytes] = {}
        self.streams: dict[str, Callable[[ZipOut], None]] = {}
        self.removed: set[str] = set()
        self.new_types: dict[str, str] = {}
        self.wb = package.workbook_xml
        self.wb_rels = Rels(package, package.workbook_part)
        styles_part = package.part_of(STYLES_REL)
        if styles_part is None or not package.has(styles_part):
            styles_part = posixpath.join(posixpath.dirname(package.workbook_part), "styles.xml")
            self.wb_rels.add(STYLES_REL, styles_part)
            self.new_types[styles_part] = CT + "spreadsheetml.styles+xml"
            self.book = StyleBook(BLANK["xl/styles.xml"].encode())
            self.book.changed = True
        else:
            self.book = StyleBook(package.read(styles_part))
        self.styles_part = styles_part
        self.sheets_el = self.wb.find(f"{_M}sheets")
        if self.sheets_el is None:
            self.sheets_el = etree.SubElement(self.wb, f"{_M}sheets")
        self.order_before = [el for el in self.sheets_el]
        self.written: set[str] = set()  # parts of the tabs this write rewrites
        self._views: dict[str, Any] = {}
        self._doms: dict[str, tuple[SheetDom, RowPlan, bool]] = {}
        self.lists = ChoiceLists(self)

    # ------------------------------------------------------------------ tabs

    def _sheet_el(self, ref: SheetRef) -> Any:
        return next(el for el in self.sheets_el if el.get(f"{_R}id") == ref.rid)

    def _new_sheet(self, title: str) -> str:
        parts = set(self.pkg.names) | set(self.changed) | set(self.new_types)
        n = 1
        while f"xl/worksheets/sheet{n}.xml" in parts:
            n += 1
        part = f"xl/worksheets/sheet{n}.xml"
        rid = self.wb_rels.add(WORKSHEET_REL, part)
        ids = [int(el.get("sheetId", "0")) for el in self.sheets_el]
        el = etree.Element(f"{_M}sheet", name=title, sheetId=str(max(ids, default=0) + 1))
        el.set(f"{_R}id", rid)
        lists = [i for i, s in enumerate(self.sheets_el) if s.get("name") == LISTS_SHEET]
        if lists:
            self.sheets_el.insert(lists[0], el)
        else:
            self.sheets_el.append(el)
        self.new_types[part] = CONTENT_TYPES["worksheet"]
        self.pkg.sheets.append(SheetRef(title, part, rid, "worksheet"))
        return part

    def apply(self, spec: TabSpec) -> None:
        ref = self.pkg.sheet(spec.title)
        if ref is not None and ref.kind != "worksheet":
            raise BackendError(
                f"The tab {ref.title!r} is a chart sheet, which sheetsync did not make and will not replace. "
                "Rename or delete it, or choose another tab name in sheetsync.toml. Nothing was written."
            )
        if ref is not None and spec.replace and ref.title != LISTS_SHEET and not self._owned(ref):
            raise BackendError(
                f"the tab “{ref.title}” exists and was not made by sheetsync, so it is not replaced. Rename that "
                "tab, or give sheetsync's tab another name in sheetsync.toml [tabs]. Nothing was written."
            )
        if ref is None:
            part = self._new_sheet(spec.title)
            original = False
        else:
            part = ref.part
            original = not spec.replace
        if spec.index is not None:
            el = next(el for el in self.sheets_el if el.get("name") == (ref.title if ref else spec.title))
            self.sheets_el.remove(el)
            self.sheets_el.insert(max(0, min(spec.index, len(self.sheets_el))), el)
        extents = self._scan(part).extents if original else Extents()
        append_at = extents.last_value_row + 1
        if spec.append_rows:
            spec = grown(spec, append_at + len(spec.append_rows))
        self.written.add(part)
        rels = Rels(self.pkg, part, fresh=not original)
        if not original and ref is not None:
            self._drop_rels_of(part)
        head: bytes | None = None
        tail: bytes | None = None
        if original:
            scan = self._scan(part)
            head, tail = scan.head, scan.tail
        dom = SheetDom(head, tail)
        dom.lists = self.lists
        shift = ColumnShift(spec.insert_columns) if original and spec.insert_columns else None
        if shift:
            shift_dom(dom.root, shift, ref.title if ref else spec.title)
        plan = RowPlan(spec, self.book, append_at, shift)
        max_row = max(extents.max_row + 1, plan.end)
        max_col = max(extents.max_col + 1 + len(spec.insert_columns), spec.n_cols)
        dom.apply(spec, self.book, max_row, max_col)
        self._drawing(dom, rels, part, spec, shift)
        self._notes(dom, rels, part, spec, shift)
        if rels.items():
            self.changed[rels_part(part)] = rels.to_bytes()
            self.removed.discard(rels_part(part))
        elif self.pkg.has(rels_part(part)):
            self.removed.add(rels_part(part))
        view = dom.root.find(f"{_M}sheetViews/{_M}sheetView")
        self._views[part] = view
        self._doms[part] = (dom, plan, original)

    def _owned(self, ref: SheetRef) -> bool:
        """The tab carries sheetsync's mark (names point at tabs by their position before this write)."""
        el = self._sheet_el(ref)
        return el not in self.order_before or owned(self.wb, self.order_before.index(el))

    def _mark_owned(self) -> None:
        """Every tab this write made or rebuilt carries sheetsync's mark (after the indices were remapped)."""
        parts = {ref.rid: ref.part for ref in self.pkg.sheets}
        mark_owned(self.wb, [i for i, el in enumerate(self.sheets_el) if parts.get(el.get(f"{_R}id")) in self.written
                             and el.get("name") != LISTS_SHEET])

    def _scan(self, part: str) -> Scan:
        """What the read before this write learnt about the tab (same file, checked by its stamp), or one
        pass over it now: where its values end, and the XML around its rows."""
        scan = self.scans.get(part)
        if scan is None:
            tab = read_tab(self.pkg, part, columns=set(), head_rows=0)
            scan = self.scans[part] = Scan(tab.extents, tab.head, tab.tail)
        return scan

    def _drop_rels_of(self, part: str) -> None:
        """A rebuilt tab keeps nothing of the old one: the parts only it pointed at go too."""
        old = Rels(self.pkg, part)
        for el in old.items():
            if el.get("TargetMode") == "External":
                continue
            target = old.target(el)
            if target in self.pkg.names and not self._referenced_elsewhere(target, part):
                self._remove_part(target)
        self.removed.add(rels_part(part))

    def _referenced_elsewhere(self, target: str, source: str) -> bool:
        for name in self.pkg.names:
            if not name.endswith(".rels") or name == rels_part(source):
                continue
            owner = owner_of(name)
            for rel in parse_xml(self.pkg.read(name)):
                if rel.get("TargetMode") != "External" and resolve_target(owner, rel.get("Target", "")) == target:
                    return True
        return False

    def _remove_part(self, part: str) -> None:
        self.removed.add(part)
        sub = Rels(self.pkg, part)
        for el in sub.items():
            if el.get("TargetMode") != "External":
                target = sub.target(el)
                if target in self.pkg.names and not self._referenced_elsewhere(target, part):
                    self._remove_part(target)
        if self.pkg.has(rels_part(part)):
            self.removed.add(rels_part(part))

    def _new_part(self, pattern: str, content_type: str | None) -> str:
        taken = set(self.pkg.names) | set(self.changed) | set(self.new_types)
        n = 1
        while pattern.format(n) in taken:
            n += 1
        part = pattern.format(n)
        if content_type:
            self.new_types[part] = content_type
        self.changed[part] = b""
        return part

    def _drawing(self, dom: SheetDom, rels: Rels, part: str, spec: TabSpec, shift: ColumnShift | None) -> None:
        found = rels.of_type(DRAWING_REL)
        drawing_part = rels.target(found[0]) if found else None
        if drawing_part is None and not spec.charts:
            return
        existing = self.pkg.read(drawing_part) if drawing_part and self.pkg.has(drawing_part) else None
        d_rels = Rels(self.pkg, drawing_part) if drawing_part else None
        used = d_rels.ids() if d_rels else set()
        edit = edit_drawing(existing, used, spec.charts, spec.title, spec.n_rows, spec.n_cols, shift)
        if drawing_part is None:
            drawing_part = self._new_part("xl/drawings/drawing{}.xml", CONTENT_TYPES["drawing"])
            d_rels = Rels(self.pkg, drawing_part, fresh=True)
        assert d_rels is not None
        for rid in edit.dropped:
            for el in d_rels.items():
                if el.get("Id") == rid:
                    self._remove_part(d_rels.target(el))
            d_rels.remove(rid)
        for rid, xml in edit.added.items():
            chart_part = self._new_part("xl/charts/chart{}.xml", CONTENT_TYPES["chart"])
            self.changed[chart_part] = xml
            d_rels.add(CHART_REL, chart_part, rid)
        el = dom.root.find(f"{_M}drawing")
        if edit.drawing is None:
            self._remove_part(drawing_part)
            self.changed.pop(drawing_part, None)
            for rel in found:
                rels.remove(rel.get("Id"))
            if el is not None:
                dom.root.remove(el)
            return
        self.changed[drawing_part] = edit.drawing
        self.changed[rels_part(drawing_part)] = d_rels.to_bytes()
        if not found:
            rid = rels.add(DRAWING_REL, drawing_part)
            el = etree.Element(f"{_M}drawing")
            el.set(f"{_R}id", rid)
            place(dom.root, el)

    def _notes(self, dom: SheetDom, rels: Rels, part: str, spec: TabSpec, shift: ColumnShift | None) -> None:
        notes = protection_notes(spec.protections, spec.frozen_rows)
        found = rels.of_type(COMMENTS_REL)
        vml_found = rels.of_type(VML_REL)
        if not found and not notes:
            return
        comments_part = rels.target(found[0]) if found else None
        vml_part = rels.target(vml_found[0]) if vml_found else None
        edit = edit_notes(
            self.pkg.read(comments_part) if comments_part and self.pkg.has(comments_part) else None,
            self.pkg.read(vml_part) if vml_part and self.pkg.has(vml_part) else None,
            notes,
            shift,
        )
        if edit is None:
            return  # a drawing we cannot parse: the notes stay exactly as they were
        if edit.comments is None:
            for el, target in ((found, comments_part), (vml_found, vml_part)):
                for rel in el:
                    rels.remove(rel.get("Id"))
                if target:
                    self.removed.add(target)
            legacy = dom.root.find(f"{_M}legacyDrawing")
            if legacy is not None:
                dom.root.remove(legacy)
            return
        if comments_part is None:
            comments_part = self._new_part("xl/comments/comment{}.xml", CONTENT_TYPES["comments"])
            rels.add(COMMENTS_REL, comments_part)
        if vml_part is None:
            vml_part = self._new_part("xl/drawings/commentsDrawing{}.vml", None)
            rid = rels.add(VML_REL, vml_part)
            legacy = dom.root.find(f"{_M}legacyDrawing")
            if legacy is None:
                legacy = etree.Element(f"{_M}legacyDrawing")
                place(dom.root, legacy)
            legacy.set(f"{_R}id", rid)
        self.changed[comments_part] = edit.comments
        self.changed[vml_part] = edit.vml

    # ------------------------------------------------------------------ the workbook

    def finish(self) -> None:
        """Helper tab last and hidden; exactly one selected, visible tab (several selected tabs open in
        Excel's group-edit mode, where typing writes into all of them); tab indices kept consistent."""
        self.lists.finish()
        sheets = list(self.sheets_el)
        lists_el = [el for el in sheets if el.get("name") == LISTS_SHEET]
        for el in lists_el:
            self.sheets_el.remove(el)
            self.sheets_el.append(el)
            el.set("state", "hidden")
        sheets = list(self.sheets_el)
        old_index = {id(el): i for i, el in enumerate(self.order_before)}
        moved = {old_index[id(el)]: i for i, el in enumerate(sheets) if id(el) in old_index}
        names = self.wb.find(f"{_M}definedNames")
        for name in [] if names is None else names:
            local = name.get("localSheetId")
            if local is not None and local.isdigit() and int(local) in moved:
                name.set("localSheetId", str(moved[int(local)]))
        self._mark_owned()
        views = self.wb.find(f"{_M}bookViews")
        if views is None:
            views = etree.Element(f"{_M}bookViews")
            self.wb.insert(list(self.wb).index(self.sheets_el), views)
        view = views.find(f"{_M}workbookView")
        if view is None:
            view = etree.SubElement(views, f"{_M}workbookView")
        old_active = int(view.get("activeTab", "0") or 0)
        visible = [i for i, el in enumerate(sheets) if el.get("state", "visible") == "visible"]
        active = moved.get(old_active, 0) if self.order_before else 0
        if active not in visible and visible:
            active = visible[0]
        view.set("activeTab", str(active))
        if int(view.get("firstSheet", "0") or 0) >= len(sheets):
            view.set("firstSheet", "0")
        active_rid = sheets[active].get(f"{_R}id") if sheets else None
        for ref in self.pkg.sheets:
            selected = ref.rid == active_rid
            if ref.part in self._views:
                v = self._views[ref.part]
                if v is not None:
                    v.set("tabSelected", "1" if selected else "0")
            elif ref.kind == "worksheet" and ref.part in self.pkg.names and not selected:
                self._unselect(ref.part)
        for part, (dom, plan, original) in self._doms.items():
            self.streams[part] = self._sheet_stream(part, dom, plan, original)
        self._filter_names(sheets)
        self._print_titles(sheets)

    def _print_titles(self, sheets: list[Any]) -> None:
        """The header rows a rebuilt tab's page setup repeats on every printed page."""
        rid_index = {el.get(f"{_R}id"): i for i, el in enumerate(sheets)}
        for ref in self.pkg.sheets:
            spec = self._doms[ref.part][1].spec if ref.part in self._doms else None
            if spec is None or spec.page is None or not spec.replace or ref.rid not in rid_index:
                continue
            rows = spec.page.repeat
            text = None if rows is None else f"'{ref.title.replace(chr(39), chr(39) * 2)}'!${rows[0] + 1}:${rows[1]}"
            set_tab_name(self.wb, "_xlnm.Print_Titles", rid_index[ref.rid], text)

    def _filter_names(self, sheets: list[Any]) -> None:
        """Excel keeps a filter's range in the hidden name ``_xlnm._FilterDatabase`` too, and LibreOffice
        shows a filter only when that name is there."""
        rid_index = {el.get(f"{_R}id"): i for i, el in enumerate(sheets)}
        for ref in self.pkg.sheets:
            entry = self._doms.get(ref.part)
            if entry is None or entry[0].filter is None or ref.rid not in rid_index:
                continue
            r0, c0, r1, c1 = entry[0].filter
            index = str(rid_index[ref.rid])
            title = "'" + ref.title.replace("'", "''") + "'"
            text = f"{title}!${column_letter(c0)}${r0 + 1}:${column_letter(c1 - 1)}${r1}"
            names = self.wb.find(f"{_M}definedNames")
            if names is None:
                names = etree.Element(f"{_M}definedNames")
                after = [i for i, el in enumerate(self.wb) if etree.QName(el).localname in _BEFORE_NAMES]
                self.wb.insert(after[-1] + 1 if after else 0, names)
            found = [el for el in names if el.get("name") == "_xlnm._FilterDatabase" and el.get("localSheetId") == index]
            el = found[0] if found else etree.SubElement(names, f"{_M}definedName", name="_xlnm._FilterDatabase",
                                                         localSheetId=index, hidden="1")
            el.text = text

    def _unselect(self, part: str) -> None:
        """A tab this write does not touch, still marked selected: only its head changes (rows streamed)."""
        with self.pkg.open(part) as stream:
            head = stream.read(1 << 16)
        if b'tabSelected="1"' not in head and b"tabSelected='1'" not in head and b'tabSelected="true"' not in head:
            return

        def stream_it(out: ZipOut) -> None:
            writer = out.stream(part)
            try:
                with self.pkg.open(part) as src:
                    sheet, rows = open_sheet(src)
                    writer.write(re.sub(rb"""tabSelected=["'](1|true)["']""", b'tabSelected="0"', sheet.head))
                    for start, inner in rows:
                        closed = start.endswith(b"/>")
                        writer.write(start + inner + (b"" if closed else sheet.tags.row_end))
                    writer.write(rows.tail)
            except BaseException:
                writer.abort()  # e.g. a damaged part found mid-stream: the deflate thread is not left waiting
                raise
            writer.close()

        self.streams[part] = stream_it

    def _sheet_stream(self, part: str, dom: SheetDom, plan: RowPlan, original: bool) -> Callable[[ZipOut], None]:
        before, after = dom.split()

        def stream_it(out: ZipOut) -> None:
            writer = out.stream(part)
            try:
                writer.write(before)
                if original:
                    with self.pkg.open(part) as src:
                        sheet, rows = open_sheet(src)
                        for chunk in merge_rows(rows, sheet.tags, plan):
                            writer.write(chunk)
                else:
                    for chunk in merge_rows((), Tags.for_prefix(dom.prefix), plan):
                        writer.write(chunk)
                writer.write(after)
            except BaseException:
                writer.abort()  # e.g. a cell too long for Excel, found mid-stream: nothing is kept
                raise
            writer.close()

        return stream_it

    def titles(self) -> list[str]:
        return [el.get("name", "") for el in self.sheets_el]

    def _content_types(self) -> bytes | None:
        if not self.new_types and not self.removed:
            return None
        root = parse_xml(self.pkg.read("[Content_Types].xml"))
        for el in list(root):
            name = (el.get("PartName") or "").lstrip("/")
            if etree.QName(el).localname == "Override" and name in self.removed:
                root.remove(el)
        for part, content_type in self.new_types.items():
            if part in self.removed:
                continue
            etree.SubElement(root, f"{{{CT_NS}}}Override", PartName="/" + part, ContentType=content_type)
        if any(p.endswith(".vml") for p in self.changed) and not any(
            el.get("Extension", "").lower() == "vml" for el in root
        ):
            root.insert(0, etree.Element(f"{{{CT_NS}}}Default", Extension="vml", ContentType=VML_TYPE))
        return tree_bytes(root)

    def save(self, fh: IO[bytes]) -> None:
        self.finish()
        self.changed[self.pkg.workbook_part] = tree_bytes(self.wb)
        self.changed[rels_part(self.pkg.workbook_part)] = self.wb_rels.to_bytes()
        types = self._content_types()
        if types is not None:
            self.changed["[Content_Types].xml"] = types
        out = ZipOut(fh, level=LEVEL)
        done = set()
        for name, info in self.pkg.names.items():
            if name in self.removed or name == self.styles_part:
                continue
            done.add(name)
            if name in self.streams:
                self.streams[name](out)
            elif name in self.changed:
                out.write(name, self.changed[name])
            else:
                out.copy(self.pkg.zip, info)
        for name, fn in self.streams.items():
            if name not in done:
                fn(out)
                done.add(name)
        for name, data in self.changed.items():
            if name not in done and name not in self.removed and name != self.styles_part:
                out.write(name, data)
        # Styles last: the streamed rows may have added cell styles.
        if self.book.changed or not self.pkg.has(self.styles_part):
            out.write(self.styles_part, self.book.to_bytes())
        else:
            out.copy(self.pkg.zip, self.pkg.names[self.styles_part])
        out.close()
