"""The local .xlsx backend: a workbook file the expert opens in Excel or LibreOffice.

Every ``write`` is one atomic file replacement (temp file in the same directory, fsync, ``os.replace``)
that keeps the previous file as ``<name>.xlsx.bak``, so a crash or a full disk never leaves a half-written
workbook and a bad push can always be undone by hand. Before replacing the file we check that nobody saved
it since we read it (optimistic concurrency on mtime and size): the expert's labels are never overwritten
by a stale copy.

Excel has no warning-only protection (sheet protection blocks sorting, filtering and typing), so
``Protection`` specs never lock anything here: their description becomes a note (comment) by "sheetsync"
on the range's header cell, which the expert sees on hover.

A tab written by sheetsync has its data validations and charts owned by sheetsync, and the conditional
formats tagged with :data:`sheetsync.layout.OWNER_TAG`: each write replaces those with the spec's, so
repeated writes never duplicate them, and rules the expert added stay. Cell styles from a
spec are applied on top of what a cell has, so a highlight the expert added stays unless the spec sets
the same attribute.

Text is written as literal strings, never formulas, and exactly: what XML cannot carry (control
characters, lone surrogates, "\r") goes as Excel's own ``_xHHHH_`` escapes, which Excel, LibreOffice and
our reader decode back to the same character, so no value (an id above all) is changed by the trip. Reads
stream the tab's XML (:mod:`sheetsync.backends.xlsx_read`) and give the expert's text byte for byte.

A write refuses a read-only file (the rename that replaces it would be allowed by the folder's
permissions, but whoever made it read-only meant "do not change this").
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import stat
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from copy import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.comments import Comment
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook as OpenpyxlWorkbook
from openpyxl.worksheet.datavalidation import DataValidation, DataValidationList
from openpyxl.worksheet.views import Selection
from openpyxl.worksheet.worksheet import Worksheet

from sheetsync.backends.base import ColumnsRead, Grid, Identity, Workbook
from sheetsync.backends.xlsx_package import Package, PackageError, SheetRef
from sheetsync.backends.xlsx_read import TabRead, cell_text, escape_text, read_tab
from sheetsync.errors import BackendError, SheetsyncError
from sheetsync.layout import (
    Chart,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    column_letter,
    is_sheetsync_rule,
)

LISTS_SHEET = "_lists"
"""Hidden tab holding dropdown choices too long (or too comma-laden) for an inline list."""

COMMENT_AUTHOR = "sheetsync"
"""Author of the notes sheetsync puts on cells; notes by anyone else are never touched."""

EXCEL_MAX_ROWS = 1_048_576
_INLINE_LIST_LIMIT = 255  # Excel rejects an inline list longer than this
_MAX_TITLE = 31
_BAD_TITLE_CHARS = re.compile(r"[\[\]:*?/\\]")
_EXACT_INT_LIMIT = 2**53  # larger ints would lose digits as Excel doubles: written as text
_ROW_HEIGHT_CELL_LIMIT = 200_000  # above this many data rows, only the sheet's default row height is set


_Stamp = tuple[int, int]
_MISSING: _Stamp = (-1, -1)


class XlsxWorkbook(Workbook):
    """An .xlsx file on disk, read and written with openpyxl."""

    max_cell_chars = 32767

    def __init__(self, path: str | Path) -> None:
        self.locator = str(path)
        # Writes go to the real file, so a symlinked workbook stays a symlink to the updated file.
        self.path = Path(os.path.realpath(Path(path).expanduser()))
        self.url = self.path.as_uri()
        self._seen: _Stamp | None = None  # (mtime_ns, size) at our last read or write; None: never read
        self._titles: list[str] | None = None  # tab titles at that moment
        self._loaded: OpenpyxlWorkbook | None = None  # kept by read(with_layout=True) for the next write

    # ------------------------------------------------------------------ reading

    def read(self, titles: list[str], *, with_layout: bool = False) -> dict[str, Grid | None]:
        """One pass over the file: each tab's XML is streamed (see :mod:`xlsx_read`).

        ``with_layout=True`` announces a write: the file is also loaded into openpyxl and kept, so the
        following ``write`` edits this very copy rather than loading the file a second time.
        """
        self._loaded = None
        out: dict[str, Grid | None] = {}

        def each(package: Package) -> None:
            for title in titles:
                ref = package.sheet(title)
                out[title] = None if ref is None else self._tab(package, ref).grid

        seen = self._with_package(each)
        if seen == _MISSING:
            return {t: None for t in titles}
        if with_layout:
            with open(self.path, "rb") as fh:
                if _stamp(os.fstat(fh.fileno())) != seen:
                    raise self._changed_error()
                self._loaded = _load(self.path, fh, read_only=False)
        return out

    def read_columns(self, title: str, columns: Sequence[int], *, head_rows: int = 20) -> ColumnsRead | None:
        """The tab's first rows and a few whole columns in one streamed pass: the other cells of each row
        are skipped, not decoded (for ``pull``, most of the bytes are the inputs and outputs)."""
        wanted = {int(c) for c in columns}
        found: list[TabRead | None] = [None]

        def each(package: Package) -> None:
            ref = package.sheet(title)
            if ref is not None:
                found[0] = self._tab(package, ref, columns=wanted, head_rows=head_rows)

        self._with_package(each)
        tab = found[0]
        if tab is None:
            return None
        cols = {}
        for c in dict.fromkeys(int(c) for c in columns):
            values = tab.columns.get(c, [])
            while values and values[-1] == "":
                values.pop()
            cols[c] = values
        return ColumnsRead(head=tab.grid[:head_rows], columns=cols)

    def _with_package(self, fn: Callable[[Package], None]) -> _Stamp:
        """Open the file once, run ``fn`` on it, remember its stamp and tab titles (for the next write's
        concurrency check)."""
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self._seen, self._titles = _MISSING, []
            return _MISSING
        except OSError as exc:
            raise BackendError(f"Could not read {self.path}: {exc.strerror or exc}. Check the path.") from exc
        with fh:
            seen = _stamp(os.fstat(fh.fileno()))
            package = _open_package(self.path, fh)
            fn(package)
            titles = [ref.title for ref in package.sheets]
        self._seen, self._titles = seen, titles
        return seen

    def _tab(self, package: Package, ref: SheetRef, **kw: Any) -> TabRead:
        if ref.kind != "worksheet":  # a chart sheet: exists, holds no values
            return TabRead([], {}, -1)
        try:
            return read_tab(package, ref.part, **kw)
        except (PackageError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise BackendError(
                f"Could not read the tab {ref.title!r} of {self.path} ({type(exc).__name__}: {exc}). If the "
                f"file is damaged, restore {self.path.name}.bak or re-save it in Excel/LibreOffice."
            ) from exc

    def tab_titles(self) -> list[str]:
        """The tabs in order, without sheetsync's hidden helper tab; reuses the last read if the file is
        unchanged since."""
        current = _current_stamp(self.path)
        if self._titles is None or current != self._seen:
            if current == _MISSING:
                return []
            self._with_package(lambda package: None)
        return [t for t in self._titles or [] if t != LISTS_SHEET]

    # ------------------------------------------------------------------ writing

    def write(self, specs: list[TabSpec]) -> None:
        """Apply every spec to an in-memory copy of the file, then replace the file once, atomically."""
        if not specs:
            return
        for spec in specs:
            _check_title(spec.title)
        self._refuse_if_open_elsewhere()
        self._refuse_if_read_only()
        kept, self._loaded = self._loaded, None  # used once: a failed write must not reuse a half-edit
        if kept is not None and self._seen is not None:
            wb, loaded = kept, self._seen
        else:
            wb, loaded = self._load_for_write()
        if (self._seen is not None and loaded != self._seen) or _current_stamp(self.path) != loaded:
            raise self._changed_error()
        lists = _Lists(wb)
        for spec in specs:
            _apply_spec(wb, spec, lists)
        _finish(wb, lists)
        self._save_atomically(wb, loaded)
        self._seen, self._titles = _current_stamp(self.path), wb.sheetnames

    def _load_for_write(self) -> tuple[OpenpyxlWorkbook, _Stamp]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed right after the (eager) load
        except FileNotFoundError:
            wb = OpenpyxlWorkbook()
            wb.remove(wb.active)  # openpyxl's default empty "Sheet"
            return wb, _MISSING
        except OSError as exc:
            raise BackendError(
                f"Could not open {self.path}: {exc.strerror or exc}. If it is open in another program, "
                "close it there and run the command again."
            ) from exc
        with fh:
            loaded = _stamp(os.fstat(fh.fileno()))
            return _load(self.path, fh, read_only=False), loaded

    def _save_atomically(self, wb: OpenpyxlWorkbook, loaded: _Stamp) -> None:
        """temp file → fsync → backup of the old file → ``os.replace``; the target is never half-written."""
        directory = self.path.parent
        if not directory.is_dir():
            raise BackendError(f"The folder {directory} does not exist: create it, or choose another path.")
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        bak = self.path.with_name(self.path.name + ".bak")
        bak_tmp = tmp.with_name(tmp.name + ".bak")
        try:
            # O_EXCL + 0o666: a unique file whose permissions follow the umask, like any new file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            with os.fdopen(fd, "wb") as fh:
                wb.save(fh)
                fh.flush()
                os.fsync(fh.fileno())
            if loaded != _MISSING:
                with contextlib.suppress(OSError):
                    os.chmod(tmp, stat.S_IMODE(os.stat(self.path).st_mode))
            if _current_stamp(self.path) != loaded:
                raise self._changed_error()
            if loaded != _MISSING:
                _link_or_copy(self.path, bak_tmp)
                os.replace(bak_tmp, bak)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise BackendError(
                f"Could not write {self.path}: {exc.strerror or exc}. Nothing was changed. If the file is "
                "open in another program, close it there; check there is free disk space and that you may "
                "write to the folder, then run the command again."
            ) from exc
        finally:
            for leftover in (tmp, bak_tmp):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        _fsync_directory(directory)

    def _changed_error(self) -> BackendError:
        return BackendError(
            f"{self.path} changed while sheetsync was working (someone saved it?). Nothing was written; "
            "run the command again."
        )

    def _refuse_if_read_only(self) -> None:
        """A write replaces the file by renaming a new one over it, which the folder's permissions allow
        even when the file itself is read-only: so the file's own permission is checked first. Whoever made
        it read-only (the expert, a shared drive, a review freeze) meant "do not change this"."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BackendError(f"Could not check {self.path}: {exc.strerror or exc}. Nothing was written.") from exc
        # As root os.access says yes to everything, so the permission bits are checked too.
        if not os.access(self.path, os.W_OK) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise BackendError(
                f"{self.path} is read-only, so sheetsync will not replace it. Nothing was written. If it "
                "should be updated, make it writable (e.g. `chmod u+w`, or untick Read-only in its "
                "properties) and run the command again; otherwise push to another .xlsx path."
            )

    def _refuse_if_open_elsewhere(self) -> None:
        """Excel and LibreOffice leave a lock file beside a workbook they have open. Writing under them
        would be lost at their next save (or overwrite what they saved), so we stop and say so."""
        name = self.path.name
        for lock in (f"~${name}", f"~${name[2:]}", f".~lock.{name}#"):
            lock_path = self.path.parent / lock
            if lock_path.exists():
                raise BackendError(
                    f"{self.path} is open in Excel or LibreOffice (found {lock_path}). Save and close it "
                    f"there, then run the command again. If it is not open anywhere, delete {lock_path}."
                )

    # ------------------------------------------------------------------ the rest

    def share(self, emails: list[str], *, role: str = "writer") -> None:
        """An .xlsx file has no access list: say how to share it instead."""
        raise SheetsyncError(
            f"{self.path} is a local .xlsx file: share it by sending it to the expert or putting it on a "
            "shared drive (and have them send it back). --share works with Google Sheets spreadsheets."
        )

    def identity(self) -> Identity:
        return Identity(kind="xlsx", who="local file", where=str(self.path))


