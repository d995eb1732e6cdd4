"""Which rows a sheet's basic filter hides: what ``rowMetadata.hiddenByFilter`` reports and what
setDataValidation skips unless ``filteredRowsIncluded`` (SetDataValidationRequest in the sheets.v4
discovery document: "If true, the data validation rule will be applied to the filtered rows as well";
the default is false).

The first row of the filter's range is its header and never hidden. A row is hidden when any column's
criteria hide it: ``hiddenValues`` (the cell's formatted value is listed) or a ``condition`` the row's cell
fails. Conditions evaluated: TEXT_EQ, TEXT_NOT_EQ, TEXT_CONTAINS, TEXT_NOT_CONTAINS, TEXT_STARTS_WITH,
TEXT_ENDS_WITH, BLANK, NOT_BLANK, NUMBER_EQ, NUMBER_NOT_EQ, NUMBER_GREATER, NUMBER_GREATER_THAN_EQ,
NUMBER_LESS, NUMBER_LESS_THAN_EQ, NUMBER_BETWEEN, NUMBER_NOT_BETWEEN, ONE_OF_LIST. Others (dates,
CUSTOM_FORMULA) need a formula engine the emulator does not have: such a condition hides nothing. Filter
views never hide rows from the API.
"""

from __future__ import annotations

from typing import Any

from sheetsync.emulator import cells
from sheetsync.emulator.model import Sheet


def _values(cond: dict) -> list[str]:
    return [str(v.get("userEnteredValue", "")) for v in cond.get("values") or []]


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _passes(cond: dict, value: Any, shown: str) -> bool:
    kind, args = cond.get("type"), _values(cond)
    low, first = shown.lower(), (args[0].lower() if args else "")
    text_tests = {
        "TEXT_EQ": lambda: low == first, "TEXT_NOT_EQ": lambda: low != first,
        "TEXT_CONTAINS": lambda: first in low, "TEXT_NOT_CONTAINS": lambda: first not in low,
        "TEXT_STARTS_WITH": lambda: low.startswith(first), "TEXT_ENDS_WITH": lambda: low.endswith(first),
        "BLANK": lambda: shown == "", "NOT_BLANK": lambda: shown != "",
        "ONE_OF_LIST": lambda: shown in args,
    }
    if kind in text_tests:
        return text_tests[kind]()
    if not str(kind).startswith("NUMBER_"):
        return True  # not evaluated: hides nothing (see the module docstring)
    num = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    bounds = [_number(a) for a in args]
    if num is None or any(b is None for b in bounds) or not bounds:
        return kind == "NUMBER_NOT_EQ"
    a = bounds[0]
    b = bounds[1] if len(bounds) > 1 else a
    return {
        "NUMBER_EQ": num == a, "NUMBER_NOT_EQ": num != a, "NUMBER_GREATER": num > a,
        "NUMBER_GREATER_THAN_EQ": num >= a, "NUMBER_LESS": num < a, "NUMBER_LESS_THAN_EQ": num <= a,
        "NUMBER_BETWEEN": min(a, b) <= num <= max(a, b), "NUMBER_NOT_BETWEEN": not min(a, b) <= num <= max(a, b),
    }.get(kind, True)


def _specs(flt: dict) -> list[tuple[int, dict]]:
    out = [(int(s.get("columnIndex", 0)), s.get("filterCriteria") or {}) for s in flt.get("filterSpecs") or []]
    out += [(int(k), v or {}) for k, v in (flt.get("criteria") or {}).items()]
    return out


def hidden_rows(sheet: Sheet) -> set[int]:
    """0-based rows the basic filter hides (empty without a filter or criteria)."""
    flt = sheet.basic_filter
    if not flt:
        return set()
    specs = [(c, crit) for c, crit in _specs(flt) if crit.get("hiddenValues") or crit.get("condition")]
    if not specs:
        return set()
    gr = flt.get("range") or {}
    start = int(gr.get("startRowIndex", 0)) + 1  # the header row stays
    end = min(int(gr.get("endRowIndex", sheet.row_count)), sheet.row_count)
    hidden = set()
    for r in range(start, end):
        for col, crit in specs:
            cell = sheet.cell(r, col)
            value = None if cell is None else cell.value
            shown = "" if value is None else cells.formatted(value, cell.fmt if cell else None)
            if shown in (crit.get("hiddenValues") or []) or (
                    crit.get("condition") and not _passes(crit["condition"], value, shown)):
                hidden.add(r)
                break
    return hidden
