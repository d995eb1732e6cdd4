"""Pure tests of the TabSpec -> batchUpdate translation (no server)."""

from __future__ import annotations

import json
import random

import pytest

from sheetsync.backends.cell_requests import cell_data, grid_range
from sheetsync.backends.format_requests import PROTECTION_PREFIX, rgb
from sheetsync.backends.sheet_meta import METADATA_FIELDS, SheetMeta, parse_metadata
from sheetsync.backends.sheet_size import MIN_ROWS
from sheetsync.backends.tab_requests import build_requests
from sheetsync.errors import UserInputError
from sheetsync.layout import (
    Block,
    Chart,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
)


def kinds(requests: list[dict]) -> list[str]:
    return [next(iter(r)) for r in requests]


def of_kind(requests: list[dict], kind: str) -> list[dict]:
    return [r[kind] for r in requests if kind in r]


def build(specs, existing=None):
    return build_requests(specs, existing or {}, rng=random.Random(7))


EXISTING = SheetMeta(
    sheet_id=42,
    title="Annotate",
    index=0,
    row_count=500,
    col_count=12,
    protections=((1, PROTECTION_PREFIX + "header"), (2, "owner's own lock")),
    conditional_formulas=('=AND($A2="x",N("sheetsync")=0)', '=$B2>3', '=AND($C2="y",N("sheetsync")=0)'),
    chart_ids=(900, 901),
    our_charts=(900,),  # 901 is the expert's own chart
    owned=True,
    basic_filter={"range": {"sheetId": 42}, "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "ASCENDING"}]},
)


def test_rgb_and_grid_range():
    assert rgb("#FF0000") == {"red": 1.0, "green": 0.0, "blue": 0.0}
    assert rgb("#D9EAD3") == {"red": 0.851, "green": 0.9176, "blue": 0.8275}
    assert rgb("fff") == {"red": 1.0, "green": 1.0, "blue": 1.0}
    with pytest.raises(ValueError):
        rgb("#12")
    assert grid_range(5, Range(1, 0, None, 3)) == {
        "sheetId": 5,
        "startRowIndex": 1,
        "startColumnIndex": 0,
        "endColumnIndex": 3,
    }
    assert grid_range(5, Range(0, 2, 4, 6))["endRowIndex"] == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '=IMPORTXML("http://x","//a")',
            {"userEnteredValue": {"stringValue": '=IMPORTXML("http://x","//a")'}},
        ),
        ("007", {"userEnteredValue": {"stringValue": "007"}}),
        ("TRUE", {"userEnteredValue": {"stringValue": "TRUE"}}),
        ("+1", {"userEnteredValue": {"stringValue": "+1"}}),
        (True, {"userEnteredValue": {"boolValue": True}}),
        (3, {"userEnteredValue": {"numberValue": 3}}),
        (0.5, {"userEnteredValue": {"numberValue": 0.5}}),
        (None, {}),
        (float("nan"), {}),
        (float("inf"), {"userEnteredValue": {"stringValue": "inf"}}),
    ],
)
def test_cell_data_never_formula(value, expected):
    assert cell_data(value) == expected


def test_new_tab_added_with_client_chosen_id_used_everywhere():
    spec = TabSpec.table("Report", [["a", "b"], [1, 2]], frozen_rows=1, index=2, tab_color="#00FF00")
    reqs = build([spec])
    assert kinds(reqs)[0] == "addSheet"
    props = reqs[0]["addSheet"]["properties"]
    sid = props["sheetId"]
    assert 0 < sid < 2**31
    assert props["title"] == "Report"
    assert props["index"] == 2
    assert props["gridProperties"] == {
        "rowCount": MIN_ROWS,  # at least: a read of the first rows never reaches past the grid
        "columnCount": 2,
        "frozenRowCount": 1,
        "frozenColumnCount": 0,
    }
    assert props["tabColorStyle"] == {"rgbColor": {"red": 0.0, "green": 1.0, "blue": 0.0}}
    # Nothing to delete on a new tab, and every request refers to the new id.
    assert not {"deleteProtectedRange", "updateCells"} & set(kinds(reqs)[:1])
    assert all(f'"sheetId": {sid}' in json.dumps(r) for r in reqs[1:])
    # JSON-serialisable: no NaN, no tuples-as-odd-types.
    json.dumps(reqs, allow_nan=False)


