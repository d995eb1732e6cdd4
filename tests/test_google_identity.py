"""Writes by column identity (sheetsync/backends/google_identity.py): which column marks are trusted, the
request bodies (whole rows, the cheaper of [] and null for a row skipped, under the size limit),
and — through gspread against the emulator — a push onto a tab whose columns carry no marks yet, and a column moved between a
push's read and its write."""

from __future__ import annotations

import json

import pytest

from sheetsync.backends.google_identity import Snapshot, _batches, columns
from sheetsync.backends.identity_requests import COLUMN_KEY
from sheetsync.config import load_config
from sheetsync.errors import UserInputError
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


def _written(bodies):
    """metadataId -> {row: value} as Google applies the bodies (``[]`` and ``null`` leave a row as it is)."""
    out: dict[int, dict[int, str]] = {}
    for body in bodies:
        for d in body["data"]:
            mid = d["dataFilter"]["developerMetadataLookup"]["metadataId"]
            cells = d["values"][0] if d["majorDimension"] == "COLUMNS" else [(row or [None])[0] for row in d["values"]]
            for r, v in enumerate(cells):
                if v is not None:
                    assert r not in out.get(mid, {}), "a cell written twice"
                    out.setdefault(mid, {})[r] = v
    return out


def test_whole_rows_the_key_last_skipping_rows_the_cheaper_way():
    spec = _spec({"input": {2: "a", 5: "=1+1"}, "Status": {5: None}, "sheetsync key": {0: "key", 1: "k1", 2: "k2"}})
    at = {"input": (1, 101), "Status": (2, 102), "sheetsync key": (3, 103)}
    (body,) = _bodies(spec, at, 10_000)
    assert body["valueInputOption"] == "RAW"  # text is never a formula
    data = body["data"]
    assert [d["dataFilter"]["developerMetadataLookup"] for d in data] == [
        {"metadataId": 101}, {"metadataId": 102}, {"metadataId": 103}]
    # few cells far apart: ROWS-major, [] for a row left as it is
    assert data[0] == {"dataFilter": {"developerMetadataLookup": {"metadataId": 101}}, "majorDimension": "ROWS",
                       "values": [[], [], ["a"], [], [], ["=1+1"]]}
    assert data[1]["values"] == [[]] * 5 + [[""]]  # cleared: "", not skipped
    # a dense column: COLUMNS-major, where a written cell costs 2 bytes less
    assert data[2] == {"dataFilter": {"developerMetadataLookup": {"metadataId": 103}}, "majorDimension": "COLUMNS",
                       "values": [["key", "k1", "k2"]]}


def test_requests_stay_under_the_limit_and_no_row_shows_its_new_text_under_its_old_key():
    rows = {r: f"text {r}" for r in range(0, 40_000, 10)}
    spec = _spec({"input": dict(rows), "output": dict(rows), "sheetsync key": dict(rows)})
    at = {"input": (1, 1), "output": (2, 2), "sheetsync key": (3, 3)}
    limit = 300_000
    raw = list(_batches(spec, at, limit))
    assert all(len(b) <= limit for b in raw)
    bodies = [json.loads(b) for b in raw]
    assert _written(bodies) == {1: rows, 2: rows, 3: rows}  # every cell once, at its row
    when = {}  # (column, row) -> the request that writes it
    for n, body in enumerate(bodies):
        for mid, cells in _written([body]).items():
            when.update({(mid, r): n for r in cells})
    for r in rows:  # a row's key goes in the request of its last text cell, never before any of them
        assert when[3, r] == when[2, r] >= when[1, r]
    # near the top, whole rows; far down (3 bytes a row above, per column), the input column first, on its
    # own, then the outputs with their keys
    assert when[1, 0] == when[2, 0] == when[3, 0]
    assert when[1, 39_990] < when[2, 39_990] == when[3, 39_990]
    assert len(bodies) <= 2 + sum(map(len, raw)) // limit  # the steps share requests


