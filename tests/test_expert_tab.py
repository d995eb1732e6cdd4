"""A tab with the expert's columns (sheetsync.expert_tab), on .xlsx and on the Sheets emulator through gspread:
answers stay with their ids through sorts, re-writes and new rows; the tab is never rebuilt; near-miss and
deleted headers stop the read; a row showing another row's text is marked misplaced and put back."""

from pathlib import Path

import openpyxl
import pytest

from sheetsync.backends import open_workbook
from sheetsync.config import Config
from sheetsync.expert_tab import KEY, Choice, ExpertTabLayout, TabStructureError, read_expert_tab, update_spec
from sheetsync.layout import TabSpec
from sheetsync.testing.emulator import _sheets_emulator_server, gspread_client, sheets_emulator  # noqa: F401

LAYOUT = ExpertTabLayout(
    title="Proposals", id_header="proposal", own=("category", "count"), expert=("Decision", "Why"),
    choices={"Decision": Choice(("Accept", "Reject"), strict=False)}, widths={"category": 200},
)


def rows(n, count=1):
    return {f"P{i}": {"category": f"cause {i}", "count": count * i} for i in range(n)}


def write(wb, new_rows):
    spec = update_spec(LAYOUT, read_expert_tab(wb, LAYOUT), new_rows)
    if spec is not None:
        wb.write([spec])
    return spec


class XlsxExpert:
    def __init__(self, path: Path):
        self.path = path

    def edit(self, fn):
        book = openpyxl.load_workbook(self.path)
        ws = book["Proposals"]
        grid = [[c.value for c in row] for row in ws.iter_rows()]
        out = fn(grid)
        if out is not None:
            for r, values in enumerate(out, start=1):
                for c, v in enumerate(values, start=1):
                    ws.cell(r, c).value = v
        book.save(self.path)

    def answer(self, answers):
        def fn(grid):
            h = grid[0]
            for row in grid[1:]:
                if row[h.index("proposal")] in answers:
                    row[h.index("Decision")], row[h.index("Why")] = answers[row[h.index("proposal")]]
            return grid
        self.edit(fn)

    def sort_desc(self):
        self.edit(lambda g: [g[0], *sorted(g[1:], key=lambda r: str(r[0]), reverse=True)])


class GoogleExpert:
    def __init__(self, client, key):
        self.ws = client.open_by_key(key).worksheet("Proposals")

    def answer(self, answers):
        grid = self.ws.get_all_values()
        h = grid[0]
        for r, row in enumerate(grid[1:], start=2):
            if row[h.index("proposal")] in answers:
                d, why = answers[row[h.index("proposal")]]
                self.ws.update_cell(r, h.index("Decision") + 1, d)
                self.ws.update_cell(r, h.index("Why") + 1, why)

    def sort_desc(self):
        self.ws.sort((1, "des"), range=f"A2:{chr(64 + self.ws.col_count)}{self.ws.row_count}")


@pytest.fixture(params=["xlsx", "google"])
def book(request, tmp_path, monkeypatch):
    cfg = Config(root=tmp_path)
    if request.param == "xlsx":
        wb = open_workbook("book.xlsx", cfg)
        return wb, lambda: XlsxExpert(tmp_path / "book.xlsx")
    em = request.getfixturevalue("sheets_emulator")
    client = request.getfixturevalue("gspread_client")
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", em.address)
    wb = open_workbook("Expert tab test", cfg)
    wb.write([TabSpec.table("Other", [["x"]])])  # creates the spreadsheet, so the expert can open it
    return wb, lambda: GoogleExpert(client, wb.locator)


def answers_by_id(wb):
    return {r.id: (r.expert["Decision"], r.expert["Why"]) for r in read_expert_tab(wb, LAYOUT).rows}


