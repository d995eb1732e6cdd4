"""The local .xlsx backend: values stay exactly as written, the expert's cells survive every write, and a
write is all-or-nothing (backup kept, no half-written file, no write over someone else's save)."""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook as OpenpyxlWorkbook

from sheetsync.backends.xlsx import LISTS_SHEET, XlsxWorkbook, cell_text
from sheetsync.backends.xlsx_write import PackageWriter
from sheetsync.errors import BackendError, SheetsyncError
from sheetsync.layout import (
    EXPERT_BLUE,
    FAIL_RED,
    PASS_GREEN,
    Block,
    Chart,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
)
from tests.xlsx_parts import package

TRICKY = ["=IMPORTXML(\"http://x\", \"//a\")", "+1", "-1", "@x", "007", "TRUE", "1/2", "#N/A", "=1+1", "'quoted"]
HEADER = ["id", "input", "output", "Pass/Fail", "Critique", "Root cause"]


def annotate_spec(rows: list[list], *, replace: bool = True, blocks: list[Block] | None = None, **kw) -> TabSpec:
    """An Annotate-like tab: data in A:C, the expert's columns D:F."""
    all_rows = [HEADER, *rows]
    base = dict(
        title="Annotate",
        blocks=blocks if blocks is not None else [Block(0, 0, all_rows)],
        n_rows=len(all_rows),
        n_cols=len(HEADER),
        replace=replace,
        column_widths={0: 75, 1: 320, 2: 320, 4: 285},
        row_height=80,
        frozen_rows=1,
        frozen_cols=1,
        hidden_columns=(5,),
        styles=[
            Style(Range(0, 0, 1, None), bold=True),
            Style(Range(1, 0, None, None), wrap=True, valign="top"),
            Style(Range(1, 3, None, 6), background=EXPERT_BLUE),
        ],
        validations=[
            Validation(Range(1, 3, None, 4), ("Pass", "Fail")),
            Validation(Range(1, 5, None, 6), ("hallucination", "missed context", "tone")),
        ],
        protections=[Protection(Range(0, 0, None, 3), "Filled by sheetsync: edit the data and push again.")],
        conditional_formats=[
            ConditionalFormat(Range(1, 3, None, 4), '=LOWER($D2)="pass"', PASS_GREEN),
            ConditionalFormat(Range(1, 3, None, 4), '=LOWER($D2)="fail"', FAIL_RED, bold=True),
        ],
        charts=[],
        basic_filter=Range(0, 0, None, 6),
        tab_color="#4A86E8",
    )
    base.update(kw)
    return TabSpec(**base)


def data_rows(n: int, prefix: str = "out") -> list[list]:
    return [[f"r{i}", f"question {i}", f"{prefix} {i}", None, None, None] for i in range(n)]


def data_only_block(rows: list[list]) -> list[Block]:
    """What a re-push writes: header and data columns, never the expert's columns."""
    return [Block(0, 0, [HEADER[:3]] + [r[:3] for r in rows])]


def sheet_xml(path: Path, title: str) -> str:
    """The raw XML of one tab, found through the workbook's relationships."""
    with zipfile.ZipFile(path) as z:
        workbook = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.search(rf'<sheet [^>]*name="{re.escape(title)}"[^>]*r:id="(rId\d+)"', workbook)
        if rid is None:
            rid = re.search(rf'<sheet [^>]*r:id="(rId\d+)"[^>]*name="{re.escape(title)}"', workbook)
        assert rid is not None, workbook
        target = re.search(rf'Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels) or re.search(
            rf'Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels
        )
        assert target is not None
        name = target.group(1).lstrip("/")
        return z.read(name if name.startswith("xl/") else f"xl/{name}").decode()


def expert_edits(path: Path, edits: dict[str, object], title: str = "Annotate") -> None:
    """The expert opens the file, types into cells and saves (openpyxl stands in for Excel)."""
    wb = openpyxl.load_workbook(path)
    for coordinate, value in edits.items():
        wb[title][coordinate] = value
    wb.save(path)


# ---------------------------------------------------------------------- basics


def test_attributes_share_and_identity(tmp_path: Path) -> None:
    path = tmp_path / "labels.xlsx"
    wb = XlsxWorkbook(str(path))
    assert wb.locator == str(path)
    assert wb.url == path.resolve().as_uri() and wb.url.startswith("file://")
    assert wb.max_cell_chars == 32767
    ident = wb.identity()
    assert (ident.kind, ident.who, ident.where) == ("xlsx", "local file", str(path.resolve()))
    with pytest.raises(SheetsyncError, match=r"(?s)shared drive.*--share works with Google Sheets"):
        wb.share(["expert@example.com"])