def test_an_import_of_labels_goes_in_whole_rows_so_no_row_is_half_written():
    rows = {r: f"critique {r} " + "x" * 200 for r in range(1, 3_000, 3)}
    spec = _spec({"Pass/Fail": {r: "Fail" for r in rows}, "Critique": dict(rows)})
    spec.whole_rows_only = True
    at = {"Pass/Fail": (5, 5), "Critique": (6, 6)}
    bodies = _bodies(spec, at, 60_000)
    assert len(bodies) > 3
    for body in bodies:  # each request: both columns of the same rows
        got = _written([body])
        assert set(got) == {5, 6} and set(got[5]) == set(got[6])
    assert _written(bodies) == {5: {r: "Fail" for r in rows}, 6: rows}


def test_a_cell_too_far_down_for_one_request_is_refused_naming_its_row():
    spec = _spec({"input": {50_000: "x"}})
    with pytest.raises(UserInputError, match=r"row 50001 .* max_request_bytes"):
        list(_batches(spec, {"input": (1, 1)}, 100_000))


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


def _values_writes(sheets_emulator, run):
    """The cells ``run()`` writes by column identity: metadataId -> {row: value}."""
    bodies = []
    hook = sheets_emulator.on_request(lambda info: bodies.append(info.body), path_contains="batchUpdateByDataFilter")
    try:
        run()
    finally:
        hook.remove()
    return _written(bodies)


def test_a_re_push_writes_only_the_cells_that_change_and_the_key_with_them(
        workspace, tmp_path, sheets_emulator, gspread_client, expert):  # noqa: F811
    push(workspace, tmp_path / "data.csv")
    expert().label(LABELS)
    rows = default_rows(6)
    rows[2]["output"] = "a better answer 3"  # r3 (labelled): only its output changes
    write_data(tmp_path / "data.csv", rows)
    key_before = expert().rows()["r3"]["sheetsync key"]
    marks = {m: h for h, m in _mark_ids(gspread_client).items()}
    wrote = _values_writes(sheets_emulator, lambda: push(workspace, tmp_path / "data.csv"))
    by_header = {marks[mid]: cells for mid, cells in wrote.items()}
    r3 = next(r for r, line in enumerate(expert().grid()) if line[0] == "r3")
    # its output, its stale flag and its key: not its input, dimensions or context, nor any other row
    assert set(by_header) == {"output", "Status", "sheetsync key"}
    assert {r for cells in by_header.values() for r in cells} == {r3}
    got = expert().rows()["r3"]
    assert got["output"] == "a better answer 3" and got["input"] == "question 3" and got["Status"].startswith("stale")
    assert got["sheetsync key"] != key_before and got["Critique"] == LABELS["r3"][1]


def test_a_row_whose_key_names_a_display_the_store_does_not_know_is_rewritten_whole(
        workspace, tmp_path, sheets_emulator, gspread_client, expert):  # noqa: F811
    push(workspace, tmp_path / "data.csv")
    x = expert()
    grid = x.grid()
    key_col = grid[0].index("sheetsync key")
    r2 = next(r for r, line in enumerate(grid) if line[0] == "r2")
    content, _, rid = grid[r2][key_col].partition(".")
    x.ws.update_cell(r2 + 1, key_col + 1, f"{content}.00000000{rid[rid.index(':'):]}")  # unknown display
    x.ws.update_cell(r2 + 1, grid[0].index("input") + 1, "the expert typed over the input")
    marks = {m: h for h, m in _mark_ids(gspread_client).items()}
    wrote = _values_writes(sheets_emulator, lambda: push(workspace, tmp_path / "data.csv"))
    by_header = {marks[mid]: cells for mid, cells in wrote.items()}
    assert {"input", "output", "sheetsync key"} <= set(by_header) and set(by_header["input"]) == {r2}
    assert expert().rows()["r2"]["input"] == "question 2"


