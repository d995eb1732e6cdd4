"""A tab's drawing (charts) and notes (comments), edited so that only sheetsync's own objects change.

- **Charts.** Every chart sheetsync draws is anchored by a graphic frame named ``sheetsync chart N``
  (``xdr:cNvPr/@name``, the name Excel shows in its selection pane and keeps across saves). A write removes
  the anchors with that name, and their chart parts, and adds the spec's; the expert's charts, pictures
  and shapes in the same drawing stay as they are (a copy the expert pastes gets a name of Excel's own).
- **Notes.** sheetsync's notes are by the author ``sheetsync``. A write removes those (and their boxes in
  the VML drawing) and adds the spec's; notes by anyone else, threaded comments included, stay. Where the
  expert has a note on a cell, theirs wins and sheetsync's is not added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.shapes import GraphicalProperties

from sheetsync.backends.xlsx_package import COMMENT_AUTHOR, MAIN_NS, REL_NS, parse_xml
from sheetsync.backends.xlsx_shift import shift_anchors, shift_notes
from sheetsync.backends.xlsx_text import escape_text
from sheetsync.layout import Chart, Protection, column_letter

CHART_NAME = "sheetsync chart"

XDR_NS = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
C_NS = "http://schemas.openxmlformats.org/drawingml/2006/chart"
V_NS = "urn:schemas-microsoft-com:vml"
O_NS = "urn:schemas-microsoft-com:office:office"
X_NS = "urn:schemas-microsoft-com:office:excel"
_M = f"{{{MAIN_NS}}}"
_XDR = f"{{{XDR_NS}}}"
EMU_PER_PX = 9525


# ---------------------------------------------------------------------- charts


@dataclass
class DrawingEdit:
    """The new drawing part, the chart rIds it no longer uses, and the charts to add (rId → chart XML)."""

    drawing: bytes | None  # None: no drawing left at all
    dropped: list[str] = field(default_factory=list)
    added: dict[str, bytes] = field(default_factory=dict)


def edit_drawing(existing: bytes | None, used_rids: set[str], charts: list[Chart], title: str, n_rows: int,
                 n_cols: int, shift: Any = None) -> DrawingEdit:
    """Drop sheetsync's chart anchors from ``existing`` (a drawing part), add one per spec chart."""
    if existing is None:
        root = etree.fromstring(f'<xdr:wsDr xmlns:xdr="{XDR_NS}" xmlns:a="{A_NS}"/>'.encode())
    else:
        root = parse_xml(existing)
        if shift:
            shift_anchors(root, shift)
    edit = DrawingEdit(None)
    ids = [0]
    for anchor in list(root):
        frame_name = anchor.find(f".//{_XDR}cNvPr")
        if frame_name is not None and (frame_name.get("id") or "").isdigit():
            ids.append(int(frame_name.get("id")))
        if frame_name is not None and (frame_name.get("name") or "").startswith(CHART_NAME):
            chart_ref = anchor.find(f".//{{{C_NS}}}chart")
            if chart_ref is not None:
                edit.dropped.append(chart_ref.get(f"{{{REL_NS}}}id"))
            root.remove(anchor)
    next_id = max(ids) + 1
    taken = set(used_rids) - set(edit.dropped)
    for k, chart in enumerate(charts, start=1):
        rid = _free_rid(taken)
        taken.add(rid)
        edit.added[rid] = chart_xml(chart, title, n_rows, n_cols)
        row, col = chart.anchor
        anchor = etree.fromstring(
            f'<xdr:oneCellAnchor xmlns:xdr="{XDR_NS}" xmlns:a="{A_NS}" xmlns:c="{C_NS}" xmlns:r="{REL_NS}">'
            f"<xdr:from><xdr:col>{col}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{row}</xdr:row>"
            f'<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:ext cx="{chart.width * EMU_PER_PX}" '
            f'cy="{chart.height * EMU_PER_PX}"/><xdr:graphicFrame macro=""><xdr:nvGraphicFramePr>'
            f'<xdr:cNvPr id="{next_id}" name="{CHART_NAME} {k}" descr="{escape(chart.title, {chr(34): "&quot;"})}"/>'
            "<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>"
            '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm><a:graphic>'
            f'<a:graphicData uri="{C_NS}"><c:chart r:id="{rid}"/></a:graphicData></a:graphic>'
            "</xdr:graphicFrame><xdr:clientData/></xdr:oneCellAnchor>".encode()
        )
        next_id += 1
        root.append(anchor)
    if len(root):
        edit.drawing = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return edit


