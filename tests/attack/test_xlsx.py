"""The same attack on an .xlsx workbook, where the window is between a command's read of the file and its
write: the expert saves the workbook in between (in Excel; here openpyxl). A command that read the file
must then refuse to write ("changed while sheetsync was working", exit 2) and leave the expert's saved
file exactly as they saved it; run again, it finishes, and every label is beside its id byte for byte —
in the file and in the store. A read-only workbook is never replaced."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path

import pytest

from sheetsync.backends.xlsx import XlsxWorkbook
from sheetsync.store import Store
from tests.attack.lab import COMMANDS
from tests.attack.tally import record
from tests.attack.world import BASELINE_LABELS, FILL_LABELS, make_workspace, run_cli, write_dataset
from tests.attack.xlsx_expert import FIELDS, XLSX_ACTIONS, XlsxExpert

BOOK = "labels.xlsx"
CHANGED = "changed while sheetsync was working"
#: Commands that read the workbook before they write it (so a save in between must stop them): judge and
#: report read the Review tab first (the expert's answers there decide what they write).
READS_FIRST = {"first push", "re-push", "fill_expert_cells", "judge", "report"}
OWN_TAB = {"judge": "Judge", "report": "Root causes"}


@pytest.fixture(scope="module")
def books(lab, tmp_path_factory):
    """Workspaces on an .xlsx: empty; labelled (pushed, labelled by the expert, pulled, r03 changed and
    pushed); repush (labelled + dataset v3); judged (labelled + a judge run)."""
    base = tmp_path_factory.mktemp("xlsx")
    out: dict[str, Path] = {}
    root = base / "empty"
    make_workspace(root, spreadsheet=BOOK)
    out["empty"] = root
    labelled = base / "labelled"
    _copy(root, labelled)
    with lab.active(labelled):
        assert run_cli(["push", "data.csv"]).ok
        XlsxExpert(labelled / BOOK).type_labels(BASELINE_LABELS)
        assert run_cli(["pull"]).ok
        write_dataset(labelled / "data.csv", 2)
        assert run_cli(["push", "data.csv"]).ok
    out["labelled"] = labelled
    _copy(labelled, base / "repush")
    write_dataset(base / "repush" / "data.csv", 3)
    out["repush"] = base / "repush"
    _copy(labelled, base / "judged")
    with lab.active(base / "judged"):
        assert run_cli(["judge", "--split", "all", "--json"]).ok
    out["judged"] = base / "judged"
    return out


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def _fresh(books, command, tmp_path) -> Path:
    root = tmp_path / "ws"
    _copy(books[COMMANDS[command].baseline], root)
    return root


def _expected(root: Path) -> dict[str, dict[str, str]]:
    return {rid: {f: t for f, t in texts.items()} for rid, texts in XlsxExpert(root / BOOK).labels().items()
            if any(texts.values())} if (root / BOOK).exists() else {}


XLSX_COMMANDS = ["first push", "re-push", "fill_expert_cells", "judge", "report"]
OWN_FILE = "save their own workbook at that path"
#: Before the first push there is no workbook to edit: there, the expert saves their own file at the path.
SCENARIOS = [("first push", OWN_FILE)] + [(c, a) for c in XLSX_COMMANDS[1:] for a in XLSX_ACTIONS]


@pytest.mark.parametrize("command,action", SCENARIOS)
def test_the_expert_saves_between_read_and_write(lab, books, tmp_path, monkeypatch, command, action):
    root = _fresh(books, command, tmp_path)
    book = root / BOOK
    x = XlsxExpert(book)
    want = _expected(root)
    saved: dict[str, bytes] = {}
    original = XlsxWorkbook.write

    def write(self, specs):
        if not saved:  # the expert saves once, right before sheetsync's first write
            if action == OWN_FILE:
                import openpyxl

                wb = openpyxl.Workbook()
                wb.active["A1"] = "The expert's own workbook"
                wb.save(book)
            elif action.startswith("add their own tab"):
                x.add_own_tab(OWN_TAB.get(command, "Judge"))
            else:
                XLSX_ACTIONS[action](x, want)
            saved["bytes"] = book.read_bytes()
            saved["objects"] = x.own_objects() if command != "first push" else {}
        return original(self, specs)

    monkeypatch.setattr(XlsxWorkbook, "write", write)
    problems: list[str] = []
    with lab.active(root):
        outcome = COMMANDS[command].run(root)
        assert saved, "the command never wrote"
        monkeypatch.setattr(XlsxWorkbook, "write", original)
        own_tab_hit = action.startswith("add their own tab") and command in OWN_TAB
        if command in READS_FIRST:
            if outcome.exit_code != 2 or CHANGED not in outcome.output:
                problems.append(f"the write must be refused ({CHANGED!r}): exit {outcome.exit_code}, {outcome.output[-300:]!r}")
            if book.read_bytes() != saved["bytes"]:
                problems.append("the workbook the expert saved was changed")
        elif own_tab_hit:
            if outcome.exit_code != 2:
                problems.append(f"the expert's own “{OWN_TAB[command]}” tab must not be replaced: exit "
                                f"{outcome.exit_code}")
        elif not outcome.ok:
            problems.append(f"exit {outcome.exit_code}: {outcome.output[-400:]!r}{outcome.traceback}")
        if outcome.traceback:
            problems.append(outcome.traceback)
        again = COMMANDS[command].run(root)
        if not again.ok and not own_tab_hit:
            problems.append(f"the re-run failed: exit {again.exit_code}, {again.output[-400:]!r}{again.traceback}")
        problems += _check(root, x, want, saved.get("objects", {}), command)
        if action == OWN_FILE:
            import openpyxl

            kept = openpyxl.load_workbook(book)
            if "Sheet" not in kept.sheetnames or kept["Sheet"]["A1"].value != "The expert's own workbook":
                problems.append("the expert's own tab in their workbook was changed")
    record(**{"scenarios": 1, "xlsx scenarios": 1, "labels checked": 2 * len(want),
              "labels lost": sum("LABEL" in p for p in problems), "problems": sum("LABEL" not in p for p in problems)})
    assert not problems, "\n".join(problems)


def _check(root: Path, x: XlsxExpert, want, objects, command) -> list[str]:
    """The expert's labels beside their ids in the file (and the imported ones where they typed nothing),
    the same in the store after a pull; their own objects still there."""
    problems = []
    if command == "fill_expert_cells":
        want = copy.deepcopy(want)
        for rid, texts in FILL_LABELS.items():
            if rid not in want:
                want[rid] = {f: texts.get(f, "") for f in FIELDS}
    got = {rid: t for rid, t in x.labels().items() if any(t.values())}
    for rid in sorted(set(want) | set(got)):
        if got.get(rid) != want.get(rid):
            problems.append(f"LABEL LOST OR CHANGED: {rid} is {got.get(rid)!r} in the file, the expert has {want.get(rid)!r}")
    now = x.own_objects()
    for what, before in objects.items():
        if now[what] != before:
            problems.append(f"the expert's own {what} changed: {before!r} -> {now[what]!r}")
    pull = run_cli(["pull", "--json"])
    if not pull.ok:
        return [*problems, f"pull failed: {pull.output[-300:]}"]
    store = Store.for_workspace(root / ".sheetsync")
    try:
        stored = {rid: {"Pass/Fail": lb.raw_verdict, "Critique": lb.critique, "Root cause": lb.root_cause,
                        "Notes": lb.notes} for rid, lb in store.labels().items()}
    finally:
        store.close()
    for rid, texts in want.items():
        if stored.get(rid) != texts:
            problems.append(f"LABEL LOST OR CHANGED: the store has {rid} as {stored.get(rid)!r}, the expert {texts!r}")
    if len(pull.result["labels_without_id"]) != len(x.orphans()):
        problems.append(f"labels without an id not reported: {pull.result['labels_without_id']}")
    return problems


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("command", [*XLSX_COMMANDS[1:], "pull"])
def test_a_read_only_workbook_is_never_replaced(lab, books, tmp_path, command):
    root = _fresh(books, command if command != "pull" else "pull", tmp_path)
    book = root / BOOK
    before = book.read_bytes()
    want = _expected(root)
    os.chmod(book, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    problems = []
    try:
        with lab.active(root):
            outcome = COMMANDS[command].run(root)
            if command == "pull":
                if not outcome.ok:
                    problems.append(f"pull only reads: it must work on a read-only workbook: {outcome.output[-300:]}")
            elif outcome.exit_code != 2 or "is read-only, so sheetsync will not replace it" not in outcome.output:
                problems.append(f"exit {outcome.exit_code}: {outcome.output[-300:]!r}{outcome.traceback}")
            if book.read_bytes() != before:
                problems.append("the read-only workbook was replaced")
    finally:
        os.chmod(book, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    with lab.active(root):
        again = COMMANDS[command].run(root)
        if not again.ok:
            problems.append(f"once writable, the command must finish: {again.output[-300:]!r}{again.traceback}")
        problems += _check(root, XlsxExpert(book), want, {}, command)
    record(**{"scenarios": 1, "xlsx scenarios": 1, "labels checked": 2 * len(want),
              "labels lost": sum("LABEL" in p for p in problems), "problems": sum("LABEL" not in p for p in problems)})
    assert not problems, "\n".join(problems)
