"""Translate ``TabSpec``s into Sheets ``spreadsheets.batchUpdate`` requests. Pure: no I/O.

Kept apart from ``google.py`` so the exact wire payload can be unit-tested without a server.
:func:`build_requests` gives every tab's creation, clearing, formatting, values, validation, protection,
conditional formats and charts as one list (one atomic batch); :func:`tab_requests` gives the same parts
separately, for :mod:`sheetsync.backends.google_writes`, which splits a write that is too large for one
request.

Rules that protect the expert's work:

* Strings are always ``stringValue`` (never ``formulaValue``): ``=IMPORTXML(…)``, ``007``, ``TRUE`` stay text.
* ``replace=False`` writes only the spec's blocks; every other cell keeps its value. Only the protections
  sheetsync created (recognised by :data:`PROTECTION_PREFIX`), the conditional-format rules it created
  (recognised by :data:`sheetsync.layout.OWNER_TAG` in their formula) and the tab's charts are removed
  before the spec's are added again, so repeated writes never duplicate them and the expert's own
  highlighting stays. The grid never shrinks.
* A new tab gets a client-chosen ``sheetId`` in its ``addSheet``, so every later request in the same batch
  can refer to it, and a developer-metadata mark (:data:`OWNER_KEY`): sheetsync rebuilds (``replace``)
  only tabs that carry it, so a tab the expert made is never replaced because a setting names it.
* Charts are removed only from tabs sheetsync rebuilds; on the Annotate tab (``replace=False``) every chart
  is the expert's and stays.
* Custom formulas are written in the spreadsheet's locale (:func:`localize_formula`): Google parses them
  "as if the user typed them", so in comma-decimal locales the argument separator is ``;``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sheetsync.backends.identity_requests import column_marks
from sheetsync.errors import UserInputError
from sheetsync.formulas import localize_formula
from sheetsync.layout import (
    CellValue,
    Chart,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    is_sheetsync_rule,
)

#: Descriptions of the protected ranges sheetsync creates start with this, so a later write can tell
#: them from protections the spreadsheet's owner added by hand (those are never touched by ``replace=False``).
PROTECTION_PREFIX = "[sheetsync] "
#: Google Sheets refuses longer cell text.
MAX_CELL_CHARS = 50_000
#: Every tab sheetsync sizes has at least this many rows (Google's own new tabs have 1,000): a read of a
#: tab's first rows (where the header is looked for) never reaches past the grid, which Google refuses.
MIN_ROWS = 100
#: Google's defaults, restored when a tab is rebuilt (``replace=True``).
DEFAULT_COLUMN_WIDTH = 100
DEFAULT_ROW_HEIGHT = 21

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

Request = dict[str, Any]


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
    #: Each rule's ranges, in the same order (see :func:`_ranges_key`).
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
            conditional_ranges=tuple(_ranges_key(r.get("ranges") or []) for r in sheet.get("conditionalFormats", []) or []),
            chart_ids=(charts := tuple(int(c["chartId"]) for c in sheet.get("charts", []) or [] if "chartId" in c)),
            our_charts=tuple(c for c in _ids(marks.get(CHARTS_KEY)) if c in charts),
            basic_filter=sheet.get("basicFilter") or None,
            hidden=bool(props.get("hidden", False)),
            owned=OWNER_KEY in marks,
            staging_for=marks.get(STAGING_KEY),
            marks=frozenset(k for k in marks if isinstance(k, str) and k.startswith("sheetsync.")),
        )
    return out


def _ranges_key(ranges: Iterable[Mapping[str, Any]]) -> tuple[tuple[int, int, int | None, int, int | None], ...]:
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


# --------------------------------------------------------------------------------------------- helpers


def rgb(hex_colour: str) -> dict[str, float]:
    """``"#D9EAD3"`` -> ``{"red": 0.85, "green": 0.92, "blue": 0.83}`` (the API's 0..1 floats)."""
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if len(h) != 6:
        raise ValueError(f"not a #RRGGBB colour: {hex_colour!r}")
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return {"red": round(r, 4), "green": round(g, 4), "blue": round(b, 4)}


def grid_range(sheet_id: int, rng: Range) -> dict[str, int]:
    """A ``GridRange``; an open end (``None``) is omitted, which the API reads as "to the end of the grid"
    (so a dropdown on ``Range(1, 5, None, 6)`` also covers rows the expert adds later)."""
    out = {"sheetId": sheet_id, "startRowIndex": rng.row0, "startColumnIndex": rng.col0}
    if rng.row1 is not None:
        out["endRowIndex"] = rng.row1
    if rng.col1 is not None:
        out["endColumnIndex"] = rng.col1
    return out


def cell_data(value: CellValue) -> dict[str, Any]:
    """One ``CellData`` for a value. Text is ALWAYS ``stringValue`` (never parsed as a formula or number);
    ``None`` and NaN give ``{}``, which under ``fields: userEnteredValue`` clears the cell."""
    if value is None:
        return {}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        f = float(value)
        if math.isnan(f):
            return {}
        if math.isinf(f):  # JSON has no infinity: keep it visible as text
            return {"userEnteredValue": {"stringValue": "inf" if f > 0 else "-inf"}}
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def _style_request(sheet_id: int, style: Style) -> Request | None:
    """A ``repeatCell`` whose ``fields`` list only the attributes the style sets, so nothing else on the
    cells (their values, other formatting) is touched."""
    fmt: dict[str, Any] = {}
    text: dict[str, Any] = {}
    fields: list[str] = []
    if style.bold is not None:
        text["bold"] = style.bold
        fields.append("textFormat.bold")
    if style.italic is not None:
        text["italic"] = style.italic
        fields.append("textFormat.italic")
    if style.color is not None:
        text["foregroundColor"] = rgb(style.color)
        fields.append("textFormat.foregroundColor")
    if style.font_size is not None:
        text["fontSize"] = style.font_size
        fields.append("textFormat.fontSize")
    if text:
        fmt["textFormat"] = text
    if style.wrap is not None:
        fmt["wrapStrategy"] = "WRAP" if style.wrap else "CLIP"
        fields.append("wrapStrategy")
    if style.background is not None:
        fmt["backgroundColor"] = rgb(style.background)
        fields.append("backgroundColor")
    if style.number_format is not None:
        kind = "PERCENT" if "%" in style.number_format else "NUMBER"
        fmt["numberFormat"] = {"type": kind, "pattern": style.number_format}
        fields.append("numberFormat")
    if style.halign is not None:
        fmt["horizontalAlignment"] = style.halign.upper()
        fields.append("horizontalAlignment")
    if style.valign is not None:
        fmt["verticalAlignment"] = style.valign.upper()
        fields.append("verticalAlignment")
    if not fields:
        return None
    return {
        "repeatCell": {
            "range": grid_range(sheet_id, style.range),
            "cell": {"userEnteredFormat": fmt},
            "fields": f"userEnteredFormat({','.join(fields)})",
        }
    }


def _validation_request(sheet_id: int, v: Validation) -> Request:
    rule: dict[str, Any] = {
        "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": c} for c in v.choices]},
        "showCustomUi": True,
        "strict": v.strict,
    }
    if v.input_message:
        rule["inputMessage"] = v.input_message
    return {"setDataValidation": {"range": grid_range(sheet_id, v.range), "rule": rule}}


