"""Writes by column identity (sheetsync/backends/google_identity.py): which column marks are trusted, the
request bodies (whole rows, nulls for rows not written, under the size limit), and — through gspread
against the emulator — a push onto a tab whose columns carry no marks yet, and a column moved between a
push's read and its write."""

from __future__ import annotations

import json

import pytest

from sheetsync.backends.google_identity import Snapshot, _batches, columns
from sheetsync.backends.identity_requests import COLUMN_KEY
from sheetsync.layout import TabSpec
from sheetsync.pull import pull
from sheetsync.push import push
from tests.test_roundtrip_google import TITLE, GoogleExpert, workspace  # noqa: F401
from tests.test_roundtrip_xlsx import LABELS, default_rows, write_data


def test_a_mark_is_trusted_only_on_the_column_its_header_names():
    snap = Snapshot(7, ["id", "input", "Critique", "", "Status"],
                    [(1, 11, "input"), (2, 12, "output"), (4, 14, "Status"), (4, 15, "Status")])
    found = columns(snap, ["input", "output", "Status", "Critique"], "id")
    assert found.trusted
    assert found.at == {"input": (1, 11), "Status": (4, 14)}  # two marks on one column: the same column
    assert found.deletes == [12]  # "output"'s mark sits under the Critique header: removed, never written through
    assert found.tags == {2: "Critique"}  # unmarked (an earlier sheetsync's tab): marked, checked next read
    assert "output" not in found.at and 3 not in found.tags  # no header: neither trusted nor marked


def test_nothing_is_trusted_or_removed_when_the_header_row_is_not_where_it_was():
    snap = Snapshot(7, ["r1", "question", "", "x"], [(1, 11, "input")])
    found = columns(snap, ["input"], "id")
    assert not found.trusted and not found.deletes and not found.tags and not found.at


def test_a_column_just_inserted_is_trusted_before_its_header_is_written():
    snap = Snapshot(7, ["id", "", "input"], [(1, 11, "tier"), (2, 12, "input")])
    assert columns(snap, ["tier", "input"], "id", {"tier"}).at == {"tier": (1, 11), "input": (2, 12)}
    assert columns(snap, ["tier", "input"], "id").deletes == [11]


def _spec(by_column):
    spec = TabSpec("Annotate", [], 10, 4, replace=False)
    spec.by_column = by_column
    return spec


def _bodies(spec, at, limit):
    return [json.loads(b) for b in _batches(spec, at, limit)]


def test_whole_rows_per_request_with_nulls_for_rows_not_written_and_the_key_last():
    spec = _spec({"input": {2: "a", 5: "=1+1"}, "Status": {5: None}, "sheetsync key": {2: "k2", 5: "k5"}})
    at = {"input": (1, 101), "Status": (2, 102), "sheetsync key": (3, 103)}
    (body,) = _bodies(spec, at, 10_000)
    assert body["valueInputOption"] == "RAW"  # text is never a formula
    data = body["data"]
    assert [d["dataFilter"]["developerMetadataLookup"] for d in data[:3]] == [
        {"metadataId": 101}, {"metadataId": 102}, {"metadataId": 103}]
    assert data[0] == {"dataFilter": {"developerMetadataLookup": {"metadataId": 101}}, "majorDimension": "COLUMNS",
                       "values": [[None, None, "a", None, None, "=1+1"]]}
    assert data[1]["values"] == [[None] * 5 + [""]]  # cleared: "", not skipped
    assert data[2]["values"] == [[None, None, "k2", None, None, "k5"]] and len(data) == 3


def test_requests_stay_under_the_limit_and_a_tall_tab_goes_column_by_column():
    rows = {r: f"text {r}" for r in range(0, 40_000, 10)}
    spec = _spec({"input": dict(rows), "output": dict(rows), "sheetsync key": dict(rows)})
    at = {"input": (1, 1), "output": (2, 2), "sheetsync key": (3, 3)}
    limit = 300_000
    raw = list(_batches(spec, at, limit))
    assert all(len(b) <= limit for b in raw)
    bodies = [json.loads(b) for b in raw]
    written: dict[int, dict[int, str]] = {}
    order = []
    for body in bodies:
        for d in body["data"]:
            mid = d["dataFilter"]["developerMetadataLookup"]["metadataId"]
            order.append(mid)
            for r, v in enumerate(d["values"][0]):
                if v is not None:
                    written.setdefault(mid, {})[r] = v
    assert written == {1: rows, 2: rows, 3: rows}  # every cell once, at its row
    assert len(bodies) > 3
    # near the top a request carries every column of its rows; far down (5 bytes of null per row above, per
    # column) one column at a time, the key column after the others
    assert {d["dataFilter"]["developerMetadataLookup"]["metadataId"] for d in bodies[0]["data"]} == {1, 2, 3}
    tail = order[order.index(3):]
    assert set(order[len(order) - len(tail):]) >= {3} and order[-1] == 3


@pytest.fixture
def expert(gspread_client):
    return lambda: GoogleExpert(gspread_client)


def _column_marks(gspread_client):
    sh = gspread_client.open(TITLE)
    found = sh.client.request(
        "post", f"https://sheets.googleapis.com/v4/spreadsheets/{sh.id}/developerMetadata:search",
        json={"dataFilters": [{"developerMetadataLookup": {"metadataKey": COLUMN_KEY}}]}).json()
    return sorted(m["developerMetadata"]["metadataValue"] for m in found.get("matchedDeveloperMetadata", []))


def test_a_tab_without_marks_gets_them_and_a_moved_column_is_written_where_it_went(
        workspace, tmp_path, sheets_emulator, gspread_client, expert):  # noqa: F811
    push(workspace, tmp_path / "data.csv")
    headers = expert().grid()[0]
    assert _column_marks(gspread_client) == sorted(headers)  # the first push marks every column
    expert().label(LABELS)
    sh = gspread_client.open(TITLE)
    sh.batch_update({"requests": [{"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {
        "metadataKey": COLUMN_KEY}}}}]})  # as a tab an earlier sheetsync made
    rows = default_rows(7)
    rows[1]["output"] = "a better answer 2"
    write_data(tmp_path / "data.csv", rows)
    ws = sh.worksheet("Annotate")
    out = headers.index("output")
    moved = []

    def move_output_left(info):  # the expert drags "output" to column B right after the push's read
        sh.batch_update({"requests": [{"moveDimension": {"source": {
            "sheetId": ws.id, "dimension": "COLUMNS", "startIndex": out, "endIndex": out + 1}, "destinationIndex": 1}}]})
        moved.append(True)

    sheets_emulator.on_request(move_output_left, nth=2)
    result = push(workspace, tmp_path / "data.csv")
    sheets_emulator.hooks.clear()
    assert moved and result.added == ["r7"] and result.stale == ["r2"]
    marks = _column_marks(gspread_client)  # marked again (the columns this push wrote), once each
    assert len(marks) == len(set(marks)) and set(marks) >= {"feature", "tier", "input", "output", "Status",
                                                              "sheetsync key"}
    got = expert().rows()
    assert expert().grid()[0][1] == "output"
    assert got["r2"]["output"] == "a better answer 2" and got["r7"]["output"] == "answer 7"
    for rid, (verdict, critique, cause) in LABELS.items():  # nothing landed in the expert's columns
        assert (got[rid]["Pass/Fail"], got[rid]["Critique"], got[rid]["Root cause"]) == (verdict, critique, cause)
    assert got["r7"]["Critique"] == "" and got["r7"]["input"] == "question 7"
    assert pull(workspace).labels_without_id == []  # no sheetsync text sits in a row without an id
