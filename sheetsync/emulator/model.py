"""The in-memory state: spreadsheets, their sheets (grids of :class:`~sheetsync.emulator.cells.Cell`),
everything attached to them, and the Drive files that wrap them.

Grids are lists of row lists (``sheet.rows[r][c]``), shorter than the declared grid where the tail is empty,
so a 20,000-row tab costs 20,000 small lists. Cells and format dicts are never mutated once stored, which
makes :meth:`Spreadsheet.clone` (taken before every batchUpdate, for atomicity) a copy of row lists only.

Assertions in tests go through ``Emulator.spreadsheet(id)`` -> :class:`Spreadsheet`: ``sheet("Tab")``,
``sheet.values()``, ``sheet.cell(r, c)``, ``sheet.protected_ranges``, ``to_resource(include_grid_data=True)``
(the exact ``spreadsheets.get`` JSON).
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import secrets
from typing import Any

from sheetsync.emulator import a1
from sheetsync.emulator.cells import Cell
from sheetsync.emulator.errors import invalid_argument
from sheetsync.emulator.identity import ANONYMOUS_EMAIL

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
MAX_CELLS = 10_000_000

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}

THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        {"colorType": "TEXT", "color": {"rgbColor": {}}},
        {"colorType": "BACKGROUND", "color": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}},
        {"colorType": "ACCENT1", "color": {"rgbColor": {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}}},
        {"colorType": "ACCENT2", "color": {"rgbColor": {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}}},
        {"colorType": "ACCENT3", "color": {"rgbColor": {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}}},
        {"colorType": "ACCENT4", "color": {"rgbColor": {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}}},
        {"colorType": "ACCENT5", "color": {"rgbColor": {"red": 1, "green": 0.42745098, "blue": 0.003921569}}},
        {"colorType": "ACCENT6", "color": {"rgbColor": {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}}},
        {"colorType": "LINK", "color": {"rgbColor": {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}}},
    ],
}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id() -> str:
    """44 URL-safe characters, like real spreadsheet ids."""
    return secrets.token_urlsafe(33)[:44]


def new_int_id() -> int:
    return random.randint(1, 2**31 - 1)


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


class Sheet:
    """One tab: properties JSON, the grid, and everything anchored to it."""

    def __init__(self, props: dict[str, Any]) -> None:
        self.props = props
        self.rows: list[list[Cell | None]] = []
        self.row_props: dict[int, dict[str, Any]] = {}
        self.col_props: dict[int, dict[str, Any]] = {}
        self.merges: list[dict] = []
        self.conditional_formats: list[dict] = []
        self.protected_ranges: list[dict] = []
        self.charts: list[dict] = []
        self.basic_filter: dict | None = None

    # -- properties
    @property
    def sheet_id(self) -> int:
        return self.props["sheetId"]

    @property
    def title(self) -> str:
        return self.props["title"]

    @property
    def is_grid(self) -> bool:
        return self.props.get("sheetType", "GRID") == "GRID"

    @property
    def row_count(self) -> int:
        return self.props.get("gridProperties", {}).get("rowCount", 0)

    @property
    def col_count(self) -> int:
        return self.props.get("gridProperties", {}).get("columnCount", 0)

    def set_size(self, rows: int, cols: int) -> None:
        """Resize the grid, dropping data beyond the new bounds (as Google does)."""
        gp = dict(self.props.get("gridProperties", {}))
        gp["rowCount"], gp["columnCount"] = rows, cols
        self.props["gridProperties"] = gp
        if len(self.rows) > rows:
            del self.rows[rows:]
        for i, row in enumerate(self.rows):
            if len(row) > cols:
                self.rows[i] = row[:cols]
        self.row_props = {k: v for k, v in self.row_props.items() if k < rows}
        self.col_props = {k: v for k, v in self.col_props.items() if k < cols}

    # -- cells
    def cell(self, row: int, col: int) -> Cell | None:
        """The stored cell at 0-based (row, col), or None."""
        if row < len(self.rows):
            r = self.rows[row]
            if col < len(r):
                return r[col]
        return None

    def row_for_write(self, row: int, min_len: int) -> list[Cell | None]:
        rows = self.rows
        if row >= len(rows):
            rows.extend([] for _ in range(row + 1 - len(rows)))
        r = rows[row]
        if len(r) < min_len:
            r.extend([None] * (min_len - len(r)))
        return r

    def set_cell(self, row: int, col: int, cell: Cell | None) -> None:
        if cell is None or cell.is_empty():
            if row < len(self.rows) and col < len(self.rows[row]):
                self.rows[row][col] = None
            return
        self.row_for_write(row, col + 1)[col] = cell

    def values(self, render: str = "FORMATTED_VALUE") -> list[list[Any]]:
        """All values as the values API would return them for the whole sheet (trimmed)."""
        from sheetsync.emulator.values import read_block  # local: values builds on the model

        return read_block(self, 0, 0, self.row_count, self.col_count, render, "ROWS")

    def data_extent(self) -> tuple[int, int]:
        """(rows, cols) spanned by cells holding a value."""
        max_r = max_c = 0
        for r, row in enumerate(self.rows):
            for c in range(len(row) - 1, -1, -1):
                cell = row[c]
                if cell is not None and cell.value is not None:
                    max_r = r + 1
                    max_c = max(max_c, c + 1)
                    break
        return max_r, max_c

    def clone(self) -> Sheet:
        s = Sheet(copy.deepcopy(self.props))
        s.rows = [r[:] for r in self.rows]
        s.row_props = dict(self.row_props)
        s.col_props = dict(self.col_props)
        s.merges = copy.deepcopy(self.merges)
        s.conditional_formats = copy.deepcopy(self.conditional_formats)
        s.protected_ranges = copy.deepcopy(self.protected_ranges)
        s.charts = copy.deepcopy(self.charts)
        s.basic_filter = copy.deepcopy(self.basic_filter)
        return s

    # -- persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "props": self.props,
            "rows": [[c.to_json() if c is not None else None for c in row] for row in self.rows],
            "row_props": {str(k): v for k, v in self.row_props.items()},
            "col_props": {str(k): v for k, v in self.col_props.items()},
            "merges": self.merges,
            "conditional_formats": self.conditional_formats,
            "protected_ranges": self.protected_ranges,
            "charts": self.charts,
            "basic_filter": self.basic_filter,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Sheet:
        s = Sheet(data["props"])
        s.rows = [[Cell.from_json(c) if c is not None else None for c in row] for row in data["rows"]]
        s.row_props = {int(k): v for k, v in data["row_props"].items()}
        s.col_props = {int(k): v for k, v in data["col_props"].items()}
        s.merges = data["merges"]
        s.conditional_formats = data["conditional_formats"]
        s.protected_ranges = data["protected_ranges"]
        s.charts = data["charts"]
        s.basic_filter = data["basic_filter"]
        return s


class Spreadsheet:
    """A spreadsheet and its Drive-side facts (parents, times, permissions)."""

    def __init__(self, spreadsheet_id: str, title: str) -> None:
        self.id = spreadsheet_id
        self.props: dict[str, Any] = {
            "title": title,
            "locale": "en_US",
            "autoRecalc": "ON_CHANGE",
            "timeZone": "Etc/GMT",
            "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(THEME),
        }
        self.sheets: list[Sheet] = []
        self.named_ranges: list[dict] = []
        self.developer_metadata: list[dict] = []  # every location kind; see metadata_for()
        self.created = now_iso()
        self.modified = self.created
        self.parents: list[str] = []
        self.permissions: list[dict] = []
        self.owner: str | None = ANONYMOUS_EMAIL  # None inside a shared drive (the drive owns its files)
        self.drive_id: str | None = None  # the shared drive holding it
        self.app_properties: dict[str, str] = {}
        self.viewers: list[str] = []  # who created or opened it: files.list corpora=user sees shared-drive files by this

    @property
    def title(self) -> str:
        return self.props["title"]

    # -- lookup
    def sheet(self, key: str | int) -> Sheet:
        """A sheet by title (case-insensitive) or sheetId; KeyError if absent."""
        found = self.sheet_by_id(key) if isinstance(key, int) else self.sheet_by_title(key)
        if found is None:
            raise KeyError(key)
        return found

    def sheet_by_id(self, sheet_id: int) -> Sheet | None:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        return None

    def sheet_by_title(self, title: str) -> Sheet | None:
        low = title.lower()
        for s in self.sheets:
            if s.title.lower() == low:
                return s
        return None

    def reindex(self) -> None:
        for i, s in enumerate(self.sheets):
            s.props["index"] = i

    def cell_count(self) -> int:
        return sum(s.row_count * s.col_count for s in self.sheets if s.is_grid)

    def check_cell_limit(self, where: str) -> None:
        if self.cell_count() > MAX_CELLS:
            raise invalid_argument(
                f"Invalid {where}: This action would increase the number of cells in the workbook above the "
                f"limit of {MAX_CELLS} cells." if where else
                f"This action would increase the number of cells in the workbook above the limit of {MAX_CELLS} cells."
            )

    def add_sheet(self, props: dict[str, Any]) -> Sheet:
        """Add a sheet with Google's defaults filled in (ids and titles already checked by the caller)."""
        p = copy.deepcopy(props)
        if p.get("sheetId") is None:
            p["sheetId"] = new_int_id()
            while self.sheet_by_id(p["sheetId"]) is not None:
                p["sheetId"] = new_int_id()
        if not p.get("title"):
            n = len(self.sheets) + 1
            while self.sheet_by_title(f"Sheet{n}") is not None:
                n += 1
            p["title"] = f"Sheet{n}"
        p.setdefault("sheetType", "GRID")
        if p["sheetType"] == "GRID":
            gp = p.setdefault("gridProperties", {})
            gp.setdefault("rowCount", 1000)
            gp.setdefault("columnCount", 26)
        index = p.get("index")
        sheet = Sheet(p)
        if index is None or index >= len(self.sheets):
            self.sheets.append(sheet)
        else:
            self.sheets.insert(max(0, index), sheet)
        self.reindex()
        # keep key order like Google's: sheetId, title, index, sheetType, gridProperties, ...
        order = ["sheetId", "title", "index", "sheetType", "gridProperties"]
        sheet.props = {k: p[k] for k in order if k in p} | {k: v for k, v in p.items() if k not in order}
        return sheet

    # -- ranges
    def resolve_a1(self, text: str) -> tuple[Sheet, int | None, int | None, int | None, int | None]:
        """Resolve an A1 string to (sheet, sr, sc, er, ec) with open sides None; 400 when it cannot."""
        parsed = a1.parse_a1(text)
        if parsed.whole_sheet:
            assert parsed.sheet is not None
            sheet = self.sheet_by_title(parsed.sheet)
            if sheet is not None:
                return sheet, None, None, None, None
            for nr in self.named_ranges:
                if nr["name"].lower() == parsed.sheet.lower():
                    gr = nr["range"]
                    sheet = self.sheet_by_id(gr.get("sheetId", 0))
                    if sheet is not None:
                        return (sheet, gr.get("startRowIndex"), gr.get("startColumnIndex"),
                                gr.get("endRowIndex"), gr.get("endColumnIndex"))
            raise a1.unparsable(text)
        if parsed.sheet is None:
            if not self.sheets:
                raise a1.unparsable(text)
            sheet = self.sheets[0]
        else:
            found = self.sheet_by_title(parsed.sheet)
            if found is None:
                raise a1.unparsable(text)
            sheet = found
        return sheet, parsed.start_row, parsed.start_col, parsed.end_row, parsed.end_col

    def metadata_for(self, sheet_id: int | None = None, dimension: str | None = None) -> list[dict]:
        out = []
        for md in self.developer_metadata:
            loc = md["location"]
            if sheet_id is None and dimension is None:
                if loc.get("spreadsheet"):
                    out.append(md)
            elif dimension is None:
                if loc.get("sheetId") == sheet_id and "dimensionRange" not in loc:
                    out.append(md)
            else:
                dr = loc.get("dimensionRange")
                if dr and dr.get("sheetId") == sheet_id and dr.get("dimension") == dimension:
                    out.append(md)
        return out

    # -- atomicity and persistence
    def clone(self) -> Spreadsheet:
        c = Spreadsheet.__new__(Spreadsheet)
        c.id = self.id
        c.props = copy.deepcopy(self.props)
        c.sheets = [s.clone() for s in self.sheets]
        c.named_ranges = copy.deepcopy(self.named_ranges)
        c.developer_metadata = copy.deepcopy(self.developer_metadata)
        c.created, c.modified = self.created, self.modified
        c.parents = list(self.parents)
        c.permissions = copy.deepcopy(self.permissions)
        c.owner, c.drive_id = self.owner, self.drive_id
        c.app_properties = dict(self.app_properties)
        c.viewers = list(self.viewers)
        return c

    def replace_state(self, other: Spreadsheet) -> None:
        """Take over another copy's state, keeping this object's identity (held references stay live)."""
        self.__dict__.update(other.__dict__)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "props": self.props,
            "sheets": [s.to_json() for s in self.sheets],
            "named_ranges": self.named_ranges,
            "developer_metadata": self.developer_metadata,
            "created": self.created,
            "modified": self.modified,
            "parents": self.parents,
            "permissions": self.permissions,
            "owner": self.owner,
            "drive_id": self.drive_id,
            "app_properties": self.app_properties,
            "viewers": self.viewers,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Spreadsheet:
        s = Spreadsheet(data["id"], data["props"]["title"])
        s.props = data["props"]
        s.sheets = [Sheet.from_json(x) for x in data["sheets"]]
        s.named_ranges = data["named_ranges"]
        s.developer_metadata = data["developer_metadata"]
        s.created, s.modified = data["created"], data["modified"]
        s.parents = data["parents"]
        s.permissions = data["permissions"]
        s.owner = data.get("owner", ANONYMOUS_EMAIL)
        s.drive_id = data.get("drive_id")
        s.app_properties = data.get("app_properties") or {}
        s.viewers = data.get("viewers") or []
        return s

    # -- the spreadsheets.get resource
    def to_resource(
        self,
        include_grid_data: bool = False,
        ranges: list[tuple[Sheet, int | None, int | None, int | None, int | None]] | None = None,
    ) -> dict[str, Any]:
        """The Spreadsheet JSON Google returns from spreadsheets.get (before any ``fields`` mask)."""
        from sheetsync.emulator import resource

        return resource.to_resource(self, include_grid_data, ranges)