def test_missing_file_reads_every_tab_as_none(tmp_path: Path) -> None:
    wb = XlsxWorkbook(tmp_path / "nope.xlsx")
    assert wb.read(["Annotate", "Instructions"], with_layout=True) == {"Annotate": None, "Instructions": None}
    assert wb.tab_titles() == []


def test_new_file_has_only_the_written_tabs(tmp_path: Path) -> None:
    path = tmp_path / "new.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("Instructions", [["Judge each row."]]), annotate_spec(data_rows(2))])
    assert openpyxl.load_workbook(path).sheetnames == ["Instructions", "Annotate"]
    assert XlsxWorkbook(path).tab_titles() == ["Instructions", "Annotate"]
    assert not (tmp_path / "new.xlsx.bak").exists()  # nothing to back up yet


# ---------------------------------------------------------------------- values


def test_round_trip_keeps_every_value_exactly(tmp_path: Path) -> None:
    path = tmp_path / "values.xlsx"
    long_text = ("ünïcødé 🙂 " * 4000)[:32767]
    rows = [
        TRICKY,
        ["multi\nline\ntext", "  padded  ", "ünïcødé — 日本語 🙂", "tab\there", "", None, "x"],
        [3, 2.5, -0.1, True, False, 10**20, float("nan")],
        [long_text],
    ]
    wb = XlsxWorkbook(path)
    wb.write([TabSpec.table("T", rows)])

    grid = XlsxWorkbook(path).read(["T", "Missing"])
    assert grid["Missing"] is None
    assert grid["T"] == [
        TRICKY,
        ["multi\nline\ntext", "  padded  ", "ünïcødé — 日本語 🙂", "tab\there", "", "", "x"],
        ["3", "2.5", "-0.1", "TRUE", "FALSE", "100000000000000000000"],  # NaN → empty, trimmed
        [long_text],
    ]

    # openpyxl sees literal strings and real numbers/bools…
    ws = openpyxl.load_workbook(path)["T"]
    assert [c.value for c in ws[1]] == TRICKY
    assert all(c.data_type == "s" for c in ws[1])
    assert [c.value for c in ws[3]][:5] == [3, 2.5, -0.1, True, False]
    assert ws["F3"].value == "100000000000000000000"  # beyond 2**53: text, so no digit is lost
    # …and so does Excel: no formula element anywhere, every text cell is a string cell.
    xml = sheet_xml(path, "T")
    assert "<f>" not in xml and "<f " not in xml
    assert re.search(r'<c r="A1"[^>]*t="(inlineStr|s)"', xml)
    assert re.search(r'<c r="I1"[^>]*t="(inlineStr|s)"', xml)  # "#N/A" is text, not an error cell
    assert re.search(r'<c r="D3"[^>]*t="b"', xml)


