"""sheetsync triage end to end with the fake LLM through the real openai client: proposals from train + dev
fail critiques only, the Root-cause proposals tab, the expert accepting, renaming, merging and rejecting in
the sheet (and sorting it), pull applying the decisions to the taxonomy and the next push's dropdown."""

import re

import openpyxl
import pytest

from sheetsync.config import load_config
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.taxonomy import build_taxonomy, load_taxonomy, parse_decision
from sheetsync.triage.propose import proposal_id, triage
from sheetsync.triage.tab import DECISION, EDITED
from tests import triage_world as world
from tests.fake_llm import fake_llm


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=world.responder) as server:
        yield server


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return world.build(tmp_path)


def proposals_sheet(path):
    ws = openpyxl.load_workbook(path)["Root-cause proposals"]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    return grid[0], {r[0]: dict(zip(grid[0], r, strict=False)) for r in grid[1:] if r[0]}


def decide(path, decisions, *, sort=False):
    """The expert types decisions (category name -> (Decision, Definition (edited))) and sorts the tab."""
    book = openpyxl.load_workbook(path)
    ws = book["Root-cause proposals"]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    h = grid[0]
    for row in grid[1:]:
        if row[h.index("category")] in decisions:
            row[h.index(DECISION)], row[h.index(EDITED)] = decisions[row[h.index("category")]]
    if sort:
        grid = [h, *sorted(grid[1:], key=lambda r: str(r[h.index("critiques")]))]
    for r, values in enumerate(grid, start=1):
        for c, v in enumerate(values, start=1):
            ws.cell(r, c).value = v
    book.save(path)


def test_proposals_come_from_train_and_dev_fail_critiques_only(workspace, fake, tmp_path):
    out = triage(workspace, progress=False)
    sent = re.findall(r"\nC\d+:\n", fake.chat_requests[0]["messages"][1]["content"])
    fails = [i for i in range(world.LABELLED) if world.mode(i)]
    train_dev = [i for i in fails if world.split(i) in ("train", "dev")]
    assert out.n_critiques == out.n_sent == len(sent) == len(train_dev) < len(fails)
    assert out.calls_made == 1 and out.dropped_refs == 1
    names = [p.name for p in out.proposals]
    assert set(names) == {"Wrong fee quoted", "Hallucinated fact", "Rude reply", "Formatting / layout"}
    counts = {p.name: len(p.critique_ids) for p in out.proposals}
    for m, name in world.TRIAGE_NAMES.items():
        assert counts[name] == sum(1 for i in train_dev if world.mode(i) == m)
    cited = {rid for p in out.proposals for rid in p.critique_ids}
    assert all(world.split(int(rid[1:])) in ("train", "dev") for rid in cited)

    header, rows = proposals_sheet(tmp_path / "labels.xlsx")
    assert header[-3:] == [DECISION, EDITED, "sheetsync key"]
    fee = rows[proposal_id("Wrong fee quoted")]
    assert fee["critiques"] == counts["Wrong fee quoted"] and fee[DECISION] is None
    assert fee["Status"].startswith("new: decide")
    assert fee["example critiques"].count("quoted a change fee") == 3

    again = triage(workspace, progress=False)  # same critiques: cached, and the tab needs no write
    assert again.calls_made == 0 and again.cache_hits == 1 and fake.answered == 1


def test_dry_run_costs_the_one_call_and_calls_nothing(workspace, fake):
    out = triage(workspace, dry_run=True)
    assert out.dry_run and out.calls_needed == 1 and out.estimated_prompt_tokens > 500
    assert out.estimated_cost is not None and out.estimated_cost > 0 and fake.call_count == 0
    triage(workspace, progress=False)
    assert triage(workspace, dry_run=True).calls_needed == 0


