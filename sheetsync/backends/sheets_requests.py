"""Translate ``TabSpec``s into ONE Sheets ``spreadsheets.batchUpdate`` request list. Pure: no I/O.

Kept apart from ``google.py`` so the exact wire payload can be unit-tested without a server, and so the
one-write-per-push rule is visible here: every tab's creation, clearing, formatting, values, validation,
protection, conditional formats and charts go into a single list, applied atomically by Google.

Rules that protect the expert's work:

* Strings are always ``stringValue`` (never ``formulaValue``): ``=IMPORTXML(…)``, ``007``, ``TRUE`` stay text.
* ``replace=False`` writes only the spec's blocks; every other cell keeps its value. Only the protections
  sheetsync created (recognised by :data:`PROTECTION_PREFIX`), the conditional-format rules it created
  (recognised by :data:`sheetsync.layout.OWNER_TAG` in their formula) and the tab's charts are removed
  before the spec's are added again, so repeated writes never duplicate them and the expert's own
  highlighting stays. The grid never shrinks.
* A new tab gets a client-chosen ``sheetId`` in its ``addSheet``, so every later request in the same batch
  can refer to it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sheetsync.errors import UserInputError
from sheetsync.layout import (
    Block,
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
#: Google's defaults, restored when a tab is rebuilt (``replace=True``).
DEFAULT_COLUMN_WIDTH = 100
DEFAULT_ROW_HEIGHT = 21

#: The ``fields`` mask of the ``spreadsheets.get`` that :func:`parse_metadata` needs.
METADATA_FIELDS = (
    "sheets(properties(sheetId,title,index,gridProperties),"
    "protectedRanges(protectedRangeId,description),"
    "conditionalFormats(ranges,booleanRule(condition(values))),charts(chartId),basicFilter)"
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
    chart_ids: tuple[int, ...] = ()
    #: The tab's basic filter as Google returned it (range + the expert's criteria), if any.
    basic_filter: Mapping[str, Any] | None = None


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
            chart_ids=tuple(int(c["chartId"]) for c in sheet.get("charts", []) or [] if "chartId" in c),
            basic_filter=sheet.get("basicFilter") or None,
        )
    return out


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


def _check_lengths(spec: TabSpec, block: Block) -> None:
    for r, row in enumerate(block.values):
        for c, value in enumerate(row):
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise UserInputError(
                    f"tab {spec.title!r}, row {block.row + r + 1}, column {block.col + c + 1}: "
                    f"{len(value):,} characters, more than the {MAX_CELL_CHARS:,} a Google Sheets cell holds "
                    "(cut long text before writing it)"
                )


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


def _conditional_format_request(sheet_id: int, cf: ConditionalFormat, index: int) -> Request:
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
                    "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": cf.tagged_formula()}]},
                    "format": fmt,
                },
            },
            "index": index,
        }
    }


_CHART_TYPES = {"line": "LINE", "bar": "BAR", "column": "COLUMN"}


def _chart_request(sheet_id: int, chart: Chart) -> Request:
    """A ``basicChart``. ``x_title``/``y_title`` title the horizontal/vertical axes as drawn; in a BAR chart
    (horizontal bars) the values run along the bottom axis, so its series target ``BOTTOM_AXIS``."""
    kind = _CHART_TYPES[chart.kind]
    axes = []
    if chart.x_title:
        axes.append({"position": "BOTTOM_AXIS", "title": chart.x_title})
    if chart.y_title:
        axes.append({"position": "LEFT_AXIS", "title": chart.y_title})
    value_axis = "BOTTOM_AXIS" if kind == "BAR" else "LEFT_AXIS"

    def source(rng: Range) -> dict[str, Any]:
        return {"sourceRange": {"sources": [grid_range(sheet_id, rng)]}}

    basic: dict[str, Any] = {
        "chartType": kind,
        "legendPosition": "BOTTOM_LEGEND" if len(chart.series) > 1 else "NO_LEGEND",
        "headerCount": 1,
        "domains": [{"domain": source(chart.domain)}],
        "series": [{"series": source(s), "targetAxis": value_axis} for s in chart.series],
    }
    if axes:
        basic["axis"] = axes
    return {
        "addChart": {
            "chart": {
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


def _values_requests(sheet_id: int, spec: TabSpec) -> list[Request]:
    """One ``updateCells`` per block (``fields: userEnteredValue``: formatting untouched, cells outside the
    block untouched)."""
    out = []
    for block in spec.blocks:
        if not block.values:
            continue
        _check_lengths(spec, block)
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


def _needed_size(spec: TabSpec) -> tuple[int, int]:
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
) -> list[Request]:
    """The ``requests`` of one ``spreadsheets.batchUpdate`` that makes every tab look like its spec.

    ``existing`` is :func:`parse_metadata` of the spreadsheet as last read; tabs not in it are added.
    ``rng`` only makes the new tabs' ``sheetId``s reproducible in tests.
    """
    titles = [s.title for s in specs]
    dupes = {t for t in titles if titles.count(t) > 1}
    if dupes:
        raise ValueError(f"two specs for the same tab: {sorted(dupes)}")
    taken = {m.sheet_id for m in existing.values()}
    requests: list[Request] = []
    for spec in specs:
        meta = existing.get(spec.title)
        rows, cols = _needed_size(spec)
        if meta is None:
            sheet_id = new_sheet_id(taken, rng)
            taken.add(sheet_id)
            requests.append(_add_sheet(spec, sheet_id, rows, cols))
        else:
            sheet_id = meta.sheet_id
            requests += _reset_existing(spec, meta)
            if not spec.replace:  # never shrink a tab that holds the expert's cells
                rows, cols = max(rows, meta.row_count), max(cols, meta.col_count)
            requests.append(_sheet_properties(spec, sheet_id, rows, cols))
            if spec.replace:  # back to Google's defaults before the spec's own widths apply
                requests.append(
                    _dimension(
                        sheet_id,
                        "COLUMNS",
                        0,
                        cols,
                        {"pixelSize": DEFAULT_COLUMN_WIDTH, "hiddenByUser": False},
                        "pixelSize,hiddenByUser",
                    )
                )
                requests.append(
                    _dimension(sheet_id, "ROWS", 0, rows, {"pixelSize": DEFAULT_ROW_HEIGHT}, "pixelSize")
                )
        requests += _layout_requests(spec, sheet_id, rows, meta)
    return requests


def _add_sheet(spec: TabSpec, sheet_id: int, rows: int, cols: int) -> Request:
    props: dict[str, Any] = {
        "sheetId": sheet_id,
        "title": spec.title,
        "sheetType": "GRID",
        "gridProperties": {
            "rowCount": rows,
            "columnCount": cols,
            "frozenRowCount": spec.frozen_rows,
            "frozenColumnCount": spec.frozen_cols,
        },
    }
    if spec.index is not None:
        props["index"] = spec.index
    if spec.tab_color is not None:
        props["tabColorStyle"] = {"rgbColor": rgb(spec.tab_color)}
    return {"addSheet": {"properties": props}}


def _reset_existing(spec: TabSpec, meta: SheetMeta) -> list[Request]:
    """Remove what a previous write put on the tab (everything, for ``replace``), so re-adding the spec's
    protections, rules and charts never duplicates them."""
    sid = meta.sheet_id
    out: list[Request] = []
    for pid, desc in meta.protections:
        if spec.replace or desc.startswith(PROTECTION_PREFIX):
            out.append({"deleteProtectedRange": {"protectedRangeId": pid}})
    # Rules are addressed by position: delete from the last, so earlier indices stay valid. Without
    # ``replace`` only sheetsync's (tagged) rules go; the expert's own highlighting stays.
    doomed = [i for i, f in enumerate(meta.conditional_formulas) if spec.replace or is_sheetsync_rule(f)]
    out += [{"deleteConditionalFormatRule": {"sheetId": sid, "index": i}} for i in reversed(doomed)]
    out += [{"deleteEmbeddedObject": {"objectId": cid}} for cid in meta.chart_ids]
    if spec.replace:
        if meta.basic_filter is not None:
            out.append({"clearBasicFilter": {"sheetId": sid}})
        # Every cell's value, format, validation and note, in place (the sheetId, so links, survive).
        out.append({"updateCells": {"range": {"sheetId": sid}, "fields": "*"}})
    return out


def _sheet_properties(spec: TabSpec, sheet_id: int, rows: int, cols: int) -> Request:
    props: dict[str, Any] = {
        "sheetId": sheet_id,
        "gridProperties": {
            "rowCount": rows,
            "columnCount": cols,
            "frozenRowCount": spec.frozen_rows,
            "frozenColumnCount": spec.frozen_cols,
        },
    }
    fields = [
        "gridProperties.rowCount",
        "gridProperties.columnCount",
        "gridProperties.frozenRowCount",
        "gridProperties.frozenColumnCount",
    ]
    if spec.tab_color is not None:
        props["tabColorStyle"] = {"rgbColor": rgb(spec.tab_color)}
        fields.append("tabColorStyle")
    elif spec.replace:
        fields.append("tabColorStyle")  # in the mask but unset: cleared
    if spec.index is not None:
        props["index"] = spec.index
        fields.append("index")
    return {"updateSheetProperties": {"properties": props, "fields": ",".join(fields)}}


def _layout_requests(spec: TabSpec, sheet_id: int, rows: int, meta: SheetMeta | None) -> list[Request]:
    out: list[Request] = []
    for start, end, width in _runs(spec.column_widths.items()):
        out.append(_dimension(sheet_id, "COLUMNS", start, end, {"pixelSize": width}, "pixelSize"))
    if spec.row_height is not None and rows > spec.frozen_rows:
        out.append(
            _dimension(sheet_id, "ROWS", spec.frozen_rows, rows, {"pixelSize": spec.row_height}, "pixelSize")
        )
    for start, end, _ in _runs((c, 0) for c in set(spec.hidden_columns)):
        out.append(_dimension(sheet_id, "COLUMNS", start, end, {"hiddenByUser": True}, "hiddenByUser"))
    out += [r for s in spec.styles if (r := _style_request(sheet_id, s)) is not None]
    out += [_validation_request(sheet_id, v) for v in spec.validations]
    out += _values_requests(sheet_id, spec)
    out += [_protection_request(sheet_id, p) for p in spec.protections]
    out += [_conditional_format_request(sheet_id, cf, i) for i, cf in enumerate(spec.conditional_formats)]
    out += [_chart_request(sheet_id, ch) for ch in spec.charts]
    if spec.basic_filter is not None:
        filt: dict[str, Any] = {"range": grid_range(sheet_id, spec.basic_filter)}
        old = meta.basic_filter if (meta is not None and not spec.replace) else None
        for key in ("sortSpecs", "filterSpecs", "criteria"):  # keep the expert's active filter and sort
            if old and old.get(key):
                filt[key] = old[key]
        out.append({"setBasicFilter": {"filter": filt}})
    return out
