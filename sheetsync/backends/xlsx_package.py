"""The .xlsx file as a package: a zip of XML parts tied together by relationships.

sheetsync reads and edits workbooks at this level instead of loading them into an object model: a tab
with 100,000 rows is one part of ~250 MB of XML, and building a million cell objects to read four columns
or to change a few thousand cells costs seconds and hundreds of megabytes. Here a reader streams just the
sheet it needs, and a write copies every part it does not change byte for byte (still compressed), so
what Excel put in the file that sheetsync knows nothing about (images, slicers, extensions) stays as it
was.

This module knows the package's structure: which part is which tab, the shared-string table, which cell
styles are dates, and how to write a zip whose untouched members are copied without recompressing them.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree

from sheetsync.backends.xlsx_zip import ZipOut

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
OFFICE_DOC = f"{REL_NS}/officeDocument"
WORKSHEET_REL = f"{REL_NS}/worksheet"
CHARTSHEET_REL = f"{REL_NS}/chartsheet"
SHARED_STRINGS_REL = f"{REL_NS}/sharedStrings"
STYLES_REL = f"{REL_NS}/styles"

_M = f"{{{MAIN_NS}}}"
_R = f"{{{REL_NS}}}"
_P = f"{{{PKG_REL_NS}}}"
LEVEL = 1  # zlib level of what sheetsync writes (see xlsx_write)

LISTS_SHEET = "_lists"
"""Hidden tab holding dropdown choices too long (or too comma-laden) for an inline list."""

COMMENT_AUTHOR = "sheetsync"
"""Author of the notes sheetsync puts on cells; notes by anyone else are never touched."""

# A safe parser for the package's small parts: no network, no entity expansion, no DTDs.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)


class PackageError(Exception):
    """The file is not a workbook sheetsync can read (the caller turns this into a message naming it)."""


@dataclass
class SheetRef:
    """One tab as the workbook lists it."""

    title: str
    part: str  # e.g. "xl/worksheets/sheet1.xml"
    rid: str  # its relationship id in the workbook's rels
    kind: str  # "worksheet" or "chartsheet" (or another relationship type, kept as is)
    state: str = "visible"


@dataclass
class Styles:
    """What reading needs from styles.xml: which cell styles (``s`` attributes) show a date or a duration."""

    date_styles: set[int] = field(default_factory=set)
    timedelta_styles: set[int] = field(default_factory=set)


def parse_xml(data: bytes) -> Any:
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise PackageError(f"damaged XML ({exc})") from exc


def resolve_target(source_part: str, target: str) -> str:
    """A relationship's target as a part name (no leading slash), relative to the source part's folder."""
    if target.startswith("/"):
        return target.lstrip("/")
    base = posixpath.dirname(source_part)
    return posixpath.normpath(posixpath.join(base, target))


def rels_part(part: str) -> str:
    """The relationships part of a part: ``xl/workbook.xml`` → ``xl/_rels/workbook.xml.rels``."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def relative_target(source_part: str, target_part: str) -> str:
    return posixpath.relpath(target_part, posixpath.dirname(source_part) or ".")


class Package:
    """An opened workbook file. Reads parts lazily; nothing is decompressed until asked for."""

    def __init__(self, fh: IO[bytes]) -> None:
        try:
            self.zip = zipfile.ZipFile(fh)
            self.names = {info.filename: info for info in self.zip.infolist()}
            self.workbook_part = self._office_document()
            self.workbook_xml = parse_xml(self.read(self.workbook_part))
            self.workbook_rels = self.rels(self.workbook_part)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
            raise PackageError(f"{type(exc).__name__}: {exc}") from exc
        if self.workbook_xml.tag != f"{_M}workbook":
            raise PackageError(f"{self.workbook_part} is not a SpreadsheetML workbook ({self.workbook_xml.tag})")
        self.sheets = self._sheets()
        self._shared_strings: list[str] | None = None
        self._styles: Styles | None = None

    # ------------------------------------------------------------------ parts

    def has(self, part: str) -> bool:
        return part in self.names

    def read(self, part: str) -> bytes:
        try:
            return self.zip.read(self.names[part])
        except KeyError as exc:
            raise PackageError(f"the part {part} is missing") from exc
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise PackageError(f"the part {part} is damaged ({exc})") from exc

    def open(self, part: str) -> IO[bytes]:
        try:
            return self.zip.open(self.names[part])
        except KeyError as exc:
            raise PackageError(f"the part {part} is missing") from exc

    def rels(self, part: str) -> dict[str, tuple[str, str, str]]:
        """rId → (type, target part, TargetMode) of a part's relationships ({} when it has none)."""
        name = rels_part(part)
        if name not in self.names:
            return {}
        out = {}
        for rel in parse_xml(self.read(name)):
            mode = rel.get("TargetMode", "Internal")
            target = rel.get("Target", "")
            out[rel.get("Id")] = (rel.get("Type", ""), target if mode == "External" else resolve_target(part, target), mode)
        return out

    def _office_document(self) -> str:
        for rel in parse_xml(self.read("_rels/.rels")):
            if rel.get("Type") == OFFICE_DOC:
                return resolve_target("", rel.get("Target", ""))
        raise PackageError("no workbook part (the package's officeDocument relationship is missing)")

    def _sheets(self) -> list[SheetRef]:
        sheets_el = self.workbook_xml.find(f"{_M}sheets")
        out: list[SheetRef] = []
        for el in [] if sheets_el is None else sheets_el:
            rid = el.get(f"{_R}id")
            rel = self.workbook_rels.get(rid)
            if rel is None:
                raise PackageError(f"the tab {el.get('name')!r} points at a missing relationship {rid}")
            kind = {WORKSHEET_REL: "worksheet", CHARTSHEET_REL: "chartsheet"}.get(rel[0], rel[0])
            out.append(SheetRef(el.get("name", ""), rel[1], rid, kind, el.get("state", "visible")))
        return out

    def sheet(self, title: str) -> SheetRef | None:
        """Excel tab names are case-insensitive: "annotate" and "Annotate" are the same tab."""
        for ref in self.sheets:
            if ref.title == title:
                return ref
        folded = title.casefold()
        return next((ref for ref in self.sheets if ref.title.casefold() == folded), None)

    def part_of(self, rel_type: str) -> str | None:
        return next((target for typ, target, _ in self.workbook_rels.values() if typ == rel_type), None)

    # ------------------------------------------------------------------ what cell values need

    @property
    def date1904(self) -> bool:
        pr = self.workbook_xml.find(f"{_M}workbookPr")
        return pr is not None and pr.get("date1904", "0").lower() in ("1", "true")

    def shared_strings(self) -> list[str]:
        if self._shared_strings is None:
            from sheetsync.backends.xlsx_read import read_shared_strings

            part = self.part_of(SHARED_STRINGS_REL)
            self._shared_strings = read_shared_strings(self.read(part)) if part and self.has(part) else []
        return self._shared_strings

    def styles(self) -> Styles:
        if self._styles is None:
            part = self.part_of(STYLES_REL)
            self._styles = read_date_styles(self.read(part)) if part and self.has(part) else Styles()
        return self._styles


