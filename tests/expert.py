"""Plays the domain expert editing an .xlsx workbook, as they would in Excel."""

import openpyxl


class Expert:
    """Plays the expert editing the workbook in Excel (through openpyxl, saving the file)."""

    def __init__(self, path):
        self.path = path

    def _open(self):
        wb = openpyxl.load_workbook(self.path)
        return wb, wb["Annotate"]

    def header(self, ws):
        return [c.value for c in ws[1]]

    def label(self, labels: dict[str, tuple[str, str, str]]):
        wb, ws = self._open()
        h = self.header(ws)
        for row in ws.iter_rows(min_row=2):
            rid = row[h.index("id")].value
            if rid in labels:
                verdict, critique, cause = labels[rid]
                row[h.index("Pass/Fail")].value = verdict
                row[h.index("Critique")].value = critique
                row[h.index("Root cause")].value = cause
        wb.save(self.path)

    def sort_by(self, column, reverse=True):
        wb, ws = self._open()
        h = self.header(ws)
        data = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
        data.sort(key=lambda r: str(r[h.index(column)] or ""), reverse=reverse)
        for r, values in enumerate(data, start=2):
            for c, v in enumerate(values, start=1):
                ws.cell(r, c).value = v
        wb.save(self.path)

    def insert_blank_row(self, at):
        wb, ws = self._open()
        ws.insert_rows(at)
        wb.save(self.path)

    def delete_row_with(self, rid):
        wb, ws = self._open()
        h = self.header(ws)
        for row in ws.iter_rows(min_row=2):
            if row[h.index("id")].value == rid:
                ws.delete_rows(row[0].row)
                break
        wb.save(self.path)

    def move_column_to_front(self, header):
        """Cut the column and insert it as column B (like dragging it left)."""
        wb, ws = self._open()
        h = self.header(ws)
        src = h.index(header) + 1
        values = [ws.cell(r, src).value for r in range(1, ws.max_row + 1)]
        ws.delete_cols(src)
        ws.insert_cols(2)
        for r, v in enumerate(values, start=1):
            ws.cell(r, 2).value = v
        wb.save(self.path)

    def rows(self):
        wb, ws = self._open()
        h = self.header(ws)
        return {r[h.index("id")]: dict(zip(h, r, strict=False)) for r in ws.iter_rows(min_row=2, values_only=True)
                if r[h.index("id")]}
