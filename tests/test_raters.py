"""A second rater: their own workbook on the same rows (never the principal expert's labels), κ equal to
scikit-learn's, the Calibration tab for the principal expert to settle, on .xlsx and on Google Sheets."""

from __future__ import annotations

import openpyxl
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from sheetsync.cli import cli
from sheetsync.pull import pull
from sheetsync.raters import rater_store
from sheetsync.report import report
from sheetsync.store import Store
from tests.expert import Expert
from tests.review_expert import GoogleTabExpert
from tests.test_judge import rows, write_csv
from tests.test_review_cycle import TITLE, World, expert_label
from tests.test_roundtrip_google import GoogleExpert


def sams_label(rid: str) -> tuple[str, str, str]:
    """Sam agrees with the expert except on every fifth row."""
    verdict, _, cause = expert_label(rid)
    if int(rid[1:]) % 5 == 0:
        verdict = "Pass" if verdict == "Fail" else "Fail"
    return verdict, f"Sam's critique of {rid}: judged on the fee and the tone, as the policy asks.", cause


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def every_cell(path) -> str:
    book = openpyxl.load_workbook(path)
    return "\n".join(str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r if c)


@pytest.fixture
def world(tmp_path, monkeypatch):
    return World("xlsx", tmp_path, monkeypatch)


def test_a_second_rater_labels_blind_and_the_expert_settles_the_differences(world):
    pushed = run("push", "data.csv", "--rater", "Sam")
    assert pushed.exit_code == 0, pushed.output
    sams = world.tmp / "labels.Sam.xlsx"
    assert "Sam's workbook" in pushed.output and sams.exists()
    text = every_cell(sams)
    assert "Expert critique for" not in text  # not one of the expert's critiques anywhere in Sam's file
    sam = Expert(sams)
    assert set(sam.rows()) == {r["id"] for r in rows()}
    assert all(not (r["Pass/Fail"] or r["Critique"]) for r in sam.rows().values())  # none of the expert's labels

    sam.label({r["id"]: sams_label(r["id"]) for r in rows()})
    s = pull(world.cfg)
    (r,) = s.raters
    ids = sorted(r["id"] for r in rows())
    mine = [expert_label(i)[0].lower() for i in ids]
    theirs = [sams_label(i)[0].lower() for i in ids]
    assert r["name"] == "Sam" and r["agreement"]["n"] == len(ids)
    assert r["agreement"]["kappa"] == pytest.approx(cohen_kappa_score(mine, theirs), abs=1e-12)
    assert r["agreement"]["agreement"] == pytest.approx(sum(a == b for a, b in zip(mine, theirs, strict=True)) / len(ids))
    differ = [i for i in ids if int(i[1:]) % 5 == 0]
    assert r["disagreements"] == differ

    rep = report(world.cfg)
    assert rep.figures["raters"][0]["kappa"] == pytest.approx(r["agreement"]["kappa"])
    calibration = world.tab("Calibration")
    assert set(calibration.rows()) == set(differ)
    x, y, z = differ[:3]
    calibration.answer({x: ("Rater is right", "Sam is right: the tone alone does not fail an answer."),
                        y: ("My label stands", "The fee was wrong; Sam missed it."),
                        z: ("Unclear", "Does a polite refusal count as achieving the outcome?")})
    world.relabel({x: (sams_label(x)[0], "Revised after calibration with Sam: the tone is acceptable here.", "")})
    s = pull(world.cfg)
    assert s.review["revisions"][0].startswith(f"{x}:") and "Sam is right" in s.review["revisions"][0]
    assert s.review["open_questions"] == [f"{z}: Does a polite refusal count as achieving the outcome?"]
    store = Store.for_workspace(world.cfg.state_dir)
    assert store.revisions()[0].source == "calibration"
    assert s.raters[0]["agreement"]["n"] == len(ids) and x not in s.raters[0]["disagreements"]

    report(world.cfg)
    after = world.tab("Calibration").rows()
    assert after[x]["Status"].startswith("closed: you and Sam now agree")
    assert after[y]["Status"].startswith("answered: your label stands")
    assert after[z]["Status"].startswith("answered: unclear")
    assert after[x]["Resolution"] == "Rater is right" and after[z]["Why"].startswith("Does a polite refusal")
    assert "Second rater: Sam" in world.text("Summary")
    # Sam's workbook never shows the expert's labels, nor the calibration
    assert "Revised after calibration" not in every_cell(sams) and "Calibration" not in openpyxl.load_workbook(
        sams).sheetnames


def test_the_rater_never_gets_the_experts_own_workbook(world):
    refused = run("push", "data.csv", "--rater", "Sam", "--spreadsheet", "labels.xlsx")
    assert refused.exit_code == 2 and "principal expert's workbook" in refused.stderr
    assert rater_store(world.cfg, "Sam", create=False) is None  # nothing made
    bad = run("push", "data.csv", "--rater", "a/b")
    assert bad.exit_code == 2 and "second rater's name" in bad.stderr


def test_a_configured_rater_follows_every_push(world):
    world.reload(rater='"Sam"')
    more = rows(44)
    write_csv(world.tmp / "data.csv", more)
    pushed = run("push", "data.csv")
    assert pushed.exit_code == 0, pushed.output
    assert "Sam's workbook" in pushed.output
    assert set(Expert(world.tmp / "labels.Sam.xlsx").rows()) == {r["id"] for r in more}


def test_a_second_rater_on_google_sheets(tmp_path, monkeypatch, sheets_emulator, gspread_client):
    w = World("google", tmp_path, monkeypatch, gspread_client, sheets_emulator)
    pushed = run("push", "data.csv", "--rater", "Sam")
    assert pushed.exit_code == 0, pushed.output
    title = "sheetsync second rater: Sam"
    theirs = GoogleExpert(gspread_client, title)
    assert set(theirs.rows()) == {r["id"] for r in rows()}
    assert all(not r["Pass/Fail"] for r in theirs.rows().values())
    theirs.label({r["id"]: sams_label(r["id"]) for r in rows()})
    s = pull(w.cfg)
    ids = sorted(r["id"] for r in rows())
    assert s.raters[0]["agreement"]["kappa"] == pytest.approx(
        cohen_kappa_score([expert_label(i)[0] for i in ids], [sams_label(i)[0] for i in ids]), abs=1e-12)
    report(w.cfg)
    assert set(GoogleTabExpert(gspread_client, TITLE, "Calibration").rows()) == {i for i in ids if int(i[1:]) % 5 == 0}
    assert "Calibration" not in [ws.title for ws in gspread_client.open(title).worksheets()]
