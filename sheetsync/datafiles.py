"""Dataset files read strictly, record files written atomically.

A file that is not exactly what its format says is refused, with the line (or record) and what to do,
never guessed at: a quote left open would swallow the rows after it into one cell, a short row would
shift values into the wrong columns, a ``NaN`` would arrive as an empty output, and two keys that differ
only by a space would silently become one column.

No pandas here (only Parquet needs it, imported when read): ``pull`` writes its export with
:func:`write_records` and must not pay for pandas.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sheetsync.errors import UserInputError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}

#: Deepest nesting accepted in a JSON record (the record itself is level 1). An interaction's deepest
#: realistic shape — chat messages with content parts and tool calls — is under 10 levels; 64 leaves
#: room for any metadata while staying far below the ~1,000 levels at which Python's JSON decoder (and
#: the renderer that turns nested values into cell text) give up with a RecursionError.
MAX_DEPTH = 64
_CSV_FIELD_LIMIT = csv.field_size_limit()  # 131,072 characters: a longer value is nearly always an open quote


class _Refused(ValueError):
    """A record-level problem found while decoding; the caller adds the file and the line."""


def read_records(path: Path) -> list[dict[str, Any]]:
    """The file's rows as dicts, by its extension; ``UserInputError`` naming the line for anything wrong."""
    return read_records_with_lines(path)[0]