def test_numpy_scalars_are_numbers(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "np.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("T", [[np.int64(5), np.float64(2.5), np.bool_(True)]])])
    assert [c.value for c in openpyxl.load_workbook(path)["T"][1]] == [5, 2.5, True]


def test_text_longer_than_excel_allows_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "long.xlsx"
    with pytest.raises(BackendError, match=r"T!A1 holds 32,768 characters"):
        XlsxWorkbook(path).write([TabSpec.table("T", [["x" * 32768]])])
    assert list(tmp_path.iterdir()) == []


def test_text_xml_cannot_carry_is_stored_exactly(tmp_path: Path) -> None:
    """Control characters, lone surrogates, "\r" and literal "_x000D_" go as Excel's _xHHHH_ escapes: the
    file is valid XML and every value reads back exactly (an id is never changed by the trip)."""
    path = tmp_path / "ctl.xlsx"
    row = ["ansi \x1b[31mred\x1b[0m", "nul\x00", "non\ufffechar", "lone \ud800", "crlf\r\nand\rcr", "ok \u2028 😀",
           "literal _x000D_ and _x005F_", "id\r", "\t tab and  spaces  "]
    XlsxWorkbook(path).write([TabSpec.table("T", [row])])
    assert XlsxWorkbook(path).read(["T"])["T"] == [row]
    xml = sheet_xml(path, "T")
    assert "_x001B_" in xml and "_x000D_" in xml and "_x005F_x000D_" in xml
    openpyxl.load_workbook(path)  # a strict XML parser accepts the file


def test_cells_are_read_as_a_person_sees_them(tmp_path: Path) -> None:
    path = tmp_path / "typed.xlsx"
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.title = "T"
    ws.append([3.0, 0.1 + 0.2, 1e-7, datetime(2024, 5, 1, 10, 30), date(2024, 5, 2), "=SUM(A1,2)", None, None])
    wb.save(path)
    assert XlsxWorkbook(path).read(["t"])["t"] == [  # Excel tab names are case-insensitive
        ["3", "0.3", "1e-07", "2024-05-01 10:30:00", "2024-05-02", "=SUM(A1,2)"]
    ]
    assert cell_text(None) == "" and cell_text(True) == "TRUE" and cell_text(-4.0) == "-4"


def test_trailing_empty_cells_and_rows_are_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "trim.xlsx"
    XlsxWorkbook(path).write([TabSpec(title="T", blocks=[Block(0, 0, [["a", None, "b", None], [None]])],
                                      n_rows=50, n_cols=10, styles=[Style(Range(0, 0, None, None), bold=True)])])
    assert XlsxWorkbook(path).read(["T"])["T"] == [["a", "", "b"]]


# ---------------------------------------------------------------------- replace vs blocks


def test_block_write_keeps_every_cell_outside_the_blocks(tmp_path: Path) -> None:
    path = tmp_path / "labels.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("Instructions", [["v1"]]), annotate_spec(data_rows(3))])
    expert_edits(path, {"D2": "Fail", "E2": "=not a formula, my critique", "F3": "tone", "H9": "my own note"})

    wb = XlsxWorkbook(path)
    wb.read(["Annotate"], with_layout=True)
    rows = data_rows(4, prefix="new")
    wb.write([annotate_spec(rows, replace=False, blocks=data_only_block(rows))])

    grid = XlsxWorkbook(path).read(["Annotate", "Instructions"])
    assert grid["Instructions"] == [["v1"]]  # a tab not in the write is untouched
    annotate = grid["Annotate"]
    assert annotate[1] == ["r0", "question 0", "new 0", "Fail", "=not a formula, my critique"]
    assert annotate[2] == ["r1", "question 1", "new 1", "", "", "tone"]
    assert annotate[4] == ["r3", "question 3", "new 3"]
    assert annotate[8] == ["", "", "", "", "", "", "", "my own note"]


def test_replace_rebuilds_the_tab_in_place(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    wb = XlsxWorkbook(path)
    wb.write([TabSpec.table(t, [[t, "old", "old"], ["x", "y"]]) for t in ("A", "Report", "C")])
    wb.write([TabSpec.table("Report", [["new"]])])
    grid = wb.read(["Report"])
    assert grid["Report"] == [["new"]]
    assert wb.tab_titles() == ["A", "Report", "C"]


def test_index_places_the_tab(tmp_path: Path) -> None:
    path = tmp_path / "i.xlsx"
    wb = XlsxWorkbook(path)
    wb.write([TabSpec.table(t, [[t]]) for t in ("A", "B", "C")])
    wb.write([TabSpec.table("Summary", [["s"]], index=0), TabSpec.table("C", [["c2"]], index=1)])
    assert wb.tab_titles() == ["Summary", "C", "A", "B"]


def test_a_write_copies_every_part_it_does_not_change_byte_for_byte(tmp_path: Path) -> None:
    """No object model in between: a tab outside the write (here with the expert's picture-free extras,
    a defined name and a custom part) keeps its exact XML, and openpyxl is never asked to load the file."""
    path = tmp_path / "parts.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("Other", [["theirs", 1]]), annotate_spec(data_rows(3))])
    expert_edits(path, {"B2": "typed"}, title="Other")
    with zipfile.ZipFile(path) as z:
        before = {n: z.read(n) for n in z.namelist()}
    wb = XlsxWorkbook(path)
    wb.read(["Annotate"], with_layout=True)
    rows = data_rows(3, prefix="new")
    wb.write([annotate_spec(rows, replace=False, blocks=data_only_block(rows))])
    with zipfile.ZipFile(path) as z:
        after = {n: z.read(n) for n in z.namelist()}
    other = next(n for n in before if before[n].find(b">typed<") != -1)
    assert after[other] == before[other]
    changed = {n for n in before if after.get(n) != before[n]}
    assert changed <= {"xl/workbook.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/_rels/sheet2.xml.rels",
                       "xl/comments/comment1.xml", "xl/drawings/commentsDrawing1.vml", "xl/styles.xml",
                       "docProps/app.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"} | {
        n for n in before if "comment" in n}


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"The folder .*nowhere does not exist"):
        XlsxWorkbook(tmp_path / "nowhere" / "x.xlsx").write([TabSpec.table("T", [["x"]])])


def test_same_object_can_read_write_read_write(tmp_path: Path) -> None:
    wb = XlsxWorkbook(tmp_path / "loop.xlsx")
    for n in (1, 2, 3):
        wb.read(["Annotate"], with_layout=True)
        wb.write([annotate_spec(data_rows(n))])
    assert len(wb.read(["Annotate"])["Annotate"]) == 4


# ---------------------------------------------------------------------- formatting


def test_formatting_is_replaced_not_duplicated_on_repeated_writes(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    rows = data_rows(5)
    chart = Chart("column", "Verdicts", Range(0, 0, 6, 1), (Range(0, 1, 6, 2),), anchor=(1, 7))
    wb = XlsxWorkbook(path)
    for _ in range(3):
        wb.write([annotate_spec(rows, replace=False, blocks=data_only_block(rows), charts=[chart])])
    ws = openpyxl.load_workbook(path)["Annotate"]
    assert len(ws.data_validations.dataValidation) == 2
    rules = [rule for cf in ws.conditional_formatting for rule in cf.rules]
    assert len(rules) == 2
    assert len(ws._charts) == 1
    notes = [c for row in ws.iter_rows() for c in row if c.comment is not None]
    assert [(c.coordinate, c.comment.author) for c in notes] == [("A1", "sheetsync")]
    assert len(re.findall(r"<pane ", sheet_xml(path, "Annotate"))) == 1
    assert len(re.findall(r"<selection ", sheet_xml(path, "Annotate"))) == 3  # one per frozen pane


def test_dropdowns_warn_but_accept_free_text(tmp_path: Path) -> None:
    path = tmp_path / "dv.xlsx"
    strict = Validation(Range(1, 4, None, 5), ("a", "b"), strict=True, input_message="Pick one")
    spec = annotate_spec(data_rows(2))
    spec.validations.append(strict)
    XlsxWorkbook(path).write([spec])
    dvs = {str(dv.sqref): dv for dv in openpyxl.load_workbook(path)["Annotate"].data_validations.dataValidation}
    verdict = dvs["D2:D1048576"]  # open-ended: rows the expert adds at the bottom get the dropdown too
    assert verdict.type == "list" and verdict.formula1 == '"Pass,Fail"'
    assert verdict.errorStyle == "warning" and verdict.showErrorMessage
    assert not verdict.showDropDown  # openpyxl's inverted flag: False shows the arrow
    assert dvs["F2:F1048576"].formula1 == '"hallucination,missed context,tone"'
    assert dvs["E2:E1048576"].errorStyle == "stop" and dvs["E2:E1048576"].prompt == "Pick one"
    assert 'showDropDown="1"' not in sheet_xml(path, "Annotate")


def test_long_choice_lists_live_on_a_hidden_tab(tmp_path: Path) -> None:
    path = tmp_path / "lists.xlsx"
    causes = tuple(f"root cause number {i} with a long name" for i in range(12)) + ("a, with comma",)
    spec = annotate_spec(data_rows(2), validations=[Validation(Range(1, 5, None, 6), causes)])
    wb = XlsxWorkbook(path)
    for _ in range(2):
        wb.write([spec, TabSpec.table("Other", [["x"]], validations=[Validation(Range(0, 0, 1, 1), causes)])])
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[-1] == LISTS_SHEET and book[LISTS_SHEET].sheet_state == "hidden"
    assert [c.value for c in book[LISTS_SHEET]["A"]] == list(causes)
    assert book[LISTS_SHEET].max_column == 1  # reused, not appended again
    (dv,) = book["Annotate"].data_validations.dataValidation
    assert dv.formula1 == f"'{LISTS_SHEET}'!$A$1:$A${len(causes)}"
    assert wb.tab_titles() == ["Annotate", "Other"]
    assert book.active.title == "Annotate"


def test_conditional_formats_and_styles(tmp_path: Path) -> None:
    path = tmp_path / "cf.xlsx"
    XlsxWorkbook(path).write([annotate_spec(data_rows(3), styles=[
        Style(Range(0, 0, 1, None), bold=True, italic=True, font_size=12, color="#333333", halign="center"),
        Style(Range(1, 0, None, None), wrap=True, valign="middle", number_format="0.0%"),
        Style(Range(1, 3, None, 6), background=EXPERT_BLUE),
    ])])
    ws = openpyxl.load_workbook(path)["Annotate"]
    found = {(str(cf.sqref), rule.formula[0]) for cf in ws.conditional_formatting for rule in cf.rules}
    tag = 'N("sheetsync")=0'  # sheetsync's rules carry an always-true owner tag
    assert found == {("D2:D1048576", f'AND(LOWER($D2)="pass",{tag})'), ("D2:D1048576", f'AND(LOWER($D2)="fail",{tag})')}
    fail_rule = next(r for cf in ws.conditional_formatting for r in cf.rules if "fail" in r.formula[0])
    assert fail_rule.dxf.fill.bgColor.rgb == "FF" + FAIL_RED[1:] and fail_rule.dxf.font.b
    a1, d2 = ws["A1"], ws["D2"]
    assert a1.font.b and a1.font.i and a1.font.sz == 12 and a1.font.color.rgb == "FF333333"
    assert a1.alignment.horizontal == "center"
    assert d2.alignment.wrap_text and d2.alignment.vertical == "center" and d2.number_format == "0.0%"
    assert d2.fill.fgColor.rgb == "FF" + EXPERT_BLUE[1:] and not ws["C2"].fill.fill_type
    assert ws["D4"].fill.fgColor.rgb == "FF" + EXPERT_BLUE[1:]  # empty expert cells are coloured too


def test_charts(tmp_path: Path) -> None:
    path = tmp_path / "charts.xlsx"
    rows = [["run", "TPR", "TNR"], ["r1", 0.8, 0.7], ["r2", 0.9, 0.75], ["r3", 0.95, 0.8]]
    charts = [
        Chart("line", "Agreement", Range(0, 0, 4, 1), (Range(0, 1, 4, 2), Range(0, 2, 4, 3)), anchor=(5, 0),
              x_title="run", y_title="rate", width=480, height=288),
        Chart("bar", "Causes", Range(0, 0, 4, 1), (Range(0, 1, 4, 2),), anchor=(0, 4)),
        Chart("column", "By run", Range(0, 0, None, 1), (Range(0, 2, None, 3),), anchor=(20, 4)),
    ]
    XlsxWorkbook(path).write([TabSpec.table("Agreement", rows, charts=charts)])
    got = openpyxl.load_workbook(path)["Agreement"]._charts
    assert [c.tagname for c in got] == ["lineChart", "barChart", "barChart"]
    assert [getattr(c, "barDir", None) for c in got] == [None, "bar", "col"]
    assert [len(c.series) for c in got] == [2, 1, 1]
    assert [(c.anchor._from.row, c.anchor._from.col) for c in got] == [(5, 0), (0, 4), (20, 4)]
    line = got[0]
    assert line.series[0].tx.strRef.f == "'Agreement'!B1"  # series named from the header cell
    assert line.series[0].val.numRef.f == "'Agreement'!$B$2:$B$4"
    categories = line.series[0].cat
    assert (categories.numRef or categories.strRef).f == "'Agreement'!$A$2:$A$4"
    assert (line.anchor.ext.width, line.anchor.ext.height) == (480 * 9525, 288 * 9525)  # px → EMU


def test_frozen_panes_widths_heights_hidden_columns_filter_and_tab_colour(tmp_path: Path) -> None:
    path = tmp_path / "layout.xlsx"
    XlsxWorkbook(path).write([annotate_spec(data_rows(3))])
    ws = openpyxl.load_workbook(path)["Annotate"]
    assert ws.freeze_panes == "B2"
    assert ws.column_dimensions["A"].width == 10 and ws.column_dimensions["B"].width == 45
    assert ws.column_dimensions["F"].hidden and not ws.column_dimensions["E"].hidden
    assert ws.row_dimensions[1].height == 15
    assert ws.row_dimensions[2].height == 60 and ws.row_dimensions[4].height == 60  # 80 px = 60 pt
    assert ws.sheet_format.defaultRowHeight == 60
    assert ws.auto_filter.ref == "A1:F4"
    with zipfile.ZipFile(path) as z:  # where Excel keeps the filter too (LibreOffice needs it to show one)
        assert ('<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                "'Annotate'!$A$1:$F$4</definedName>") in z.read("xl/workbook.xml").decode()
    assert ws.sheet_properties.tabColor.rgb == "FF4A86E8"


def test_column_runs_saved_by_excel_are_split_not_overlapped(tmp_path: Path) -> None:
    path = tmp_path / "cols.xlsx"
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.title = "Annotate"
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["A"].min, ws.column_dimensions["A"].max = 1, 8  # <col min="1" max="8">
    wb.save(path)
    rows = data_rows(1)
    XlsxWorkbook(path).write([annotate_spec(rows, replace=False, blocks=data_only_block(rows))])
    cols = re.findall(r"<col [^>]*>", sheet_xml(path, "Annotate"))
    spans = [(int(re.search(r'min="(\d+)"', c)[1]), int(re.search(r'max="(\d+)"', c)[1])) for c in cols]
    covered = [c for a, b in spans for c in range(a, b + 1)]
    assert len(covered) == len(set(covered)), spans  # no column described twice
    assert set(covered) == set(range(1, 9))
    widths = openpyxl.load_workbook(path)["Annotate"].column_dimensions
    assert widths["D"].width == 30  # untouched column keeps the expert's width


def test_protection_never_locks_and_keeps_the_experts_notes(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    wb = XlsxWorkbook(path)
    wb.write([annotate_spec(data_rows(2))])
    book = openpyxl.load_workbook(path)
    book["Annotate"]["B1"].comment = openpyxl.comments.Comment("expert's note", "Dr. Expert")
    book.save(path)
    wb.read(["Annotate"], with_layout=True)
    rows = data_rows(2)
    wb.write([annotate_spec(rows, replace=False, blocks=data_only_block(rows), protections=[
        Protection(Range(0, 1, None, 3), "sheetsync data"),
        Protection(Range(1, 0, None, 1), "ids: don't edit"),
    ])])
    ws = openpyxl.load_workbook(path)["Annotate"]
    assert not ws.protection.sheet
    assert ws["B1"].comment.author == "Dr. Expert"  # the expert's note wins, never replaced
    assert ws["A1"].comment.text == "ids: don't edit" and ws["A1"].comment.author == "sheetsync"


# ---------------------------------------------------------------------- safety of the file


def test_backup_keeps_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    wb = XlsxWorkbook(path)
    for version in ("v1", "v2", "v3"):
        wb.write([TabSpec.table("T", [[version]])])
    assert XlsxWorkbook(path).read(["T"])["T"] == [["v3"]]
    assert XlsxWorkbook(tmp_path / "b.xlsx.bak").read(["T"])["T"] == [["v2"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.xlsx", "b.xlsx.bak"]


def test_a_failure_mid_write_leaves_the_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("T", [["v1"]])])
    XlsxWorkbook(path).write([TabSpec.table("T", [["v2"]])])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_save = PackageWriter.save

    def save_then_fail(self: PackageWriter, target: object) -> None:
        real_save(self, target)  # the temp file is fully written…
        raise OSError(28, "No space left on device")  # …then the disk fills up

    monkeypatch.setattr(PackageWriter, "save", save_then_fail)
    with pytest.raises(BackendError, match=r"Could not write .*No space left on device.*Nothing was changed"):
        XlsxWorkbook(path).write([TabSpec.table("T", [["v3"]])])
    monkeypatch.undo()

    def fail_rename(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail_rename)
    with pytest.raises(BackendError, match="Permission denied"):
        XlsxWorkbook(path).write([TabSpec.table("T", [["v3"]])])
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files, nothing changed
    assert XlsxWorkbook(path).read(["T"])["T"] == [["v2"]]


def test_a_save_by_the_expert_since_our_read_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    XlsxWorkbook(path).write([annotate_spec(data_rows(2))])
    wb = XlsxWorkbook(path)
    wb.read(["Annotate"], with_layout=True)
    expert_edits(path, {"D2": "Pass", "E2": "looks right"})
    saved = path.read_bytes()
    with pytest.raises(BackendError, match=r"changed while sheetsync was working \(someone saved it\?\)\. "
                                           r"Nothing was written; run the command again\."):
        wb.write([annotate_spec(data_rows(2), replace=False, blocks=data_only_block(data_rows(2)))])
    assert path.read_bytes() == saved
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    wb.read(["Annotate"])  # the command run again: read, then write
    wb.write([annotate_spec(data_rows(2), replace=False, blocks=data_only_block(data_rows(2)))])
    assert wb.read(["Annotate"])["Annotate"][1][3:5] == ["Pass", "looks right"]


def test_a_save_during_our_write_is_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.xlsx"
    XlsxWorkbook(path).write([annotate_spec(data_rows(2))])
    real_save = PackageWriter.save

    def save_while_expert_saves(self: PackageWriter, target: object) -> None:
        real_save(self, target)
        theirs = openpyxl.load_workbook(path)  # meanwhile, the expert saves a label
        theirs["Annotate"]["D3"] = "Fail"
        theirs.save(path)

    monkeypatch.setattr(PackageWriter, "save", save_while_expert_saves)
    with pytest.raises(BackendError, match="changed while sheetsync was working"):
        XlsxWorkbook(path).write([annotate_spec(data_rows(2))])
    monkeypatch.undo()
    assert XlsxWorkbook(path).read(["Annotate"])["Annotate"][2][3] == "Fail"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.xlsx"]


def test_a_file_created_by_someone_else_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "e.xlsx"
    wb = XlsxWorkbook(path)
    assert wb.read(["Annotate"]) == {"Annotate": None}
    XlsxWorkbook(path).write([TabSpec.table("T", [["theirs"]])])
    with pytest.raises(BackendError, match="changed while sheetsync was working"):
        wb.write([TabSpec.table("T", [["ours"]])])


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04 truncated zip", b""])
def test_a_damaged_file_gives_a_message_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(content)
    wb = XlsxWorkbook(path)
    with pytest.raises(BackendError, match=rf"Could not open {re.escape(str(path.resolve()))} as an Excel "
                                           r"workbook .*restore broken\.xlsx\.bak"):
        wb.read(["Annotate"])
    with pytest.raises(BackendError, match="Could not open"):
        wb.write([TabSpec.table("T", [["x"]])])
    assert path.read_bytes() == content


def test_a_workbook_open_in_excel_or_libreoffice_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "open.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("T", [["v1"]])])
    for lock in ("~$open.xlsx", ".~lock.open.xlsx#"):
        (tmp_path / lock).write_text("someone")
        with pytest.raises(BackendError, match=r"is open in Excel or LibreOffice .*delete"):
            XlsxWorkbook(path).write([TabSpec.table("T", [["v2"]])])
        (tmp_path / lock).unlink()
    assert XlsxWorkbook(path).read(["T"])["T"] == [["v1"]]


@pytest.mark.parametrize("title", ["A" * 32, "a/b", "what?", LISTS_SHEET])
def test_tab_names_excel_refuses_are_rejected_before_writing(tmp_path: Path, title: str) -> None:
    with pytest.raises(BackendError, match="tab name"):
        XlsxWorkbook(tmp_path / "t.xlsx").write([TabSpec.table(title, [["x"]])])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and symlinks")
def test_permissions_and_symlinks_survive_a_write(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "labels.xlsx"
    real.parent.mkdir()
    XlsxWorkbook(real).write([TabSpec.table("T", [["v1"]])])
    os.chmod(real, 0o640)
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    XlsxWorkbook(link).write([TabSpec.table("T", [["v2"]])])
    assert link.is_symlink() and stat.S_IMODE(os.stat(real).st_mode) == 0o640
    assert XlsxWorkbook(real).read(["T"])["T"] == [["v2"]]


def test_a_few_thousand_rows_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    rows = [[f"r{i}", "q " * 100, "a " * 150, None, None, None] for i in range(2000)]
    wb = XlsxWorkbook(path)
    wb.write([annotate_spec(rows)])
    expert_edits(path, {"D1500": "Fail", "E1500": "wrong unit"})
    wb.read(["Annotate"], with_layout=True)
    wb.write([annotate_spec(rows, replace=False, blocks=data_only_block(rows))])
    grid = wb.read(["Annotate"])["Annotate"]
    assert len(grid) == 2001 and grid[1499][3:5] == ["Fail", "wrong unit"]


def excel_style_file(path: Path) -> None:
    """A workbook written the way Excel writes one: shared strings (one with rich-text runs), a run of
    columns in one <col>, a typed formula with its cached value, and a <dimension> that understates the
    data (as some writers leave it)."""
    shared = ["<si><t>id</t></si>", "<si><t>input</t></si>", "<si><r><t>Fa</t></r><r><rPr><b/></rPr><t>il</t></r></si>",
              '<si><t xml:space="preserve">r0 </t></si>']
    sheet = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
             '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="D2" t="s"><v>2</v></c>'
             '<c r="G2"><f>SUM(1,2)</f><v>3</v></c><c r="H2" t="b"><v>1</v></c></row>')
    package(path, sheet, shared=shared,
            before_data='<dimension ref="A1"/><cols><col min="1" max="8" width="30" customWidth="1"/></cols>')


def test_a_file_saved_by_excel_is_read_and_edited_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "excel.xlsx"
    excel_style_file(path)
    wb = XlsxWorkbook(path)
    assert wb.read(["Annotate"], with_layout=True)["Annotate"] == [
        ["id", "input"],
        ["r0 ", "", "", "Fail", "", "", "=SUM(1,2)", "TRUE"],
    ]
    wb.write([annotate_spec([], replace=False, blocks=[Block(0, 0, [["id", "input", "output"], ["r0 ", "q"]])],
                            n_rows=2)])
    assert XlsxWorkbook(path).read(["Annotate"])["Annotate"] == [
        ["id", "input", "output"],
        ["r0 ", "q", "", "Fail", "", "", "=SUM(1,2)", "TRUE"],
    ]
    xml = sheet_xml(path, "Annotate")
    assert "<f>SUM(1,2)</f>" in xml  # the expert's formula is still a formula
    cols = re.findall(r"<col [^>]*>", xml)
    spans = [(int(re.search(r'min="(\d+)"', c)[1]), int(re.search(r'max="(\d+)"', c)[1])) for c in cols]
    covered = [c for a, b in spans for c in range(a, b + 1)]
    assert len(covered) == len(set(covered)) and set(covered) == set(range(1, 9))


# ---------------------------------------------------------------------- appended rows


def test_appended_rows_land_below_a_row_the_expert_typed_and_look_like_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "append.xlsx"
    wb = XlsxWorkbook(path)
    wb.write([annotate_spec(data_rows(3))])  # rows 2-4, expert cells coloured (styled, empty)
    grid = wb.read(["Annotate"])["Annotate"]
    assert len(grid) == 4
    expert_edits(path, {"A5": "typed by the expert", "E5": "their note"})  # after our read, before our write
    new = [["r3", "question 3", "out 3"], ["r4", None, "out 4"]]
    spec = annotate_spec(data_rows(3), replace=False, blocks=[], append_rows=new)  # n_rows=4, as read
    wb.read(["Annotate"])
    wb.write([spec])
    got = XlsxWorkbook(path).read(["Annotate"])["Annotate"]
    assert got[4] == ["typed by the expert", "", "", "", "their note"]  # never overwritten, never paired
    assert got[5:] == [["r3", "question 3", "out 3"], ["r4", "", "out 4"]]
    ws = openpyxl.load_workbook(path)["Annotate"]
    for r in (6, 7):  # the appended rows get the body's styles, row height, dropdowns and filter
        assert ws.cell(r, 4).fill.fgColor.rgb == "FF" + EXPERT_BLUE[1:]
        assert ws.cell(r, 2).alignment.wrap_text and ws.row_dimensions[r].height == 60
    assert ws.auto_filter.ref == "A1:F7"


def test_appended_rows_skip_styled_empty_rows(tmp_path: Path) -> None:
    """sheetsync colours the empty expert cells down to the grid's end; those rows hold no value, so an
    append starts right after the data."""
    path = tmp_path / "styled.xlsx"
    XlsxWorkbook(path).write([annotate_spec(data_rows(2), n_rows=10)])
    XlsxWorkbook(path).write([annotate_spec([], replace=False, blocks=[], append_rows=[["r9", "q", "o"]], n_rows=1)])
    assert XlsxWorkbook(path).read(["Annotate"])["Annotate"][3] == ["r9", "q", "o"]


def test_appending_to_a_new_tab_starts_at_the_top(tmp_path: Path) -> None:
    path = tmp_path / "fresh.xlsx"
    XlsxWorkbook(path).write([TabSpec(title="T", blocks=[], n_rows=1, n_cols=2, append_rows=[["a", "b"], ["c"]])])
    assert XlsxWorkbook(path).read(["T"])["T"] == [["a", "b"], ["c"]]


# ---------------------------------------------------------------------- read-only files


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_workbook_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "frozen.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("T", [["v1"]])])
    os.chmod(path, 0o444)
    before = sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()
    wb = XlsxWorkbook(path)
    wb.read(["T"], with_layout=True)
    with pytest.raises(BackendError, match=r"frozen\.xlsx is read-only, so sheetsync will not replace it\. "
                                           r"Nothing was written\..*chmod u\+w"):
        wb.write([TabSpec.table("T", [["v2"]])])
    assert (sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()) == before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444


def _threads_started_during(action: Callable[[], object]) -> list[threading.Thread]:
    """The threads ``action`` starts, seen from inside each new thread (threading.setprofile runs there
    first). Counting all the process's threads would not do: under xdist, threads of earlier tests
    (emulator servers, executors) end at any moment."""
    started: list[threading.Thread] = []

    def note(*_: object) -> None:
        started.append(threading.current_thread())
        sys.setprofile(None)

    threading.setprofile(note)
    try:
        action()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    return started


def test_a_cell_too_long_found_mid_stream_leaves_no_file_and_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "late.xlsx"
    XlsxWorkbook(path).write([TabSpec.table("T", [["v1"]])])
    before = path.read_bytes()
    rows = [[f"r{i}", "x" * 2000] for i in range(3000)] + [["last", "y" * 32768]]

    def write() -> None:
        with pytest.raises(BackendError, match=r"T!B3001 holds 32,768 characters"):
            XlsxWorkbook(path).write([TabSpec.table("T", rows)])

    started = _threads_started_during(write)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.xlsx"]
    ours = [t for t in started if t.name == "sheetsync-deflate"]
    assert ours, "the rows should have been deflated in a thread of their own"
    assert [t for t in ours if t.is_alive()] == []


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return len(data)


def test_a_disk_that_fills_while_a_part_is_deflated_stops_the_deflate_thread() -> None:
    from sheetsync.backends.xlsx_zip import ZipOut

    def write() -> None:
        writer = ZipOut(_FullDisk(1 << 16), level=1).stream("xl/worksheets/sheet1.xml")  # type: ignore[arg-type]
        with pytest.raises(OSError, match="No space left"):
            for _ in range(40):
                writer.write(os.urandom(1 << 16))  # random bytes: deflate cannot shrink them below the room
            writer.close()

    started = _threads_started_during(write)
    ours = [t for t in started if t.name == "sheetsync-deflate"]
    assert ours, "the part should have been deflated in a thread of its own"
    assert [t for t in ours if t.is_alive()] == []
