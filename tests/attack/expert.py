"""The scripted expert: what a person does to the spreadsheet in the Sheets UI, as the requests the UI sends,
applied through the emulator as another user (``Emulator.act``: not logged, no quota, no hooks), from
inside a test hook while one of sheetsync's requests is in flight.

Every action also writes down, in the :class:`Ledger`, what the expert now expects to find: which label
text sits beside which id (byte for byte), what content the row showed when the expert gave or re-checked
it, which objects are the expert's own. The invariants (``invariants.py``) compare the sheet and the store
with the ledger.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from sheetsync.annotate import CRITIQUE, KEY, NOTES, ROOT_CAUSE, STATUS, VERDICT
from sheetsync.annotate_sheet import parse_key
from sheetsync.emulator import Emulator
from sheetsync.emulator.errors import ApiError
from tests.attack.ledger import ANNOTATE, Label, Ledger, View, row_of, shown_content, view

EXPERT_FIELDS = (VERDICT, CRITIQUE, ROOT_CAUSE, NOTES)
#: What the expert types when editing a critique: every byte a careless pipeline would change.
EDITED_CRITIQUE = "  \tEdited: leading spaces, a tab,\nline two — naïve ✓ 日本語 🙂 and trailing spaces  "
TYPED_BELOW = {VERDICT: "Fail", CRITIQUE: "Typed in the first empty row below the data, where there is no id."}
TYPED_LABEL = {VERDICT: "Pass", CRITIQUE: "Labelled while sheetsync was working: this must stay with its id."}


def _string(text: str | None) -> dict[str, Any]:
    return {"userEnteredValue": {"stringValue": text}} if text else {}


class ScriptedExpert:
    """The expert at the keyboard. Each action returns whether it did something."""

    def __init__(self, em: Emulator, ledger: Ledger, key_of: Callable[[], str | None]) -> None:
        self.em = em
        self.ledger = ledger
        self.key_of = key_of

    @property
    def key(self) -> str | None:
        return self.key_of()

    def view(self, title: str = ANNOTATE) -> View | None:
        return view(self.em, self.key, title)

    def act(self, requests: list[dict[str, Any]]) -> bool:
        """Send what the UI would; ``False`` if the spreadsheet refused it (as the UI would show an error)."""
        try:
            self.em.act(self.key, requests)  # type: ignore[arg-type]
        except ApiError:
            return False
        return True

    def type_cells(self, v: View, r: int, cells: dict[int, str | None]) -> bool:
        return self.act([
            {"updateCells": {"start": {"sheetId": v.sheet_id, "rowIndex": r, "columnIndex": c},
                             "rows": [{"values": [_string(t)]}], "fields": "userEnteredValue"}}
            for c, t in cells.items()
        ])

    def expert_texts(self, v: View, r: int) -> dict[str, str]:
        return {h: v.cell(r, v.col(self.ledger.header(h))) for h in EXPERT_FIELDS}

    def done(self, what: str) -> bool:
        self.ledger.actions.append(what)
        return True

    # -------------------------------------------------------------------------------- re-ordering

    def sort(self, header: str, *, descending: bool) -> bool:
        v = self.view()
        col = v.col(self.ledger.header(header)) if v else None
        if v is None or col is None:
            return False
        order = "DESCENDING" if descending else "ASCENDING"
        ok = self.act([{"sortRange": {"range": {"sheetId": v.sheet_id, "startRowIndex": 1},
                                      "sortSpecs": [{"dimensionIndex": col, "sortOrder": order}]}}])
        return ok and self.done(f"sort by {header} {order.lower()}")

    def insert_blank_row(self, where: str) -> bool:
        v = self.view()
        if v is None or v.last_row < 1:
            return False
        at = {"top": 1, "middle": 1 + v.last_row // 2, "end": v.last_row + 1}[where]
        ok = self.act([{"insertDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS", "startIndex": at,
                                                      "endIndex": at + 1}, "inheritFromBefore": True}}])
        return ok and self.done(f"insert a blank row at {where} (row {at + 1})")

    def delete_row(self, *, labelled: bool) -> bool:
        v = self.view()
        if v is None:
            return False
        idc = v.col(self.ledger.header("id"))
        for r in range(1, len(v.grid)):
            rid = v.cell(r, idc)
            if rid and (rid in self.ledger.labels) == labelled and row_of(v, rid, self.ledger.header("id")) == r:
                if not self.act([{"deleteDimension": {"range": {"sheetId": v.sheet_id, "dimension": "ROWS",
                                                                "startIndex": r, "endIndex": r + 1}}}]):
                    return False
                if labelled:
                    self.ledger.deleted[rid] = self.ledger.labels.pop(rid)
                self.ledger.own_column.pop(rid, None)
                return self.done(f"delete the {'labelled' if labelled else 'unlabelled'} row {rid}")
        return False

    def move_column(self, header: str, to: str) -> bool:
        v = self.view()
        col = v.col(self.ledger.header(header)) if v else None
        if v is None or col is None:
            return False
        dest = 1 if to == "left" else len(v.header)
        ok = self.act([{"moveDimension": {"source": {"sheetId": v.sheet_id, "dimension": "COLUMNS",
                                                     "startIndex": col, "endIndex": col + 1},
                                          "destinationIndex": dest}}])
        return ok and self.done(f"move the {header} column {to}")

    # ------------------------------------------------------------------------------------ typing

    def type_label_below_the_data(self) -> bool:
        v = self.view()
        if v is None:
            return False
        r = v.last_row + 1
        cols = {v.col(self.ledger.header(h)): t for h, t in TYPED_BELOW.items()}
        if None in cols or r >= v.row_count:
            return False
        if not self.type_cells(v, r, cols):  # type: ignore[arg-type]
            return False
        self.ledger.orphans.append(dict(TYPED_BELOW))
        return self.done(f"type a label into row {r + 1}, below the data")

    def label_an_unlabelled_row(self) -> bool:
        return self._label("r08", TYPED_LABEL, only_if_unlabelled=True, what="label the unlabelled row r08")

    def edit_a_critique(self) -> bool:
        return self._label("r02", {CRITIQUE: EDITED_CRITIQUE}, only_if_unlabelled=False,
                           what="edit r02's critique (leading spaces, a tab, a line break, unicode)")

    def _label(self, rid: str, texts: dict[str, str], *, only_if_unlabelled: bool, what: str) -> bool:
        v = self.view()
        r = row_of(v, rid, self.ledger.header("id")) if v else None
        if v is None or r is None:
            return False
        if (rid in self.ledger.labels) == only_if_unlabelled:
            return False
        cols = {v.col(self.ledger.header(h)): t for h, t in texts.items()}
        if None in cols or not self.type_cells(v, r, cols):  # type: ignore[arg-type]
            return False
        new = {**self.expert_texts(v, r), **texts}
        self.ledger.labels[rid] = Label(new, shown_content(v, r))
        return self.done(what)

    def label_a_row_showing_another_rows_text(self) -> bool:
        """Edit the critique of a row whose cells show another row's text (a write landed beside the wrong
        id while the expert moved rows): the expert judges what they see, which is not this id's content."""
        v = self.view()
        kc, idc = (v.col(self.ledger.header(KEY)), v.col(self.ledger.header("id"))) if v else (None, None)
        if v is None or kc is None:
            return False
        for r in range(1, len(v.grid)):
            rid, key = v.cell(r, idc), parse_key(v.cell(r, kc))
            if rid and key is not None and key.id != rid:
                texts = {**self.expert_texts(v, r), VERDICT: "Fail", CRITIQUE: f"Judged while it showed {key.id}'s text."}
                if not self.type_cells(v, r, {v.col(self.ledger.header(h)): texts[h] for h in (VERDICT, CRITIQUE)}):
                    return False
                self.ledger.labels[rid] = Label(texts, shown_content(v, r))
                self.ledger.beside_other_text.append(rid)
                return self.done(f"label {rid}, which showed {key.id}'s text")
        return False

    def clear_a_status_cell(self) -> bool:
        """The stale row's flag, as the expert does once they re-checked the label (else any flag)."""
        v = self.view()
        sc, idc = (v.col(self.ledger.header(STATUS)), v.col(self.ledger.header("id"))) if v else (None, None)
        if v is None or sc is None:
            return False
        flagged = [r for r in range(1, len(v.grid)) if v.cell(r, sc)]
        stale = [r for r in flagged if v.cell(r, sc).startswith("stale")]
        if not flagged:
            return False
        r = (stale or flagged)[0]
        if not self.type_cells(v, r, {sc: None}):
            return False
        rid = v.cell(r, idc)
        if stale and rid in self.ledger.labels:
            self.ledger.labels[rid].given_for = shown_content(v, r)  # re-checked for what the row shows
        return self.done(f"clear the Status cell of row {r + 1} ({rid or 'no id'})")

    def clear_a_key_cell(self) -> bool:
        v = self.view()
        kc = v.col(self.ledger.header(KEY)) if v else None
        r = row_of(v, "r01", self.ledger.header("id")) if v else None
        if v is None or kc is None or r is None or not v.cell(r, kc):
            return False
        return self.type_cells(v, r, {kc: None}) and self.done("clear r01's key cell")

    # ------------------------------------------------------------------------------- hiding, filters

    def hide_rows(self) -> bool:
        v = self.view()
        if v is None:
            return False
        rows = [r for rid in ("r02", "r03") if (r := row_of(v, rid, self.ledger.header("id"))) is not None]
        if not rows:
            return False
        ok = self.act([{"updateDimensionProperties": {
            "range": {"sheetId": v.sheet_id, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1},
            "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}} for r in rows])
        if ok:
            self.ledger.hidden |= {v.cell(r, v.col(self.ledger.header("id"))) for r in rows}
        return ok and self.done("hide rows r02 and r03")

    def filter_out_passes(self) -> bool:
        v = self.view()
        vc = v.col(self.ledger.header(VERDICT)) if v else None
        if v is None or vc is None:
            return False
        spec = [{"columnIndex": vc, "filterCriteria": {"hiddenValues": ["Pass"]}}]
        ok = self.act([{"setBasicFilter": {"filter": {"range": {"sheetId": v.sheet_id, "startRowIndex": 0},
                                                      "filterSpecs": spec}}}])
        if ok:
            self.ledger.own_objects["filter"] = spec
        return ok and self.done("filter the tab to hide passes")

    # ------------------------------------------------------------------------ the expert's own objects

    def add_own_chart(self) -> bool:
        v = self.view()
        fc = v.col("feature") if v else None
        if v is None or fc is None:
            return False
        src = {"sheetId": v.sheet_id, "startRowIndex": 0, "endRowIndex": 12, "startColumnIndex": fc,
               "endColumnIndex": fc + 1}
        chart = {"chartId": 777001, "spec": {"title": "The expert's own chart", "basicChart": {
            "chartType": "COLUMN", "headerCount": 1, "domains": [{"domain": {"sourceRange": {"sources": [src]}}}],
            "series": [{"series": {"sourceRange": {"sources": [src]}}, "targetAxis": "LEFT_AXIS"}]}},
            "position": {"overlayPosition": {"anchorCell": {"sheetId": v.sheet_id, "rowIndex": 1, "columnIndex": 3}}}}
        if not self.act([{"addChart": {"chart": chart}}]):
            return False
        self.ledger.own_objects["chart"] = self._chart(777001)
        return self.done("add their own chart to the Annotate tab")

    def add_own_rule(self) -> bool:
        v = self.view()
        ic = v.col("input") if v else None
        if v is None or ic is None:
            return False
        rule = {"ranges": [{"sheetId": v.sheet_id, "startRowIndex": 1, "startColumnIndex": ic, "endColumnIndex": ic + 1}],
                "booleanRule": {"condition": {"type": "TEXT_CONTAINS", "values": [{"userEnteredValue": "refund"}]},
                                "format": {"backgroundColor": {"red": 1, "green": 1, "blue": 0}}}}
        if not self.act([{"addConditionalFormatRule": {"index": 0, "rule": rule}}]):
            return False
        self.ledger.own_objects["rule"] = self._own_rules()
        return self.done("add their own conditional format rule")

    def add_own_dropdown(self) -> bool:
        v = self.view()
        nc = v.col(self.ledger.header(NOTES)) if v else None
        if v is None or nc is None or v.last_row < 1:
            return False
        rule = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "todo"},
                                                                {"userEnteredValue": "done"}]}, "strict": False}
        ok = self.act([{"setDataValidation": {"range": {"sheetId": v.sheet_id, "startRowIndex": 1,
                                                        "endRowIndex": v.last_row + 1, "startColumnIndex": nc,
                                                        "endColumnIndex": nc + 1}, "rule": rule}}])
        if ok:
            idc = v.col(self.ledger.header("id"))
            self.ledger.own_objects["dropdown"] = {
                "rule": rule, "ids": sorted(v.cell(r, idc) for r in range(1, v.last_row + 1) if v.cell(r, idc))}
        return ok and self.done("add their own dropdown to the Notes column")

    def add_own_tab(self, title: str) -> bool:
        if self.key is None:
            return False
        sid = 555001
        ok = self.act([{"addSheet": {"properties": {"sheetId": sid, "title": title}}},
                       {"updateCells": {"start": {"sheetId": sid, "rowIndex": 0, "columnIndex": 0},
                                        "rows": [{"values": [_string(f"The expert's own “{title}” tab")]}],
                                        "fields": "userEnteredValue"}}])
        if ok:
            self.ledger.own_objects["tab"] = self._tab(sid)
        return ok and self.done(f"add their own tab named “{title}”")

    def add_headerless_column(self) -> bool:
        v = self.view()
        oc, idc = (v.col("output"), v.col(self.ledger.header("id"))) if v else (None, None)
        if v is None or oc is None:
            return False
        at = oc + 1
        if not self.act([{"insertDimension": {"range": {"sheetId": v.sheet_id, "dimension": "COLUMNS",
                                                        "startIndex": at, "endIndex": at + 1},
                                              "inheritFromBefore": True}}]):
            return False
        mine = {v.cell(r, idc): f"the expert's note on {v.cell(r, idc)} ✎" for r in range(1, len(v.grid))
                if v.cell(r, idc)}
        rows = [r for r in range(1, len(v.grid)) if v.cell(r, idc) in mine]
        self.act([{"updateCells": {"start": {"sheetId": v.sheet_id, "rowIndex": r, "columnIndex": at},
                                   "rows": [{"values": [_string(mine[v.cell(r, idc)])]}], "fields": "userEnteredValue"}}
                  for r in rows])
        self.ledger.own_column.update(mine)
        return self.done("add a column without a header, after output, with a note in each row")

    # -------------------------------------------------------------------------------- the header row

    def set_header(self, name: str, new: str) -> bool:
        v = self.view()
        c = v.col(self.ledger.header(name)) if v else None
        if v is None or c is None or not self.type_cells(v, 0, {c: new or None}):
            return False
        self.ledger.headers[name] = new
        self.ledger.own_objects["header"] = {"name": name, "col": c}
        return self.done(f"{'rename' if new else 'delete'} the “{name}” header" + (f" to “{new}”" if new else ""))

    def delete_column(self, name: str) -> bool:
        v = self.view()
        c = v.col(self.ledger.header(name)) if v else None
        if v is None or c is None:
            return False
        ok = self.act([{"deleteDimension": {"range": {"sheetId": v.sheet_id, "dimension": "COLUMNS",
                                                      "startIndex": c, "endIndex": c + 1}}}])
        if ok:
            self.ledger.deleted_columns.append(name)
        return ok and self.done(f"delete the whole “{name}” column")

    def undo_header(self) -> bool:
        """Put a renamed or deleted header back (what sheetsync's message asks), unless sheetsync already
        made the column again."""
        change = self.ledger.own_objects.pop("header", None)
        if change is None:
            return False
        name = change["name"]
        self.ledger.headers.pop(name, None)
        v = self.view()
        if v is None or v.col(name) is not None:
            return False
        return self.type_cells(v, 0, {change["col"]: name})

    # ------------------------------------------------------------------------------- object snapshots

    def spreadsheet_json(self) -> str | None:
        """Every tab and mark of the spreadsheet, to tell whether anything at all was written."""
        with self.em.lock:
            ss = self.em.state.spreadsheets.get(self.key) if self.key else None
            if ss is None:
                return None
            return json.dumps([[s.to_json() for s in ss.sheets], ss.developer_metadata], sort_keys=True)

    def _sheet(self, title: str = ANNOTATE):
        ss = self.em.state.spreadsheets.get(self.key)  # type: ignore[arg-type]
        return ss.sheet_by_title(title) if ss is not None else None

    def _chart(self, chart_id: int) -> Any:
        with self.em.lock:
            ss = self.em.state.spreadsheets.get(self.key)  # type: ignore[arg-type]
            for sheet in ss.sheets if ss else []:
                for chart in sheet.charts:
                    if chart["chartId"] == chart_id:
                        return {"sheet": sheet.title, **copy.deepcopy(chart)}
        return None

    def _own_rules(self) -> Any:
        with self.em.lock:
            sheet = self._sheet()
            return [copy.deepcopy(r) for r in sheet.conditional_formats if "sheetsync" not in str(r)] if sheet else None

    def _tab(self, sheet_id: int) -> Any:
        with self.em.lock:
            ss = self.em.state.spreadsheets.get(self.key)  # type: ignore[arg-type]
            sheet = ss.sheet_by_id(sheet_id) if ss else None
            if sheet is None:
                return None
            return {"title": sheet.title, "hidden": bool(sheet.props.get("hidden")), "values": sheet.values(),
                    "metadata": [m for m in ss.developer_metadata if m["location"].get("sheetId") == sheet_id]}

    def own_object_now(self, what: str) -> Any:
        """The expert's object ``what`` as it is now, in the form the ledger recorded it."""
        if what == "chart":
            return self._chart(777001)
        if what == "rule":
            return self._own_rules()
        if what == "tab":
            return self._tab(555001)
        if what == "filter":
            with self.em.lock:
                sheet = self._sheet()
                bf = sheet.basic_filter if sheet else None
                return copy.deepcopy((bf or {}).get("filterSpecs"))
        if what == "dropdown":
            rec = self.ledger.own_objects["dropdown"]
            v = self.view()
            with self.em.lock:
                sheet = self._sheet()
                nc = v.col(self.ledger.header(NOTES)) if v else None
                ids = []
                for rid in rec["ids"]:
                    r = row_of(v, rid, self.ledger.header("id")) if v else None
                    cell = sheet.cell(r, nc) if (sheet and r is not None and nc is not None) else None
                    if cell is not None and cell.dv == rec["rule"]:
                        ids.append(rid)
            return {"rule": rec["rule"], "ids": ids}
        raise KeyError(what)