def read_records_with_lines(path: Path) -> tuple[list[dict[str, Any]], list[int] | None]:
    """The file's rows as dicts, and the line each starts on (``None`` for Parquet, which has no lines)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserInputError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv, .tsv, .jsonl, .json or .parquet."
        )
    if not path.is_file():
        raise UserInputError(f"{path}: file not found.")
    if fmt == "parquet":
        return _read_parquet(path), None
    if fmt in ("csv", "tsv", "jsonl"):  # streamed: a large file is never held twice (bytes, then text)
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                if fmt == "jsonl":
                    return _read_jsonl(path, fh)
                return _read_delimited(path, fh, "," if fmt == "csv" else "\t")
        except UnicodeDecodeError:
            _raise_not_utf8(path, path.read_bytes())
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        _raise_not_utf8(path, raw)
    del raw
    if not text.strip():
        raise UserInputError(f"{path}: the file is empty.")
    return _read_json_array(path, text)


def _raise_not_utf8(path: Path, raw: bytes) -> None:
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserInputError(
            f"{path}: line {line}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8. "
            "Re-save the file as UTF-8 (in Excel: Save As → CSV UTF-8)."
        ) from exc
    raise UserInputError(f"{path}: not readable as UTF-8 text. Re-save the file as UTF-8.")


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise UserInputError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow (in sheetsync's source folder: pip install -e '.[parquet]').") from exc
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise UserInputError(f"{path}: not a readable Parquet file ({exc}).") from exc
    return frame.to_dict(orient="records")


# -- CSV / TSV ---------------------------------------------------------------------------------------------


def _read_delimited(path: Path, lines: Iterable[str], sep: str) -> tuple[list[dict[str, Any]], list[int]]:
    """RFC 4180, strictly: every row has exactly the header's number of fields, and a quote opened is
    closed before the value ends (``strict=True`` makes the csv module refuse what it would otherwise
    paper over)."""
    reader = csv.reader(lines, delimiter=sep, strict=True)
    rows = _rows(path, reader)
    try:
        while True:  # blank lines before the header do not count
            header = next(rows)[1]
            if any(h.strip() for h in header):
                break
    except StopIteration:
        raise UserInputError(f"{path}: the file is empty.") from None
    header = [h.strip() for h in header]
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise UserInputError(f"{path}: header column(s) {blank} have no name. Name every column.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UserInputError(f"{path}: the header repeats column(s) {', '.join(dupes)}. Column names must be unique.")
    records, lines = [], []
    for start, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            ends = f" (the row runs to line {reader.line_num})" if reader.line_num != start else ""
            fix = (
                "Quote values that contain the delimiter."
                if len(row) > len(header)
                else "Every row needs one value per column (an empty value is fine: `1,,text`); quote values "
                "that contain a line break."
            )
            raise UserInputError(
                f"{path}: line {start}: {len(row)} fields but the header has {len(header)} "
                f"({', '.join(header)}){ends}. {fix}"
            )
        records.append(dict(zip(header, row, strict=True)))
        lines.append(start)
    if not records:
        raise UserInputError(f"{path}: the file has a header but no rows.")
    return records, lines


def _rows(path: Path, reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) per row, turning the csv module's errors into what went wrong and where."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UserInputError(f"{path}: {_csv_problem(str(exc), start, reader.line_num)}") from exc
        yield start, row


def _csv_problem(error: str, start: int, now: int) -> str:
    where = f"line {start}" + (f" (noticed on line {now})" if now != start else "")
    if "unexpected end of data" in error:
        return (
            f"line {start}: a quoted value opened on this row is never closed, so every line after it would "
            "be read into one cell. Close the quote; inside a quoted value write a quote as two (\"\")."
        )
    if "expected after" in error:
        return (
            f"{where}: text follows a closing quote. Quote the whole value and write each quote inside it as "
            'two (\"\"), e.g. "she said ""yes"" twice". A quote opened on an earlier row and never closed '
            "causes this too."
        )
    if "field larger than field limit" in error:
        return (
            f"{where}: a value longer than {_CSV_FIELD_LIMIT:,} characters; this is nearly always a quote "
            "that is opened and never closed. Close the quote (inside a quoted value write a quote as two)."
        )
    if "NUL" in error:
        return f"{where}: the file contains a NUL byte: it is not a text CSV. Re-save it as CSV UTF-8."
    return f"{where}: {error}."


# -- JSON / JSONL ------------------------------------------------------------------------------------------


def _read_jsonl(path: Path, fh: Iterable[str]) -> tuple[list[dict[str, Any]], list[int]]:
    records, lines = [], []
    decoder = _Decoder()
    # a file opened with newline="" yields lines cut at "\n" (and "\r") only, never at U+2028 and
    # friends, which JSON strings may hold; "\r\n" endings are cut at "\r\n"
    for n, line in enumerate(_lf_lines(fh), start=1):
        if not line.strip():
            continue
        records.append(_decoded(path, f"line {n}", decoder, line, n))
        lines.append(n)
    return records, lines


def _decoded(path: Path, where: str, decoder: _Decoder, text: str, line: int) -> dict[str, Any]:
    """One JSON object decoded from ``text`` (which starts at ``line`` of the file) and checked as every record
    is; ``where`` names it in messages."""
    marked = decoder.non_finite
    try:
        obj = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: line {line + exc.lineno - 1}: not valid JSON ({exc.msg}).") from exc
    except _Refused as exc:
        raise UserInputError(f"{path}: {where}: {exc}") from exc
    if not isinstance(obj, dict):
        raise UserInputError(f"{path}: {where}: expected a JSON object, got {type(obj).__name__}.")
    _check_record(path, where, obj, text, decoder.non_finite != marked)
    return obj


def _lf_lines(fh: Iterable[str]) -> Iterator[str]:
    """Lines ending at "\n" only (a lone "\r" stays inside its line, as ``text.split("\n")`` kept it)."""
    pending = ""
    for chunk in fh:
        if chunk.endswith("\r") and not chunk.endswith("\r\n"):
            pending += chunk
            continue
        line = pending + chunk
        pending = ""
        yield line[:-1] if line.endswith("\n") else line
    if pending:
        yield pending


def _read_json_array(path: Path, text: str) -> tuple[list[dict[str, Any]], list[int]]:
    """A JSON array of objects, decoded one element at a time so that a problem names its record."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    expect = "expected a JSON array of objects (one per interaction)."
    decoder = _Decoder()
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        _raise_if_invalid(path, text)
        raise UserInputError(f"{path}: {expect}")
    pos = _skip_space(text, pos + 1)
    line, counted = 1, 0
    while not text.startswith("]", pos):
        line += text.count("\n", counted, pos)
        counted = pos
        where = f"record {len(records) + 1} (line {line})"
        marked = decoder.non_finite
        try:
            obj, end = decoder.decode(text, pos)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
        except _Refused as exc:
            raise UserInputError(f"{path}: {where}: {exc}") from exc
        if not isinstance(obj, dict):
            raise UserInputError(f"{path}: {where}: {expect}")
        _check_record(path, where, obj, text[pos:end], decoder.non_finite != marked)
        records.append(obj)
        lines.append(line)
        pos = _skip_space(text, end)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)
        elif not text.startswith("]", pos):
            _raise_if_invalid(path, text)
            raise UserInputError(f"{path}: {expect}")
    if text[_skip_space(text, pos + 1):]:
        _raise_if_invalid(path, text)
    return records, lines


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _raise_if_invalid(path: Path, text: str) -> None:
    """The decoder's own message (with its line) for text that is not JSON at all."""
    try:
        _Decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    except _Refused as exc:
        raise UserInputError(f"{path}: {exc}") from exc