def _protection_request(sheet_id: int, p: Protection) -> Request:
    prot: dict[str, Any] = {
        "range": grid_range(sheet_id, p.range),
        "description": PROTECTION_PREFIX + p.description,
        "warningOnly": p.warning_only,
    }
    # Warning-only protection must carry no editors (Google answers 400); a hard protection leaves the
    # default editors (the owner and us).
    return {"addProtectedRange": {"protectedRange": prot}}


def _conditional_format_request(sheet_id: int, cf: ConditionalFormat, index: int, locale: str) -> Request:
    fmt: dict[str, Any] = {"backgroundColor": rgb(cf.background)}
    text: dict[str, Any] = {}
    if cf.color is not None:
        text["foregroundColor"] = rgb(cf.color)
    if cf.bold is not None:
        text["bold"] = cf.bold
    if text:
        fmt["textFormat"] = text
    return {
        "addConditionalFormatRule": {
            "rule": {
                "ranges": [grid_range(sheet_id, cf.range)],
                "booleanRule": {
                    "condition": {
                        "type": "CUSTOM_FORMULA",
                        "values": [{"userEnteredValue": localize_formula(cf.tagged_formula(), locale)}],
                    },
                    "format": fmt,
                },
            },
            "index": index,
        }
    }


_CHART_TYPES = {"line": "LINE", "bar": "BAR", "column": "COLUMN"}