def test_new_ids_avoid_existing_ones_and_each_other():
    existing = {"Annotate": EXISTING}
    reqs = build_requests(
        [TabSpec.table(f"T{i}", [["x"]]) for i in range(20)], existing, rng=random.Random(1)
    )
    ids = [r["addSheet"]["properties"]["sheetId"] for r in reqs if "addSheet" in r]
    assert len(set(ids)) == 20 and 42 not in ids


def test_frozen_rows_never_freeze_the_whole_grid():
    spec = TabSpec(
        title="T", blocks=[Block(0, 0, [["id", "x"]])], n_rows=1, n_cols=2, frozen_rows=1, frozen_cols=2
    )
    grid = build([spec])[0]["addSheet"]["properties"]["gridProperties"]
    assert grid["rowCount"] == MIN_ROWS and grid["columnCount"] == 3


def test_grid_grows_to_hold_blocks_and_chart_anchor():
    spec = TabSpec(
        title="T",
        blocks=[Block(10, 3, [["x", "y", "z"]])],
        n_rows=2,
        n_cols=2,
        charts=[Chart("line", "t", Range(0, 0, 5, 1), (Range(0, 1, 5, 2),), anchor=(130, 8))],
    )
    grid = build([spec])[0]["addSheet"]["properties"]["gridProperties"]
    assert grid["rowCount"] == 131 and grid["columnCount"] == 9


def test_values_one_updatecells_per_block_strings_stay_text():
    spec = TabSpec(
        title="T",
        blocks=[Block(0, 0, [["id", "out"]]), Block(1, 1, [["=1+1", None, 5, False]])],
        n_rows=2,
        n_cols=5,
    )
    cells = of_kind(build([spec]), "updateCells")
    assert len(cells) == 2
    second = cells[1]
    assert second["fields"] == "userEnteredValue"
    assert second["start"] == {"sheetId": second["start"]["sheetId"], "rowIndex": 1, "columnIndex": 1}
    assert second["rows"] == [
        {
            "values": [
                {"userEnteredValue": {"stringValue": "=1+1"}},
                {},
                {"userEnteredValue": {"numberValue": 5}},
                {"userEnteredValue": {"boolValue": False}},
            ]
        }
    ]
    assert "formulaValue" not in json.dumps(cells)


def test_too_long_text_is_refused_with_its_position():
    spec = TabSpec(title="T", blocks=[Block(3, 2, [["ok", "x" * 50_001]])], n_rows=4, n_cols=4)
    with pytest.raises(UserInputError, match=r"'T', row 4, column 4: 50,001 characters"):
        build([spec])


def test_style_fields_list_only_what_is_set():
    spec = TabSpec(
        title="T",
        blocks=[],
        n_rows=5,
        n_cols=5,
        styles=[
            Style(Range(0, 0, 1, None), bold=True, background="#E8EAED"),
            Style(Range(1, 0), wrap=True, valign="top", halign="center", font_size=9, color="#000000"),
            Style(Range(1, 3, None, 4), number_format="0.0%", italic=False),
            Style(Range(0, 0)),  # nothing set: no request at all
        ],
    )
    reps = of_kind(build([spec]), "repeatCell")
    assert len(reps) == 3
    assert reps[0]["fields"] == "userEnteredFormat(textFormat.bold,backgroundColor)"
    assert reps[0]["cell"] == {
        "userEnteredFormat": {
            "textFormat": {"bold": True},
            "backgroundColor": {"red": 0.9098, "green": 0.9176, "blue": 0.9294},
        }
    }
    assert reps[0]["range"]["endRowIndex"] == 1 and "endColumnIndex" not in reps[0]["range"]
    assert reps[1]["fields"] == (
        "userEnteredFormat(textFormat.foregroundColor,textFormat.fontSize,wrapStrategy,"
        "horizontalAlignment,verticalAlignment)"
    )
    fmt = reps[1]["cell"]["userEnteredFormat"]
    assert fmt["wrapStrategy"] == "WRAP" and fmt["verticalAlignment"] == "TOP"
    assert fmt["horizontalAlignment"] == "CENTER" and fmt["textFormat"]["fontSize"] == 9
    assert reps[2]["cell"]["userEnteredFormat"]["numberFormat"] == {"type": "PERCENT", "pattern": "0.0%"}
    assert reps[2]["fields"] == "userEnteredFormat(textFormat.italic,numberFormat)"


