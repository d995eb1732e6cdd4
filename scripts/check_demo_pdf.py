"""Render the demo's workbook to PDF with LibreOffice and check that people can read it on paper.

    apt-get install --no-install-recommends libreoffice-calc-nogui poppler-utils fonts-crosextra-carlito
    .venv/bin/python scripts/check_demo_pdf.py                      # run the demo in a temp folder, check it
    .venv/bin/python scripts/check_demo_pdf.py --workbook demo-out/annotations.xlsx --png pages/
    .venv/bin/python scripts/check_demo_pdf.py --summary-png docs/demo-summary.png   # the README's picture

What it checks, tab by tab (each page's footer names its tab: the page setup puts "&A" there):

- every tab of the workbook is in the PDF, landscape, and the whole PDF stays under ``--max-pages``;
- no tab is cut mid-column: for every row holding two or more short text cells, its first and last one are
  printed on the same page (a tab more than one page wide would print them on different pages);
- tabs with a header row print it on every one of their pages.

It prints the pages per tab. Exits 1 naming what failed, 2 when LibreOffice or poppler is missing. The suite
runs the same check (tests/test_demo_pdf.py), skipped only on a machine without LibreOffice or poppler;
CI (``.ci/run``) installs both first, so there it always runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

FOOTER = re.compile(r"^\s*(?P<tab>\S.*?)\s{2,}Page (?P<page>\d+) of (?P<pages>\d+)\s*$", re.M)
HEADER_TABS = ("Annotate", "Judge", "Review", "Disagreements")  # tabs whose header row repeats on every page


def render(workbook: Path, outdir: Path) -> Path:
    """The workbook as LibreOffice prints it. A profile of its own: a second soffice of the same user (another
    check, a desktop session) would otherwise take over the conversion and return before writing the PDF."""
    profile = (outdir / "lo-profile").resolve().as_uri()
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(outdir), str(workbook)], capture_output=True, timeout=600, check=True)
    pdf = outdir / (workbook.stem + ".pdf")
    if not pdf.exists():
        raise RuntimeError(f"LibreOffice wrote no PDF for {workbook}")
    return pdf


def page_texts(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def check(workbook: Path, pdf: Path, max_pages: int) -> tuple[dict[str, list[int]], list[str]]:
    """Pages per tab, and what failed."""
    pages = page_texts(pdf)
    by_tab: dict[str, list[int]] = defaultdict(list)
    failures: list[str] = []
    for i, text in enumerate(pages):
        found = FOOTER.findall(text)
        if not found:
            failures.append(f"page {i + 1} has no footer naming its tab (no page setup?)")
            continue
        by_tab[found[-1][0].strip()].append(i)
    wb = openpyxl.load_workbook(workbook)
    visible = [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]
    for title in visible:
        if title not in by_tab:
            failures.append(f"{title}: not in the PDF")
    if len(pages) > max_pages:
        failures.append(f"{len(pages)} pages, more than --max-pages {max_pages}")
    flat = {i: squash(t) for i, t in enumerate(pages)}
    for title in visible:
        ws, mine = wb[title], by_tab.get(title, [])
        if ws.page_setup.orientation != "landscape":
            failures.append(f"{title}: not landscape")
        hidden = {k for k, d in ws.column_dimensions.items() if d.hidden}
        for r, row in enumerate(ws.iter_rows(), start=1):
            texts = [squash(c.value) for c in row if isinstance(c.value, str) and 0 < len(c.value) <= 40
                     and "\n" not in c.value and c.column_letter not in hidden]
            if len(texts) < 2:
                continue
            first, last = texts[0], texts[-1]
            # a wrapped cell prints over several lines: look for each cell's longest word
            words = [max(s.split(), key=len) for s in (first, last)]
            if not any(all(w in flat[p] for w in words) for p in mine):
                failures.append(f"{title} row {r}: “{first}” and “{last}” are not on one page (cut mid-column?)")
                break
        if title in HEADER_TABS:
            header = [squash(str(c.value)) for c in ws[1] if isinstance(c.value, str)][:2]
            for p in mine:
                if not all(h in flat[p] for h in header):
                    failures.append(f"{title}: page {p + 1} does not repeat the header row")
                    break
    return dict(by_tab), failures


def to_png(pdf: Path, outdir: Path, dpi: int = 70) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(outdir / "page")], check=True)


def summary_png(pdf: Path, pages: list[int], target: Path, dpi: int = 72) -> None:
    """The top of the Summary tab's first page, down to the judge's TNR row: the headline pass rate and whether
    the judge can be trusted (cut below a whole line, wherever the layout puts it)."""
    first = pages[0] + 1
    width = round(11.69 * dpi * 0.82)  # A4 landscape, without the empty right margin
    bbox = subprocess.run(["pdftotext", "-bbox", "-f", str(first), "-l", str(first), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    words = re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', bbox)
    bottom = next((float(y) for (y, w), (_, nxt) in zip(words, words[1:], strict=False)
                   if w == "TNR" and nxt == "(fail"), 8.27 * 72 * 0.68)  # points; the TNR row, else two thirds
    height = round((bottom - 1.5) * dpi / 72)  # a word box holds the line gap, where the next line starts
    stem = target.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", "-f", str(first), "-l", str(first),
                    "-x", "0", "-y", "0", "-W", str(width), "-H", str(height), str(pdf), str(stem)], check=True)


def demo_workbook(where: Path) -> Path:
    import os

    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SHEETS_EMULATOR_HOST"):
        os.environ.pop(key, None)
    from sheetsync.demo import run_demo

    run_demo(where / "demo-out", echo=lambda s: None, progress=False)
    return where / "demo-out" / "annotations.xlsx"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workbook", type=Path, help="check this .xlsx instead of running the demo")
    parser.add_argument("--png", type=Path, help="also render every page to PNG in this folder")
    parser.add_argument("--summary-png", type=Path, help="write the Summary tab's first page as a PNG here")
    parser.add_argument("--max-pages", type=int, default=70)
    args = parser.parse_args()
    missing = [tool for tool in ("soffice", "pdftotext", "pdftoppm") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install --no-install-recommends libreoffice-calc-nogui "
              "poppler-utils fonts-crosextra-carlito")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        workbook = args.workbook or demo_workbook(work)
        pdf = render(workbook, work)
        by_tab, failures = check(workbook, pdf, args.max_pages)
        total = sum(len(p) for p in by_tab.values())
        print(f"{workbook.name}: {total} pages in landscape")
        for title, pages in by_tab.items():
            print(f"  {title:<15} {len(pages):>3} page(s)")
        if args.png:
            to_png(pdf, args.png)
        if args.summary_png and "Summary" in by_tab:
            summary_png(pdf, by_tab["Summary"], args.summary_png)
    for failure in failures:
        print("FAILED:", failure)
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
