"""What a write needs to know about the spreadsheet's existing tabs, from one ``spreadsheets.get``. Pure.

The marks sheetsync leaves on its tabs are developer metadata, read back here: :data:`OWNER_KEY` tells a tab
sheetsync made (only those are ever rebuilt, so a tab the expert made is never replaced because a setting
names it), :data:`CHARTS_KEY` which charts are sheetsync's (on a tab that also holds the expert's work only
those are replaced), :data:`STAGING_KEY` a hidden tab being built to stand in for another (google_writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Developer metadata on a tab sheetsync created (value: ``"1"``). Metadata, unlike a title, travels with
#: the spreadsheet and survives a rename, and the expert cannot set it from the Sheets UI.
OWNER_KEY = "sheetsync.tab"
#: Developer metadata on a tab listing the ids of the charts sheetsync put there (JSON): on a tab that also
#: holds the expert's work only those are replaced, the expert's own charts stay.
CHARTS_KEY = "sheetsync.charts"
#: Developer metadata on a hidden tab being built to replace the tab named in its value (see google_writes).
STAGING_KEY = "sheetsync.staging"

#: The ``fields`` mask of the ``spreadsheets.get`` that :func:`parse_metadata` needs.
METADATA_FIELDS = (
    "properties(locale),"
    "sheets(properties(sheetId,title,index,hidden,gridProperties),"
    "protectedRanges(protectedRangeId,description),"
    "conditionalFormats(ranges,booleanRule(condition(values))),charts(chartId),basicFilter,"
    "developerMetadata(metadataKey,metadataValue))"
)


@dataclass(frozen=True)
class SheetMeta:
    """What a write needs to know about an existing tab (from one ``spreadsheets.get``)."""

    sheet_id: int
    title: str
    index: int
    row_count: int
    col_count: int
    frozen_rows: int = 0
    frozen_cols: int = 0
    #: (protectedRangeId, description) of every protected range on the tab.
    protections: tuple[tuple[int, str], ...] = ()
    #: The first formula of each conditional-format rule on the tab, in order ("" for non-formula rules).
    conditional_formulas: tuple[str, ...] = ()
    #: Each rule's ranges, in the same order (see :func:`ranges_key`).
    conditional_ranges: tuple[tuple[tuple[int, int, int | None, int, int | None], ...], ...] = ()
    chart_ids: tuple[int, ...] = ()
    #: The charts sheetsync made on the tab (:data:`CHARTS_KEY`), of those still there.
    our_charts: tuple[int, ...] = ()
    #: The tab's basic filter as Google returned it (range + the expert's criteria), if any.
    basic_filter: Mapping[str, Any] | None = None
    hidden: bool = False
    #: sheetsync created this tab (it carries the :data:`OWNER_KEY` mark).
    owned: bool = False
    #: A hidden tab sheetsync was building to replace the tab of this title (:data:`STAGING_KEY`).
    staging_for: str | None = None
    #: Keys of sheetsync's developer metadata on the tab.
    marks: frozenset[str] = frozenset()


def _rule_formula(rule: Mapping[str, Any]) -> str:
    values = (((rule.get("booleanRule") or {}).get("condition") or {}).get("values")) or [{}]
    return str(values[0].get("userEnteredValue", ""))


def parse_metadata(spreadsheet: Mapping[str, Any]) -> dict[str, SheetMeta]:
    """Title -> :class:`SheetMeta` from a ``spreadsheets.get`` response (with :data:`METADATA_FIELDS`)."""
    out: dict[str, SheetMeta] = {}
    for sheet in spreadsheet.get("sheets", []) or []:
        props = sheet.get("properties", {})
        grid = props.get("gridProperties", {}) or {}
        title = props.get("title", "")
        marks = {m.get("metadataKey"): m.get("metadataValue", "") for m in sheet.get("developerMetadata", []) or []}
        out[title] = SheetMeta(
            sheet_id=int(props.get("sheetId", 0)),
            title=title,
            index=int(props.get("index", 0)),
            row_count=int(grid.get("rowCount", 0)),
            col_count=int(grid.get("columnCount", 0)),
            frozen_rows=int(grid.get("frozenRowCount", 0)),
            frozen_cols=int(grid.get("frozenColumnCount", 0)),
            protections=tuple(
                (int(p["protectedRangeId"]), p.get("description", "") or "")
                for p in sheet.get("protectedRanges", []) or []
                if "protectedRangeId" in p
            ),
            conditional_formulas=tuple(_rule_formula(r) for r in sheet.get("conditionalFormats", []) or []),
            conditional_ranges=tuple(ranges_key(r.get("ranges") or []) for r in sheet.get("conditionalFormats", []) or []),
            chart_ids=(charts := tuple(int(c["chartId"]) for c in sheet.get("charts", []) or [] if "chartId" in c)),
            our_charts=tuple(c for c in _ids(marks.get(CHARTS_KEY)) if c in charts),
            basic_filter=sheet.get("basicFilter") or None,
            hidden=bool(props.get("hidden", False)),
            owned=OWNER_KEY in marks,
            staging_for=marks.get(STAGING_KEY),
            marks=frozenset(k for k in marks if isinstance(k, str) and k.startswith("sheetsync.")),
        )
    return out


def ranges_key(ranges: Iterable[Mapping[str, Any]]) -> tuple[tuple[int, int, int | None, int, int | None], ...]:
    """GridRanges compared as Google gives them back (it leaves zero indices out)."""
    return tuple(
        (int(g.get("sheetId", 0)), int(g.get("startRowIndex", 0)), g.get("endRowIndex"),
         int(g.get("startColumnIndex", 0)), g.get("endColumnIndex"))
        for g in ranges
    )


def _ids(text: str | None) -> list[int]:
    try:
        return [int(i) for i in json.loads(text or "[]")]
    except (ValueError, TypeError):
        return []


def spreadsheet_locale(spreadsheet: Mapping[str, Any]) -> str:
    """The spreadsheet's locale (``properties.locale``), ``en_US`` when Google leaves it out."""
    return str((spreadsheet.get("properties") or {}).get("locale") or "en_US")