# ---------------------------------------------------------------------- file helpers


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_mtime_ns, st.st_size)


def _current_stamp(path: Path) -> _Stamp:
    try:
        return _stamp(os.stat(path))
    except FileNotFoundError:
        return _MISSING


def _open_package(path: Path, fh: Any) -> Package:
    try:
        return Package(fh)
    except PackageError as exc:
        raise BackendError(
            f"Could not open {path} as an Excel workbook ({exc}). If it is open or locked by another "
            f"program, close it and try again; if it is damaged, restore {path.name}.bak (the version "
            "before sheetsync's last write) or move the file away."
        ) from exc


def _load(path: Path, fh: Any, *, read_only: bool) -> OpenpyxlWorkbook:
    """Open with openpyxl; any failure becomes a message naming the file and what to do. openpyxl raises
    many different exceptions for damaged files (zip, XML, key and value errors), hence the broad catch."""
    try:
        with warnings.catch_warnings():
            if read_only:  # "extension not supported…" matters only when the file is rewritten
                warnings.simplefilter("ignore")
            # data_only=False: a formula the expert typed is read (and kept) as its text, not a stale cache.
            return openpyxl.load_workbook(fh, read_only=read_only, data_only=False, keep_links=True)
    except Exception as exc:
        raise BackendError(
            f"Could not open {path} as an Excel workbook ({type(exc).__name__}: {exc}). If it is open or "
            f"locked by another program, close it and try again; if it is damaged, restore "
            f"{path.name}.bak (the version before sheetsync's last write) or move the file away."
        ) from exc


