"""Check sheetsync's .xlsx files against a real spreadsheet program: LibreOffice (outside CI, which has none).

    apt-get install --no-install-recommends libreoffice-calc-nogui
    .venv/bin/python scripts/check_xlsx_libreoffice.py

1. sheetsync writes a workbook (Annotate with styles, dropdowns — one on the hidden list tab —, rules, a
   note, a filter; a report tab with a chart; text with a line break, a control character, a literal
   "_x000D_", leading spaces and a tab);
2. LibreOffice opens it and saves it as .xlsx: everything must still be there, the text exact;
3. sheetsync re-pushes onto LibreOffice's file (shared strings, LibreOffice's own styles) and LibreOffice
   opens the result again.
Exits non-zero, naming what went missing, if any step loses something.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

from sheetsync.backends.xlsx import XlsxWorkbook  # noqa: E402
from sheetsync.layout import Chart, Range, TabSpec, Validation  # noqa: E402
from tests.test_backend_xlsx import annotate_spec, data_only_block, data_rows  # noqa: E402

TEXT = ["line1\nline2 \x01ctl _x000D_ literal", "  lead\ttab"]
CAUSES = tuple(f"root cause number {i} with a long name" for i in range(12))


def spec(rows: list[list], **kw) -> TabSpec:
    s = annotate_spec(rows, **kw)
    s.validations.append(Validation(Range(1, 4, None, 5), CAUSES))  # long: lives on the hidden tab
    return s


def through_libreoffice(src: Path, outdir: Path) -> Path:
    subprocess.run(["soffice", "--headless", "--convert-to", "xlsx", "--outdir", str(outdir), str(src)],
                   capture_output=True, timeout=180, check=True)
    return outdir / src.name


def inventory(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    ws = wb["Annotate"]
    return {
        "tabs": wb.sheetnames,
        "filter": ws.auto_filter.ref is not None,
        "dropdowns": len(ws.data_validations.dataValidation),
        "rules": sum(len(c.rules) for c in ws.conditional_formatting),
        "notes": sum(1 for row in ws.iter_rows() for c in row if c.comment),
        "charts": len(wb["Agreement"]._charts),
    }


def main() -> int:
    if shutil.which("soffice") is None:
        print("LibreOffice (soffice) is not installed: apt-get install --no-install-recommends libreoffice-calc-nogui")
        return 2
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ours = d / "ours.xlsx"
        rows = data_rows(5)
        rows[0][1], rows[1][1] = TEXT
        chart = Chart("line", "Agreement", Range(0, 0, 4, 1), (Range(0, 1, 4, 2), Range(0, 2, 4, 3)), anchor=(5, 0))
        table = [["run", "TPR", "TNR"], ["r1", 0.8, 0.7], ["r2", 0.9, 0.75], ["r3", 0.95, 0.8]]
        XlsxWorkbook(ours).write([TabSpec.table("Instructions", [["Read me"]]), spec(rows),
                                  TabSpec.table("Agreement", table, charts=[chart])])
        expected = inventory(ours)
        first = through_libreoffice(ours, d / "lo1")
        got = inventory(first)
        text = [row[1] for row in XlsxWorkbook(first).read(["Annotate"])["Annotate"][1:3]]
        print("LibreOffice opened sheetsync's file:", got, text)
        if got != expected:
            failures.append(f"LibreOffice lost something: {expected} → {got}")
        if text != TEXT:
            failures.append(f"text changed: {TEXT!r} → {text!r}")
        again = d / "again.xlsx"
        shutil.copy(first, again)
        wb = XlsxWorkbook(again)
        wb.read(["Annotate"])
        new = data_rows(6, prefix="new")
        wb.write([spec(new, replace=False, blocks=data_only_block(new))])
        second = through_libreoffice(again, d / "lo2")
        got2 = inventory(second)
        grid = XlsxWorkbook(second).read(["Annotate"])["Annotate"]
        print("LibreOffice opened sheetsync's re-push onto LibreOffice's own file:", got2, grid[6][:3])
        if got2 != got:
            failures.append(f"the re-push onto LibreOffice's file lost something: {got} → {got2}")
        if grid[6][:3] != ["r5", "question 5", "new 5"]:
            failures.append(f"the re-pushed row is wrong: {grid[6][:3]}")
    for failure in failures:
        print("FAILED:", failure)
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