def _mark_ids(gspread_client):
    sh = gspread_client.open(TITLE)
    found = sh.client.request(
        "post", f"https://sheets.googleapis.com/v4/spreadsheets/{sh.id}/developerMetadata:search",
        json={"dataFilters": [{"developerMetadataLookup": {"metadataKey": COLUMN_KEY}}]}).json()
    return {m["developerMetadata"]["metadataValue"]: m["developerMetadata"]["metadataId"]
            for m in found.get("matchedDeveloperMetadata", [])}


def test_far_down_a_tall_tab_no_moment_shows_a_rows_new_text_under_its_old_key(
        workspace, tmp_path, sheets_emulator, gspread_client, expert):  # noqa: F811
    """At the smallest request size (64 KiB) rows past ~300 (a new row's 6 cells) or ~1,100 (an output and its
    key) are deep enough for the two-step write. After every request, each row that changes shows either its
    old text under its old key, its new text under its new key, or a mixture under its old key."""
    from tests.attack.ledger import view

    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("timeout = 3", "timeout = 3\nmax_request_bytes = 65536"))
    cfg = load_config(toml)
    rows = default_rows(1_300)
    write_data(tmp_path / "data.csv", rows)
    push(cfg, tmp_path / "data.csv")
    long = " and".join(["a longer answer"] * 120)  # ~2 KB: the writes take several requests
    for r in rows[::50]:
        r["output"] = f"{r['output']}, revised: {long}"
    rows += [{**r, "id": f"n{i}", "output": f"{r['output']}: {long}"} for i, r in enumerate(default_rows(40))]
    write_data(tmp_path / "data.csv", rows)
    key = gspread_client.open(TITLE).id
    snapshots = []
    hook = sheets_emulator.on_request(lambda info: snapshots.append(view(sheets_emulator, key)),
                                      path_contains="batchUpdateByDataFilter", when="after")
    try:
        push(cfg, tmp_path / "data.csv")
    finally:
        hook.remove()
    final = expert().rows()
    shown = ("feature", "tier", "input", "output")
    moving = [r["id"] for r in rows[::50]] + [f"n{i}" for i in range(40)]
    assert len(snapshots) > 3
    partial = 0
    for v in snapshots:
        h = v.grid[0]
        for line in v.grid[1:]:
            line = line + [""] * (len(h) - len(line))
            rid = line[h.index("id")]
            if rid not in moving:
                continue
            new_text = all(line[h.index(c)] == final[rid][c] for c in shown)
            new_key = line[h.index("sheetsync key")] == final[rid]["sheetsync key"]
            assert new_text == new_key, f"{rid}: text {'new' if new_text else 'not new'}, key {'new' if new_key else 'old'}"
            written = [c for c in shown if line[h.index(c)] == final[rid][c]]
            partial += 0 < len(written) < len(shown)
    assert partial, "no new row was ever half-written: the two-step write was not reached"
    assert final["n39"]["output"] == f"answer 40: {long}" and final["r1251"]["output"].endswith(long)


def _label_half_written_rows(cfg, tmp_path, sheets_emulator, gspread_client, n_rows):
    """Push ``n_rows``, then re-push with 40 new rows at 64 KiB requests while the expert labels every new row
    the write has half written (some of its text there, not all), between two of its requests."""
    from tests.attack.ledger import view

    rows = default_rows(n_rows)
    write_data(tmp_path / "data.csv", rows)
    push(cfg, tmp_path / "data.csv")
    long = " and".join(["a longer answer"] * 120)
    rows += [{**r, "id": f"n{i}", "output": f"{r['output']}: {long}"} for i, r in enumerate(default_rows(40))]
    write_data(tmp_path / "data.csv", rows)
    key = gspread_client.open(TITLE).id
    typed: dict[str, str] = {}

    def label_half_written(info):
        v = view(sheets_emulator, key)
        h = v.grid[0]
        for r, line in enumerate(v.grid[1:], start=1):
            line = line + [""] * (len(h) - len(line))
            rid = line[0]
            filled = [bool(line[h.index(c)]) for c in ("feature", "tier", "input", "output")]
            if rid.startswith("n") and rid not in typed and not all(filled):
                typed[rid] = f"Labelled while its text was not all there ({rid})."
                sheets_emulator.act(key, [{"updateCells": {
                    "start": {"sheetId": v.sheet_id, "rowIndex": r, "columnIndex": h.index("Pass/Fail")},
                    "rows": [{"values": [{"userEnteredValue": {"stringValue": "Fail"}},
                                         {"userEnteredValue": {"stringValue": typed[rid]}}]}],
                    "fields": "userEnteredValue"}}])

    hook = sheets_emulator.on_request(label_half_written, path_contains="batchUpdateByDataFilter", when="after")
    try:
        push(cfg, tmp_path / "data.csv")
    finally:
        hook.remove()
    assert typed, "no new row was ever half-written between two requests"
    pull(cfg)
    push(cfg, tmp_path / "data.csv")
    pull(cfg)
    return typed