def _link_or_copy(src: Path, dst: Path) -> None:
    """The backup shares the old file's data (a hard link costs nothing); a copy where links can't be
    made. The workbook path exists at every moment."""
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copy2(src, dst)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); not possible or needed on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_title(title: str) -> None:
    if title == LISTS_SHEET:
        raise BackendError(f"The tab name {LISTS_SHEET!r} is reserved by sheetsync; choose another name.")
    if not title or len(title) > _MAX_TITLE or _BAD_TITLE_CHARS.search(title):
        raise BackendError(
            f"Excel does not allow the tab name {title!r}: it must be 1 to {_MAX_TITLE} characters, without "
            "[ ] : * ? / \\. Choose a shorter or simpler tab name (sheetsync.toml). Nothing was written."
        )


def _find_sheet(wb: OpenpyxlWorkbook, title: str) -> Any:
    """Excel tab names are case-insensitive: "annotate" and "Annotate" are the same tab."""
    if title in wb.sheetnames:
        return wb[title]
    folded = title.casefold()
    for name in wb.sheetnames:
        if name.casefold() == folded:
            return wb[name]
    return None


# ---------------------------------------------------------------------- reading values


# ---------------------------------------------------------------------- writing values


def _put(cell: Cell, value: Any, tab: str) -> None:
    """Write one value. A str is always literal text: openpyxl would turn "=…" into a formula and "#N/A"
    into an error, so the data type is forced to string after assignment."""
    if value is None or value == "":
        cell.value = None
        return
    if not isinstance(value, bool | int | float | str) and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar from a DataFrame → the Python bool/int/float it holds
    if isinstance(value, bool):
        cell.value = value
        return
    if isinstance(value, int):
        if abs(value) <= _EXACT_INT_LIMIT:
            cell.value = value
            return
        value = str(value)
    elif isinstance(value, float):
        if math.isnan(value):
            cell.value = None
            return
        if math.isfinite(value):
            cell.value = value
            return
        value = str(value)  # Excel has no infinity
    elif not isinstance(value, str):
        raise TypeError(f"{tab}!{cell.coordinate}: cannot write {type(value).__name__} {value!r}")
    if len(value) > XlsxWorkbook.max_cell_chars:
        raise BackendError(
            f"{tab}!{cell.coordinate} holds {len(value):,} characters; an Excel cell holds at most "
            f"{XlsxWorkbook.max_cell_chars:,}. Nothing was written."
        )
    # Stored exactly: what XML cannot carry goes as Excel's _xHHHH_ escapes (see escape_text). Set
    # directly: openpyxl's setter would parse "=…" as a formula (and rescan the whole text).
    cell._value = escape_text(value)
    cell.data_type = "s"


