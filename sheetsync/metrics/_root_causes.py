"""What fails most: root-cause tallies over the failed rows."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ._agreement import by_columns, cell_key, require_columns
from ._labels import normalize_judge

NONE_GIVEN = "(none given)"
_SEPARATORS = re.compile(r"[,;|]")
_SPACES = re.compile(r"\s+")


def _clean(piece: str) -> str:
    return _SPACES.sub(" ", piece).strip()


def split_root_causes(cell: Any) -> list[str]:
    """The root causes in one cell: split on "," ";" "|", stripped, inner runs of spaces made one space.

    Case is compared, not changed: repeats within the cell that differ only in case are kept once, in
    their first spelling ("Tone; tone" -> ["Tone"]). root_cause_tally then merges spellings across rows
    (see there). Empty pieces are dropped. A missing cell (None, NaN, "") gives []; other non-string
    cells are read as their str().
    """
    if cell is None or (not isinstance(cell, str) and bool(pd.isna(cell))):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for piece in _SEPARATORS.split(str(cell)):
        label = _clean(piece)
        if label and label.casefold() not in seen:
            seen.add(label.casefold())
            out.append(label)
    return out


def root_cause_tally(
    frame: pd.DataFrame,
    *,
    verdict: str = "expert_verdict",
    root_cause: str = "root_cause",
    by: str | list[str] | None = None,
) -> pd.DataFrame:
    """How often each root cause was given, over the failed rows only.

    A row is failed when `verdict` reads as fail (normalize_label; missing verdicts and judge "error"
    markers are not counted). Multi-label cells are split with split_root_causes and count once per cause,
    so a row can count under several causes and the percentages can add up to more than 100. Failed rows
    with no root cause are counted as "(none given)", listed last.

    Causes that differ only in case are one cause ("tone" = "Tone"), shown in the spelling used most
    often among the failed rows (ties: the first seen), the same spelling in every cell of a `by` table.

    Without `by`: columns root_cause, count, percent (100 · count / failed rows), most frequent first (ties
    alphabetical). With `by` (a column or list of columns), a long dimension × root-cause table: the `by`
    columns, n_failed (failed rows in that cell), root_cause, count, percent (of the cell's failed rows),
    cells with most failures first; pivot it with `.pivot(index=by, columns="root_cause", values="count")`.
    The total number of failed rows is in `.attrs["n_failed"]`.
    """
    cols = [] if by is None else by_columns(by)
    require_columns(frame, [verdict, root_cause, *cols])
    failed_mask = [normalize_judge(v) is False for v in frame[verdict]]
    failed = frame.loc[failed_mask]
    display = _display_forms(failed[root_cause])
    if not cols:
        out = _tally(failed[root_cause], display)
    else:
        parts = []
        for key, group in failed.groupby(cols, dropna=False, sort=True):
            t = _tally(group[root_cause], display)
            for name, value in zip(cols, cell_key(key), strict=True):
                t[name] = value
            t["n_failed"] = len(group)
            parts.append(t)
        columns = [*cols, "n_failed", "root_cause", "count", "percent"]
        out = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
        out = out.sort_values("n_failed", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs["n_failed"] = len(failed)
    return out


def _display_forms(cells: pd.Series) -> dict[str, str]:
    """casefolded cause -> its most used spelling (ties: first seen)."""
    spellings: dict[str, dict[str, int]] = {}
    for cell in cells:
        for label in split_root_causes(cell):
            counts = spellings.setdefault(label.casefold(), {})
            counts[label] = counts.get(label, 0) + 1
    # max() keeps the first of equal counts, and dicts keep insertion (first-seen) order.
    return {key: max(counts, key=counts.__getitem__) for key, counts in spellings.items()}


def _tally(cells: pd.Series, display: dict[str, str]) -> pd.DataFrame:
    counts: dict[str, int] = {}
    none_given = 0
    for cell in cells:
        labels = split_root_causes(cell)
        if not labels:
            none_given += 1
        for label in labels:
            name = display[label.casefold()]
            counts[name] = counts.get(name, 0) + 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if none_given:
        rows.append((NONE_GIVEN, none_given))
    out = pd.DataFrame(rows, columns=["root_cause", "count"]).astype({"count": int})
    out["percent"] = 100 * out["count"] / len(cells) if len(cells) else pd.Series(dtype=float)
    return out
