"""Load interactions from CSV, TSV, JSONL, JSON or Parquet into a frame of text with stable ids.

Everything is kept as text exactly as written (``007`` stays ``007``), because ids and the AI's output
must survive the trip to the spreadsheet and back unchanged. Any problem stops before anything is
written, with the file, rows and columns named. Reading the files strictly is ``datafiles``' job.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sheetsync.config import Columns
from sheetsync.conversation import render_turns
from sheetsync.datafiles import FORMATS, read_records, read_records_with_lines, write_records
from sheetsync.errors import UserInputError

if TYPE_CHECKING:  # pandas is imported when a dataset is loaded, not by every module that imports this one
    import pandas as pd

__all__ = ["FORMATS", "Dataset", "as_text", "content_hash", "content_ids", "load_dataset", "read_records",
           "write_records"]

INPUT_NAMES = ("input", "query", "question", "prompt", "user_input", "messages")
OUTPUT_NAMES = ("output", "response", "answer", "completion")
GENERATED_ID = "id"  # the column content-hash ids go in when `[columns] id` is empty ("content_id" if taken)

#: The longest id accepted: what an Excel cell holds (Google Sheets holds 50,000). A longer id would be
#: cut in the sheet, so the row would never be recognised again and each push would add it anew.
MAX_ID_CHARS = 32_767
# Characters a spreadsheet or file changes on the way (line endings converted, control characters
# dropped or refused, lone surrogates unencodable): an id holding one is not read back as written.
_BAD_ID_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CHAR_NAMES = {"\r": "a carriage return (\\r)", "\n": "a line break (\\n)", "\t": "a tab (\\t)", " ": "a space"}


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
    import pandas as pd

    columns = columns or Columns()
    path = Path(path)
    records, lines = read_records_with_lines(path)
    if not records:
        raise UserInputError(f"{path}: the file has no rows. Add interactions (one per row) and try again.")
    # Column by column, as plain Python strings (dtype=object): the frame points at the very strings the
    # reader made, where pandas' default (Arrow) strings would copy every text once more.
    keys = list(dict.fromkeys(k for r in records for k in r))
    frame = pd.DataFrame({k: [as_text(r.get(k)) for r in records] for k in keys}, dtype=object)
    del records
    names = [str(c).strip() for c in frame.columns]
    clashing = sorted({repr(str(c)) for c, n in zip(frame.columns, names, strict=True) if names.count(n) > 1 or not n})
    if clashing:
        raise UserInputError(
            f"{path}: column(s) {', '.join(clashing)} have no name or the same name once spaces are trimmed. "
            "Give every column its own name."
        )
    frame.columns = names
    return _resolve_roles(frame, path, columns, lines)


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
    """OpenAI-style messages as ``role: text``, one turn per paragraph; tool calls as ``→ name(args)``
    lines and tool results as ``← name: result`` (see :mod:`sheetsync.conversation`)."""
    return render_turns(messages)


def _resolve_roles(frame: pd.DataFrame, path: Path, columns: Columns, lines: list[int] | None) -> Dataset:
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

    id_col = columns.id or (GENERATED_ID if GENERATED_ID not in available else "content_id")
    generated = id_col not in available
    if generated:
        frame.insert(0, id_col, content_ids(frame, [input_col, *columns.context, *columns.dimensions]))
    elif not columns.id:
        raise UserInputError(
            f"{path}: `[columns] id` is empty (content-hash ids) but the data already has columns id and "
            "content_id for them; rename one, or set `[columns] id` to the column holding the ids."
        )
    ids = frame[id_col]
    blank = [i + 2 for i, value in enumerate(ids.tolist()) if not value.strip()]
    if blank:
        raise UserInputError(f"{path}: column `{id_col}` is empty on row(s) {_rows(blank)}. Every row needs an id.")
    _check_ids(path, id_col, ids, lines)
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


def _check_ids(path: Path, id_col: str, ids: pd.Series, lines: list[int] | None) -> None:
    """Refuse ids a spreadsheet would not give back exactly as written (see ``MAX_ID_CHARS``)."""
    suspect = (ids.str.len() > MAX_ID_CHARS) | ids.str.contains(_BAD_ID_CHARS) | (ids != ids.str.strip())
    if not suspect.any():
        return
    found = []
    for i in suspect[suspect].index[:5]:
        rid = ids[i]
        if len(rid) > MAX_ID_CHARS:
            problem = f"is {len(rid):,} characters long (a cell holds {MAX_ID_CHARS:,})"
        elif bad := _BAD_ID_CHARS.search(rid):
            problem = f"contains {_char_name(bad.group())}"
        else:
            edge = "starts" if rid[0].isspace() else "ends"
            problem = f"{edge} with {_char_name(rid[0] if edge == 'starts' else rid[-1])}"
        shown = repr(rid if len(rid) <= 40 else rid[:40] + "…")
        found.append(f"{f'line {lines[i]}' if lines else f'row {i + 2}'}: {shown} {problem}")
    more = f" (and {int(suspect.sum()) - len(found)} more)" if suspect.sum() > len(found) else ""
    raise UserInputError(
        f"{path}: id(s) in column `{id_col}` that would not come back from the spreadsheet as written, so "
        f"those rows would be added again on every push: {'; '.join(found)}{more}. Fix the ids in the data, "
        'or set `[columns] id` in sheetsync.toml to another column, or to "" for content-hash ids.'
    )


def _char_name(char: str) -> str:
    if char in _CHAR_NAMES:
        return _CHAR_NAMES[char]
    if "\ud800" <= char <= "\udfff":
        return "half of a surrogate pair (not text)"
    kind = "whitespace" if char.isspace() else "the control character"
    return f"{kind} U+{ord(char):04X}"


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