def _free_rid(taken: set[str]) -> str:
    n = 1
    while f"rId{n}" in taken:
        n += 1
    return f"rId{n}"


_PALETTE = ("#4285F4", "#DB4437", "#F4B400", "#0F9D58", "#AB47BC", "#00ACC1")  # Google Sheets' defaults


def chart_xml(spec: Chart, title: str, n_rows: int, n_cols: int) -> bytes:
    """The chart part, drawn by openpyxl's chart classes (series named from their header cells)."""
    chart: LineChart | BarChart
    if spec.kind == "line":
        chart = LineChart()
    else:
        chart = BarChart()
        chart.type = "bar" if spec.kind == "bar" else "col"
    chart.title = spec.title
    chart.x_axis.title = spec.x_title
    chart.y_axis.title = spec.y_title
    # openpyxl ≥ 3.1 marks axes deleted by default; Excel then draws a chart without axes.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    if spec.y_range:
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = spec.y_range
    sheet = "'" + title.replace("'", "''") + "'"
    for series in spec.series:
        r0, c0, r1, _ = series.resolve(n_rows, n_cols)
        letter = column_letter(c0)
        chart.add_data(Reference(range_string=f"{sheet}!${letter}${r0 + 1}:${letter}${r1}"), titles_from_data=True)
    for i, series in enumerate(chart.series):  # without a colour LibreOffice draws a line chart's lines in none
        colour = (spec.colors[i] if i < len(spec.colors) else _PALETTE[i % len(_PALETTE)]).lstrip("#").upper()
        if spec.kind == "line":
            series.graphicalProperties.line.solidFill = colour
            series.graphicalProperties.line.width = 28575  # 2.25 pt
            series.marker.symbol = "circle"
            series.marker.size = 7
            series.marker.graphicalProperties = GraphicalProperties(solidFill=colour)
            series.marker.graphicalProperties.line.solidFill = colour
            series.smooth = False
        else:
            series.graphicalProperties.solidFill = colour
    r0, c0, r1, _ = spec.domain.resolve(n_rows, n_cols)
    letter = column_letter(c0)
    chart.set_categories(Reference(range_string=f"{sheet}!${letter}${r0 + 2}:${letter}${r1}"))
    if len(spec.series) == 1:
        chart.legend = None  # the title says it all
    return etree.tostring(chart._write(), xml_declaration=True, encoding="UTF-8", standalone=True)


# ---------------------------------------------------------------------- notes


def protection_notes(protections: list[Protection], frozen_rows: int) -> dict[tuple[int, int], str]:
    """Excel cannot warn-and-allow, and real sheet protection would block the expert (sorting, filtering,
    typing), so nothing is locked: each description becomes a note on the header cell of its range."""
    notes: dict[tuple[int, int], list[str]] = {}
    for protection in protections:
        row = protection.range.row0
        if frozen_rows and row >= frozen_rows:
            row = frozen_rows - 1  # the header the expert reads, not the first data row
        notes.setdefault((row, protection.range.col0), []).append(protection.description)
    return {cell: "\n".join(dict.fromkeys(texts)) for cell, texts in notes.items()}


@dataclass
class NotesEdit:
    comments: bytes | None  # None: no notes left
    vml: bytes | None


_COORD = re.compile(r"([A-Z]+)([0-9]+)$")


