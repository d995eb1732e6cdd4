"""Pure tests of how a write is split into batchUpdate bodies under a size limit (no server)."""

from __future__ import annotations

import json
import random

import pytest

from sheetsync.backends.google_writes import STAGING_SUFFIX, plan_write
from sheetsync.backends.sheet_meta import SheetMeta
from sheetsync.errors import UserInputError
from sheetsync.layout import Block, Range, Style, TabSpec


def bodies(plan) -> list[dict]:
    return [json.loads(b.body) for b in plan]


def kinds(body: dict) -> list[str]:
    return [next(iter(r)) for r in body["requests"]]


def annotate(n_rows: int, *, text: str = "x" * 300, top_blocks: int = 2, replace: bool = False, appends: int = 0):
    """An Annotate-like tab: two column runs (cols 1-2 and 4-5) with header, ``n_rows`` data rows."""
    runs = [Block(0, 1 + 3 * b, [["h1", "h2"]] + [[f"{text}{r}", f"{b}:{r}"] for r in range(1, n_rows + 1)])
            for b in range(top_blocks)]
    return TabSpec(
        title="Annotate", blocks=runs, n_rows=n_rows + 1 + appends, n_cols=8, replace=replace,
        styles=[Style(Range(1, 0, None, 8), wrap=True)],
        append_rows=[[f"new{i}", "a", "b"] for i in range(appends)],
    )


EXISTING = {"Annotate": SheetMeta(sheet_id=11, title="Annotate", index=1, row_count=400, col_count=8, owned=True)}


def test_a_write_that_fits_is_one_batch():
    plan = plan_write([annotate(10)], EXISTING, limit=2_000_000, rng=random.Random(1))
    assert len(plan) == 1
    (body,) = bodies(plan)
    assert kinds(body).count("updateCells") == 2


@pytest.mark.parametrize("limit", [20_000, 50_000, 200_000])
def test_every_body_stays_under_the_limit_and_every_row_lands_whole(limit):
    plan = plan_write([annotate(300, appends=40)], EXISTING, limit=limit, rng=random.Random(1))
    sent = [b.body for b in plan]
    assert len(sent) > 1 and all(len(b) <= limit for b in sent)
    assert all(len(b) <= size for b, size in zip(sent, plan.sizes, strict=True))  # sizes are upper bounds
    seen: dict[int, int] = {}  # row -> the batch that carried it
    for number, body in enumerate(map(json.loads, sent)):
        for r in body["requests"]:
            if "updateCells" in r:
                uc = r["updateCells"]
                for i, _ in enumerate(uc["rows"]):
                    row = uc["start"]["rowIndex"] + i
                    assert seen.setdefault(row, number) == number  # both column runs of a row: one batch
    assert sorted(seen) == list(range(301))
    appended = [row for body in map(json.loads, sent) for r in body["requests"] if "appendCells" in r
                for row in r["appendCells"]["rows"]]
    assert [row["values"][0]["userEnteredValue"]["stringValue"] for row in appended] == [f"new{i}" for i in range(40)]


def test_formatting_comes_first_and_stays_in_one_batch():
    plan = plan_write([annotate(300)], EXISTING, limit=30_000, rng=random.Random(1))
    first = bodies(plan)[0]
    assert kinds(first)[0] == "updateSheetProperties" and "repeatCell" in kinds(first)


def test_utf8_text_is_sent_as_utf8_not_escapes():
    spec = TabSpec.table("Report", [["Ærlig talt — 日本語"]])
    (batch,) = list(plan_write([spec], {}, rng=random.Random(1)))
    assert "日本語".encode() in batch.body and b"\\u" not in batch.body


def test_a_rebuilt_tab_too_big_for_one_request_is_built_hidden_and_swapped_in_last():
    old = SheetMeta(sheet_id=5, title="Judge", index=3, row_count=50, col_count=4, owned=True)
    rows = [["id", "critique"]] + [[f"r{i}", "c" * 500] for i in range(400)]
    plan = plan_write([TabSpec.table("Judge", rows)], {"Judge": old}, limit=40_000, rng=random.Random(2))
    sent = bodies(plan)
    assert len(sent) > 3 and plan.staged == ["Judge"]
    add = sent[0]["requests"][0]["addSheet"]["properties"]
    assert add["hidden"] is True and add["title"] == "Judge" + STAGING_SUFFIX and add["index"] == 3
    for body in sent[:-1]:  # the old tab is untouched until the last request
        assert all(r.get("deleteSheet", {}).get("sheetId") != 5 for r in body["requests"])
        assert "updateSheetProperties" not in kinds(body)
    last = sent[-1]["requests"]
    assert {"deleteSheet": {"sheetId": 5}} in last
    swap = next(r["updateSheetProperties"] for r in last if "updateSheetProperties" in r)
    assert swap["properties"] == {"sheetId": add["sheetId"], "title": "Judge", "hidden": False}


def test_a_leftover_stand_in_from_an_interrupted_write_is_removed_first():
    leftover = SheetMeta(sheet_id=9, title="Judge" + STAGING_SUFFIX, index=4, row_count=10, col_count=2,
                         owned=True, hidden=True, staging_for="Judge")
    plan = plan_write([TabSpec.table("Summary", [["x"]])], {leftover.title: leftover}, rng=random.Random(3))
    assert bodies(plan)[0]["requests"][0] == {"deleteSheet": {"sheetId": 9}}


def test_a_row_larger_than_the_limit_is_refused_before_anything_is_sent():
    with pytest.raises(UserInputError, match="row 2 needs a request of .* max_request_bytes"):
        plan_write([annotate(3, text="y" * 30_000)], EXISTING, limit=20_000, rng=random.Random(1))


def test_more_cells_than_a_spreadsheet_holds_is_refused_with_the_numbers():
    big = TabSpec(title="Annotate", blocks=[], n_rows=900_000, n_cols=12)
    with pytest.raises(UserInputError, match="needs 10,800,000 cells .* at most 10,000,000"):
        plan_write([big], {}, rng=random.Random(1))
