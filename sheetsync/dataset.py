"""Load interactions from CSV, TSV, JSONL, JSON or Parquet into a frame of text with stable ids.

Everything is kept as text exactly as written (``007`` stays ``007``), because ids and the AI's output
must survive the trip to the spreadsheet and back unchanged. Any problem stops before anything is
written, with the file, rows and columns named.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sheetsync.config import Columns
from sheetsync.errors import UserInputError

INPUT_NAMES = ("input", "query", "question", "prompt", "user_input", "messages")
OUTPUT_NAMES = ("output", "response", "answer", "completion")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}


@dataclass
class Dataset:
    """Interactions with their column roles. ``frame`` holds only text (empty string for missing)."""

    frame: pd.DataFrame
    path: Path
    id: str
    input: str
    output: str
    context: list[str]
    dimensions: list[str]
    generated_ids: bool = False

    @property
    def shown_columns(self) -> list[str]:
        """The columns the expert sees, in the order they appear on the Annotate tab."""
        return [self.id, *self.dimensions, *self.context, self.input, self.output]

    def __len__(self) -> int:
        return len(self.frame)


def load_dataset(path: str | Path, columns: Columns | None = None) -> Dataset:
    """Read a dataset file and resolve its column roles; raise ``UserInputError`` on anything wrong."""
    columns = columns or Columns()
    path = Path(path)
    records = read_records(path)
    if not records:
        raise UserInputError(f"{path}: the file has no rows. Add interactions (one per row) and try again.")
    frame = pd.DataFrame.from_records([{k: as_text(v) for k, v in r.items()} for r in records]).fillna("")
    frame.columns = [str(c).strip() for c in frame.columns]
    return _resolve_roles(frame, path, columns)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The file's rows as dicts, by its extension; ``UserInputError`` naming the line for anything wrong."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserInputError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv, .tsv, .jsonl, .json or .parquet."
        )
    if not path.is_file():
        raise UserInputError(f"{path}: file not found.")
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise UserInputError(
                f"{path}: reading Parquet needs pyarrow: pip install 'sheetsync[parquet]'."
            ) from exc
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise UserInputError(f"{path}: not a readable Parquet file ({exc}).") from exc
        return frame.to_dict(orient="records")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserInputError(
            f"{path}: line {line}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8. "
            "Re-save the file as UTF-8 (in Excel: Save As → CSV UTF-8)."
        ) from exc
    if not text.strip():
        raise UserInputError(f"{path}: the file is empty.")
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, text, "," if fmt == "csv" else "\t")
    if fmt == "jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{path}: line {n}: not valid JSON ({exc.msg}).") from exc
            if not isinstance(obj, dict):
                raise UserInputError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}.")
            records.append(obj)
        return records
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise UserInputError(f"{path}: expected a JSON array of objects (one per interaction).")
    return obj


def _read_delimited(path: Path, text: str, sep: str) -> list[dict[str, Any]]:
    import io

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except StopIteration:
        return []
    header = [h.strip() for h in header]
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise UserInputError(f"{path}: header column(s) {blank} have no name. Name every column.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UserInputError(f"{path}: the header repeats column(s) {', '.join(dupes)}. Column names must be unique.")
    records = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise UserInputError(
                    f"{path}: line {reader.line_num}: {len(row)} fields but the header has {len(header)}. "
                    "Quote values that contain the delimiter."
                )
            records.append(dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)))
    except csv.Error as exc:
        raise UserInputError(f"{path}: line {reader.line_num}: {exc}.") from exc
    if not records:
        raise UserInputError(f"{path}: the file has a header but no rows.")
    return records


def as_text(value: Any) -> str:
    """A cell's value as text: conversations rendered readably, numbers as written."""
    if type(value) is str and not value.startswith("[{"):
        return value  # the common case, kept fast
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple) or type(value).__name__ == "ndarray":
        items = list(value)
        if items and all(isinstance(m, dict) and "role" in m for m in items):
            return render_messages(items)
        return json.dumps(items, ensure_ascii=False, default=str)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str) and value.startswith("[{") and '"role"' in value:
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(items, list) and all(isinstance(m, dict) and "role" in m for m in items):
            return render_messages(items)
    return str(value)


def render_messages(messages: list[dict[str, Any]]) -> str:
    """OpenAI-style messages as ``role: text``, one turn per paragraph."""
    turns = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        turns.append(f"{m.get('role', '?')}: {'' if content is None else content}".rstrip())
    return "\n\n".join(turns)


def _resolve_roles(frame: pd.DataFrame, path: Path, columns: Columns) -> Dataset:
    available = list(frame.columns)

    def pick(configured: str, names: tuple[str, ...], role: str) -> str:
        if configured:
            if configured not in available:
                raise UserInputError(
                    f"{path}: no `{configured}` column for the {role} (columns: {', '.join(available)}). "
                    f"Set [columns] {role} in sheetsync.toml or pass --{role}-column."
                )
            return configured
        for name in names:
            for col in available:
                if col.lower() == name:
                    return col
        raise UserInputError(
            f"{path}: cannot tell which column is the {role}; expected one of {', '.join(names)} "
            f"(columns: {', '.join(available)}). Set [columns] {role} in sheetsync.toml or pass --{role}-column."
        )

    input_col = pick(columns.input, INPUT_NAMES, "input")
    output_col = pick(columns.output, OUTPUT_NAMES, "output")
    for role, names in (("context", columns.context), ("dimensions", columns.dimensions)):
        missing = [c for c in names if c not in available]
        if missing:
            raise UserInputError(
                f"{path}: {role} column(s) {', '.join(missing)} not found (columns: {', '.join(available)})."
            )

    generated = columns.id not in available
    id_col = columns.id
    if generated:
        frame.insert(0, id_col, content_ids(frame, [input_col, *columns.context, *columns.dimensions]))
    ids = frame[id_col].str.strip()
    frame[id_col] = ids
    blank = [i + 2 for i, value in enumerate(ids.tolist()) if not value]
    if blank:
        raise UserInputError(f"{path}: column `{id_col}` is empty on row(s) {_rows(blank)}. Every row needs an id.")
    dup_mask = ids.duplicated(keep=False)
    if dup_mask.any():
        dupes = ids[dup_mask]
        detail = "; ".join(
            f"{value} on rows {_rows([i + 2 for i in dupes.index[dupes == value]])}" for value in dupes.unique()[:10]
        )
        raise UserInputError(f"{path}: duplicate ids in column `{id_col}`: {detail}. Ids must be unique.")
    return Dataset(
        frame=frame.reset_index(drop=True),
        path=path,
        id=id_col,
        input=input_col,
        output=output_col,
        context=list(columns.context),
        dimensions=list(columns.dimensions),
        generated_ids=generated,
    )


def content_ids(frame: pd.DataFrame, cols: list[str]) -> list[str]:
    """Stable ids from what identifies an interaction (input, context, dimensions — not the output, so a
    changed output is recognised as the same row, now stale). Repeats get ``-2``, ``-3``… in file order."""
    seen: dict[str, int] = {}
    out = []
    for values in frame[cols].itertuples(index=False):
        digest = hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        out.append(digest if seen[digest] == 1 else f"{digest}-{seen[digest]}")
    return out


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:10]))
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def content_hash(*parts: str) -> str:
    """A short fingerprint of what the expert judged, to notice when it changes."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


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
