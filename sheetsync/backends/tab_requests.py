"""Translate ``TabSpec``s into Sheets ``spreadsheets.batchUpdate`` requests: each tab's creation or reset,
size, marks and moves, around its values (cell_requests) and formatting (format_requests). Pure: no I/O.

Kept apart from the backend (``google_workbook``) so the exact wire payload can be unit-tested without a server.
:func:`build_requests` gives every tab's creation, clearing, formatting, values, validation, protection,
conditional formats and charts as one list (one atomic batch); :func:`tab_requests` gives the same parts
separately, for :mod:`sheetsync.backends.google_writes`, which splits a write that is too large for one
request.

Rules that protect the expert's work:

* ``replace=False`` writes only the spec's blocks; every other cell keeps its value. Only the protections
  sheetsync created (recognised by :data:`~sheetsync.backends.format_requests.PROTECTION_PREFIX`), the
  conditional-format rules it created (recognised by :data:`sheetsync.layout.OWNER_TAG` in their formula)
  and the tab's charts are removed before the spec's are added again, so repeated writes never duplicate
  them and the expert's own highlighting stays. The grid never shrinks.
* A new tab gets a client-chosen ``sheetId`` in its ``addSheet``, so every later request in the same batch
  can refer to it, and a developer-metadata mark (:data:`~sheetsync.backends.sheet_meta.OWNER_KEY`):
  sheetsync rebuilds (``replace``) only tabs that carry it, so a tab the expert made is never replaced
  because a setting names it.
* Charts are removed only from tabs sheetsync rebuilds; on the Annotate tab (``replace=False``) every chart
  is the expert's and stays.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sheetsync.backends.cell_requests import Request, append_requests, value_requests
from sheetsync.backends.format_requests import (
    PROTECTION_PREFIX,
    conditional_format_request,
    dimension_request,
    finish_layout,
    rgb,
    setup_layout,
)
from sheetsync.backends.identity_requests import column_marks
from sheetsync.backends.sheet_meta import CHARTS_KEY, OWNER_KEY, STAGING_KEY, SheetMeta, ranges_key
from sheetsync.backends.sheet_size import MIN_ROWS, needed_size
from sheetsync.errors import UserInputError
from sheetsync.layout import TabSpec, is_sheetsync_rule

#: Google's defaults, restored when a tab is rebuilt (``replace=True``).
DEFAULT_COLUMN_WIDTH = 100
DEFAULT_ROW_HEIGHT = 21


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
                dimension_request(
                    sheet_id,
                    "COLUMNS",
                    0,
                    cols,
                    {"pixelSize": DEFAULT_COLUMN_WIDTH, "hiddenByUser": False},
                    "pixelSize,hiddenByUser",
                )
            )
            setup.append(dimension_request(sheet_id, "ROWS", 0, rows, {"pixelSize": DEFAULT_ROW_HEIGHT}, "pixelSize"))
    if not spec.formats:  # nothing addressed by a column position read earlier (google_identity)
        return TabRequests(sheet_id, setup, [])
    setup += setup_layout(spec, sheet_id, used)  # row heights for the rows in use, not the empty grid
    taken_charts = set(meta.chart_ids) if meta is not None else set()
    chart_ids = [new_sheet_id(taken_charts, rng) for _ in spec.charts]
    taken_charts.update(chart_ids)
    finish = finish_layout(spec, sheet_id, meta, locale, chart_ids, keep_rules=meta is not None and keep_rules)
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
        rule = conditional_format_request(meta.sheet_id, cf, i, locale)["addConditionalFormatRule"]["rule"]
        want.append((ranges_key(rule["ranges"]), rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]))
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


def new_sheet_id(taken: set[int], rng: random.Random | None = None) -> int:
    """A random positive int32 ``sheetId`` not used by any existing tab."""
    r = rng or random.SystemRandom()
    while True:
        sid = r.randint(1, 2**31 - 1)
        if sid not in taken:
            return sid
