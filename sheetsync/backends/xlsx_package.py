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

import posixpath
import queue
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

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


# ---------------------------------------------------------------------- writing a zip


class ZipOut:
    """A zip written member by member: new parts streamed through deflate, untouched parts copied as
    their compressed bytes (no decompress/recompress: a big tab the write does not touch costs a copy).

    Only what .xlsx needs: deflate or stored members, no encryption, sizes under 4 GiB (Excel's own
    limits keep parts far below), entries in the order they are written.
    """

    def __init__(self, fh: IO[bytes], *, level: int) -> None:
        self.fh = fh
        self.level = level
        # name, method, crc, compressed size, size, DOS time, offset of the local header, flags
        self.entries: list[tuple[bytes, int, int, int, int, int, int, int]] = []
        self.offset = 0

    def _local_header(self, name: bytes, method: int, crc: int, csize: int, usize: int, dostime: int, flags: int) -> bytes:
        return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, dostime & 0xFFFF, dostime >> 16,
                           crc, csize, usize, len(name), 0) + name

    def _record(self, name: bytes, method: int, crc: int, csize: int, usize: int, dostime: int, flags: int) -> None:
        if csize >= 0xFFFFFFFF or usize >= 0xFFFFFFFF or self.offset >= 0xFFFFFFFF:
            raise OverflowError("a workbook part of 4 GiB or more")
        self.entries.append((name, method, crc, csize, usize, dostime, self.offset, flags))

    def copy(self, src: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        """Copy a member of ``src`` as it is stored (its compressed bytes and CRC)."""
        fp = src.fp
        assert fp is not None
        fp.seek(info.header_offset)
        header = fp.read(30)
        if header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header for {info.filename}")
        n_name, n_extra = struct.unpack("<2H", header[26:30])
        fp.seek(info.header_offset + 30 + n_name + n_extra)
        name = info.filename.encode("utf-8")
        flags = 0x800 if not name.isascii() else 0
        dostime = _dostime(info.date_time)
        self._record(name, info.compress_type, info.CRC, info.compress_size, info.file_size, dostime, flags)
        head = self._local_header(name, info.compress_type, info.CRC, info.compress_size, info.file_size, dostime, flags)
        self.fh.write(head)
        remaining = info.compress_size
        while remaining:
            chunk = fp.read(min(remaining, 1 << 20))
            if not chunk:
                raise zipfile.BadZipFile(f"{info.filename} is truncated")
            self.fh.write(chunk)
            remaining -= len(chunk)
        self.offset += len(head) + info.compress_size

    def write(self, part: str, data: bytes) -> None:
        writer = self.stream(part)
        writer.write(data)
        writer.close()

    def stream(self, part: str) -> _MemberWriter:
        """A member written in pieces. The local header is written with zero sizes and a data descriptor
        follows the data (bit 3), as every zip reader — Excel's included — accepts."""
        return _MemberWriter(self, part)

    def close(self) -> None:
        start = self.offset
        central = bytearray()
        for name, method, crc, csize, usize, dostime, offset, flags in self.entries:
            central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, dostime & 0xFFFF,
                                   dostime >> 16, crc, csize, usize, len(name), 0, 0, 0, 0, 0, offset) + name
        n = len(self.entries)
        if n > 0xFFFF:
            raise OverflowError("more than 65,535 parts in one workbook")
        end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), start, 0)
        self.fh.write(bytes(central) + end)


class _MemberWriter:
    def __init__(self, out: ZipOut, part: str) -> None:
        self.out = out
        self.name = part.encode("utf-8")
        self.flags = 0x08 | (0x800 if not self.name.isascii() else 0)
        self.dostime = _dostime((2024, 1, 1, 0, 0, 0))
        self.compressor = zlib.compressobj(out.level, zlib.DEFLATED, -15)
        self.crc = 0
        self.usize = 0
        self.csize = 0
        self.start = out.offset
        head = out._local_header(self.name, zipfile.ZIP_DEFLATED, 0, 0, 0, self.dostime, self.flags)
        out.fh.write(head)
        self.head_len = len(head)
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, data: bytes) -> None:
        # Many small pieces (one per row) are joined first: zlib and file calls cost per call.
        self._pending.append(data)
        self._pending_len += len(data)
        if self._pending_len >= 1 << 18:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        if self._worker is None:
            self._worker = threading.Thread(target=self._drain, name="sheetsync-deflate", daemon=True)
            self._worker.start()
        self._queue.put(data)
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        """Deflate and write in a thread of its own: zlib releases the GIL, so compressing one piece
        overlaps with building the next rows (on two cores, the deflate time mostly disappears)."""
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is not None:
                continue  # keep draining so the producer never blocks; the error is raised there
            try:
                self._deflate(data)
            except BaseException as exc:
                self._error = exc

    def _deflate(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.usize += len(data)
        packed = self.compressor.compress(data)
        if packed:
            self.out.fh.write(packed)
            self.csize += len(packed)

    def abort(self) -> None:
        """Stop the deflate thread after a failure elsewhere (the temp file is thrown away anyway)."""
        if self._worker is not None:
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def close(self) -> None:
        if self._worker is None:
            data = b"".join(self._pending)
            self._pending.clear()
            self._deflate(data)
        else:
            self._flush_pending()
            self._queue.put(None)
            self._worker.join()
            if self._error is not None:
                raise self._error
        tail = self.compressor.flush()
        self.out.fh.write(tail)
        self.csize += len(tail)
        self.out.fh.write(struct.pack("<4s3L", b"PK\x07\x08", self.crc, self.csize, self.usize))
        out = self.out
        out.offset = self.start
        out._record(self.name, zipfile.ZIP_DEFLATED, self.crc, self.csize, self.usize, self.dostime, self.flags)
        out.offset = self.start + self.head_len + self.csize + 16


def _dostime(dt: tuple[int, ...]) -> int:
    year, month, day, hour, minute, second = dt[:6]
    year = max(1980, min(year, 2107))
    date = (year - 1980) << 9 | month << 5 | day
    time = hour << 11 | minute << 5 | second // 2
    return date << 16 | time