# ---------------------------------------------------------------------- applying a spec


def _apply_spec(wb: OpenpyxlWorkbook, spec: TabSpec, lists: _Lists) -> None:
    ws = _prepare_sheet(wb, spec)
    for block in spec.blocks:
        for i, row in enumerate(block.values):
            for j, value in enumerate(row):
                _put(ws.cell(row=block.row + i + 1, column=block.col + j + 1), value, spec.title)
    if spec.append_rows:
        start = _last_value_row(ws) + 1
        for i, row in enumerate(spec.append_rows):
            for j, value in enumerate(row):
                if value is not None:
                    _put(ws.cell(row=start + i + 1, column=j + 1), value, spec.title)
        spec = grown(spec, start + len(spec.append_rows))

    # The spec's grid, not openpyxl's max_row: some writers leave styled empty cells far down a sheet,
    # and styling a million rows would take minutes. The workflow sized the grid from its read.
    n_rows, n_cols = spec.n_rows, spec.n_cols
    _apply_columns(ws, spec)
    _apply_row_heights(ws, spec, n_rows)
    _freeze(ws, spec.frozen_rows, spec.frozen_cols)
    _apply_styles(ws, spec.styles, n_rows, n_cols)

    ws.data_validations = DataValidationList()
    for validation in spec.validations:
        _add_validation(ws, validation, n_cols, lists)
    kept = ConditionalFormattingList()  # the expert's own rules stay; sheetsync's (tagged) are replaced
    if not spec.replace:
        for block in ws.conditional_formatting:
            for rule in block.rules:
                if not any(is_sheetsync_rule(f) for f in rule.formula or []):
                    kept.add(str(block.sqref), rule)
    ws.conditional_formatting = kept
    for cf in spec.conditional_formats:
        _add_conditional_format(ws, cf, n_cols)
    ws._charts = []  # openpyxl has no public way to remove charts; the spec's replace ours
    for chart in spec.charts:
        _add_chart(ws, chart, n_rows, n_cols)
    _apply_protection_notes(ws, spec.protections, spec.frozen_rows)

    if spec.basic_filter is not None:  # rows the expert appended are inside the filter too
        r0, c0, r1, c1 = spec.basic_filter.resolve(max(n_rows, ws.max_row), n_cols)
        ws.auto_filter.ref = _a1(r0, c0, r1, c1)
    if spec.tab_color is not None:
        ws.sheet_properties.tabColor = _argb(spec.tab_color)


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