def edit_notes(comments: bytes | None, vml: bytes | None, notes: dict[tuple[int, int], str],
               shift: Any = None) -> NotesEdit | None:
    """Replace sheetsync's notes by ``notes``. None: the existing parts cannot be edited safely (a VML
    drawing that is not XML): they are left exactly as they are."""
    if comments is None:
        root = etree.fromstring(f'<comments xmlns="{MAIN_NS}"><authors/><commentList/></comments>'.encode())
    else:
        root = parse_xml(comments)
    try:
        shapes = _new_vml() if vml is None else etree.fromstring(vml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    if shift:
        shift_notes(root, shapes, shift)
    authors = root.find(f"{_M}authors")
    if authors is None:
        authors = etree.Element(f"{_M}authors")
        root.insert(0, authors)
    listing = root.find(f"{_M}commentList")
    if listing is None:
        listing = etree.SubElement(root, f"{_M}commentList")
    names = [a.text or "" for a in authors.findall(f"{_M}author")]
    removed: set[tuple[int, int]] = set()
    taken: set[tuple[int, int]] = set()
    for comment in list(listing):
        cell = _cell(comment.get("ref", ""))
        author = int(comment.get("authorId", "0") or 0)
        if 0 <= author < len(names) and names[author] == COMMENT_AUTHOR:
            listing.remove(comment)
            if cell:
                removed.add(cell)
        elif cell:
            taken.add(cell)
    for shape in list(shapes.iter(f"{{{V_NS}}}shape")):
        data = shape.find(f"{{{X_NS}}}ClientData")
        if data is None or data.get("ObjectType") != "Note":
            continue
        row, col = data.findtext(f"{{{X_NS}}}Row"), data.findtext(f"{{{X_NS}}}Column")
        if row is not None and col is not None and (int(row), int(col)) in removed:
            shape.getparent().remove(shape)
    if COMMENT_AUTHOR in names:
        author_id = names.index(COMMENT_AUTHOR)
    else:
        etree.SubElement(authors, f"{_M}author").text = COMMENT_AUTHOR
        author_id = len(names)
    next_shape = _max_shape_id(shapes) + 1
    for (row, col), text in sorted(notes.items()):
        if (row, col) in taken:
            continue  # the expert's note wins
        comment = etree.SubElement(listing, f"{_M}comment", ref=f"{column_letter(col)}{row + 1}",
                                   authorId=str(author_id))
        run = etree.SubElement(etree.SubElement(comment, f"{_M}text"), f"{_M}t")
        run.text = escape_text(text)
        if text != text.strip():
            run.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        shapes.append(_note_shape(next_shape, row, col))
        next_shape += 1
    if not len(listing):
        return NotesEdit(None, None)
    return NotesEdit(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True),
        etree.tostring(shapes, xml_declaration=True, encoding="UTF-8", standalone=True),
    )


def _cell(ref: str) -> tuple[int, int] | None:
    m = _COORD.match(ref)
    if m is None:
        return None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


def _new_vml() -> Any:
    return etree.fromstring(
        f'<xml xmlns:v="{V_NS}" xmlns:o="{O_NS}" xmlns:x="{X_NS}">'
        '<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="1"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
        '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype></xml>'.encode()
    )


def _max_shape_id(root: Any) -> int:
    best = 1024
    for shape in root.iter(f"{{{V_NS}}}shape"):
        m = re.search(r"(\d+)$", shape.get("id", ""))
        if m:
            best = max(best, int(m.group(1)))
    return best


def _note_shape(number: int, row: int, col: int) -> Any:
    """A hidden note box (260 × 110 px) beside its cell, as Excel draws one."""
    return etree.fromstring(
        f'<v:shape xmlns:v="{V_NS}" xmlns:o="{O_NS}" xmlns:x="{X_NS}" id="_x0000_s{number}" type="#_x0000_t202" '
        'style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:195pt;height:82.5pt;z-index:1;'
        'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
        '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
        '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"/></v:textbox>'
        '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{col + 1}, 15, {max(row - 1, 0)}, 2, {col + 3}, 15, {row + 5}, 16</x:Anchor>"
        f"<x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData>"
        "</v:shape>".encode()
    )
