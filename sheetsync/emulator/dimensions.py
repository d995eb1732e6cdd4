"""Moving rows and columns: insert, delete, append, move and sort, carrying everything anchored to them.

Cells move with their value, format, validation and note. Protected ranges, merges, conditional-format
ranges, the basic filter, named ranges, chart source ranges and anchors, and row/column developer metadata
shift (and shrink or vanish when their rows are deleted), as on Google. A full-width sortRange also carries single-row developer metadata
with its row, so a row's identity survives an expert re-ordering the sheet.
"""

from __future__ import annotations

from typing import Any

from sheetsync.emulator.cells import Cell, Formula
from sheetsync.emulator.model import Sheet, Spreadsheet, shift_grid_range, shift_index_range


def _shift_anchored(ss: Spreadsheet, sheet: Sheet, dim: str, op: str, index: int, count: int) -> None:
    sid = sheet.sheet_id

    def move(gr: dict | None) -> dict | None:
        if gr is None or gr.get("sheetId", 0) != sid:
            return gr
        return shift_grid_range(gr, dim, op, index, count)

    sheet.merges = [m for m in (move(g) for g in sheet.merges) if m is not None]
    kept_pr = []
    for pr in sheet.protected_ranges:
        if "range" in pr:
            new = move(pr["range"])
            if new is None:
                continue
            pr = dict(pr, range=new)
        if pr.get("unprotectedRanges"):
            pr["unprotectedRanges"] = [u for u in (move(g) for g in pr["unprotectedRanges"]) if u is not None]
        kept_pr.append(pr)
    sheet.protected_ranges = kept_pr
    kept_cf = []
    for rule in sheet.conditional_formats:
        ranges = [g for g in (move(r) for r in rule.get("ranges", [])) if g is not None]
        if ranges:
            kept_cf.append(dict(rule, ranges=ranges))
    sheet.conditional_formats = kept_cf
    if sheet.basic_filter and "range" in sheet.basic_filter:
        new = move(sheet.basic_filter["range"])
        sheet.basic_filter = dict(sheet.basic_filter, range=new) if new is not None else None
    for other in ss.sheets:  # a chart on any sheet may read from this one
        for chart in other.charts:
            _shift_chart(chart.get("spec"), move)
            anchor = ((chart.get("position") or {}).get("overlayPosition") or {}).get("anchorCell")
            if anchor and anchor.get("sheetId", 0) == sid:
                key = "rowIndex" if dim == "ROWS" else "columnIndex"
                at = anchor.get(key, 0)
                if op == "insert" and at >= index:
                    anchor[key] = at + count
                elif op == "delete" and at >= index:
                    anchor[key] = at - count if at >= index + count else index
    kept_nr = []
    for nr in ss.named_ranges:
        new = move(nr.get("range"))
        if new is not None:
            kept_nr.append(dict(nr, range=new))
    ss.named_ranges = kept_nr
    kept_md = []
    for md in ss.developer_metadata:
        dr = md["location"].get("dimensionRange")
        if dr and dr.get("sheetId") == sid and dr.get("dimension") == dim:
            s, e, alive = shift_index_range(dr.get("startIndex"), dr.get("endIndex"), op, index, count)
            if not alive:
                continue
            new_dr = dict(dr)
            for k, v in (("startIndex", s), ("endIndex", e)):
                if v is not None:
                    new_dr[k] = v
            md = dict(md, location=dict(md["location"], dimensionRange=new_dr))
        kept_md.append(md)
    ss.developer_metadata = kept_md


