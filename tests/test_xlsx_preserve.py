"""What the expert adds to the Annotate tab is theirs: their dropdowns, highlighting rules, charts and notes
survive every re-push, while sheetsync's own objects are replaced, never duplicated."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from sheetsync.backends.xlsx import XlsxWorkbook
from sheetsync.backends.xlsx_sheet import DV_MARK
from sheetsync.layout import Block, Chart, Range, TabSpec, Validation, is_sheetsync_rule
from sheetsync.pull import pull
from sheetsync.push import push
from tests.expert import Expert
from tests.test_roundtrip_xlsx import LABELS, default_rows, make_workspace, write_data


def expert_adds_their_own_things(path: Path) -> None:
    """In Excel: a dropdown on a column they added, a rule that paints "urgent" notes, a chart, a note."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Annotate"]
    header = [c.value for c in ws[1]]
    col = len(header) + 1
    ws.cell(1, col).value = "Reviewer"
    ws.cell(2, col).value = "Ana"
    letter = openpyxl.utils.get_column_letter(col)
    mine = DataValidation(type="list", formula1='"Ana,Bo"', allow_blank=True, promptTitle="Who checked it")
    mine.add(f"{letter}2:{letter}200")
    ws.add_data_validation(mine)
    notes = openpyxl.utils.get_column_letter(header.index("Notes") + 1)
    ws.conditional_formatting.add(f"{notes}2:{notes}200", CellIsRule(operator="equal", formula=['"urgent"'],
                                                                     fill=PatternFill("solid", fgColor="FFFF0000")))
    chart = BarChart()
    chart.title = "My verdict count"
    chart.add_data(Reference(ws, min_col=col, min_row=1, max_row=3), titles_from_data=True)
    ws.add_chart(chart, "P2")
    ws["B3"].comment = Comment("check this persona", "Dr. Expert")
    wb.save(path)


def inventory(path: Path) -> dict:
    ws = openpyxl.load_workbook(path)["Annotate"]
    dvs = ws.data_validations.dataValidation
    rules = [(str(cf.sqref), r) for cf in ws.conditional_formatting for r in cf.rules]
    notes = [(c.coordinate, c.comment.author, c.comment.text) for row in ws.iter_rows() for c in row if c.comment]
    return {
        "their_dv": [str(dv.sqref) for dv in dvs if dv.promptTitle == "Who checked it"],
        "our_dv": len([dv for dv in dvs if dv.promptTitle == DV_MARK]),
        "their_rules": [sq for sq, r in rules if not any(is_sheetsync_rule(f) for f in r.formula)],
        "our_rules": len([r for _, r in rules if any(is_sheetsync_rule(f) for f in r.formula)]),
        "charts": [c.title.tx.rich.p[0].r[0].t for c in ws._charts],
        "their_notes": [n for n in notes if n[1] == "Dr. Expert"],
        "our_notes": len([n for n in notes if n[1] == "sheetsync"]),
    }


def test_the_experts_dropdown_rule_chart_and_note_survive_three_re_pushes(tmp_path: Path) -> None:
    cfg = make_workspace(tmp_path)
    book = tmp_path / "labels.xlsx"
    push(cfg, tmp_path / "data.csv")
    ours = inventory(book)
    Expert(book).label(LABELS)
    expert_adds_their_own_things(book)
    theirs = inventory(book)
    assert theirs["their_dv"] and theirs["their_rules"] and theirs["charts"] == ["My verdict count"]
    for round_ in range(3):
        rows = default_rows(6 + round_)
        rows[0]["output"] = f"answer changed in round {round_}"
        write_data(tmp_path / "data.csv", rows)
        push(cfg, tmp_path / "data.csv")
        now = inventory(book)
        assert now == {**theirs, "our_dv": ours["our_dv"], "our_rules": ours["our_rules"],
                       "our_notes": ours["our_notes"]}, round_
    summary = pull(cfg)
    assert summary.labelled == 4
    assert Expert(book).rows()["r2"]["Critique"] == LABELS["r2"][1]


def test_dropdowns_from_before_the_mark_are_recognised_as_sheetsyncs(tmp_path: Path) -> None:
    """Files written before dropdowns carried promptTitle="sheetsync" are upgraded, not duplicated."""
    path = tmp_path / "old.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "T"
    ws.append(["id", "Pass/Fail"])
    old = DataValidation(type="list", formula1='"Pass,Fail"', errorTitle="Not in the list",
                         error="Pick a value from the list.", showErrorMessage=True)
    old.add("B2:B1048576")
    ws.add_data_validation(old)
    wb.save(path)
    spec = TabSpec(title="T", blocks=[Block(0, 0, [["id", "Pass/Fail"]])], n_rows=2, n_cols=2, replace=False,
                   validations=[Validation(Range(1, 1, None, 2), ("Pass", "Fail"), strict=True)])
    XlsxWorkbook(path).write([spec])
    dvs = openpyxl.load_workbook(path)["T"].data_validations.dataValidation
    assert [(dv.promptTitle, str(dv.sqref)) for dv in dvs] == [(DV_MARK, "B2:B1048576")]