def test_answers_stay_with_ids_through_sorts_rewrites_and_appends(book):
    wb, expert = book
    first = write(wb, rows(4))
    assert first is not None and first.replace
    expert().answer({"P1": ("Accept", "clear"), "P3": ("Reject", "  =1+1 ")})
    expert().sort_desc()
    assert write(wb, rows(4)) is None  # nothing changed: no write at all

    spec = write(wb, {**rows(4, count=10), "P9": {"category": "new one", "count": 1}})
    assert not spec.replace and len(spec.append_rows) == 1
    assert all(b.col != read_expert_tab(wb, LAYOUT).at["Decision"] for b in spec.blocks)
    tab = read_expert_tab(wb, LAYOUT)
    got = {r.id: r for r in tab.rows}
    assert set(got) == {"P0", "P1", "P2", "P3", "P9"}
    assert answers_by_id(wb)["P1"] == ("Accept", "clear") and answers_by_id(wb)["P3"] == ("Reject", "  =1+1 ")
    assert got["P3"].own["count"] in ("30", "30.0") and got["P9"].own["category"] == "new one"
    assert not any(r.misplaced for r in tab.rows)


def test_ids_no_longer_given_are_left_as_they_are(book):
    wb, expert = book
    write(wb, rows(3))
    expert().answer({"P2": ("Accept", "")})
    write(wb, {"P0": {"category": "cause 0", "count": 5}})
    tab = read_expert_tab(wb, LAYOUT).by_id()
    assert set(tab) == {"P0", "P1", "P2"} and tab["P2"].expert["Decision"] == "Accept"


def test_misplaced_text_is_detected_and_put_back(tmp_path):
    wb = open_workbook("book.xlsx", Config(root=tmp_path))
    write(wb, rows(3))
    expert = XlsxExpert(tmp_path / "book.xlsx")

    def swap_text(grid):  # a write that landed mid-sort: P0's row shows P1's text and key
        h = grid[0]
        a, b = grid[1], grid[2]
        for name in ("category", "count", KEY):
            a[h.index(name)], b[h.index(name)] = b[h.index(name)], a[h.index(name)]
        return grid

    expert.edit(swap_text)
    tab = read_expert_tab(wb, LAYOUT).by_id()
    assert tab["P0"].misplaced and tab["P1"].misplaced and not tab["P2"].misplaced
    write(wb, rows(3))
    tab = read_expert_tab(wb, LAYOUT).by_id()
    assert not any(r.misplaced for r in tab.values()) and tab["P0"].own["category"] == "cause 0"


def test_renamed_or_deleted_expert_header_stops_the_read(tmp_path):
    wb = open_workbook("book.xlsx", Config(root=tmp_path))
    write(wb, rows(2))
    expert = XlsxExpert(tmp_path / "book.xlsx")

    def rename(grid):
        grid[0][grid[0].index("Decision")] = "decision"
        return grid

    expert.edit(rename)
    with pytest.raises(TabStructureError, match="“decision”, which looks like sheetsync's “Decision”"):
        read_expert_tab(wb, LAYOUT)

    def delete(grid):
        grid[0][grid[0].index("decision")] = None
        return grid

    expert.edit(delete)
    with pytest.raises(TabStructureError, match="expert's column.*“Decision” are missing"):
        read_expert_tab(wb, LAYOUT)


def test_a_deleted_sheetsync_column_comes_back_at_the_right_end(tmp_path):
    wb = open_workbook("book.xlsx", Config(root=tmp_path))
    write(wb, rows(2))
    expert = XlsxExpert(tmp_path / "book.xlsx")
    expert.answer({"P1": ("Accept", "ok")})

    def drop_count(grid):
        c = grid[0].index("count")
        return [[*r[:c], *r[c + 1:], None] for r in grid]

    expert.edit(drop_count)
    tab = read_expert_tab(wb, LAYOUT)
    assert tab.missing == ["count"]
    spec = write(wb, rows(2))
    assert spec.insert_columns == (len(tab.headers),)
    tab = read_expert_tab(wb, LAYOUT).by_id()
    assert tab["P1"].expert == {"Decision": "Accept", "Why": "ok"} and tab["P1"].own["count"] in ("1", "1.0")
