"""The local .xlsx backend: a workbook file the expert opens in Excel or LibreOffice.

Reads and writes work on the file's XML parts directly (see :mod:`sheetsync.backends.xlsx_package`): a read
streams just the tab it needs and decodes only the cells asked for (:mod:`xlsx_read`); a write rewrites
only the tabs in the write, row by row, and copies every other part of the file byte for byte
(:mod:`xlsx_write`). Nothing builds an object per cell, so a 100,000-row tab costs what its XML costs.

Every ``write`` is one atomic file replacement (temp file in the same directory, fsync, ``os.replace``)
that keeps the previous file as ``<name>.xlsx.bak``, so a crash or a full disk never leaves a half-written
workbook and a bad push can always be undone by hand. Before replacing the file we check that nobody saved
it since we read it (optimistic concurrency on mtime and size): the expert's labels are never overwritten
by a stale copy. A read-only file is never replaced (the rename would be allowed by the folder's
permissions, but whoever made it read-only meant "do not change this").

What sheetsync made is told apart from what the expert made, in the file itself, so a write replaces only
its own objects and the expert's stay untouched:

- dropdowns (data validations): ``promptTitle="sheetsync"`` (:mod:`xlsx_sheet`);
- conditional formats: the always-true :data:`sheetsync.layout.OWNER_TAG` in the rule's formula;
- charts: a graphic frame named ``sheetsync chart N`` (:mod:`xlsx_parts`);
- notes: the author ``sheetsync`` (:mod:`xlsx_parts`);
- cell styles: a spec's style is applied on top of what a cell has (a highlight the expert added stays
  unless the spec sets the same attribute); cells no block writes keep their value and XML as they were.

Excel has no warning-only protection (sheet protection blocks sorting, filtering and typing), so
``Protection`` specs never lock anything here: their description becomes a note on the range's header cell.

Text is written as literal strings, never formulas, and exactly: what XML cannot carry (control
characters, lone surrogates, "\r") goes as Excel's own ``_xHHHH_`` escapes, which Excel, LibreOffice and
our reader decode back to the same character, so no value (an id above all) is changed by the trip.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sheetsync.backends.base import ColumnsRead, Grid, Identity, Workbook
from sheetsync.backends.xlsx_package import (
    COMMENT_AUTHOR,
    LISTS_SHEET,
    Package,
    PackageError,
    SheetRef,
    blank_package,
)
from sheetsync.backends.xlsx_read import Scan, TabRead, cell_text, read_tab
from sheetsync.backends.xlsx_text import MAX_CELL_CHARS
from sheetsync.errors import BackendError, SheetsyncError
from sheetsync.layout import TabSpec

__all__ = ["COMMENT_AUTHOR", "LISTS_SHEET", "XlsxWorkbook", "cell_text"]

if TYPE_CHECKING:
    from sheetsync.backends.xlsx_write import PackageWriter

_MAX_TITLE = 31
_BAD_TITLE_CHARS = re.compile(r"[\[\]:*?/\\]")

_Stamp = tuple[int, int]
_MISSING: _Stamp = (-1, -1)


class XlsxWorkbook(Workbook):
    """An .xlsx file on disk."""

    max_cell_chars = MAX_CELL_CHARS

    def __init__(self, path: str | Path) -> None:
        self.locator = str(path)
        # Writes go to the real file, so a symlinked workbook stays a symlink to the updated file.
        self.path = Path(os.path.realpath(Path(path).expanduser()))
        self.url = self.path.as_uri()
        self._seen: _Stamp | None = None  # (mtime_ns, size) at our last read or write; None: never read
        self._titles: list[str] | None = None  # tab titles at that moment
        self._scans: dict[str, Scan] = {}  # what the last read learnt about each tab it read
        self._scans_stamp: _Stamp | None = None

    # ------------------------------------------------------------------ reading

    def read(self, titles: list[str], *, with_layout: bool = False) -> dict[str, Grid | None]:
        """One pass over the file: each tab's XML is streamed. (``with_layout`` needs nothing more here:
        a write edits the file's own parts, so the layout is whatever the file holds when it is written.)"""
        out: dict[str, Grid | None] = {}

        def each(package: Package) -> None:
            for title in titles:
                ref = package.sheet(title)
                out[title] = None if ref is None else self._tab(package, ref).grid

        if self._with_package(each) == _MISSING:
            return {t: None for t in titles}
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
            self._scans = {}
            self._scans_stamp = seen
            fn(package)
            titles = [ref.title for ref in package.sheets]
        self._seen, self._titles = seen, titles
        return seen

    def _tab(self, package: Package, ref: SheetRef, **kw: Any) -> TabRead:
        if ref.kind != "worksheet":  # a chart sheet: exists, holds no values
            return TabRead([], {}, -1)
        try:
            tab = read_tab(package, ref.part, **kw)
            self._scans[ref.part] = Scan(tab.extents, tab.head, tab.tail)
            return tab
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
        """Apply every spec to the file's parts and replace the file once, atomically."""
        if not specs:
            return
        for spec in specs:
            _check_title(spec.title)
        self._refuse_if_open_elsewhere()
        self._refuse_if_read_only()
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while the new file streams from it
        except FileNotFoundError:
            fh = None
        except OSError as exc:
            raise BackendError(
                f"Could not open {self.path}: {exc.strerror or exc}. If it is open in another program, "
                "close it there and run the command again."
            ) from exc
        with fh if fh is not None else contextlib.nullcontext():
            loaded = _stamp(os.fstat(fh.fileno())) if fh is not None else _MISSING
            if (self._seen is not None and loaded != self._seen) or _current_stamp(self.path) != loaded:
                raise self._changed_error()
            package = _open_package(self.path, fh) if fh is not None else blank_package()
            scans = self._scans if self._scans_stamp == loaded else {}
            from sheetsync.backends.xlsx_write import PackageWriter  # openpyxl's serializers: writes only

            writer = PackageWriter(package, scans)
            try:
                for spec in specs:
                    writer.apply(spec)
            except (PackageError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise self._damaged(exc) from exc
            self._save_atomically(writer, loaded)
        self._scans, self._scans_stamp = {}, None
        self._seen = _current_stamp(self.path)
        self._titles = writer.titles()

    def _damaged(self, exc: Exception) -> BackendError:
        return BackendError(
            f"Could not update {self.path} ({type(exc).__name__}: {exc}). Nothing was written. If the file is "
            f"damaged, restore {self.path.name}.bak or re-save it in Excel/LibreOffice."
        )

    def _save_atomically(self, writer: PackageWriter, loaded: _Stamp) -> None:
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
                writer.save(fh)
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