def _series(source: dict[str, Any], axis: str, kind: str, colour: str | None) -> dict[str, Any]:
    series: dict[str, Any] = {"series": source, "targetAxis": axis}
    if colour:
        series["colorStyle"] = {"rgbColor": rgb(colour)}
    if kind == "LINE":  # every point marked: a series with a single value still shows
        series["pointStyle"] = {"shape": "CIRCLE", "size": 7}
    return series


def _chart_request(sheet_id: int, chart: Chart, chart_id: int) -> Request:
    """A ``basicChart``. ``x_title``/``y_title`` title the horizontal/vertical axes as drawn; in a BAR chart
    (horizontal bars) the values run along the bottom axis, so its series target ``BOTTOM_AXIS``."""
    kind = _CHART_TYPES[chart.kind]
    axes = []
    if chart.x_title:
        axes.append({"position": "BOTTOM_AXIS", "title": chart.x_title})
    value_axis = "BOTTOM_AXIS" if kind == "BAR" else "LEFT_AXIS"
    if chart.y_title or chart.y_range:
        axis: dict[str, Any] = {"position": "LEFT_AXIS"}
        if chart.y_title:
            axis["title"] = chart.y_title
        if chart.y_range:
            axis["viewWindowOptions"] = {"viewWindowMin": chart.y_range[0], "viewWindowMax": chart.y_range[1],
                                         "viewWindowMode": "EXPLICIT"}
        axes.append(axis)

    def source(rng: Range) -> dict[str, Any]:
        return {"sourceRange": {"sources": [grid_range(sheet_id, rng)]}}

    basic: dict[str, Any] = {
        "chartType": kind,
        "legendPosition": "BOTTOM_LEGEND" if len(chart.series) > 1 else "NO_LEGEND",
        "headerCount": 1,
        "domains": [{"domain": source(chart.domain)}],
        "series": [_series(source(s), value_axis, kind, chart.colors[i] if i < len(chart.colors) else None)
                   for i, s in enumerate(chart.series)],
    }
    if axes:
        basic["axis"] = axes
    return {
        "addChart": {
            "chart": {
                "chartId": chart_id,
                "spec": {"title": chart.title, "basicChart": basic},
                "position": {
                    "overlayPosition": {
                        "anchorCell": {
                            "sheetId": sheet_id,
                            "rowIndex": chart.anchor[0],
                            "columnIndex": chart.anchor[1],
                        },
                        "widthPixels": chart.width,
                        "heightPixels": chart.height,
                    }
                },
            }
        }
    }


def value_requests(sheet_id: int, spec: TabSpec) -> list[Request]:
    """One ``updateCells`` per block (``fields: userEnteredValue``: formatting untouched, cells outside the
    block untouched)."""
    out = []
    for block in spec.blocks:
        if not block.values:
            continue
        check_row_lengths(spec, block.values, where="row", first=block.row, col=block.col)
        out.append(
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": block.row, "columnIndex": block.col},
                    "rows": [{"values": [cell_data(v) for v in row]} for row in block.values],
                    "fields": "userEnteredValue",
                }
            }
        )
    return out


def append_requests(sheet_id: int, spec: TabSpec) -> list[Request]:
    """``spec.append_rows`` as one ``appendCells``: Google places them after the last row with data when it
    applies the request, so rows the expert added meanwhile are neither overwritten nor paired with them."""
    if not spec.append_rows:
        return []
    check_row_lengths(spec, spec.append_rows, where="appended row")
    return [
        {
            "appendCells": {
                "sheetId": sheet_id,
                "rows": [{"values": [cell_data(v) for v in row]} for row in spec.append_rows],
                "fields": "userEnteredValue",
            }
        }
    ]


