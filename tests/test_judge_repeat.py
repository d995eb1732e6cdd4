"""``judge --repeat K`` end to end, through the real openai client against the fake server: re-asks are
cached like any call, flip rates come out as hand-counted, flipped rows are marked in the Judge tab, and the
report carries the flip rates and puts flipped rows first under "Label next"."""

from __future__ import annotations

import csv
import re

import openpyxl
import pytest

from sheetsync.config import load_config
from sheetsync.judge import judge
from sheetsync.push import push
from sheetsync.report import build_report
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.fake_llm import fake_llm

N = 30
FLAKY = {3, 7, 11, 20}  # the judge's verdict on these depends on the sampling seed it is given


def responder(request):
    i = int(re.search(r"answer number (\d+)", request["messages"][-1]["content"]).group(1))
    if i in FLAKY:
        return {"critique": "unsure", "verdict": "fail" if (request.get("seed") or 0) % 2 else "pass"}
    return {"critique": "sure", "verdict": "pass" if i % 4 else "fail"}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["tier"]'))
    with (tmp_path / "data.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "tier", "input", "output"])
        w.writeheader()
        w.writerows({"id": f"r{i:02d}", "tier": "Gold" if i % 2 else "Basic", "input": f"Q{i}?",
                     "output": f"answer number {i}"} for i in range(N))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(toml)
    push(cfg, tmp_path / "data.csv")
    with fake_llm(monkeypatch, responder=responder) as server:
        yield cfg, tmp_path, server


def test_repeat_measures_flips_caches_reasks_and_marks_them(workspace):
    cfg, root, server = workspace
    out = judge(cfg, split="unlabeled", repeat=3, progress=False)
    c = out.consistency
    assert c["n_rows"] == N and c["flipped"] == sorted(f"r{i:02d}" for i in FLAKY)
    assert c["flip_rate"] == pytest.approx(len(FLAKY) / N)
    # asks: seed None (pass), 1 (fail), 2 (pass) -> 2 of 3 asks agree: disagreement 2·2·1/(3·2) = 2/3 per row
    assert c["disagreement_rate"] == pytest.approx(len(FLAKY) * (2 / 3) / N)
    assert c["calls_made"] == 2 * N
    again = judge(cfg, split="unlabeled", repeat=3, progress=False)
    assert again.calls_made == 0 and again.consistency["calls_made"] == 0  # every re-ask came from the cache
    ws = openpyxl.load_workbook(root / "labels.xlsx")["Judge"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    head = [c.value for c in ws[1]]
    col = head.index("re-asks")
    assert rows["r03"][col] == "flips: 2 pass of 3 asks" and rows["r04"][col] == "same in 3 asks"
    fig = build_report(cfg, Store.for_workspace(root / ".sheetsync")).to_dict()
    assert fig["consistency"]["n_flipped"] == len(FLAKY)
    assert {r["id"] for r in fig["label_next"][: len(FLAKY)]} == {f"r{i:02d}" for i in FLAKY}
    gold = next(r for r in fig["consistency"]["by_dimension"]["tier"] if r["value"] == "Gold")
    assert gold["n_flipped"] == sum(1 for i in FLAKY if i % 2)


def test_summary_tab_shows_the_flip_rates(workspace):
    """The Summary tab's self-consistency table: overall and per dimension value, Wilson from statsmodels."""
    from statsmodels.stats.proportion import proportion_confint

    from sheetsync.report import report

    cfg, root, _ = workspace
    judge(cfg, split="unlabeled", repeat=3, progress=False)
    fig = report(cfg).to_dict()["consistency"]
    ws = openpyxl.load_workbook(root / "labels.xlsx")["Summary"]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    at = next(n for n, r in enumerate(grid) if r[0] == "Does the judge agree with itself? (judge --repeat)")
    header, overall = grid[at + 1], grid[at + 2]
    assert header[1:7] == ["rows", "flipped", "flip rate", "95% low", "95% high", "two asks disagree"]
    low, high = proportion_confint(len(FLAKY), N, method="wilson")
    assert overall[:6] == ["all re-asked rows", N, len(FLAKY), pytest.approx(len(FLAKY) / N), pytest.approx(low),
                           pytest.approx(high)]
    gold = next(r for r in grid[at + 3: at + 5] if r[0] == "tier=Gold")
    n_gold, f_gold = sum(1 for i in range(N) if i % 2), sum(1 for i in FLAKY if i % 2)
    assert gold[1:4] == [n_gold, f_gold, pytest.approx(f_gold / n_gold)]
    assert fig["flip_rate_ci"] == [pytest.approx(low), pytest.approx(high)]