def test_the_experts_decisions_make_the_taxonomy_and_the_next_dropdown(workspace, fake, tmp_path):
    triage(workspace, progress=False)
    book = tmp_path / "labels.xlsx"
    store = Store.for_workspace(workspace.state_dir)
    pull(workspace)
    assert load_taxonomy(workspace, store).names == list(workspace.labels.root_causes)  # nothing decided yet

    decide(book, {"Wrong fee quoted": ("Merge into policy misapplied", None),
                  "Hallucinated fact": ("accept", "States as fact what the context does not support."),
                  "Rude reply": ("Rename to dismissive tone", ""),
                  "Formatting / layout": ("Reject", None)}, sort=True)
    summary = pull(workspace)
    assert summary.taxonomy["added"] == ["dismissive tone"] and summary.taxonomy["problems"] == []
    assert summary.taxonomy["pending"] == 0 and summary.taxonomy["decided"] == 4
    assert "rude reply" not in summary.unknown_root_causes  # the alias of the renamed proposal is known now

    tax = load_taxonomy(workspace, store)
    assert tax.names == [*workspace.labels.root_causes, "dismissive tone"]
    assert tax.canonical("Rude Reply") == "dismissive tone" and tax.canonical("wrong fee quoted") == "policy misapplied"
    hallucinated = next(c for c in tax.categories if c.name == "hallucinated fact")
    assert hallucinated.definition == "States as fact what the context does not support."
    assert "dismissive tone" not in (tmp_path / "sheetsync.toml").read_text()  # the user's file is never rewritten

    push(workspace, tmp_path / "data.csv")
    dropdowns = [dv.formula1 for dv in openpyxl.load_workbook(book)["Annotate"].data_validations.dataValidation]
    assert any("dismissive tone" in (f or "") for f in dropdowns) or _lists_sheet_has(book, "dismissive tone")
    expert = {r["id"]: r for r in _annotate(book)}
    assert expert["r002"]["Root cause"] == "rude reply"  # what the expert typed stays as typed

    triage(workspace, progress=False)  # the tab is updated in place: the decisions stay, the status says so
    _, rows = proposals_sheet(book)
    assert rows[proposal_id("Rude reply")][DECISION] == "Rename to dismissive tone"
    assert rows[proposal_id("Rude reply")]["Status"] == "applied at the last pull: renamed to “dismissive tone”"


def test_unreadable_decisions_are_listed_and_never_guessed(workspace, fake, tmp_path):
    triage(workspace, progress=False)
    decide(tmp_path / "labels.xlsx", {"Wrong fee quoted": ("Merge into nowhere", None),
                                      "Rude reply": ("Rename to …", None), "Hallucinated fact": ("maybe", None)})
    summary = pull(workspace)
    problems = " ".join(summary.taxonomy["problems"])
    assert "Merge into “nowhere”: no such root cause" in problems
    assert "type the new name after “Rename to”" in problems and "'maybe' is not one of" in problems
    assert summary.taxonomy["added"] == [] and summary.taxonomy["pending"] == 1


def test_a_deleted_proposal_row_keeps_its_last_decision_and_comes_back(workspace, fake, tmp_path):
    triage(workspace, progress=False)
    book = tmp_path / "labels.xlsx"
    decide(book, {"Rude reply": ("Rename to dismissive tone", None)})
    pull(workspace)
    wb = openpyxl.load_workbook(book)
    ws = wb["Root-cause proposals"]
    row = next(c.row for c in ws["A"] if c.value == proposal_id("Rude reply"))
    ws.delete_rows(row)
    wb.save(book)
    summary = pull(workspace)
    assert "dismissive tone" in summary.taxonomy["root_causes"] and "gone from" in " ".join(summary.warnings)
    triage(workspace, progress=False)
    assert proposals_sheet(book)[1][proposal_id("Rude reply")][DECISION] == "Rename to dismissive tone"


def test_nothing_to_triage_is_a_clear_error(tmp_path, monkeypatch, fake):
    from click.testing import CliRunner

    from sheetsync.cli import cli
    monkeypatch.chdir(tmp_path)
    world.build(tmp_path)
    store = Store.for_workspace(tmp_path / ".sheetsync")
    store.db.execute("DELETE FROM labels")
    result = CliRunner().invoke(cli, ["triage"])
    assert result.exit_code == 2 and "no failed train or dev rows with a critique" in result.output


def test_parse_decision_and_merge_chains():
    assert parse_decision("  ACCEPT ") == ("accept", "")
    assert parse_decision("Rename to: “wrong fee”") == ("rename", "wrong fee")
    assert parse_decision("Merge into … policy misapplied") == ("merge", "policy misapplied")
    with pytest.raises(ValueError, match="separate several causes"):
        parse_decision("Rename to a, b")
    from sheetsync.store import Decision
    props = {pid: {"name": name, "definition": ""} for pid, name in (("P1", "A"), ("P2", "B"), ("P3", "C"))}
    tax = build_taxonomy(("x",), props, {"P1": Decision("P1", "merge into B", ""), "P2": Decision("P2", "merge into x", ""),
                                         "P3": Decision("P3", "Rename to x", "")})
    assert tax.names == ["x"] and tax.canonical("a") == "x" and tax.canonical("C") == "x" and not tax.problems


def _annotate(book):
    ws = openpyxl.load_workbook(book)["Annotate"]
    grid = [[c.value for c in row] for row in ws.iter_rows(values_only=False)]
    return [dict(zip(grid[0], r, strict=False)) for r in grid[1:]]


def _lists_sheet_has(book, text):
    wb = openpyxl.load_workbook(book)
    return any(text == c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row)


def test_config_is_read_again_unchanged(workspace):
    assert load_config(workspace.source).labels.root_causes == workspace.labels.root_causes
