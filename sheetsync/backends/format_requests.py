"""A tab's formatting requests: widths and heights, merges, hidden columns, styles, dropdowns (``setup``,
before the values), and protections, conditional formats, charts and the basic filter (``finish``, after
them). Pure: no I/O.

* Custom formulas are written in the spreadsheet's locale (:func:`localize_formula`): Google parses them
  "as if the user typed them", so in comma-decimal locales the argument separator is ``;``.
* Protected ranges sheetsync creates are described with :data:`PROTECTION_PREFIX`, so a later write removes
  only those; conditional-format rules carry :data:`sheetsync.layout.OWNER_TAG` in their formula for the
  same reason (see tab_requests).
* A basic filter already on the tab keeps the expert's criteria and sort.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sheetsync.backends.cell_requests import Request, grid_range
from sheetsync.backends.sheet_meta import SheetMeta, ranges_key
from sheetsync.formulas import localize_formula
from sheetsync.layout import Chart, ConditionalFormat, Protection, Range, Style, TabSpec, Validation

#: Descriptions of the protected ranges sheetsync creates start with this, so a later write can tell
#: them from protections the spreadsheet's owner added by hand (those are never touched by ``replace=False``).
PROTECTION_PREFIX = "[sheetsync] "


def rgb(hex_colour: str) -> dict[str, float]:
    """``"#D9EAD3"`` -> ``{"red": 0.85, "green": 0.92, "blue": 0.83}`` (the API's 0..1 floats)."""
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if len(h) != 6:
        raise ValueError(f"not a #RRGGBB colour: {hex_colour!r}")
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return {"red": round(r, 4), "green": round(g, 4), "blue": round(b, 4)}


def style_request(sheet_id: int, style: Style) -> Request | None:
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


def validation_request(sheet_id: int, v: Validation) -> Request:
    rule: dict[str, Any] = {
        "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": c} for c in v.choices]},
        "showCustomUi": True,
        "strict": v.strict,
    }
    if v.input_message:
        rule["inputMessage"] = v.input_message
    return {"setDataValidation": {"range": grid_range(sheet_id, v.range), "rule": rule}}


def protection_request(sheet_id: int, p: Protection) -> Request:
    prot: dict[str, Any] = {
        "range": grid_range(sheet_id, p.range),
        "description": PROTECTION_PREFIX + p.description,
        "warningOnly": p.warning_only,
    }
    # Warning-only protection must carry no editors (Google answers 400); a hard protection leaves the
    # default editors (the owner and us).
    return {"addProtectedRange": {"protectedRange": prot}}


def conditional_format_request(sheet_id: int, cf: ConditionalFormat, index: int, locale: str) -> Request:
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


def chart_request(sheet_id: int, chart: Chart, chart_id: int) -> Request:
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


def dimension_request(sheet_id: int, dim: str, start: int, end: int, props: dict[str, Any], fields: str) -> Request:
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


def setup_layout(spec: TabSpec, sheet_id: int, rows: int) -> list[Request]:
    out: list[Request] = []
    for start, end, width in _runs(spec.column_widths.items()):
        out.append(dimension_request(sheet_id, "COLUMNS", start, end, {"pixelSize": width}, "pixelSize"))
    if spec.row_height is not None and rows > spec.frozen_rows:
        out.append(
            dimension_request(sheet_id, "ROWS", spec.frozen_rows, rows, {"pixelSize": spec.row_height}, "pixelSize")
        )
    for start, end, height in _runs(spec.row_heights.items()):  # rows sized to their wrapped text
        out.append(dimension_request(sheet_id, "ROWS", start, end, {"pixelSize": height}, "pixelSize"))
    for m in spec.merges:
        out.append({"mergeCells": {"range": grid_range(sheet_id, m), "mergeType": "MERGE_ALL"}})
    for start, end, _ in _runs((c, 0) for c in set(spec.hidden_columns)):
        out.append(dimension_request(sheet_id, "COLUMNS", start, end, {"hiddenByUser": True}, "hiddenByUser"))
    out += [r for s in spec.styles if (r := style_request(sheet_id, s)) is not None]
    out += [validation_request(sheet_id, v) for v in spec.validations]
    return out


def finish_layout(
    spec: TabSpec, sheet_id: int, meta: SheetMeta | None, locale: str, chart_ids: list[int], *,
    keep_rules: bool = False,
) -> list[Request]:
    out: list[Request] = [protection_request(sheet_id, p) for p in spec.protections]
    if not keep_rules:
        out += [
            conditional_format_request(sheet_id, cf, i, locale) for i, cf in enumerate(spec.conditional_formats)
        ]
    out += [chart_request(sheet_id, ch, cid) for ch, cid in zip(spec.charts, chart_ids, strict=True)]
    old = meta.basic_filter if (meta is not None and not spec.replace) else None
    wanted = None if spec.basic_filter is None else grid_range(sheet_id, spec.basic_filter)
    if old and wanted and ranges_key([old.get("range") or {}]) == ranges_key([wanted]):
        wanted = None  # already there: setting it again would drop criteria the expert set since our read
    if wanted is not None:
        filt: dict[str, Any] = {"range": wanted}
        for key in ("sortSpecs", "filterSpecs", "criteria"):  # keep the expert's active filter and sort
            if old and old.get(key):
                filt[key] = old[key]
        out.append({"setBasicFilter": {"filter": filt}})
    return out