def _last_value_row(ws: Worksheet) -> int:
    """0-based index of the last row holding a value (-1: none). Styled empty cells (the expert columns
    sheetsync colours) do not count: the first row after the data is where appended rows go."""
    last = -1
    for (r, _c), cell in ws._cells.items():  # openpyxl's cell map: rows with values, unordered
        if r - 1 > last and cell.value is not None and cell.value != "":
            last = r - 1
    return last


def _prepare_sheet(wb: OpenpyxlWorkbook, spec: TabSpec) -> Worksheet:
    """Find, create or (``replace``) rebuild the tab, placed at ``spec.index`` if given."""
    ws = _find_sheet(wb, spec.title)
    if ws is not None and (spec.replace or not isinstance(ws, Worksheet)):
        position = wb.index(ws)
        wb.remove(ws)
        ws = wb.create_sheet(spec.title, position)
    elif ws is None:
        position = len(wb.sheetnames)
        if LISTS_SHEET in wb.sheetnames:
            position = wb.sheetnames.index(LISTS_SHEET)
        ws = wb.create_sheet(spec.title, position)
    if spec.index is not None:
        target = max(0, min(spec.index, len(wb.sheetnames) - 1))
        wb.move_sheet(ws, target - wb.index(ws))
    return ws


def _apply_columns(ws: Worksheet, spec: TabSpec) -> None:
    """Widths (px → Excel character widths: px ≈ 7·width + 5 for the default font) and hidden columns.
    Columns the expert hid stay hidden; sheetsync only ever hides."""
    touched = set(spec.column_widths) | set(spec.hidden_columns)
    for col in touched:
        _split_column_group(ws, col + 1)
    for col, px in spec.column_widths.items():
        ws.column_dimensions[get_column_letter(col + 1)].width = round(max(px - 5, 0) / 7, 2)
    for col in spec.hidden_columns:
        ws.column_dimensions[get_column_letter(col + 1)].hidden = True


