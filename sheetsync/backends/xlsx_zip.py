"""Writing the new workbook file: a zip whose untouched members are copied without recompressing them.

Python's zipfile can only write a member by compressing it again; a big tab the write does not touch would
then cost a full deflate. Here such members are copied as their stored bytes, and new ones are streamed
through deflate (in a thread of its own) as the rows are produced.
"""

from __future__ import annotations

import queue
import struct
import threading
import zipfile
import zlib
from typing import IO


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
            error = self._error
            self.abort()  # the thread failed (e.g. disk full): it is stopped before the error goes up
            raise error

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
            worker = self._worker
            self._flush_pending()
            self._queue.put(None)
            worker.join()
            self._worker = None
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
