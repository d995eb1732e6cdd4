"""The expert on the Review and Calibration tabs: reads a tab by header, answers rows, sorts and inserts,
in an .xlsx (as Excel would, through openpyxl) or on Google Sheets (through gspread, as the web UI would)."""

from __future__ import annotations

import openpyxl
from gspread.utils import rowcol_to_a1


def _as_rows(grid: list[list]) -> dict[str, dict[str, str]]:
    h = [str(c or "") for c in grid[0]]
    out = {}
    for line in grid[1:]:
        cells = ["" if c is None else str(c) for c in line] + [""] * (len(h) - len(line))
        rid = cells[h.index("id")]
        if rid:
            out[rid] = dict(zip(h, cells, strict=False))
    return out


class XlsxTabExpert:
    def __init__(self, path, tab="Review"):
        self.path, self.tab = path, tab

    def grid(self):
        wb = openpyxl.load_workbook(self.path)
        return [list(r) for r in wb[self.tab].iter_rows(values_only=True)]

    def rows(self):
        return _as_rows(self.grid())

    def answer(self, answers: dict[str, tuple[str, str]]):
        wb = openpyxl.load_workbook(self.path)
        ws = wb[self.tab]
        h = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            rid = row[h.index("id")].value
            if rid in answers:
                row[h.index("Resolution")].value, row[h.index("Why")].value = answers[rid]
        wb.save(self.path)

    def sort_by(self, header, reverse=True):
        wb = openpyxl.load_workbook(self.path)
        ws = wb[self.tab]
        h = [c.value for c in ws[1]]
        data = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
        data.sort(key=lambda r: str(r[h.index(header)] or ""), reverse=reverse)
        for r, values in enumerate(data, start=2):
            for c, v in enumerate(values, start=1):
                ws.cell(r, c).value = v
        wb.save(self.path)

    def insert_blank_row(self, at):
        wb = openpyxl.load_workbook(self.path)
        wb[self.tab].insert_rows(at)
        wb.save(self.path)


class GoogleTabExpert:
    def __init__(self, client, title, tab="Review"):
        self.sh = client.open(title)
        self.ws = self.sh.worksheet(tab)

    def grid(self):
        return self.ws.get_all_values()

    def rows(self):
        return _as_rows(self.grid())

    def answer(self, answers: dict[str, tuple[str, str]]):
        grid = self.grid()
        h = grid[0]
        updates = []
        for r, line in enumerate(grid[1:], start=2):
            rid = line[h.index("id")] if line else ""
            if rid in answers:
                for header, value in zip(("Resolution", "Why"), answers[rid], strict=True):
                    updates.append({"range": rowcol_to_a1(r, h.index(header) + 1), "values": [[value]]})
        self.ws.batch_update(updates, value_input_option="RAW")

    def sort_by(self, header, reverse=True):
        col = self.grid()[0].index(header)
        self.sh.batch_update({"requests": [{"sortRange": {
            "range": {"sheetId": self.ws.id, "startRowIndex": 1},
            "sortSpecs": [{"dimensionIndex": col, "sortOrder": "DESCENDING" if reverse else "ASCENDING"}]}}]})

    def insert_blank_row(self, at):
        self.sh.batch_update({"requests": [{"insertDimension": {"range": {
            "sheetId": self.ws.id, "dimension": "ROWS", "startIndex": at - 1, "endIndex": at}}}]})