def _split_column_group(ws: Worksheet, index: int) -> None:
    """Files saved by Excel/LibreOffice describe runs of equal columns as one ``<col min max>``. Setting
    one column inside a run would add an overlapping entry, which Excel calls a corrupt file; so the run
    is split around the column first."""
    for key, dim in list(ws.column_dimensions.items()):
        lo, hi = dim.min or 0, dim.max or 0
        if not (lo <= index <= hi) or lo == hi:
            continue
        pieces = [(lo, index - 1), (index, index), (index + 1, hi)]
        del ws.column_dimensions[key]
        for a, b in pieces:
            if a > b:
                continue
            piece = copy(dim)
            piece.index = get_column_letter(a)
            piece.min, piece.max = a, b
            ws.column_dimensions[piece.index] = piece
        return


def _apply_row_heights(ws: Worksheet, spec: TabSpec, n_rows: int) -> None:
    """Rows below the header get ``row_height`` (px → points: ×0.75). The sheet's default row height is
    set too, so rows the expert adds later look the same; header rows keep Excel's default."""
    if spec.row_height is None:
        return
    points = round(spec.row_height * 0.75, 2)
    ws.sheet_format.defaultRowHeight = points
    ws.sheet_format.customHeight = True
    for r in range(1, spec.frozen_rows + 1):
        if ws.row_dimensions[r].height is None:
            ws.row_dimensions[r].height = 15  # Excel's default for 11 pt text
    if n_rows - spec.frozen_rows <= _ROW_HEIGHT_CELL_LIMIT:
        for r in range(spec.frozen_rows + 1, n_rows + 1):
            ws.row_dimensions[r].height = points


def _freeze(ws: Worksheet, rows: int, cols: int) -> None:
    """Frozen header rows and id columns. openpyxl appends pane selections on every call, so the view's
    selections are reset first (keeping the expert's active cell) to stay the same across writes."""
    view = ws.sheet_view
    active = None
    for sel in view.selection:
        if view.pane is None or sel.pane == view.pane.activePane:
            active = sel
    view.selection = [Selection(activeCell=active.activeCell, sqref=active.sqref) if active else Selection()]
    ws.freeze_panes = f"{get_column_letter(cols + 1)}{rows + 1}" if rows or cols else None


def _apply_styles(ws: Worksheet, styles: list[Style], n_rows: int, n_cols: int) -> None:
    """Apply each style on top of each cell's current style.

    Setting fonts and fills through openpyxl's cell properties costs tens of microseconds per cell (each
    assignment hashes a style object); a 20,000-row tab has hundreds of thousands of styled cells. So the
    first cell with a given (previous style, spec style) pair goes through the public properties, and
    every other such cell gets a copy of the resulting style array (openpyxl's ``_style``).
    """
    for style in styles:
        r0, c0, r1, c1 = style.range.resolve(n_rows, n_cols)
        if r1 <= r0 or c1 <= c0:
            continue
        memo: dict[tuple[int, ...], Any] = {}
        for row in ws.iter_rows(min_row=r0 + 1, max_row=r1, min_col=c0 + 1, max_col=c1):
            for cell in row:
                key = () if cell._style is None else tuple(cell._style)  # None: the default style
                done = memo.get(key)
                if done is None:
                    _style_cell(cell, style)
                    memo[key] = copy(cell._style)
                else:
                    cell._style = copy(done)