def new_spreadsheet(title: str = "Untitled spreadsheet", spreadsheet_id: str | None = None) -> Spreadsheet:
    """A spreadsheet as Drive/Sheets create it: one 1000x26 grid called Sheet1 with sheetId 0."""
    ss = Spreadsheet(spreadsheet_id or new_id(), title)
    ss.add_sheet({"sheetId": 0, "title": "Sheet1", "index": 0})
    return ss


class State:
    """Everything the emulator knows: spreadsheets and other Drive files (folders, plain files)."""

    def __init__(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.files: dict[str, dict[str, Any]] = {}  # non-spreadsheet Drive files (e.g. folders)
        self.shared_drives: dict[str, dict[str, Any]] = {}  # id -> {id, name, members (emails or None: all)}
        self.notifications: list[dict[str, Any]] = []  # sharing e-mails Drive would have sent (not persisted)
        self.share_email_failures: list[dict[str, Any]] = []  # pending invalidSharingRequest answers

    def get(self, spreadsheet_id: str) -> Spreadsheet:
        from sheetsync.emulator.errors import not_found

        ss = self.spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise not_found()
        return ss

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "spreadsheets": [s.to_json() for s in self.spreadsheets.values()],
            "files": list(self.files.values()),
            "shared_drives": list(self.shared_drives.values()),
        }

    def load_json(self, data: dict[str, Any]) -> None:
        self.spreadsheets = {s["id"]: Spreadsheet.from_json(s) for s in data.get("spreadsheets", [])}
        self.files = {f["id"]: f for f in data.get("files", [])}
        self.shared_drives = {d["id"]: d for d in data.get("shared_drives", [])}


# ---- moving ranges when rows or columns are inserted, deleted or sorted ---------------------------------

_KEYS = {"ROWS": ("startRowIndex", "endRowIndex"), "COLUMNS": ("startColumnIndex", "endColumnIndex")}


def shift_index_range(start: int | None, end: int | None, op: str, index: int, count: int):
    """Shift a half-open [start, end) (None = open side) for an insert or delete of ``count`` at ``index``.
    Returns (start, end, alive)."""
    if op == "insert":
        if start is not None and start >= index:
            start += count
        if end is not None and end > index:
            end += count
        return start, end, True
    if start is not None:
        start -= min(max(start - index, 0), count)
    if end is not None:
        end -= min(max(end - index, 0), count)
    alive = not (start is not None and end is not None and start >= end)
    if start is None and end is not None and end <= 0:
        alive = False
    return start, end, alive


def shift_grid_range(gr: dict, dimension: str, op: str, index: int, count: int) -> dict | None:
    sk, ek = _KEYS[dimension]
    s, e, alive = shift_index_range(gr.get(sk), gr.get(ek), op, index, count)
    if not alive:
        return None
    out = dict(gr)
    for k, v in ((sk, s), (ek, e)):
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out
