"""A label's identity never rests on one cell the expert can edit, nor on a setting that can be mistyped:
the wrong id column, a dataset that shares no labelled id, a deleted hidden key column, a new column beside
one the expert added. On Google (gspread against the emulator) as the expert would meet it in the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from tests.test_roundtrip_google import TITLE, GoogleExpert
from tests.test_roundtrip_xlsx import LABELS, default_rows, write_data


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def grid_after(gspread_client):
    return GoogleExpert(gspread_client).grid()


@pytest.fixture
def labelled(tmp_path, monkeypatch, sheets_emulator, gspread_client):
    """A workspace whose Annotate tab holds the expert's labels for r1–r4 (pulled)."""
    from sheetsync.workspace import init_workspace

    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet=TITLE)
    write_data(tmp_path / "data.csv", default_rows())
    cfg = load_config(tmp_path / "sheetsync.toml")
    push(cfg, tmp_path / "data.csv")
    GoogleExpert(gspread_client).label(LABELS)
    pull(cfg)
    return tmp_path


def test_a_mistyped_id_column_stops_the_push(labelled, gspread_client, sheets_emulator):
    rows = [{**r, "uid": f"u{i}"} for i, r in enumerate(default_rows())]
    write_data(labelled / "data.csv", rows)
    toml = labelled / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('id = "id"', 'id = "uid"', 1))
    before = grid_after(gspread_client)
    sheets_emulator.clear_log()
    result = run("push", "data.csv")
    assert result.exit_code == 2, result.output
    assert "[columns] id is “uid”, but the Annotate tab's ids are the “id” column" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not [e for e in sheets_emulator.request_log if e.kind == "write"]
    assert grid_after(gspread_client) == before


def test_a_dataset_that_shares_no_labelled_id_stops_the_push(labelled, gspread_client):
    write_data(labelled / "data.csv", [{**r, "id": "x" + r["id"]} for r in default_rows()])
    before = grid_after(gspread_client)
    result = run("push", "data.csv")
    assert result.exit_code == 2 and "none of the 4 labelled ids in the Annotate tab" in result.stderr
    assert grid_after(gspread_client) == before


def test_a_deleted_key_column_never_lets_an_old_label_count_for_new_content(labelled, gspread_client):
    expert = GoogleExpert(gspread_client)
    key_col = expert.grid()[0].index("sheetsync key")
    expert.request({"deleteDimension": {"range": {"sheetId": expert.ws.id, "dimension": "COLUMNS",
                                                  "startIndex": key_col, "endIndex": key_col + 1}}})
    rows = default_rows()
    rows[1]["output"] = "a rewritten answer 2"  # r2 was labelled for the old answer
    write_data(labelled / "data.csv", rows)
    result = run("push", "data.csv", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    after = GoogleExpert(gspread_client).rows()
    assert "sheetsync key" in GoogleExpert(gspread_client).grid()[0]  # put back
    assert after["r2"]["Status"].startswith("stale") and after["r2"]["Critique"] == LABELS["r2"][1]
    assert all(after[rid]["Critique"] == text for rid, (_, text, _) in LABELS.items())
    assert run("pull").exit_code == 0
    fresh, stale = Store(labelled / ".sheetsync" / "state.db").fresh_labels()
    assert "r2" in stale and "r2" not in fresh and {"r1", "r3", "r4"} <= set(fresh)


def test_a_new_context_column_is_inserted_beside_its_kind_and_the_experts_unnamed_column_survives(
        labelled, gspread_client):
    expert = GoogleExpert(gspread_client)
    width = len(expert.grid()[0])
    expert.ws.update(values=[["my own note"]], range_name=f"{chr(ord('A') + width)}3", raw=True)  # no header
    toml = labelled / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("context = []", 'context = ["tier"]', 1))
    result = run("push", "data.csv")
    assert result.exit_code == 0, result.output + result.stderr
    grid = GoogleExpert(gspread_client).grid()
    header = grid[0]
    assert header.index("tier") == header.index("input") - 1  # with the other columns the expert reads first
    assert grid[2][width + 1] == "my own note"  # shifted right, never overwritten
    after = GoogleExpert(gspread_client).rows()
    assert after["r1"]["tier"] == default_rows()[0]["tier"]
    assert all(after[rid]["Critique"] == text for rid, (_, text, _) in LABELS.items())