def test_dropdown_validation():
    spec = TabSpec(
        title="T",
        blocks=[],
        n_rows=10,
        n_cols=8,
        validations=[
            Validation(Range(1, 5, None, 6), ("Pass", "Fail"), strict=True, input_message="Pass or Fail"),
            Validation(Range(1, 7, None, 8), ("hallucination", "tone")),
        ],
    )
    vals = of_kind(build([spec]), "setDataValidation")
    assert vals[0]["rule"] == {
        "condition": {
            "type": "ONE_OF_LIST",
            "values": [{"userEnteredValue": "Pass"}, {"userEnteredValue": "Fail"}],
        },
        "showCustomUi": True,
        "strict": True,
        "inputMessage": "Pass or Fail",
    }
    assert "endRowIndex" not in vals[0]["range"]  # rows the expert adds get the dropdown too
    assert vals[1]["rule"]["strict"] is False and "inputMessage" not in vals[1]["rule"]


def test_protections_warning_only_have_no_editors_and_are_tagged():
    spec = TabSpec(
        title="T",
        blocks=[],
        n_rows=10,
        n_cols=8,
        protections=[
            Protection(Range(0, 0, 1, None), "header"),
            Protection(Range(1, 0, None, 5), "data", False),
        ],
    )
    prots = [p["protectedRange"] for p in of_kind(build([spec]), "addProtectedRange")]
    assert prots[0]["warningOnly"] is True and "editors" not in prots[0]
    assert prots[0]["description"] == PROTECTION_PREFIX + "header"
    assert prots[1]["warningOnly"] is False and "editors" not in prots[1]


def test_conditional_format_rule():
    cf = ConditionalFormat(
        Range(1, 5, None, 6), '=LOWER($F2)="fail"', background="#F4CCCC", color="#990000", bold=True
    )
    spec = TabSpec(title="T", blocks=[], n_rows=10, n_cols=8, conditional_formats=[cf, cf])
    rules = of_kind(build([spec]), "addConditionalFormatRule")
    assert [r["index"] for r in rules] == [0, 1]
    rule = rules[0]["rule"]
    assert rule["booleanRule"]["condition"] == {
        "type": "CUSTOM_FORMULA",
        "values": [{"userEnteredValue": '=AND(LOWER($F2)="fail",N("sheetsync")=0)'}],
    }
    assert rule["booleanRule"]["format"]["backgroundColor"] == rgb("#F4CCCC")
    assert rule["booleanRule"]["format"]["textFormat"] == {"foregroundColor": rgb("#990000"), "bold": True}
    assert rule["ranges"][0]["startColumnIndex"] == 5


@pytest.mark.parametrize(
    ("kind", "value_axis"), [("line", "LEFT_AXIS"), ("column", "LEFT_AXIS"), ("bar", "BOTTOM_AXIS")]
)
def test_chart(kind, value_axis):
    chart = Chart(
        kind,
        "Agreement over runs",
        Range(0, 0, 6, 1),
        (Range(0, 1, 6, 2), Range(0, 2, 6, 3)),
        anchor=(1, 5),
        x_title="run",
        y_title="rate",
        width=640,
        height=300,
    )
    spec = TabSpec(title="T", blocks=[], n_rows=6, n_cols=3, charts=[chart])
    reqs = build([spec])
    sid = reqs[0]["addSheet"]["properties"]["sheetId"]
    c = of_kind(reqs, "addChart")[0]["chart"]
    basic = c["spec"]["basicChart"]
    assert c["spec"]["title"] == "Agreement over runs"
    assert basic["chartType"] == kind.upper() and basic["headerCount"] == 1
    assert basic["legendPosition"] == "BOTTOM_LEGEND"
    assert basic["domains"][0]["domain"]["sourceRange"]["sources"] == [
        {"sheetId": sid, "startRowIndex": 0, "startColumnIndex": 0, "endRowIndex": 6, "endColumnIndex": 1}
    ]
    assert [s["targetAxis"] for s in basic["series"]] == [value_axis] * 2
    assert basic["axis"] == [
        {"position": "BOTTOM_AXIS", "title": "run"},
        {"position": "LEFT_AXIS", "title": "rate"},
    ]
    assert c["position"]["overlayPosition"] == {
        "anchorCell": {"sheetId": sid, "rowIndex": 1, "columnIndex": 5},
        "widthPixels": 640,
        "heightPixels": 300,
    }


