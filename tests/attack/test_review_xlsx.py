"""The Review tab's answers on an .xlsx: the expert edits the Review tab (answers, edits, sorts, inserts,
deletes a row) and saves the workbook between a command's read and its write. A command that read the
tab refuses that write and leaves the saved file exactly as saved; run again, it keeps every answer beside
its id, in the file and in the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from sheetsync.backends.xlsx import XlsxWorkbook
from sheetsync.store import Store
from tests.attack.review_attack import EDITED, FIRST_ANSWERS, MORE_LABELS, TYPED_LATER
from tests.attack.tally import record
from tests.attack.world import BASELINE_LABELS, make_workspace, run_cli
from tests.attack.xlsx_expert import XlsxExpert, _text

BOOK = "labels.xlsx"
CHANGED = "changed while sheetsync was working"


class Review:
    """The expert on the Review tab of an .xlsx, typing text as text (as Excel does after an apostrophe)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _open(self):
        wb = openpyxl.load_workbook(self.path)
        ws = wb["Review"]
        return wb, ws, [c.value or "" for c in ws[1]]

    def answers(self) -> dict[str, tuple[str, str]]:
        _, ws, h = self._open()
        return {str(r[h.index("id")]): ("" if r[h.index("Resolution")] is None else str(r[h.index("Resolution")]),
                                        "" if r[h.index("Why")] is None else str(r[h.index("Why")]))
                for r in ws.iter_rows(min_row=2, values_only=True) if r[h.index("id")]}

    def answer(self, rid: str, answer: tuple[str, str]) -> None:
        wb, ws, h = self._open()
        for row in ws.iter_rows(min_row=2):
            if row[h.index("id")].value == rid:
                _text(row[h.index("Resolution")], answer[0])
                _text(row[h.index("Why")], answer[1])
        wb.save(self.path)

    def sort(self) -> None:
        wb, ws, h = self._open()
        data = [[(c.value, c.data_type) for c in row] for row in ws.iter_rows(min_row=2)]
        data.sort(key=lambda r: str(r[h.index("id")][0] or ""), reverse=True)
        for r, values in enumerate(data, start=2):
            for c, (v, kind) in enumerate(values, start=1):
                cell = ws.cell(r, c)
                cell.value = v
                if kind == "s" and v is not None:
                    cell.data_type = "s"
        wb.save(self.path)

    def insert_row(self) -> None:
        wb, ws, _ = self._open()
        ws.insert_rows(2)
        wb.save(self.path)

    def delete_row(self, rid: str) -> None:
        wb, ws, h = self._open()
        for row in ws.iter_rows(min_row=2):
            if row[h.index("id")].value == rid:
                ws.delete_rows(row[0].row)
                break
        wb.save(self.path)


@pytest.fixture(scope="module")
def reviewed(lab, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review-xlsx") / "ws"
    make_workspace(root, spreadsheet=BOOK)
    with lab.active(root):
        assert run_cli(["push", "data.csv"]).ok
        XlsxExpert(root / BOOK).type_labels({**BASELINE_LABELS, **MORE_LABELS})
        for args in (["pull"], ["judge", "--split", "all", "--json"]):
            assert run_cli(args).ok
        for rid, answer in FIRST_ANSWERS.items():
            Review(root / BOOK).answer(rid, answer)
        assert run_cli(["pull"]).ok
    return root


ACTIONS = {
    "answer an open row": lambda r, want: (r.answer("r10", TYPED_LATER), want.update(r10=TYPED_LATER)),
    "edit an answer": lambda r, want: (r.answer("r04", EDITED), want.update(r04=EDITED)),
    "sort the Review tab": lambda r, want: r.sort(),
    "insert a blank row": lambda r, want: r.insert_row(),
    "delete an answered row": lambda r, want: r.delete_row("r08"),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("command", ["report", "judge", "pull"])
def test_the_expert_saves_the_review_tab_between_read_and_write(lab, reviewed, tmp_path, monkeypatch, command, action):
    root = tmp_path / "ws"
    shutil.copytree(reviewed, root)
    book = root / BOOK
    review = Review(book)
    want = dict(review.answers())
    want = {rid: a for rid, a in want.items() if any(a)}
    stored = dict(want)  # what the store must hold after settling: deleted rows' answers included
    saved: dict[str, bytes] = {}
    original_write, original_read = XlsxWorkbook.write, XlsxWorkbook.read_columns

    def act() -> None:
        if not saved:
            ACTIONS[action](review, want)
            if action == "delete an answered row":
                want.pop("r08")
            saved["bytes"] = book.read_bytes()

    def write(self, specs):
        act()
        return original_write(self, specs)

    def read_columns(self, *args, **kwargs):  # pull never writes: the expert saves right after its last read
        out = original_read(self, *args, **kwargs)
        if args and args[0] == "Review":
            act()
        return out

    monkeypatch.setattr(XlsxWorkbook, "read_columns" if command == "pull" else "write",
                        read_columns if command == "pull" else write)
    problems: list[str] = []
    with lab.active(root):
        outcome = {"report": lambda: run_cli(["report"]), "judge": lambda: run_cli(["judge", "--split", "all"]),
                   "pull": lambda: run_cli(["pull"])}[command]()
        monkeypatch.setattr(XlsxWorkbook, "write", original_write)
        monkeypatch.setattr(XlsxWorkbook, "read_columns", original_read)
        assert saved, "the expert never got to act"
        if outcome.traceback:
            problems.append(outcome.traceback)
        if command != "pull":
            if outcome.exit_code != 2 or CHANGED not in outcome.output:
                problems.append(f"the write must be refused ({CHANGED!r}): exit {outcome.exit_code}")
            if book.read_bytes() != saved["bytes"]:
                problems.append("the workbook the expert saved was changed")
        elif not outcome.ok:
            problems.append(f"exit {outcome.exit_code}: {outcome.output[-300:]!r}")
        for args in (["report"], ["pull"]):
            again = run_cli(args)
            if not again.ok:
                problems.append(f"{args[0]} after the scenario failed: {again.output[-300:]!r}{again.traceback}")
        stored.update({k: v for k, v in want.items()})
        now = Review(book).answers()
        for rid, answer in want.items():
            if now.get(rid) != answer:
                problems.append(f"LABEL LOST: {rid}'s answer is {now.get(rid)!r}, the expert typed {answer!r}")
        store = Store.for_workspace(root / ".sheetsync")
        latest = store.latest_answers("review")
        store.close()
        for rid, answer in stored.items():
            got = (latest[rid].resolution, latest[rid].why) if rid in latest else None
            if got != answer:
                problems.append(f"LABEL LOST: the store's answer for {rid} is {got!r}, the expert typed {answer!r}")
    record(**{"scenarios": 1, "review scenarios": 1, "labels checked": len(want) + len(stored),
              "labels lost": sum("LABEL" in p for p in problems), "problems": sum("LABEL" not in p for p in problems)})
    assert not problems, "\n".join(problems)
