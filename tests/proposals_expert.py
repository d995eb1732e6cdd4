"""The expert on the Root-cause proposals tab (and on Annotate's Root cause dropdown), in an .xlsx (as Excel
would, through openpyxl) or on Google Sheets (through the real gspread client, as the web UI would)."""

from __future__ import annotations

import openpyxl
from gspread.utils import ValueRenderOption, rowcol_to_a1

from sheetsync.triage.tab import CATEGORY, DECISION, EDITED

TAB = "Root-cause proposals"


class XlsxSheet:
    def __init__(self, path):
        self.path = path

    def grid(self, tab: str) -> list[list]:
        return [list(r) for r in openpyxl.load_workbook(self.path)[tab].iter_rows(values_only=True)]

    def titles(self) -> list[str]:
        return openpyxl.load_workbook(self.path).sheetnames

    def decide(self, decisions: dict[str, tuple[str, str | None]], *, sort: bool = False) -> None:
        """Types (Decision, Definition (edited)) beside each named category, then sorts the tab by Decision."""
        book = openpyxl.load_workbook(self.path)
        ws = book[TAB]
        grid = [[c.value for c in row] for row in ws.iter_rows()]
        h = grid[0]
        for row in grid[1:]:
            if row[h.index(CATEGORY)] in decisions:
                row[h.index(DECISION)], row[h.index(EDITED)] = decisions[row[h.index(CATEGORY)]]
        if sort:
            grid = [h, *sorted(grid[1:], key=lambda r: str(r[h.index(DECISION)] or ""))]
        for r, values in enumerate(grid, start=1):
            for c, v in enumerate(values, start=1):
                ws.cell(r, c).value = v
        book.save(self.path)

    def root_cause_choices(self) -> list[str]:
        """Every value the Annotate tab's dropdowns (or the lists they point at) offer."""
        book = openpyxl.load_workbook(self.path)
        out: list[str] = []
        for dv in book["Annotate"].data_validations.dataValidation:
            f = dv.formula1 or ""
            if f.startswith('"'):
                out += f.strip('"').split(",")
            elif "!" in f:
                sheet, cells = f.split("!")
                ws = book[sheet.strip("'")]
                out += [c.value for row in ws[cells.replace("$", "")] for c in row if c.value]
        return out


class GoogleSheet:
    def __init__(self, client, title):
        self.sh = client.open(title)

    def grid(self, tab: str) -> list[list]:
        return self.sh.worksheet(tab).get_all_values(value_render_option=ValueRenderOption.unformatted)

    def titles(self) -> list[str]:
        return [w.title for w in self.sh.worksheets()]

    def decide(self, decisions: dict[str, tuple[str, str | None]], *, sort: bool = False) -> None:
        ws = self.sh.worksheet(TAB)
        grid = ws.get_all_values()
        h = grid[0]
        updates = []
        for r, line in enumerate(grid[1:], start=2):
            if line and line[h.index(CATEGORY)] in decisions:
                for header, value in zip((DECISION, EDITED), decisions[line[h.index(CATEGORY)]], strict=True):
                    updates.append({"range": rowcol_to_a1(r, h.index(header) + 1), "values": [[value or ""]]})
        ws.batch_update(updates, value_input_option="RAW")
        if sort:
            self.sh.batch_update({"requests": [{"sortRange": {
                "range": {"sheetId": ws.id, "startRowIndex": 1},
                "sortSpecs": [{"dimensionIndex": h.index(DECISION), "sortOrder": "ASCENDING"}]}}]})

    def root_cause_choices(self) -> list[str]:
        meta = self.sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "'Annotate'!A2:Z2"})
        values = meta["sheets"][0]["data"][0]["rowData"][0]["values"]
        rules = [v["dataValidation"] for v in values if "dataValidation" in v]
        return [c["userEnteredValue"] for r in rules for c in r["condition"].get("values", [])]