def read_date_styles(data: bytes) -> Styles:
    """Which ``cellXfs`` entries format numbers as dates or durations (as openpyxl decides it)."""
    # Imported here: a read that meets no number never loads openpyxl (nor the numpy it pulls in).
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    root = parse_xml(data)
    custom = {}
    fmts = root.find(f"{_M}numFmts")
    for fmt in [] if fmts is None else fmts:
        try:
            custom[int(fmt.get("numFmtId", "-1"))] = fmt.get("formatCode", "")
        except ValueError:
            continue
    styles = Styles()
    xfs = root.find(f"{_M}cellXfs")
    for index, xf in enumerate([] if xfs is None else xfs.findall(f"{_M}xf")):
        try:
            fmt_id = int(xf.get("numFmtId", "0"))
        except ValueError:
            continue
        code = custom.get(fmt_id, BUILTIN_FORMATS.get(fmt_id))
        if code and is_date_format(code):
            styles.date_styles.add(index)
            if is_timedelta_format(code):
                styles.timedelta_styles.add(index)
    return styles


# ---------------------------------------------------------------------- editing the structure

DRAWING_REL = f"{REL_NS}/drawing"
CHART_REL = f"{REL_NS}/chart"
COMMENTS_REL = f"{REL_NS}/comments"
VML_REL = f"{REL_NS}/vmlDrawing"
CT = "application/vnd.openxmlformats-officedocument."
CONTENT_TYPES = {
    "worksheet": CT + "spreadsheetml.worksheet+xml",
    "drawing": CT + "drawing+xml",
    "chart": CT + "drawingml.chart+xml",
    "comments": CT + "spreadsheetml.comments+xml",
}
VML_TYPE = CT + "vmlDrawing"

BLANK = {
    "[Content_Types].xml": (
        f'<Types xmlns="{CT_NS}"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{CT}spreadsheetml.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{CT}spreadsheetml.styles+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" Type="{REL_NS}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr/><bookViews><workbookView activeTab="0"/>'
        "</bookViews><sheets/><calcPr calcId=\"191029\"/></workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" Type="{STYLES_REL}" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        f'<styleSheet xmlns="{MAIN_NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
        '<family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
        '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/>'
        '<bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
        'borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
        'xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def blank_package() -> Package:
    """A workbook with no tabs yet, for a file that does not exist."""
    buf = io.BytesIO()
    out = ZipOut(buf, level=LEVEL)
    for name, xml in BLANK.items():
        out.write(name, b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + xml.encode())
    out.close()
    buf.seek(0)
    return Package(buf)


def tree_bytes(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


class Rels:
    """A part's relationships, as an editable tree."""

    def __init__(self, package: Package, part: str, *, fresh: bool = False) -> None:
        self.part = part
        name = rels_part(part)
        if not fresh and package.has(name):
            self.root = parse_xml(package.read(name))
        else:
            self.root = etree.fromstring(f'<Relationships xmlns="{PKG_REL_NS}"/>'.encode())

    def items(self) -> list[Any]:
        return self.root.findall(f"{_P}Relationship")

    def ids(self) -> set[str]:
        return {el.get("Id") for el in self.items()}

    def of_type(self, rel_type: str) -> list[Any]:
        return [el for el in self.items() if el.get("Type") == rel_type]

    def target(self, el: Any) -> str:
        return resolve_target(self.part, el.get("Target", ""))

    def add(self, rel_type: str, target_part: str, rid: str | None = None) -> str:
        taken = self.ids()
        if rid is None:
            n = 1
            while f"rId{n}" in taken:
                n += 1
            rid = f"rId{n}"
        etree.SubElement(self.root, f"{_P}Relationship", Id=rid, Type=rel_type,
                         Target=relative_target(self.part, target_part))
        return rid

    def remove(self, rid: str) -> None:
        for el in self.items():
            if el.get("Id") == rid:
                self.root.remove(el)

    def to_bytes(self) -> bytes:
        return tree_bytes(self.root)


def owner_of(rels_name: str) -> str:
    folder, name = posixpath.split(rels_name)
    return posixpath.join(posixpath.dirname(folder), name[: -len(".rels")])
