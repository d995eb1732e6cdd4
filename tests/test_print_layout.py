"""A workbook people can read on paper and on screen: rows as tall as their wrapped text, notes wrapped across
a table, a page setup (landscape, one page wide, the header on every page), trend lines that show single
points, every accepted verdict spelling coloured — rendered by both backends from the same TabSpec.

Google's API has no print settings (no request or sheet property holds them), so there the spec's page setup
renders nothing and the frozen header is what Sheets repeats on printed pages; the tests say so."""

from __future__ import annotations

import openpyxl
import pytest

from sheetsync.annotate import spelled
from sheetsync.backends.google import open_google_workbook
from sheetsync.backends.tab_requests import build_requests
from sheetsync.backends.xlsx import XlsxWorkbook
from sheetsync.layout import Chart, PageSetup, Range, Style, TabSpec
from sheetsync.textfit import LINE_PX, MIN_ROW_PX, fit_rows, lines
from sheetsync.verdicts import FAIL_WORDS, PASS_WORDS, normalize_verdict

LONG = ("The booking was made on 17 January at 21:15 UTC and the message came on 19 January at 07:48, about 34 "
        "hours later, so the free window had already closed. ") * 3
NOTE = "A note that runs past the first column: it is wrapped across the whole table instead of being cut. " * 2


def report_like() -> TabSpec:
    rows = [["id", "critique", "verdict"], ["r1", LONG, "fail"], ["r2", "Short and right.", "pass"], [NOTE],
            ["run", "TPR dev", "TPR test"], ["#1 dev", 0.8, None], ["#2 test", None, 0.9]]
    spec = TabSpec.table(
        "Report", rows, column_widths={0: 100, 1: 300, 2: 100}, frozen_rows=1,
        styles=[Style(Range(1, 1, 3, 2), wrap=True), Style(Range(3, 0, 4, 1), wrap=True, italic=True)],
        merges=[Range(3, 0, 4, 3)], page=PageSetup(repeat=(0, 1)),
        charts=[Chart("line", "TPR by split", Range(4, 0, 7, 1), (Range(4, 1, 7, 2), Range(4, 2, 7, 3)), (8, 0),
                      colors=("#38761D", "#93C47D"), y_range=(0.0, 1.0))])
    return fit_rows(spec)


def test_wrapped_text_gets_as_many_lines_as_it_needs():
    assert lines("short", 300) == 1
    per_line = (300 - 8) / 6.0  # characters a 300 px column holds
    assert 500 / per_line <= lines("word " * 100, 300) <= 1.25 * 500 / per_line  # words wrap whole
    assert lines("one\ntwo\nthree", 300) == 3
    assert lines("x" * 200, 100) >= 200 * 6 // 92  # a word longer than the line breaks anywhere
    spec = report_like()
    assert spec.row_heights[1] >= lines(LONG, 300) * LINE_PX
    assert 2 not in spec.row_heights  # one line: the program's own height
    # the note is measured across the three columns it is merged over, not its first column alone
    assert spec.row_heights[3] <= lines(NOTE, 500, italic=True) * LINE_PX + MIN_ROW_PX
    assert lines(NOTE, 500, italic=True) < lines(NOTE, 100, italic=True)


def test_xlsx_carries_page_setup_heights_merges_and_trend_points(tmp_path):
    path = tmp_path / "book.xlsx"
    XlsxWorkbook(path).write([report_like()])
    ws = openpyxl.load_workbook(path)["Report"]
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$1:$1"
    assert ws.oddFooter.left.text == "&A" and "&P" in ws.oddFooter.right.text
    assert ws.row_dimensions[2].height == pytest.approx(report_like().row_heights[1] * 0.75)
    assert ws.row_dimensions[3].height is None
    assert [str(m) for m in ws.merged_cells.ranges] == ["A4:C4"]
    (chart,) = ws._charts
    colours = [s.graphicalProperties.line.solidFill.srgbClr for s in chart.series]
    assert [getattr(c, "val", c) for c in colours] == ["38761D", "93C47D"]
    assert all(s.marker.symbol == "circle" for s in chart.series)  # a split judged once still shows
    assert (chart.y_axis.scaling.min, chart.y_axis.scaling.max) == (0.0, 1.0)


def test_xlsx_rebuild_drops_old_merges_and_keeps_one_print_title(tmp_path):
    path = tmp_path / "book.xlsx"
    XlsxWorkbook(path).write([report_like()])
    again = report_like()
    again.merges = []
    XlsxWorkbook(path).write([again])
    wb = openpyxl.load_workbook(path)
    assert list(wb["Report"].merged_cells.ranges) == []
    assert wb["Report"].print_title_rows == "$1:$1"


