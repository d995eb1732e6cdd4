"""Reading .xlsx tabs from their XML: the expert's text byte for byte, whatever program saved the file, and
``read_columns`` equal to the same columns of a full read."""

from __future__ import annotations

import random
from pathlib import Path

import openpyxl
import pytest

from sheetsync.backends.base import Workbook
from sheetsync.backends.xlsx import XlsxWorkbook
from sheetsync.layout import Block, TabSpec
from tests.xlsx_parts import package


def test_the_experts_text_is_read_byte_for_byte(tmp_path: Path) -> None:
    """What Excel stores for text typed or pasted: "\\r" as _x000D_ (or a character reference), leading
    spaces and tabs, rich-text runs, phonetic guides that are not part of the text."""
    path = tmp_path / "excel.xlsx"
    shared = [
        "<si><t>id</t></si>",
        '<si><t xml:space="preserve">  two leading spaces, a\ttab</t></si>',
        "<si><t>pasted line_x000D_\nnext line</t></si>",
        "<si><r><t>Fa</t></r><r><rPr><b/></rPr><t xml:space=\"preserve\">il </t></r></si>",
        "<si><t>東京</t><rPh sb=\"0\" eb=\"2\"><t>トウキョウ</t></rPh></si>",
        "<si><t>&lt;b&gt; &amp; &#13;&#10;ref &#x263A;</t></si>",
        "<si><t>_x005F_x000D_ stays literal</t></si>",
        "<si><t/></si>",
    ]
    sheet = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c><c r="C2" t="s"><v>4</v></c></row>'
        '<row r="3"><c r="A3" t="s"><v>5</v></c><c r="B3" t="s"><v>6</v></c><c r="C3" t="s"><v>7</v></c>'
        '<c r="D3" t="inlineStr"><is><t xml:space="preserve">\tinline\r\nraw</t></is></c></row>'
    )
    package(path, sheet, shared=shared)
    assert XlsxWorkbook(path).read(["Annotate"])["Annotate"] == [
        ["id", "  two leading spaces, a\ttab"],
        ["pasted line\r\nnext line", "Fail ", "東京"],
        ["<b> & \r\nref ☺", "_x000D_ stays literal", "", "\tinline\nraw"],  # a raw CR is "\n" to any XML parser
    ]


def test_values_rows_and_cells_as_other_writers_store_them(tmp_path: Path) -> None:
    """Rows and cells without coordinates, a prefixed namespace, dates by style, booleans, errors,
    formulas (shared ones translated), empty values."""
    path = tmp_path / "other.xlsx"
    styles = (
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="46"/></cellXfs>'
    )
    sheet = (
        "<x:row><x:c><x:v>1</x:v></x:c><x:c t=\"b\"><x:v>0</x:v></x:c><x:c t=\"e\"><x:v>#N/A</x:v></x:c></x:row>"
        '<x:row r="3"><x:c r="B3" s="1"><x:v>45413</x:v></x:c><x:c s="2"><x:v>1.5</x:v></x:c>'
        '<x:c r="E3"><x:f t="shared" ref="E3:E4" si="0">A1*2</x:f><x:v>2</x:v></x:c></x:row>'
        '<x:row r="4"><x:c r="A4"><x:v>0.30000000000000004</x:v></x:c><x:c r="E4"><x:f t="shared" si="0"/>'
        '<x:v>0</x:v></x:c><x:c r="F4" t="str"><x:f>"a"&amp;"b"</x:f><x:v>ab</x:v></x:c><x:c r="G4"><x:v></x:v></x:c></x:row>'
        '<x:row r="6" spans="1:2"/>'
    )
    package(path, sheet, styles=styles, prefix="x")
    assert XlsxWorkbook(path).read(["Annotate"])["Annotate"] == [
        ["1", "FALSE", "#N/A"],
        [],
        ["", "2024-05-01", "1 day, 12:00:00", "", "=A1*2"],
        ["0.3", "", "", "", "=A2*2", '="a"&"b"'],
    ]


def random_tab(rng: random.Random, n_rows: int) -> list[list]:
    words = ["ok", "Fail", "  lead", "tab\there", "line\r\nbreak", "=1+1", "ünï 🙂", "", None, 7, 2.5]
    return [[rng.choice(words) for _ in range(rng.randint(0, 9))] for _ in range(n_rows)]


@pytest.mark.parametrize("seed", range(5))
def test_read_columns_equals_the_same_columns_of_a_full_read(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "cols.xlsx"
    rows = random_tab(rng, 60)
    XlsxWorkbook(path).write([TabSpec(title="T", blocks=[Block(0, 0, rows)], n_rows=70, n_cols=9)])
    book = openpyxl.load_workbook(path)  # the expert types far to the right and below
    book["T"]["L75"] = "typed later"
    book.save(path)
    wb = XlsxWorkbook(path)
    columns = sorted(rng.sample(range(13), 4))
    head_rows = rng.choice([0, 1, 5, 20, 100])
    got = wb.read_columns("T", columns, head_rows=head_rows)
    expected = Workbook.read_columns(wb, "T", columns, head_rows=head_rows)  # the interface's definition
    assert got == expected
    assert got.columns[11] if 11 in columns else True
    assert wb.read_columns("Missing", [0]) is None
    assert XlsxWorkbook(tmp_path / "none.xlsx").read_columns("T", [0]) is None
