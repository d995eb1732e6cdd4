"""The demo's workbook on paper: rendered to PDF by LibreOffice, every tab is there, landscape, one page wide (no
tab cut mid-column, no cell clipped by its neighbour), the header row on every page of the table tabs, and the
whole workbook in a few dozen pages rather than the hundreds it took before page setup.

Needs LibreOffice (soffice) and poppler (pdftotext): skipped only when one of them is missing, naming which.
CI's .ci/run installs both before the suite, so there the check always runs."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOOLS = ("soffice", "pdftotext")
missing = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (LibreOffice, poppler): "
                                                      "apt-get install libreoffice-calc-nogui poppler-utils")


def checker():
    spec = importlib.util.spec_from_file_location("check_demo_pdf", ROOT / "scripts" / "check_demo_pdf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_workbook_prints_readably(tmp_path, monkeypatch):
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SHEETS_EMULATOR_HOST"):
        monkeypatch.delenv(key, raising=False)
    check = checker()
    workbook = check.demo_workbook(tmp_path)
    pdf = check.render(workbook, tmp_path)
    by_tab, failures = check.check(workbook, pdf, max_pages=70)
    assert failures == []
    import openpyxl

    assert set(by_tab) == set(openpyxl.load_workbook(workbook).sheetnames)
    total = sum(len(p) for p in by_tab.values())
    assert total <= 70  # 212 portrait pages before page setup
    said = int(re.search(r"The demo's workbook\s+prints in (\d+) pages", README).group(1))
    assert abs(said - total) <= 5, f"README says {said} pages, the demo's workbook printed in {total}"
    for title in ("Summary", "Agreement", "Disagreements", "Root causes", "Error analysis", "Review", "Instructions"):
        assert len(by_tab[title]) <= 3, (title, len(by_tab[title]))  # the report tabs read on a page or two


def test_the_check_finds_a_tab_cut_mid_column(tmp_path):
    """The check itself can fail: a wide table with no page setup prints its last column on a page of its own."""
    import openpyxl

    check = checker()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Wide"
    ws.page_setup.orientation = "landscape"
    ws.oddFooter.left.text, ws.oddFooter.right.text = "&A", "Page &P of &N"
    for c in range(1, 40):
        ws.cell(1, c, f"head{c}")
        ws.cell(2, c, f"value{c}")
        ws.column_dimensions[openpyxl.utils.get_column_letter(c)].width = 20
    path = tmp_path / "wide.xlsx"
    wb.save(path)
    _, failures = check.check(path, check.render(path, tmp_path), max_pages=70)
    assert any("not on one page" in f for f in failures), failures
