"""The scripted expert on an .xlsx workbook: opens it (openpyxl, as Excel would), edits, saves. Each action
returns what the expert now expects to find beside each id, so the suite can check it byte for byte."""

from __future__ import annotations

from collections.abc import Callable

import openpyxl
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from sheetsync.annotate import CRITIQUE, NOTES, ROOT_CAUSE, VERDICT
from tests.attack.expert import EDITED_CRITIQUE, TYPED_BELOW, TYPED_LABEL
from tests.expert import Expert

FIELDS = (VERDICT, CRITIQUE, ROOT_CAUSE, NOTES)
OWN_RULE = 'ISNUMBER(SEARCH("refund",$D2))'


def _text(cell, value: str | None) -> None:
    """Type text as text (Excel keeps "=1+1" typed after an apostrophe as text; so do we)."""
    cell.value = value or None
    if value:
        cell.data_type = "s"


class XlsxExpert(Expert):
    """The expert of the round-trip tests (tests/expert.py), typing text as text and checking what it typed."""

    @staticmethod
    def header(ws) -> list[str]:
        return [c.value or "" for c in ws[1]]

    def labels(self) -> dict[str, dict[str, str]]:
        """id -> the four expert texts, exactly as stored in the file."""
        wb, ws = self._open()
        h = self.header(ws)
        out: dict[str, dict[str, str]] = {}
        for row in ws.iter_rows(min_row=2, values_only=True):
            rid = row[h.index("id")] if len(row) > h.index("id") else None
            if rid:
                out[str(rid)] = {f: "" if row[h.index(f)] is None else str(row[h.index(f)]) for f in FIELDS}
        return out

    def orphans(self) -> list[dict[str, str]]:
        wb, ws = self._open()
        h = self.header(ws)
        return [{f: "" if r[h.index(f)] is None else str(r[h.index(f)]) for f in FIELDS}
                for r in ws.iter_rows(min_row=2, values_only=True) if not r[h.index("id")] and any(
                    r[h.index(f)] for f in FIELDS)]

    def type_labels(self, labels: dict[str, dict[str, str]]) -> None:
        wb, ws = self._open()
        h = self.header(ws)
        for row in ws.iter_rows(min_row=2):
            rid = row[h.index("id")].value
            for f, t in labels.get(rid, {}).items():
                _text(row[h.index(f)], t)
        wb.save(self.path)

    # ------------------------------------------------------------------------------ actions

    def sort_by_critique(self) -> None:
        wb, ws = self._open()
        h = self.header(ws)
        data = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
        data.sort(key=lambda r: str(r[h.index(CRITIQUE)] or "~"))
        for r, values in enumerate(data, start=2):
            for c, v in enumerate(values, start=1):
                if isinstance(v, str):
                    _text(ws.cell(r, c), v)
                else:
                    ws.cell(r, c).value = v
        wb.save(self.path)

    def type_below_the_data(self) -> None:
        wb, ws = self._open()
        h = self.header(ws)
        r = ws.max_row + 1
        for f, t in TYPED_BELOW.items():
            _text(ws.cell(r, h.index(f) + 1), t)
        wb.save(self.path)

    def move_critique_to_b(self) -> None:
        wb, ws = self._open()
        h = self.header(ws)
        src = h.index(CRITIQUE) + 1
        values = [ws.cell(r, src).value for r in range(1, ws.max_row + 1)]
        ws.delete_cols(src)
        ws.insert_cols(2)
        for r, v in enumerate(values, start=1):
            _text(ws.cell(r, 2), v)
        wb.save(self.path)

    def add_dropdown(self) -> None:
        wb, ws = self._open()
        col = openpyxl.utils.get_column_letter(self.header(ws).index(NOTES) + 1)
        dv = DataValidation(type="list", formula1='"todo,done"', allow_blank=True)
        dv.add(f"{col}2:{col}40")
        ws.add_data_validation(dv)
        wb.save(self.path)

    def add_rule(self) -> None:
        wb, ws = self._open()
        fill = PatternFill(fill_type="solid", start_color="FFFFFF00", end_color="FFFFFF00")
        ws.conditional_formatting.add("D2:D100", FormulaRule(formula=[OWN_RULE], fill=fill))
        wb.save(self.path)

    def add_own_tab(self, title: str) -> None:
        wb, _ = self._open()
        wb.create_sheet(title)["A1"] = f"The expert's own “{title}” tab"
        wb.save(self.path)

    # ------------------------------------------------------------------------------ objects

    def own_objects(self) -> dict[str, object]:
        wb = openpyxl.load_workbook(self.path)
        ws = wb["Annotate"]
        return {
            "dropdown": sorted(str(dv.sqref) for dv in ws.data_validations.dataValidation
                               if dv.formula1 == '"todo,done"'),
            "rule": sum(r.formula == [OWN_RULE] for cf in ws.conditional_formatting for r in cf.rules),
            "tabs": {t: wb[t]["A1"].value for t in wb.sheetnames if t.startswith(("Judge", "Root causes"))
                     and wb[t]["A1"].value and str(wb[t]["A1"].value).startswith("The expert's own")},
        }


def _edit(x: XlsxExpert, want: dict[str, dict[str, str]]) -> None:
    want["r02"] = {**want["r02"], CRITIQUE: EDITED_CRITIQUE}
    x.type_labels({"r02": {CRITIQUE: EDITED_CRITIQUE}})


def _label(x: XlsxExpert, want: dict[str, dict[str, str]]) -> None:
    want["r08"] = {**{f: "" for f in FIELDS}, **TYPED_LABEL}
    x.type_labels({"r08": dict(TYPED_LABEL)})


def _delete(x: XlsxExpert, want: dict[str, dict[str, str]]) -> None:
    want.pop("r04", None)
    x.delete_row_with("r04")


#: name -> action(expert, the labels the expert expects to find afterwards (updated in place)).
XLSX_ACTIONS: dict[str, Callable[[XlsxExpert, dict[str, dict[str, str]]], None]] = {
    "sort by Critique": lambda x, want: x.sort_by_critique(),
    "insert a blank row": lambda x, want: x.insert_blank_row(4),
    "delete a labelled row": _delete,
    "type a label below the data": lambda x, want: x.type_below_the_data(),
    "edit a critique": _edit,
    "label an unlabelled row": _label,
    "move the Critique column": lambda x, want: x.move_critique_to_b(),
    "add their own dropdown": lambda x, want: x.add_dropdown(),
    "add their own conditional format rule": lambda x, want: x.add_rule(),
    "add their own tab named like a sheetsync tab": lambda x, want: x.add_own_tab("Judge"),
}