def test_google_gets_row_heights_merges_and_trend_points(sheets_emulator, gspread_client):
    key = gspread_client.create("Layout").id
    open_google_workbook(key, emulator_host=sheets_emulator.address).write([report_like()])
    meta = gspread_client.http_client.fetch_sheet_metadata(key, params={"includeGridData": "true"})
    sheet = next(s for s in meta["sheets"] if s["properties"]["title"] == "Report")
    heights = [r.get("pixelSize") for r in sheet["data"][0]["rowMetadata"][:4]]
    assert heights[1] == report_like().row_heights[1] and heights[2] == 21
    assert sheet["merges"] == [{"sheetId": sheet["properties"]["sheetId"], "startRowIndex": 3, "endRowIndex": 4,
                                "startColumnIndex": 0, "endColumnIndex": 3}]
    (chart,) = sheet["charts"]
    series = chart["spec"]["basicChart"]["series"]
    assert all(s["pointStyle"]["shape"] == "CIRCLE" for s in series) and "colorStyle" in series[0]
    (axis,) = chart["spec"]["basicChart"]["axis"]
    assert axis["viewWindowOptions"]["viewWindowMax"] == 1.0
    # a rebuild unmerges first, so rewriting the tab never trips over its own merge
    open_google_workbook(key, emulator_host=sheets_emulator.address).write([report_like()])


def test_google_has_no_print_settings_to_write():
    """The page setup renders nothing on Google: no request type of the API carries one (checked against the
    discovery document the emulator validates with), so the frozen header row stands in for it."""
    requests = build_requests([report_like()], {})
    kinds = {next(iter(r)) for r in requests}
    assert not any("print" in k.lower() or "page" in k.lower() for k in kinds)
    from sheetsync.emulator.schema import discovery

    schemas = discovery()["schemas"]
    request_kinds = schemas["Request"]["properties"]
    assert not any("print" in k.lower() or "pagesetup" in k.lower() for k in request_kinds)
    assert not any("print" in k.lower() for k in schemas["SheetProperties"]["properties"])


@pytest.mark.parametrize("word", sorted(PASS_WORDS | FAIL_WORDS))
def test_every_spelling_pull_accepts_is_coloured(word):
    verdict = normalize_verdict(word)
    is_pass, is_fail = spelled("$G2", "Pass", PASS_WORDS), spelled("$G2", "Fail", FAIL_WORDS)
    assert (f'="{word}"' in is_pass) == (verdict == "pass")
    assert (f'="{word}"' in is_fail) == (verdict == "fail")
    assert 'SUBSTITUTE($G2,".","")' in is_pass  # "Pass." counts, as pull reads it


def test_annotate_context_columns_are_as_wide_as_what_they_hold(tmp_path, monkeypatch):
    from sheetsync.config import load_config
    from sheetsync.label_import import fill_expert_cells
    from sheetsync.push import push
    from sheetsync.workspace import init_workspace, open_store, open_workspace_workbook
    from tests.test_roundtrip_xlsx import write_data

    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("context = []", 'context = ["tier", "booking_facts"]'))
    facts = "ref: QW4T8M; passenger: Hannah Price; identity_verified: yes; fare: Flex; flight: FJ 402 LGW–BGO"
    write_data(tmp_path / "data.csv", [{"id": f"r{i}", "tier": "Gold", "booking_facts": facts,
                                        "input": "question", "output": "answer " * 60} for i in range(8)])
    cfg = load_config(toml)
    push(cfg, tmp_path / "data.csv")

    def widths() -> dict[str, float]:
        ws = openpyxl.load_workbook(tmp_path / "labels.xlsx")["Annotate"]
        return {c.value: ws.column_dimensions[c.column_letter].width for c in ws[1]}

    first = widths()
    assert first["tier"] < first["booking_facts"] and first["booking_facts"] >= 40  # ~300 px: wraps in a few lines
    store = open_store(cfg)
    fill_expert_cells(cfg, {"r1": {"Pass/Fail": "Pass", "Critique": "Fine."}},
                      workbook=open_workspace_workbook(cfg, store, None), store=store)
    assert widths() == first  # the import re-applies the tab's formatting with the same fitted widths
    rows = openpyxl.load_workbook(tmp_path / "labels.xlsx")["Annotate"].row_dimensions
    assert rows[2].height > 120 * 0.75  # tall enough for the long output, not the 160 px default guess