def _style_cell(cell: Cell, style: Style) -> None:
    if any(v is not None for v in (style.bold, style.italic, style.color, style.font_size)):
        font = copy(cell.font)
        if style.bold is not None:
            font.bold = style.bold
        if style.italic is not None:
            font.italic = style.italic
        if style.color is not None:
            font.color = _argb(style.color)
        if style.font_size is not None:
            font.size = style.font_size
        cell.font = font
    if style.background is not None:
        cell.fill = PatternFill(fill_type="solid", fgColor=_argb(style.background))
    if any(v is not None for v in (style.wrap, style.halign, style.valign)):
        alignment = copy(cell.alignment)
        if style.wrap is not None:
            alignment.wrap_text = style.wrap
        if style.halign is not None:
            alignment.horizontal = style.halign
        if style.valign is not None:
            alignment.vertical = "center" if style.valign == "middle" else style.valign
        cell.alignment = alignment
    if style.number_format is not None:
        cell.number_format = style.number_format


def _add_validation(ws: Worksheet, validation: Validation, n_cols: int, lists: _Lists) -> None:
    """A dropdown (openpyxl's ``showDropDown=False`` means *show* the arrow). Not strict: Excel warns and
    lets the expert keep free text; strict: Excel refuses values outside the list."""
    if not validation.choices:
        return
    joined = ",".join(validation.choices)
    if len(joined) > _INLINE_LIST_LIMIT or any("," in c or '"' in c for c in validation.choices):
        formula = lists.reference(validation.choices)
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
        prompt=validation.input_message,
    )
    dv.sqref = _open_range_a1(validation.range, n_cols)
    ws.add_data_validation(dv)


def _add_conditional_format(ws: Worksheet, cf: ConditionalFormat, n_cols: int) -> None:
    font = None
    if cf.color is not None or cf.bold is not None:
        font = Font(color=_argb(cf.color) if cf.color else None, bold=cf.bold)
    fill = PatternFill(fill_type="solid", start_color=_argb(cf.background), end_color=_argb(cf.background))
    formula = cf.tagged_formula().removeprefix("=")
    ws.conditional_formatting.add(
        _open_range_a1(cf.range, n_cols), FormulaRule(formula=[formula], fill=fill, font=font)
    )


def _add_chart(ws: Worksheet, spec: Chart, n_rows: int, n_cols: int) -> None:
    chart: LineChart | BarChart
    if spec.kind == "line":
        chart = LineChart()
    else:
        chart = BarChart()
        chart.type = "bar" if spec.kind == "bar" else "col"
    chart.title = spec.title
    chart.x_axis.title = spec.x_title
    chart.y_axis.title = spec.y_title
    # openpyxl ≥ 3.1 marks axes deleted by default; Excel then draws a chart without axes.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    for series in spec.series:
        r0, c0, r1, _ = series.resolve(n_rows, n_cols)
        chart.add_data(Reference(ws, min_col=c0 + 1, min_row=r0 + 1, max_row=r1), titles_from_data=True)
    r0, c0, r1, _ = spec.domain.resolve(n_rows, n_cols)
    chart.set_categories(Reference(ws, min_col=c0 + 1, min_row=r0 + 2, max_row=r1))
    if len(spec.series) == 1:
        chart.legend = None  # the title says it all
    chart.width = spec.width * 2.54 / 96  # px → cm at 96 dpi
    chart.height = spec.height * 2.54 / 96
    ws.add_chart(chart, f"{get_column_letter(spec.anchor[1] + 1)}{spec.anchor[0] + 1}")