def check_row_lengths(
    spec: TabSpec, rows: list[list[CellValue]], *, where: str, first: int = 0, col: int = 0
) -> None:
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise UserInputError(
                    f"tab {spec.title!r}, {where} {first + r + 1}, column {col + c + 1}: {len(value):,} characters, "
                    f"more than the {MAX_CELL_CHARS:,} a Google Sheets cell holds (cut long text before writing it)"
                )


def needed_size(spec: TabSpec) -> tuple[int, int]:
    """Rows/columns the spec needs: its declared size, every block, chart anchor and bounded range, and
    one row/column beyond the frozen ones (Google refuses to freeze every row of a tab)."""
    rows, cols = max(spec.n_rows, 1), max(spec.n_cols, 1)
    for b in spec.blocks:
        if b.values:
            rows = max(rows, b.row + len(b.values))
            cols = max(cols, b.col + max((len(r) for r in b.values), default=0))
    for ch in spec.charts:
        rows, cols = max(rows, ch.anchor[0] + 1), max(cols, ch.anchor[1] + 1)
    ranges: list[Range] = [s.range for s in spec.styles]
    ranges += [v.range for v in spec.validations] + [p.range for p in spec.protections]
    ranges += [c.range for c in spec.conditional_formats]
    for ch in spec.charts:
        ranges += [ch.domain, *ch.series]
    if spec.basic_filter is not None:
        ranges.append(spec.basic_filter)
    for r in ranges:
        rows = max(rows, r.row0 + 1 if r.row1 is None else r.row1)
        cols = max(cols, r.col0 + 1 if r.col1 is None else r.col1)
    if spec.column_widths:
        cols = max(cols, max(spec.column_widths) + 1)
    if spec.hidden_columns:
        cols = max(cols, max(spec.hidden_columns) + 1)
    return max(rows, spec.frozen_rows + 1), max(cols, spec.frozen_cols + 1)


def _dimension(sheet_id: int, dim: str, start: int, end: int, props: dict[str, Any], fields: str) -> Request:
    return {
        "updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": dim, "startIndex": start, "endIndex": end},
            "properties": props,
            "fields": fields,
        }
    }