# ------------------------------------------------------------------------------------------ the actions

#: Each action by name: what the expert does, as a function of the scripted expert and the command (the
#: tab named like sheetsync's is the one the command is about to write).
OWN_TAB_FOR = {"first push": "Annotate", "judge": "Judge", "report": "Root causes"}

ACTIONS: dict[str, Callable[[ScriptedExpert, str], bool]] = {
    "sort by Critique, ascending": lambda x, c: x.sort(CRITIQUE, descending=False),
    "sort by input, descending": lambda x, c: x.sort("input", descending=True),
    "insert a blank row at the top": lambda x, c: x.insert_blank_row("top"),
    "insert a blank row in the middle": lambda x, c: x.insert_blank_row("middle"),
    "insert a blank row at the end": lambda x, c: x.insert_blank_row("end"),
    "delete a labelled row": lambda x, c: x.delete_row(labelled=True),
    "delete an unlabelled row": lambda x, c: x.delete_row(labelled=False),
    "type a label below the data": lambda x, c: x.type_label_below_the_data(),
    "label an unlabelled row": lambda x, c: x.label_an_unlabelled_row(),
    "edit a critique": lambda x, c: x.edit_a_critique(),
    "clear a Status cell": lambda x, c: x.clear_a_status_cell(),
    "clear a key cell": lambda x, c: x.clear_a_key_cell(),
    "move the Critique column left": lambda x, c: x.move_column(CRITIQUE, "left"),
    "move the input column right": lambda x, c: x.move_column("input", "right"),
    "hide rows": lambda x, c: x.hide_rows(),
    "set a filter": lambda x, c: x.filter_out_passes(),
    "add their own chart": lambda x, c: x.add_own_chart(),
    "add their own conditional format rule": lambda x, c: x.add_own_rule(),
    "add their own dropdown": lambda x, c: x.add_own_dropdown(),
    "add their own tab named like a sheetsync tab": lambda x, c: x.add_own_tab(OWN_TAB_FOR.get(c, "Judge")),
    "add a headerless column with data": lambda x, c: x.add_headerless_column(),
    "rename the id header": lambda x, c: x.set_header("id", "ID"),
    "delete the id header": lambda x, c: x.set_header("id", ""),
    "rename the Status header": lambda x, c: x.set_header(STATUS, "status"),
    "delete the Status header": lambda x, c: x.set_header(STATUS, ""),
    "rename the key header": lambda x, c: x.set_header(KEY, "Sheetsync Key"),
    "delete the key header": lambda x, c: x.set_header(KEY, ""),
    "rename the Critique header": lambda x, c: x.set_header(CRITIQUE, "critique"),
    "delete the Critique header": lambda x, c: x.set_header(CRITIQUE, ""),
    "delete the Status column": lambda x, c: x.delete_column(STATUS),
    "delete the key column": lambda x, c: x.delete_column(KEY),
}
#: Only in a second step, after a sort landed during a write (see test_expert_in_every_window.py).
ACTIONS["label a row showing another row's text"] = lambda x, c: x.label_a_row_showing_another_rows_text()
COMPOUND_ONLY = ("label a row showing another row's text",)

#: Header changes after which a command that reads the Annotate tab must stop (exit 2, naming the column,
#: nothing written) — the column sheetsync would otherwise misread. A deleted Status or key header (or
#: column) is instead repaired by the next push: sheetsync adds its column again.
STOPS = {
    "rename the id header": "id", "delete the id header": "id",
    "rename the Status header": "Status", "rename the key header": KEY,
    "rename the Critique header": "Critique", "delete the Critique header": "Critique",
}

__all__ = ["ACTIONS", "COMPOUND_ONLY", "EXPERT_FIELDS", "STOPS", "Label", "Ledger", "ScriptedExpert", "View", "row_of",
           "shown_content", "view"]