def _shift_chart(node: Any, move: Any) -> None:
    """Chart source ranges follow their rows and columns, as in Sheets (a range whose rows are all deleted
    drops out of the chart)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "sources" and isinstance(value, list):
                node[key] = [g for g in (move(gr) for gr in value) if g is not None]
            else:
                _shift_chart(value, move)
    elif isinstance(node, list):
        for value in node:
            _shift_chart(value, move)


def _shift_props(props: dict[int, dict], op: str, index: int, count: int) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for k, v in props.items():
        if op == "insert":
            out[k + count if k >= index else k] = v
        elif k < index:
            out[k] = v
        elif k >= index + count:
            out[k - count] = v
    return out


def insert_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, count: int, inherit_before: bool) -> None:
    """Insert ``count`` empty rows/columns at ``start``; the new ones take the formats of their neighbour
    (and its data validation inside a validated range)."""
    if count <= 0:
        return
    if dim == "ROWS":
        src = start - 1 if inherit_before else start
        other = start if inherit_before else start - 1
        template = sheet.rows[src] if 0 <= src < len(sheet.rows) else []
        across = sheet.rows[other] if 0 <= other < len(sheet.rows) else []
        new_row = [_inherited(c, across[i] if i < len(across) else None) for i, c in enumerate(template)]
        while new_row and new_row[-1] is None:
            new_row.pop()
        if start < len(sheet.rows):
            sheet.rows[start:start] = [new_row[:] for _ in range(count)]
        elif any(new_row):
            while len(sheet.rows) < start:
                sheet.rows.append([])
            sheet.rows.extend(new_row[:] for _ in range(count))
        props = sheet.row_props.get(src)
        sheet.row_props = _shift_props(sheet.row_props, "insert", start, count)
        if props:
            for i in range(start, start + count):
                sheet.row_props[i] = props
        sheet.props["gridProperties"]["rowCount"] = sheet.row_count + count
    else:
        src = start - 1 if inherit_before else start
        other = start if inherit_before else start - 1
        for r, row in enumerate(sheet.rows):
            if start < len(row):
                tmpl = row[src] if 0 <= src < len(row) else None
                fill = _inherited(tmpl, row[other] if 0 <= other < len(row) else None)
                sheet.rows[r] = row[:start] + [fill] * count + row[start:]
        props = sheet.col_props.get(src)
        sheet.col_props = _shift_props(sheet.col_props, "insert", start, count)
        if props:
            for i in range(start, start + count):
                sheet.col_props[i] = props
        sheet.props["gridProperties"]["columnCount"] = sheet.col_count + count
    _shift_anchored(ss, sheet, dim, "insert", start, count)


def _inherited(template: Cell | None, across: Cell | None) -> Cell | None:
    """A new cell: its neighbour's format and, when the insert falls inside a range validated by one rule
    (the cells on both sides carry it), that data validation too, as the Sheets UI extends a validated
    range [Sheets UI behaviour, google-reality.md "data validation"; the API docs do not say]."""
    if template is None:
        return None
    dv = template.dv if template.dv is not None and across is not None and across.dv == template.dv else None
    if not template.fmt and dv is None:
        return None
    return Cell(None, template.fmt or None, dv)


def delete_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, end: int) -> None:
    count = end - start
    if count <= 0:
        return
    if dim == "ROWS":
        del sheet.rows[start:end]
        sheet.row_props = _shift_props(sheet.row_props, "delete", start, count)
        sheet.props["gridProperties"]["rowCount"] = sheet.row_count - count
    else:
        for r, row in enumerate(sheet.rows):
            if start < len(row):
                sheet.rows[r] = row[:start] + row[end:]
        sheet.col_props = _shift_props(sheet.col_props, "delete", start, count)
        sheet.props["gridProperties"]["columnCount"] = sheet.col_count - count
    _shift_anchored(ss, sheet, dim, "delete", start, count)


def _moved(order: list[int], start: int, end: int, destination: int) -> list[int]:
    """``order`` with the items at [start, end) moved: ``destination`` counts positions *before* they are
    removed (MoveDimensionRequest.destinationIndex: "based on the coordinates before the source data is
    removed from the grid"; moving rows 1..3 of 0,1,2,3,4 to 4 gives 0,3,1,2,4)."""
    rest = order[:start] + order[end:]
    at = destination if destination <= start else destination - (end - start)
    return rest[:at] + order[start:end] + rest[at:]


def _remap(start: int | None, end: int | None, new_at: dict[int, int], size: int) -> tuple[int | None, int | None]:
    """A half-open range after a move: the span of where its indices went (open sides stay open)."""
    if start is None and end is None:
        return None, None
    lo, hi = start or 0, size if end is None else end
    if lo >= hi:
        return start, end
    moved = [new_at.get(i, i) for i in range(lo, hi)]
    return (None if start is None else min(moved)), (None if end is None else max(moved) + 1)


def move_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, end: int, destination: int) -> None:
    """Move rows/columns [start, end) to ``destination`` (see :func:`_moved`), with their cells, sizes and
    everything anchored to them."""
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    order = _moved(list(range(size)), start, end, destination)
    if order == list(range(size)):
        return
    new_at = {old: new for new, old in enumerate(order)}
    if dim == "ROWS":
        rows = sheet.rows + [[] for _ in range(size - len(sheet.rows))]
        sheet.rows = [rows[old] for old in order]
        while sheet.rows and not sheet.rows[-1]:
            sheet.rows.pop()
        sheet.row_props = {new_at[k]: v for k, v in sheet.row_props.items() if k in new_at}
    else:
        for r, row in enumerate(sheet.rows):
            full = row + [None] * (size - len(row))
            moved_row = [full[old] for old in order]
            while moved_row and moved_row[-1] is None:
                moved_row.pop()
            sheet.rows[r] = moved_row
        sheet.col_props = {new_at[k]: v for k, v in sheet.col_props.items() if k in new_at}
    sk, ek = _KEYS_OF[dim]
    sid = sheet.sheet_id

    def move(gr: dict | None) -> dict | None:
        if gr is None or gr.get("sheetId", 0) != sid:
            return gr
        s, e = _remap(gr.get(sk), gr.get(ek), new_at, size)
        out = dict(gr)
        for k, v in ((sk, s), (ek, e)):
            if v is not None:
                out[k] = v
        return out

    sheet.merges = [move(m) for m in sheet.merges]
    for pr in sheet.protected_ranges:
        if "range" in pr:
            pr["range"] = move(pr["range"])
    sheet.conditional_formats = [dict(rule, ranges=[move(r) for r in rule.get("ranges", [])])
                                 for rule in sheet.conditional_formats]
    if sheet.basic_filter and "range" in sheet.basic_filter:
        sheet.basic_filter = dict(sheet.basic_filter, range=move(sheet.basic_filter["range"]))
    ss.named_ranges = [dict(nr, range=move(nr.get("range"))) if nr.get("range") else nr for nr in ss.named_ranges]
    for md in ss.developer_metadata:
        dr = md["location"].get("dimensionRange")
        if dr and dr.get("sheetId") == sid and dr.get("dimension") == dim:
            s, e = _remap(dr.get("startIndex"), dr.get("endIndex"), new_at, size)
            md["location"] = dict(md["location"], dimensionRange=dict(dr, startIndex=s, endIndex=e))


