"""Trace exports read one record at a time, as strictly as :mod:`sheetsync.datafiles` reads datasets.

An export from a tracing tool can be gigabytes; ``sheetsync import`` reads it record by record so that
memory holds one record (and what the sampler keeps), never the file. The checks are datafiles' own:
a repeated key, ``NaN``, absurd nesting or half a surrogate pair is refused with the line or record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sheetsync.datafiles import (
    _FLATTEN,
    FORMATS,
    MAX_DEPTH,
    _check_record,
    _decoded,
    _Decoder,
    _lf_lines,
    _raise_not_utf8,
    _Refused,
    _skip_space,
)
from sheetsync.errors import UserInputError

_CHUNK = 1 << 20
_MAX_RECORD = 256 << 20  # a single JSON record this large is nearly always a bracket never closed


def iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSONL or JSON file's records one at a time, each with where it is (``line 7`` or ``record 3 (line
    12)``), checked as strictly as :func:`read_records` checks them: memory holds one record, not the file.
    A JSON file is an array of objects (read element by element) or a single object (one record)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt not in ("jsonl", "json"):
        raise UserInputError(f"{path}: trace exports are read from .jsonl or .json files (got {path.suffix or 'no extension'}).")
    if not path.is_file():
        raise UserInputError(f"{path}: file not found.")
    decoder = _Decoder()
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            if fmt == "jsonl":
                for n, line in enumerate(_lf_lines(fh), start=1):
                    if line.strip():
                        yield f"line {n}", _decoded(path, f"line {n}", decoder, line, n)
                return
            yield from _iter_json(path, fh, decoder)
    except UnicodeDecodeError:
        _raise_not_utf8(path, path.read_bytes())


def _iter_json(path: Path, fh: Any, decoder: _Decoder) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSON array decoded one element at a time from a buffer refilled (and trimmed) as it is consumed."""
    reader = _Buffer(fh)
    pos = reader.skip(0)
    if reader.buf.startswith("{", pos):  # a single object: one record (held whole, as it is one)
        text = reader.buf + fh.read()
        yield "record 1 (line 1)", _decoded(path, "record 1 (line 1)", decoder, text, 1)
        return
    if not reader.buf.startswith("[", pos):
        raise UserInputError(f"{path}: {'the file is empty' if not reader.buf.strip() else 'expected a JSON array of objects'}.")
    pos, n = reader.skip(pos + 1), 0
    while not reader.buf.startswith("]", pos):
        if n:
            if not reader.buf.startswith(",", pos):
                raise UserInputError(f"{path}: line {reader.line_at(pos)}: expected , or ] between records.")
            pos = reader.skip(pos + 1)
        where = f"record {n + 1} (line {reader.line_at(pos)})"
        marked = decoder.non_finite
        while True:  # decode the next element; read more when it runs past the buffer
            try:
                obj, end = decoder.json.raw_decode(reader.buf, pos)
                break
            except json.JSONDecodeError as exc:
                if reader.eof or len(reader.buf) - pos > _MAX_RECORD:
                    raise UserInputError(f"{path}: line {reader.line_at(exc.pos)}: not valid JSON ({exc.msg}).") from exc
                pos = reader.more(pos)
            except RecursionError as exc:
                raise UserInputError(f"{path}: {where}: nested more than {MAX_DEPTH} levels deep. {_FLATTEN}") from exc
            except _Refused as exc:
                raise UserInputError(f"{path}: {where}: {exc}") from exc
        n += 1
        if not isinstance(obj, dict):
            raise UserInputError(f"{path}: {where}: expected a JSON object (one per interaction).")
        _check_record(path, where, obj, reader.buf[pos:end], decoder.non_finite != marked)
        yield where, obj
        pos = reader.skip(end)


class _Buffer:
    """The unread part of a file, refilled a chunk at a time; lines are counted as text is dropped."""

    def __init__(self, fh: Any):
        self.fh, self.buf, self.eof, self.base = fh, fh.read(_CHUNK), False, 1  # base: line of buf[0]

    def more(self, pos: int) -> int:
        """Drop what is before ``pos``, read another chunk; the new position of ``pos``."""
        chunk = self.fh.read(_CHUNK)
        self.eof = not chunk
        self.base += self.buf.count("\n", 0, pos)
        self.buf = self.buf[pos:] + chunk
        return 0

    def skip(self, pos: int) -> int:
        """The position of the next character that is not white space, reading more as needed."""
        while True:
            pos = _skip_space(self.buf, pos)
            if pos < len(self.buf) or self.eof:
                return pos
            pos = self.more(pos)

    def line_at(self, pos: int) -> int:
        return self.base + self.buf.count("\n", 0, pos)