class _NonFinite(float):
    """What ``NaN``, ``Infinity`` or an overflowing number decode to, so the key holding it can be named."""

    spelling = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"the key {key!r} appears twice in one object (JSON would keep only the last). "
                               "Keep one.")
            seen.add(key)
    return obj


class _Decoder:
    """``json`` with hooks: a repeated key is refused; NaN, Infinity and numbers too large for a float are
    marked (and counted, so records without one are not searched)."""

    def __init__(self) -> None:
        self.non_finite = 0
        self.json = json.JSONDecoder(
            object_pairs_hook=_pairs, parse_constant=self._mark, parse_float=self._float
        )

    def _mark(self, spelling: str) -> _NonFinite:
        self.non_finite += 1
        value = _NonFinite("nan")
        value.spelling = spelling
        return value

    def _float(self, spelling: str) -> float:
        value = float(spelling)
        return value if math.isfinite(value) else self._mark(spelling)

    def decode(self, text: str, pos: int | None = None) -> Any:
        """The value of ``text``; with ``pos``, (the value starting there, where it ends)."""
        try:
            if pos is None:
                return self.json.decode(text)
            return self.json.raw_decode(text, pos)
        except RecursionError as exc:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep. {_FLATTEN}") from exc
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError | _Refused):
                raise
            raise _Refused(f"not usable JSON ({exc}).") from exc  # e.g. an integer of more than 4,300 digits


_FLATTEN = "Flatten the value, or store it as a JSON string (quoted) if it is only there to be shown."
_SURROGATE = re.compile(r"\\u[dD][89abAB]")  # a JSON escape of a UTF-16 surrogate (high or low half)


def _check_record(path: Path, where: str, obj: dict[str, Any], source: str, marked: bool) -> None:
    """What the decoder accepts but the rest of sheetsync must not: keys that collide once trimmed,
    non-numbers, absurd nesting, halves of surrogate pairs (not text: no spreadsheet or file can hold them)."""
    trimmed: dict[str, str] = {}
    for key in obj:
        name = key.strip()
        if not name:
            raise UserInputError(f"{path}: {where}: a key with no name ({key!r}). Name every key.")
        if name in trimmed:
            raise UserInputError(
                f"{path}: {where}: the keys {trimmed[name]!r} and {key!r} are the same column once spaces are "
                "trimmed. Rename or remove one."
            )
        trimmed[name] = key
    if source.count("[") + source.count("{") > MAX_DEPTH and _depth(obj) > MAX_DEPTH:
        raise UserInputError(f"{path}: {where}: nested more than {MAX_DEPTH} levels deep. {_FLATTEN}")
    bad = _find(obj, lambda v: isinstance(v, _NonFinite)) if marked else None
    if bad is not None:
        key, value = bad
        what = (
            "which is not a JSON number (pandas and Python write it for a missing or infinite value)"
            if value.spelling in ("NaN", "Infinity", "-Infinity")
            else "a number too large to hold"
        )
        raise UserInputError(
            f"{path}: {where}: `{key}` is {value.spelling}, {what}. Write null for a missing value, or quote it "
            "to keep it as text."
        )
    if _SURROGATE.search(source):
        bad = _find(obj, lambda v: isinstance(v, str) and not _encodable(v))
        if bad is not None:
            raise UserInputError(
                f"{path}: {where}: `{bad[0]}` holds half of a surrogate pair (a \\ud800–\\udfff escape without "
                "its other half), which is not text. Fix the escape, or write the character itself."
            )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth(value: Any) -> int:
    """Nesting depth of a decoded value, without recursion (so no depth can crash it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _find(record: dict[str, Any], test: Any) -> tuple[str, Any] | None:
    """The first value (at any depth) passing ``test``, with its path (``meta.scores[2]``)."""
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in reversed(record.items())]
    while stack:
        where, value = stack.pop()
        if test(value):
            return where, value
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return None


# -- writing -----------------------------------------------------------------------------------------------


def write_records(path: Path, header: list[str], rows: list[dict[str, Any]]) -> Path:
    """Write rows as CSV, JSONL or JSON (by extension) beside ``path``, then replace it: a crash never
    leaves half a file. Values are written exactly (no formula escaping): these files are for programs."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".json"):
        raise UserInputError(f"{path}: write to a file ending in .csv, .jsonl or .json.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if suffix == ".json":
                json.dump([{h: row.get(h, "") for h in header} for row in rows], fh, ensure_ascii=False, indent=2)
            elif suffix in (".jsonl", ".ndjson"):
                for row in rows:
                    fh.write(json.dumps({h: row.get(h, "") for h in header}, ensure_ascii=False) + "\n")
            else:
                writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