_KEYS_OF = {"ROWS": ("startRowIndex", "endRowIndex"), "COLUMNS": ("startColumnIndex", "endColumnIndex")}


def _sort_key(cell: Cell | None) -> tuple[int, Any]:
    """Google's ascending order: numbers, then text (case-insensitive), then booleans, then errors."""
    v = None if cell is None else cell.value
    if isinstance(v, Formula):
        return (3, str(v))
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    return (1, v.casefold())


def sort_rows(ss: Spreadsheet, sheet: Sheet, sr: int, sc: int, er: int, ec: int, specs: list[dict]) -> None:
    """Reorder rows [sr, er) by the sort specs, moving cells in columns [sc, ec) with everything on them.
    Empty keys sort last in both directions; the sort is stable."""
    order = list(range(sr, er))
    for spec in reversed(specs or [{"dimensionIndex": sc, "sortOrder": "ASCENDING"}]):
        col = spec.get("dimensionIndex", 0) or 0
        desc = spec.get("sortOrder") == "DESCENDING"
        filled = [r for r in order if (c := sheet.cell(r, col)) is not None and c.value is not None]
        empty = [r for r in order if not ((c := sheet.cell(r, col)) is not None and c.value is not None)]
        filled.sort(key=lambda r, col=col: _sort_key(sheet.cell(r, col)), reverse=desc)
        order = filled + empty
    if order == list(range(sr, er)):
        return
    segments = []
    for r in order:
        row = sheet.rows[r] if r < len(sheet.rows) else []
        seg = row[sc:ec]
        segments.append(seg + [None] * (min(ec, sheet.col_count) - sc - len(seg)))
    for i, seg in enumerate(segments):
        target = sheet.row_for_write(sr + i, min(ec, sheet.col_count))
        target[sc : sc + len(seg)] = seg
        while target and target[-1] is None:
            target.pop()
    if sc == 0 and ec >= sheet.col_count:
        new_pos = {old: sr + i for i, old in enumerate(order)}
        moved = []
        for md in ss.developer_metadata:
            dr = md["location"].get("dimensionRange")
            if (
                dr
                and dr.get("sheetId") == sheet.sheet_id
                and dr.get("dimension") == "ROWS"
                and dr.get("endIndex", 0) - dr.get("startIndex", 0) == 1
                and dr.get("startIndex") in new_pos
            ):
                pos = new_pos[dr["startIndex"]]
                md = dict(md, location=dict(md["location"], dimensionRange=dict(dr, startIndex=pos, endIndex=pos + 1)))
            moved.append(md)
        ss.developer_metadata = moved