def _runs(items: Iterable[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``{col: width}`` pairs -> (start, end, width) runs of consecutive columns with the same width."""
    runs: list[tuple[int, int, int]] = []
    for col, width in sorted(items):
        if runs and runs[-1][1] == col and runs[-1][2] == width:
            runs[-1] = (runs[-1][0], col + 1, width)
        else:
            runs.append((col, col + 1, width))
    return runs


def new_sheet_id(taken: set[int], rng: random.Random | None = None) -> int:
    """A random positive int32 ``sheetId`` not used by any existing tab."""
    r = rng or random.SystemRandom()
    while True:
        sid = r.randint(1, 2**31 - 1)
        if sid not in taken:
            return sid


# ------------------------------------------------------------------------------------------------- API


def build_requests(
    specs: list[TabSpec],
    existing: Mapping[str, SheetMeta],
    *,
    rng: random.Random | None = None,
    locale: str = "en_US",
) -> list[Request]:
    """The ``requests`` of one ``spreadsheets.batchUpdate`` that makes every tab look like its spec.

    ``existing`` is :func:`parse_metadata` of the spreadsheet as last read; tabs not in it are added.
    ``rng`` only makes the new tabs' ``sheetId``s reproducible in tests.
    """
    check_specs(specs, existing)
    taken = {m.sheet_id for m in existing.values()}
    requests: list[Request] = []
    for spec in specs:
        tab = tab_requests(spec, existing.get(spec.title), taken, rng=rng, locale=locale)
        requests += tab.setup + value_requests(tab.sheet_id, spec) + append_requests(tab.sheet_id, spec)
        requests += tab.finish
    return requests


def check_specs(specs: list[TabSpec], existing: Mapping[str, SheetMeta]) -> None:
    """Refuse a write that would replace a tab sheetsync did not make, or that names a tab twice."""
    titles = [s.title for s in specs]
    dupes = {t for t in titles if titles.count(t) > 1}
    if dupes:
        raise ValueError(f"two specs for the same tab: {sorted(dupes)}")
    for spec in specs:
        meta = existing.get(spec.title)
        if spec.replace and meta is not None and not meta.owned:
            raise UserInputError(
                f"the tab “{spec.title}” exists and was not made by sheetsync, so it is not replaced. Rename "
                "that tab, or give sheetsync's tab another name in sheetsync.toml [tabs]. Nothing was written."
            )


@dataclass
class TabRequests:
    """One tab's requests apart from its values: ``setup`` (add or reset the tab, size, widths, styles,
    validations) comes before the values, ``finish`` (protections, rules, charts, filter) after them."""

    sheet_id: int
    setup: list[Request]
    finish: list[Request]


def tab_requests(
    spec: TabSpec,
    meta: SheetMeta | None,
    taken: set[int],
    *,
    rng: random.Random | None = None,
    locale: str = "en_US",
    as_title: str | None = None,
    staging_for: str | None = None,
    index: int | None = None,
) -> TabRequests:
    """The requests that make one tab look like ``spec``, values aside. ``meta`` is the tab as it exists
    (``None``: add it, with a new id added to ``taken``). ``as_title``/``staging_for`` add it hidden under
    another title, marked as the stand-in being built for ``staging_for`` (see google_writes)."""
    used, cols = needed_size(spec)
    rows = max(used, MIN_ROWS)
    setup: list[Request] = []
    keep_rules = False
    if meta is None:
        sheet_id = new_sheet_id(taken, rng)
        taken.add(sheet_id)
        setup.append(
            _add_sheet(spec, sheet_id, rows, cols, title=as_title, hidden=staging_for is not None, index=index)
        )
        setup.append(_mark(sheet_id, OWNER_KEY, "1"))
        if staging_for is not None:
            setup.append(_mark(sheet_id, STAGING_KEY, staging_for))
        setup += column_marks(sheet_id, spec.column_marks)
    else:
        sheet_id = meta.sheet_id
        keep_rules = _rules_in_place(spec, meta, locale)
        if spec.formats:
            setup += _reset_existing(spec, meta, keep_rules=keep_rules)
        for c in sorted(set(spec.insert_columns), reverse=True):  # right to left: positions stay valid
            n = spec.insert_columns.count(c)
            setup.append({
                "insertDimension": {
                    "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": c, "endIndex": c + n},
                    "inheritFromBefore": c > 0,
                }
            })
        setup += column_marks(sheet_id, spec.column_marks, replace=True)  # inserted columns, where they now are
        if spec.replace:
            setup.append(_sheet_properties(spec, sheet_id, rows, cols, meta))
        else:
            # Never shrink a tab that holds the expert's cells, and never set its size from a count read
            # earlier: an absolute columnCount sent after the expert inserted a column would cut off the
            # last one. The grid only grows, by appendDimension ("Appends rows or columns to the end of a
            # sheet", sheets.v4 discovery), relative to whatever size it has when the request applies.
            setup.append(_sheet_properties(spec, sheet_id, None, None, meta))
            for dim, more in (("ROWS", rows - meta.row_count), ("COLUMNS", cols - meta.col_count - len(spec.insert_columns))):
                if more > 0:
                    setup.append({"appendDimension": {"sheetId": sheet_id, "dimension": dim, "length": more}})
        if not meta.owned:
            setup.append(_mark(sheet_id, OWNER_KEY, "1"))
        if spec.replace:  # back to Google's defaults before the spec's own widths apply
            setup.append(
                _dimension(
                    sheet_id,
                    "COLUMNS",
                    0,
                    cols,
                    {"pixelSize": DEFAULT_COLUMN_WIDTH, "hiddenByUser": False},
                    "pixelSize,hiddenByUser",
                )
            )
            setup.append(_dimension(sheet_id, "ROWS", 0, rows, {"pixelSize": DEFAULT_ROW_HEIGHT}, "pixelSize"))
    if not spec.formats:  # nothing addressed by a column position read earlier (google_identity)
        return TabRequests(sheet_id, setup, [])
    setup += _setup_layout(spec, sheet_id, used)  # row heights for the rows in use, not the empty grid
    taken_charts = set(meta.chart_ids) if meta is not None else set()
    chart_ids = [new_sheet_id(taken_charts, rng) for _ in spec.charts]
    taken_charts.update(chart_ids)
    finish = _finish_layout(spec, sheet_id, meta, locale, chart_ids, keep_rules=meta is not None and keep_rules)
    if chart_ids:
        finish.append(_mark(sheet_id, CHARTS_KEY, json.dumps(chart_ids)))
    return TabRequests(sheet_id, setup, finish)


def _mark(sheet_id: int, key: str, value: str) -> Request:
    return {
        "createDeveloperMetadata": {
            "developerMetadata": {
                "metadataKey": key,
                "metadataValue": value,
                "location": {"sheetId": sheet_id},
                "visibility": "DOCUMENT",
            }
        }
    }


def unmark(sheet_id: int, key: str) -> Request:
    """Remove the developer metadata ``key`` from a tab."""
    lookup = {"metadataKey": key, "metadataLocation": {"sheetId": sheet_id}}
    return {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": lookup}}}


def _add_sheet(
    spec: TabSpec,
    sheet_id: int,
    rows: int,
    cols: int,
    *,
    title: str | None = None,
    hidden: bool = False,
    index: int | None = None,
) -> Request:
    props: dict[str, Any] = {
        "sheetId": sheet_id,
        "title": title or spec.title,
        "sheetType": "GRID",
        "gridProperties": {
            "rowCount": rows,
            "columnCount": cols,
            "frozenRowCount": spec.frozen_rows,
            "frozenColumnCount": spec.frozen_cols,
        },
    }
    if hidden:
        props["hidden"] = True
    index = spec.index if index is None else index
    if index is not None:
        props["index"] = index
    if spec.tab_color is not None:
        props["tabColorStyle"] = {"rgbColor": rgb(spec.tab_color)}
    return {"addSheet": {"properties": props}}


def _rules_in_place(spec: TabSpec, meta: SheetMeta, locale: str) -> bool:
    """sheetsync's conditional-format rules on an updated tab are already the spec's (same ranges and
    formulas, in order), so the write leaves them alone. Rules can only be deleted by index, and an index
    read a moment earlier is wrong once the expert adds a rule above it: a write that deletes no rule
    cannot delete the expert's."""
    if spec.replace or len(meta.conditional_ranges) != len(meta.conditional_formulas):
        return False
    ours = [(r, f) for r, f in zip(meta.conditional_ranges, meta.conditional_formulas, strict=True)
            if is_sheetsync_rule(f)]
    want = []
    for i, cf in enumerate(spec.conditional_formats):
        rule = _conditional_format_request(meta.sheet_id, cf, i, locale)["addConditionalFormatRule"]["rule"]
        want.append((_ranges_key(rule["ranges"]), rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]))
    return ours == want