def test_dimensions_widths_runs_row_height_hidden():
    spec = TabSpec(
        title="T",
        blocks=[],
        n_rows=50,
        n_cols=8,
        frozen_rows=1,
        column_widths={0: 120, 1: 120, 2: 400, 4: 400},
        row_height=80,
        hidden_columns=(6, 7),
    )
    dims = of_kind(build([spec]), "updateDimensionProperties")
    flat = [
        (d["range"]["dimension"], d["range"]["startIndex"], d["range"]["endIndex"], d["properties"])
        for d in dims
    ]
    assert flat == [
        ("COLUMNS", 0, 2, {"pixelSize": 120}),
        ("COLUMNS", 2, 3, {"pixelSize": 400}),
        ("COLUMNS", 4, 5, {"pixelSize": 400}),
        ("ROWS", 1, 50, {"pixelSize": 80}),
        ("COLUMNS", 6, 8, {"hiddenByUser": True}),
    ]


def test_basic_filter_new_tab():
    spec = TabSpec(title="T", blocks=[], n_rows=5, n_cols=4, basic_filter=Range(0, 0, None, 4))
    f = of_kind(build([spec]), "setBasicFilter")[0]["filter"]
    assert f["range"]["endColumnIndex"] == 4 and set(f) == {"range"}


def test_existing_replace_clears_in_place_and_removes_everything():
    spec = TabSpec.table("Annotate", [["a"]], frozen_rows=0)
    reqs = build([spec], {"Annotate": EXISTING})
    ks = kinds(reqs)
    assert "addSheet" not in ks
    assert of_kind(reqs, "deleteProtectedRange") == [{"protectedRangeId": 1}, {"protectedRangeId": 2}]
    assert of_kind(reqs, "deleteConditionalFormatRule") == [{"sheetId": 42, "index": i} for i in (2, 1, 0)]
    assert of_kind(reqs, "deleteEmbeddedObject") == [{"objectId": 900}, {"objectId": 901}]
    assert of_kind(reqs, "clearBasicFilter") == [{"sheetId": 42}]
    clear = of_kind(reqs, "updateCells")[0]
    assert clear == {"range": {"sheetId": 42}, "fields": "*"}
    props = of_kind(reqs, "updateSheetProperties")[0]
    assert props["properties"]["gridProperties"]["rowCount"] == MIN_ROWS  # replace may shrink (500 before)
    assert "tabColorStyle" in props["fields"]  # cleared
    # Clearing comes before the new values.
    assert ks.index("updateSheetProperties") > ks.index("updateCells")
    assert of_kind(reqs, "updateCells")[1]["rows"] == [
        {"values": [{"userEnteredValue": {"stringValue": "a"}}]}
    ]


def test_existing_keep_removes_only_sheetsyncs_own_and_never_shrinks():
    spec = TabSpec(
        title="Annotate",
        blocks=[Block(0, 0, [["id"]])],
        n_rows=20,
        n_cols=30,
        replace=False,
        protections=[Protection(Range(0, 0, 1, None), "header")],
        basic_filter=Range(0, 0, None, 30),
    )
    reqs = build([spec], {"Annotate": EXISTING})
    assert of_kind(reqs, "deleteProtectedRange") == [{"protectedRangeId": 1}]  # not the owner's lock
    # only sheetsync's tagged rules go (last first, so indices stay valid); the expert's rule 1 stays
    assert of_kind(reqs, "deleteConditionalFormatRule") == [{"sheetId": 42, "index": i} for i in (2, 0)]
    assert of_kind(reqs, "deleteEmbeddedObject") == [{"objectId": 900}]  # the expert's chart 901 stays
    assert "clearBasicFilter" not in kinds(reqs)
    # No whole-grid clear: only the block is written.
    cells = of_kind(reqs, "updateCells")
    assert len(cells) == 1 and "start" in cells[0]
    # The grid only grows, relative to its size when applied (an absolute size read earlier could cut off a
    # column the expert inserted meanwhile): 500 rows stay, 12 columns get 18 more.
    grid = of_kind(reqs, "updateSheetProperties")[0]["properties"]["gridProperties"]
    assert "rowCount" not in grid and "columnCount" not in grid
    assert of_kind(reqs, "appendDimension") == [{"sheetId": 42, "dimension": "COLUMNS", "length": 18}]
    assert "tabColorStyle" not in of_kind(reqs, "updateSheetProperties")[0]["fields"]
    # The expert's sort survives the filter's range update.
    f = of_kind(reqs, "setBasicFilter")[0]["filter"]
    assert f["sortSpecs"] == EXISTING.basic_filter["sortSpecs"]
    assert len(of_kind(reqs, "addProtectedRange")) == 1