@pytest.fixture
def small_requests(tmp_path, workspace):  # noqa: F811
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("timeout = 3", "timeout = 3\nmax_request_bytes = 65536"))
    return load_config(toml)


@pytest.mark.parametrize("n_rows", [30, 1_300])  # whole rows; far down, the two-step write
def test_a_label_given_on_a_half_written_row_is_kept(
        small_requests, tmp_path, sheets_emulator, gspread_client, expert, n_rows):
    from sheetsync.store import Store

    typed = _label_half_written_rows(small_requests, tmp_path, sheets_emulator, gspread_client, n_rows)
    got = expert().rows()
    store = Store.for_workspace(tmp_path / ".sheetsync")
    try:
        labels = store.labels()
        for rid, critique in typed.items():
            assert got[rid]["Critique"] == critique and labels[rid].critique == critique  # in the sheet and the store
            assert got[rid]["input"] and got[rid]["output"]  # its row was completed around the label
    finally:
        store.close()


@pytest.mark.xfail(strict=True, reason=(
    "A label typed on a new row while push is still writing its cells (between two requests) is attributed, "
    "at the next read, to the full text its key then names, so it counts for text the expert saw only part "
    "of. The same holds in whole-row writes (the row is appended with its id before its cells are written). "
    "Push cannot tell when between its requests a label was typed; a fix would flag for a re-check every "
    "label first seen on a row this push wrote, without losing those given for the new text (which the "
    "attack suite requires to count)."))
@pytest.mark.parametrize("n_rows", [30, 1_300])
def test_a_label_given_on_a_half_written_row_counts_only_once_re_checked(
        small_requests, tmp_path, sheets_emulator, gspread_client, n_rows):
    from sheetsync.store import Store

    typed = _label_half_written_rows(small_requests, tmp_path, sheets_emulator, gspread_client, n_rows)
    store = Store.for_workspace(tmp_path / ".sheetsync")
    try:
        fresh, stale = store.fresh_labels()
        assert not set(typed) & set(fresh) and set(typed) <= set(stale)
    finally:
        store.close()


def test_a_store_row_that_cannot_be_rebuilt_means_the_row_is_rewritten_whole(
        workspace, tmp_path, sheets_emulator, gspread_client, expert):  # noqa: F811
    """A store from elsewhere may hold a value that is not text (a number in a team's database): push then
    cannot vouch for what the row shows, and rewrites it whole instead of failing."""
    from sheetsync.store import Store

    push(workspace, tmp_path / "data.csv")
    store = Store.for_workspace(tmp_path / ".sheetsync")
    try:
        with store.db.write() as db:
            db.execute("UPDATE rows SET fields = ? WHERE id = ?", ('{"feature": 7, "tier": "Gold"}', "r3"))
    finally:
        store.close()
    rows = default_rows(6)
    rows[2]["output"] = "a better answer 3"
    write_data(tmp_path / "data.csv", rows)
    marks = {m: h for h, m in _mark_ids(gspread_client).items()}
    wrote = _values_writes(sheets_emulator, lambda: push(workspace, tmp_path / "data.csv"))
    assert {"input", "output", "feature", "tier"} <= {marks[mid] for mid in wrote}
    assert expert().rows()["r3"]["output"] == "a better answer 3"