def _reset_existing(spec: TabSpec, meta: SheetMeta, *, keep_rules: bool = False) -> list[Request]:
    """Remove what a previous write put on the tab (everything, for ``replace``), so re-adding the spec's
    protections, rules and charts never duplicates them (sheetsync's rules stay when ``keep_rules``)."""
    sid = meta.sheet_id
    out: list[Request] = []
    for pid, desc in meta.protections:
        if spec.replace or desc.startswith(PROTECTION_PREFIX):
            out.append({"deleteProtectedRange": {"protectedRangeId": pid}})
    # Rules are addressed by position: delete from the last, so earlier indices stay valid. Without
    # ``replace`` only sheetsync's (tagged) rules go; the expert's own highlighting stays.
    doomed = [i for i, f in enumerate(meta.conditional_formulas)
              if spec.replace or (is_sheetsync_rule(f) and not keep_rules)]
    out += [{"deleteConditionalFormatRule": {"sheetId": sid, "index": i}} for i in reversed(doomed)]
    # Every chart of a rebuilt tab; on an updated tab only the ones sheetsync made (the expert's stay).
    out += [{"deleteEmbeddedObject": {"objectId": c}} for c in (meta.chart_ids if spec.replace else meta.our_charts)]
    if CHARTS_KEY in meta.marks:
        out.append(unmark(sid, CHARTS_KEY))
    if spec.replace:
        if meta.basic_filter is not None:
            out.append({"clearBasicFilter": {"sheetId": sid}})
        # Every cell's value, format, validation and note, in place (the sheetId, so links, survive).
        out.append({"updateCells": {"range": {"sheetId": sid}, "fields": "*"}})
        out.append({"unmergeCells": {"range": {"sheetId": sid}}})
    return out