def test_only_sheetsyncs_charts_are_replaced_in_a_drawing_shared_with_the_expert(tmp_path: Path) -> None:
    path = tmp_path / "charts.xlsx"
    rows = [["run", "TPR"], ["r1", 0.8], ["r2", 0.9]]
    ours = Chart("column", "Ours", Range(0, 0, 3, 1), (Range(0, 1, 3, 2),), anchor=(5, 0))
    spec = TabSpec(title="T", blocks=[Block(0, 0, rows)], n_rows=3, n_cols=2, replace=False, charts=[ours])
    XlsxWorkbook(path).write([spec])
    wb = openpyxl.load_workbook(path)  # openpyxl keeps no frame names: re-add ours by writing again below
    chart = BarChart()
    chart.title = "Theirs"
    chart.add_data(Reference(wb["T"], min_col=2, min_row=1, max_row=3), titles_from_data=True)
    wb["T"].add_chart(chart, "E2")
    wb.save(path)
    for _ in range(3):
        XlsxWorkbook(path).write([spec])
    titles = sorted(c.title.tx.rich.p[0].r[0].t for c in openpyxl.load_workbook(path)["T"]._charts)
    # openpyxl renamed our first chart's frame when the expert saved, so that copy counts as theirs now;
    # every chart sheetsync drew since is replaced, never duplicated.
    assert titles == ["Ours", "Ours", "Theirs"]
    with zipfile.ZipFile(path) as z:
        drawing = next(z.read(n).decode() for n in z.namelist() if n.startswith("xl/drawings/drawing"))
    assert drawing.count('name="sheetsync chart') == 1


def test_inserted_columns_move_everything_of_the_expert_to_the_right(tmp_path: Path) -> None:
    """A new sheetsync column goes in as an inserted column (as Excel's Insert does): the expert's cells,
    formulas, dropdown, rule, note, chart and widths to its right move with their columns."""
    path = tmp_path / "insert.xlsx"
    header = ["id", "input", "Pass/Fail", "Critique", ""]
    XlsxWorkbook(path).write([TabSpec(title="T", blocks=[Block(0, 0, [header, ["r1", "q1"], ["r2", "q2"]])],
                                      n_rows=3, n_cols=5, column_widths={3: 300})])
    wb = openpyxl.load_workbook(path)
    ws = wb["T"]
    ws["C2"], ws["D2"], ws["E2"], ws["F2"] = "Fail", "wrong fare", "no header, the expert's", "=LEN(D2)+$E$2"
    mine = DataValidation(type="list", formula1='"x,y"', promptTitle="Who checked it")
    mine.add("E2:E50")
    ws.add_data_validation(mine)
    ws.conditional_formatting.add("C2:C50", CellIsRule(operator="equal", formula=['$D2'],
                                                       fill=PatternFill("solid", fgColor="FFFF0000")))
    ws["D2"].comment = Comment("ask the team", "Dr. Expert")
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    ws.add_chart(chart, "G2")
    wb.save(path)

    spec = TabSpec(title="T", blocks=[Block(0, 2, [["context"], ["c1"], ["c2"]])], n_rows=3, n_cols=6,
                   replace=False, insert_columns=(2,))
    XlsxWorkbook(path).write([spec])

    assert XlsxWorkbook(path).read(["T"])["T"] == [
        ["id", "input", "context", "Pass/Fail", "Critique"],
        ["r1", "q1", "c1", "Fail", "wrong fare", "no header, the expert's", "=LEN(E2)+$F$2"],
        ["r2", "q2", "c2"],
    ]
    ws = openpyxl.load_workbook(path)["T"]
    assert [str(dv.sqref) for dv in ws.data_validations.dataValidation if dv.promptTitle == "Who checked it"] == [
        "F2:F50"]
    assert [(str(cf.sqref), r.formula) for cf in ws.conditional_formatting for r in cf.rules] == [
        ("D2:D50", ["$E2"])]
    assert ws["E2"].comment.text == "ask the team" and ws["D2"].comment is None
    assert ws._charts[0].anchor._from.col == 7  # G → H
    assert ws.column_dimensions["E"].width == round((300 - 5) / 7, 2)  # the Critique width moved with it