def test_duplicate_specs_refused():
    with pytest.raises(ValueError, match="same tab"):
        build([TabSpec.table("A", [["x"]]), TabSpec.table("A", [["y"]])])


def test_parse_metadata():
    resp = {
        "sheets": [
            {
                "properties": {
                    "sheetId": 7,
                    "title": "Annotate",
                    "index": 1,
                    "gridProperties": {"rowCount": 100, "columnCount": 9, "frozenRowCount": 1},
                },
                "protectedRanges": [
                    {"protectedRangeId": 11, "description": PROTECTION_PREFIX + "x"},
                    {"protectedRangeId": 12},
                ],
                "conditionalFormats": [
                    {"ranges": [], "booleanRule": {"condition": {"values": [{"userEnteredValue": "=A1"}]}}},
                    {"ranges": []},
                ],
                "charts": [{"chartId": 5}],
                "basicFilter": {"range": {"sheetId": 7}},
            },
            {
                "properties": {
                    "sheetId": 0,
                    "title": "Sheet1",
                    "index": 0,
                    "gridProperties": {"rowCount": 1000, "columnCount": 26},
                }
            },
        ]
    }
    meta = parse_metadata(resp)
    assert meta["Annotate"] == SheetMeta(
        7,
        "Annotate",
        1,
        100,
        9,
        frozen_rows=1,
        protections=((11, PROTECTION_PREFIX + "x"), (12, "")),
        conditional_formulas=("=A1", ""),
        conditional_ranges=((), ()),
        chart_ids=(5,),
        basic_filter={"range": {"sheetId": 7}},
    )
    assert meta["Sheet1"].protections == () and meta["Sheet1"].basic_filter is None
    assert "protectedRanges(protectedRangeId,description)" in METADATA_FIELDS


def test_a_tab_sheetsync_did_not_make_is_never_replaced():
    theirs = SheetMeta(sheet_id=7, title="Judge", index=2, row_count=10, col_count=3)
    with pytest.raises(UserInputError, match="“Judge” exists and was not made by sheetsync"):
        build([TabSpec.table("Judge", [["verdicts"]])], {"Judge": theirs})


def test_new_tabs_are_marked_as_sheetsyncs_and_charts_get_ids_recorded_on_the_tab():
    chart = Chart("line", "Trend", Range(0, 0, 3, 1), (Range(0, 1, 3, 2),), anchor=(0, 3))
    reqs = build([TabSpec.table("Agreement", [["x", "y"], [1, 2]], charts=[chart])])
    marks = {m["developerMetadata"]["metadataKey"]: m["developerMetadata"]["metadataValue"]
             for m in of_kind(reqs, "createDeveloperMetadata")}
    chart_id = of_kind(reqs, "addChart")[0]["chart"]["chartId"]
    assert marks == {"sheetsync.tab": "1", "sheetsync.charts": json.dumps([chart_id])}


@pytest.mark.parametrize(("locale", "separator"), [("en_US", ","), ("de_DE", ";"), ("fr_FR", ";"), ("pt_BR", ";"),
                                                   ("ja_JP", ","), ("de_CH", ",")])
def test_custom_formulas_use_the_spreadsheets_argument_separator(locale, separator):
    cf = ConditionalFormat(Range(1, 0, None, 1), '=LEFT($G2,5)="a,b"', "#FF0000")
    spec = TabSpec(title="T", blocks=[], n_rows=3, n_cols=7, conditional_formats=[cf])
    reqs = build_requests([spec], {}, rng=random.Random(1), locale=locale)
    formula = of_kind(reqs, "addConditionalFormatRule")[0]["rule"]["booleanRule"]["condition"]["values"][0]
    assert formula["userEnteredValue"] == f'=AND(LEFT($G2{separator}5)="a,b"{separator}N("sheetsync")=0)'