def move_index(current: int, target: int) -> int:
    """The ``index`` to send to move a tab from ``current`` to ``target``: Google counts it in positions
    *before* the move, so moving right needs one more ("to move S1 ahead of S2 the index would have to be
    set to 2", SheetProperties.index, developers.google.com/sheets/api/reference/rest/v4/spreadsheets/sheets)."""
    return target + 1 if target > current else target


def _sheet_properties(spec: TabSpec, sheet_id: int, rows: int | None, cols: int | None, meta: SheetMeta) -> Request:
    """``rows``/``cols`` ``None``: the grid's size is not set (see tab_requests)."""
    grid: dict[str, Any] = {"frozenRowCount": spec.frozen_rows, "frozenColumnCount": spec.frozen_cols}
    fields = ["gridProperties.frozenRowCount", "gridProperties.frozenColumnCount"]
    if rows is not None and cols is not None:
        grid = {"rowCount": rows, "columnCount": cols, **grid}
        fields = ["gridProperties.rowCount", "gridProperties.columnCount", *fields]
    props: dict[str, Any] = {"sheetId": sheet_id, "gridProperties": grid}
    if spec.tab_color is not None:
        props["tabColorStyle"] = {"rgbColor": rgb(spec.tab_color)}
        fields.append("tabColorStyle")
    elif spec.replace:
        fields.append("tabColorStyle")  # in the mask but unset: cleared
    if spec.index is not None and spec.index != meta.index:
        props["index"] = move_index(meta.index, spec.index)
        fields.append("index")
    return {"updateSheetProperties": {"properties": props, "fields": ",".join(fields)}}


def _setup_layout(spec: TabSpec, sheet_id: int, rows: int) -> list[Request]:
    out: list[Request] = []
    for start, end, width in _runs(spec.column_widths.items()):
        out.append(_dimension(sheet_id, "COLUMNS", start, end, {"pixelSize": width}, "pixelSize"))
    if spec.row_height is not None and rows > spec.frozen_rows:
        out.append(
            _dimension(sheet_id, "ROWS", spec.frozen_rows, rows, {"pixelSize": spec.row_height}, "pixelSize")
        )
    for start, end, height in _runs(spec.row_heights.items()):  # rows sized to their wrapped text
        out.append(_dimension(sheet_id, "ROWS", start, end, {"pixelSize": height}, "pixelSize"))
    for m in spec.merges:
        out.append({"mergeCells": {"range": grid_range(sheet_id, m), "mergeType": "MERGE_ALL"}})
    for start, end, _ in _runs((c, 0) for c in set(spec.hidden_columns)):
        out.append(_dimension(sheet_id, "COLUMNS", start, end, {"hiddenByUser": True}, "hiddenByUser"))
    out += [r for s in spec.styles if (r := _style_request(sheet_id, s)) is not None]
    out += [_validation_request(sheet_id, v) for v in spec.validations]
    return out


def _finish_layout(
    spec: TabSpec, sheet_id: int, meta: SheetMeta | None, locale: str, chart_ids: list[int], *,
    keep_rules: bool = False,
) -> list[Request]:
    out: list[Request] = [_protection_request(sheet_id, p) for p in spec.protections]
    if not keep_rules:
        out += [
            _conditional_format_request(sheet_id, cf, i, locale) for i, cf in enumerate(spec.conditional_formats)
        ]
    out += [_chart_request(sheet_id, ch, cid) for ch, cid in zip(spec.charts, chart_ids, strict=True)]
    old = meta.basic_filter if (meta is not None and not spec.replace) else None
    wanted = None if spec.basic_filter is None else grid_range(sheet_id, spec.basic_filter)
    if old and wanted and _ranges_key([old.get("range") or {}]) == _ranges_key([wanted]):
        wanted = None  # already there: setting it again would drop criteria the expert set since our read
    if wanted is not None:
        filt: dict[str, Any] = {"range": wanted}
        for key in ("sortSpecs", "filterSpecs", "criteria"):  # keep the expert's active filter and sort
            if old and old.get(key):
                filt[key] = old[key]
        out.append({"setBasicFilter": {"filter": filt}})
    return out