def _apply_protection_notes(ws: Worksheet, protections: list[Protection], frozen_rows: int) -> None:
    """Excel cannot warn-and-allow, and real sheet protection would block the expert (sorting, filtering,
    typing), so nothing is locked: each description becomes a note on the header cell of its range.
    Notes sheetsync wrote before are removed first; the expert's own notes are never touched."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.comment is not None and cell.comment.author == COMMENT_AUTHOR:
                cell.comment = None
    notes: dict[tuple[int, int], list[str]] = {}
    for protection in protections:
        row = protection.range.row0
        if frozen_rows and row >= frozen_rows:
            row = frozen_rows - 1  # the header the expert reads, not the first data row
        notes.setdefault((row, protection.range.col0), []).append(protection.description)
    for (row, col), texts in notes.items():
        cell = ws.cell(row=row + 1, column=col + 1)
        if cell.comment is not None:
            continue  # the expert's note wins
        comment = Comment("\n".join(dict.fromkeys(texts)), COMMENT_AUTHOR)
        comment.width, comment.height = 260, 110
        cell.comment = comment


class _Lists:
    """Choice lists kept on the hidden ``_lists`` tab, one per column. Content-addressed and append-only:
    other tabs' dropdowns may point at any column, so an existing column is reused, never rewritten."""

    def __init__(self, wb: OpenpyxlWorkbook) -> None:
        self.wb = wb
        self.ws: Worksheet | None = wb[LISTS_SHEET] if LISTS_SHEET in wb.sheetnames else None
        self.columns: dict[tuple[str, ...], int] = {}
        if self.ws is not None:
            for index, col in enumerate(self.ws.iter_cols(values_only=True), start=1):
                values = [cell_text(v) for v in col]
                while values and values[-1] == "":
                    values.pop()
                self.columns.setdefault(tuple(values), index)

    def reference(self, choices: tuple[str, ...]) -> str:
        index = self.columns.get(tuple(choices))
        if index is None:
            if self.ws is None:
                self.ws = self.wb.create_sheet(LISTS_SHEET)
                self.ws.sheet_state = "hidden"
            index = (self.ws.max_column + 1) if self.columns else 1
            for r, choice in enumerate(choices, start=1):
                _put(self.ws.cell(row=r, column=index), choice, LISTS_SHEET)
            self.columns[tuple(choices)] = index
        letter = get_column_letter(index)
        return f"'{LISTS_SHEET}'!${letter}$1:${letter}${len(choices)}"


def _finish(wb: OpenpyxlWorkbook, lists: _Lists) -> None:
    """Helper tab last and hidden; exactly one selected, visible tab (several selected tabs open in
    Excel's group-edit mode, where typing writes into all of them)."""
    if lists.ws is not None:
        wb.move_sheet(lists.ws, len(wb.sheetnames) - 1 - wb.index(lists.ws))
        lists.ws.sheet_state = "hidden"
    visible = [i for i, ws in enumerate(wb.worksheets) if ws.sheet_state == "visible"]
    if visible and (wb.active is None or wb.active.sheet_state != "visible"):
        wb.active = visible[0]
    for ws in wb.worksheets:
        ws.sheet_view.tabSelected = ws is wb.active


# ---------------------------------------------------------------------- small converters


def _argb(color: str) -> str:
    """"#RRGGBB" → openpyxl's "FFRRGGBB"."""
    hex_digits = color.lstrip("#").upper()
    if not re.fullmatch(r"[0-9A-F]{6}", hex_digits):
        raise ValueError(f"expected a colour like '#D9EAD3', got {color!r}")
    return "FF" + hex_digits


def _a1(r0: int, c0: int, r1: int, c1: int) -> str:
    """Half-open 0-based bounds → "A1:C10"."""
    return f"{column_letter(c0)}{r0 + 1}:{column_letter(c1 - 1)}{r1}"


def _open_range_a1(rng: Range, n_cols: int) -> str:
    """Validations and conditional formats cost nothing per row, so an open-ended range runs to Excel's
    last row: rows the expert adds at the bottom get dropdowns and highlights too (as in Google Sheets,
    where such a range is unbounded)."""
    r0, c0, r1, c1 = rng.resolve(EXCEL_MAX_ROWS, n_cols)
    return _a1(r0, c0, r1, c1)
