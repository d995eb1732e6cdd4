"""Steps 6 and 7 in one pass, on .xlsx and on Google Sheets (the emulator, through the real gspread client),
with the fake LLM through the real openai client and every command typed on the CLI:

triage (dry run first) → the expert accepts (with an edited definition), renames, merges and rejects in the
Root-cause proposals tab and sorts it → triage again (0 calls, the decisions stay) → pull applies them to the
taxonomy, and the next push's Root cause dropdown offers it, the expert's Annotate cells as typed → classify
(dry run, run, re-run: 0 calls) → an LLM judge and a code assertion for two failure modes (dry run, run, re-run:
0 calls) → report: expert- and LLM-assigned counts apart, the classifier's precision/recall (checked here
against scikit-learn on the world's known answers), each judge's agreement and corrected failure rate.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sklearn.metrics import precision_recall_fscore_support, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.judge.splits import split_of
from sheetsync.metrics import corrected_success_rate
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.report import report
from sheetsync.report.figures import METHOD
from sheetsync.store import Store
from sheetsync.taxonomy import load_taxonomy
from sheetsync.triage.tab import CATEGORY, DECISION, EDITED, PROPOSAL, STATUS
from sheetsync.workspace import init_workspace
from tests import triage_world as world
from tests.expert import Expert
from tests.fake_llm import fake_llm
from tests.proposals_expert import TAB, GoogleSheet, XlsxSheet
from tests.test_judges import CHECKS, JUDGES_TOML, _write_checks
from tests.test_roundtrip_google import GoogleExpert

TITLE = "Error analysis e2e"
DEFINITION = "States as fact what the context does not support — e.g. a lounge voucher."
DECISIONS = {"Wrong fee quoted": ("Merge into policy misapplied", None),
             "Hallucinated fact": ("Accept", DEFINITION),
             "Rude reply": ("Rename to dismissive tone", None),
             "Formatting / layout": ("Reject", None)}


@pytest.fixture(params=["xlsx", "google"])
def backend(request):
    return request.param


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=world.responder) as server:
        yield server


def build(backend, root, monkeypatch, emulator, client):
    """world.build on either backend: init → push → the expert labels the first world.LABELLED rows → pull."""
    if backend == "google":
        monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.address)
    monkeypatch.chdir(root)
    init_workspace(root, spreadsheet="labels.xlsx" if backend == "xlsx" else TITLE)
    toml = root / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["tier"]') + JUDGES_TOML)
    _write_checks(root, CHECKS)
    world.write_csv(root / "data.csv", world.dataset())
    cfg = load_config(toml)
    push(cfg, root / "data.csv")
    labels = {world.rid(i): ("Fail" if world.mode(i) else "Pass", world.CRITIQUE[world.mode(i)],
                             world.EXPERT_CAUSE.get(world.mode(i), "")) for i in range(world.LABELLED)}
    if backend == "xlsx":
        Expert(root / "labels.xlsx").label(labels)
        sheet = XlsxSheet(root / "labels.xlsx")
    else:
        GoogleExpert(client, TITLE).label(labels)
        sheet = GoogleSheet(client, TITLE)
    pull(cfg)
    return cfg, sheet


def records(grid, id_header):
    h = [str(c or "") for c in grid[0]]
    return {r[h.index(id_header)]: dict(zip(h, r, strict=False)) for r in grid[1:] if r and r[h.index(id_header)]}


def table_after(grid, heading_prefix, first_cell):
    start = next(i for i, r in enumerate(grid) if r and isinstance(r[0], str) and r[0].startswith(heading_prefix))
    h = next(i for i in range(start, len(grid)) if grid[i] and grid[i][0] == first_cell)
    out = []
    for r in grid[h + 1:]:
        if sum(c not in (None, "") for c in r) <= 1:
            break
        out.append(dict(zip(grid[h], r, strict=False)))
    return out


def measured_rows():
    return [i for i in range(world.LABELLED) if world.mode(i) and world.split(i) in ("dev", "test")]


def test_steps_6_and_7_from_triage_to_the_report(backend, tmp_path, monkeypatch, fake, sheets_emulator,
                                                  gspread_client):
    cfg, sheet = build(backend, tmp_path, monkeypatch, sheets_emulator, gspread_client)
    run = CliRunner()

    def ok(*args):
        result = run.invoke(cli, list(args))
        assert result.exit_code == 0, (args, result.output)
        return result.output

    def calls_of(*args):
        before = fake.call_count
        out = ok(*args)
        return fake.call_count - before, out

    for split in ("dev", "test", "unlabeled"):
        ok("judge", "--split", split)
    annotate_before = records(sheet.grid("Annotate"), "id")

    # triage: the dry run costs the one call and makes none; the run writes the tab; nothing is decided yet
    n, out = calls_of("triage", "--dry-run")
    assert n == 0 and re.search(r"1 call \(1 needed, 0 cached\).*estimated cost \$0\.\d{4}", out)
    n, out = calls_of("triage")
    assert n == 1 and "Proposed 4 root causes" in out
    tab = records(sheet.grid(TAB), PROPOSAL)
    assert {r[CATEGORY] for r in tab.values()} == set(DECISIONS)
    assert all(not r[DECISION] and str(r[STATUS]).startswith("new: decide") for r in tab.values())

    # the expert decides in the sheet and sorts the tab; triage again: no call, every decision beside its row
    sheet.decide(DECISIONS, sort=True)
    typed = {r[CATEGORY]: (r[DECISION], r[EDITED]) for r in records(sheet.grid(TAB), PROPOSAL).values()}
    assert typed == {k: (d, e or "") if backend == "google" else (d, e) for k, (d, e) in DECISIONS.items()}
    n, out = calls_of("triage")
    assert n == 0 and "0 cached" not in out
    assert {r[CATEGORY]: (r[DECISION], r[EDITED]) for r in records(sheet.grid(TAB), PROPOSAL).values()} == typed

    # pull applies the decisions; the next push's dropdown offers the new cause, the rejected one never
    out = ok("pull")
    assert "root-cause proposals: 4 decided, 0 pending; added dismissive tone" in out
    store = Store.for_workspace(cfg.state_dir)
    tax = load_taxonomy(cfg, store)
    assert tax.names == [*cfg.labels.root_causes, "dismissive tone"]
    assert next(c for c in tax.categories if c.name == "hallucinated fact").definition == DEFINITION
    assert tax.canonical("Wrong fee quoted") == "policy misapplied" and tax.canonical("Formatting / layout") is None
    ok("push", "data.csv")
    choices = sheet.root_cause_choices()
    assert "dismissive tone" in choices and "hallucinated fact" in choices
    assert not {"Formatting / layout", "Wrong fee quoted", "Rude reply", "rude reply"} & set(choices)
    annotate_after = records(sheet.grid("Annotate"), "id")
    for rid, row in annotate_before.items():  # every cell the expert typed, as typed
        for header in ("Pass/Fail", "Critique", "Root cause"):
            assert annotate_after[rid][header] == row[header], (rid, header)
    assert calls_of("triage")[0] == 1  # the prompt shows the decided taxonomy now (to reuse its names): one call
    assert calls_of("triage")[0] == 0
    status = {r[CATEGORY]: r[STATUS] for r in records(sheet.grid(TAB), PROPOSAL).values()}
    assert status["Rude reply"] == "applied at the last pull: renamed to “dismissive tone”"

    # classify: the dry run counts every call and costs them, the run makes them, a re-run none
    n, out = calls_of("classify", "--dry-run")
    unlabelled_fails = [i for i in range(world.LABELLED, world.N) if world.mode(i)]
    needed = len(measured_rows()) + len(unlabelled_fails)
    assert n == 0 and f"{needed} calls needed" in out and re.search(r"estimated cost \$0\.\d{4}", out)
    n, out = calls_of("classify")
    assert n == needed and f"measured on {len(measured_rows())} expert fails" in out
    assert calls_of("classify")[0] == 0

    # two specialized judges: an LLM one (costed, then cached) and a code assertion (no calls at all)
    for name in ("dismissive tone", "fee_check"):
        for split in ("dev", "test", "unlabeled"):
            n, out = calls_of("judge", "--judge", name, "--split", split, "--dry-run")
            assert n == 0 and re.search(r"estimated cost \$0\.\d{4}", out)
            # an expert fail for another cause is no ground truth for this judge: left out, not called
            judged = (world.N - world.LABELLED if split == "unlabeled" else sum(
                1 for i in range(world.LABELLED) if world.split(i) == split and world.mode(i) in (None, "RUDE")))
            expected = judged if name == "dismissive tone" else 0  # a code assertion calls nothing
            assert f"{expected} calls needed" in out
            assert calls_of("judge", "--judge", name, "--split", split)[0] == expected
            assert calls_of("judge", "--judge", name, "--split", split)[0] == 0
    # few-shot examples chosen per row, measured against the fixed set on dev: costed, then run, then cached
    n, out = calls_of("judge", "--split", "dev", "--examples", "compare", "--dry-run")
    assert n == 0 and fake.embedding_calls == 0
    assert re.search(r"Dry run, fixed examples: 0 calls needed.*estimated cost \$0\.0000", out)
    assert re.search(r"Dry run, similar examples: [1-9]\d* calls needed.*estimated cost \$0\.\d{4}", out)
    n, out = calls_of("judge", "--split", "dev", "--examples", "compare")
    assert n > 0 and fake.embedding_calls > 0 and "McNemar" in out
    embedded = fake.embedding_calls
    assert calls_of("judge", "--split", "dev", "--examples", "compare")[0] == 0 and fake.embedding_calls == embedded
    total = fake.call_count

    out = ok("report")
    _check_report(cfg, sheet, tax)
    # everything again: nothing is called twice
    for args in (["triage"], ["classify"], ["judge", "--judge", "dismissive tone", "--split", "unlabeled"],
                 ["judge", "--split", "unlabeled"]):
        ok(*args)
    assert fake.call_count == total


def _check_report(cfg, sheet, tax):
    rep = report(cfg, write=False).figures
    cf = rep["classifier"]
    by = {r["root_cause"]: r for r in cf["causes"]}

    # the classifier's precision and recall, from the world's known answers with scikit-learn
    measured = measured_rows()
    truth = [{tax.canonical(world.EXPERT_CAUSE[world.mode(i)])} for i in measured]
    pred = [{tax.canonical(c) for c in world.classifier_causes(i)} - {None} for i in measured]
    mlb = MultiLabelBinarizer(classes=tax.names)
    p, r, _f, support = precision_recall_fscore_support(mlb.fit_transform(truth), mlb.transform(pred),
                                                        average=None, zero_division=0)
    assert cf["measured"]["n_measured"] == len(measured)
    for k, name in enumerate(tax.names):
        assert by[name]["support"] == support[k]
        if by[name]["predicted"]:
            assert by[name]["precision"] == pytest.approx(p[k])
        if by[name]["support"]:
            assert by[name]["recall"] == pytest.approx(r[k])
    assert by["dismissive tone"]["recall"] < 1 and by["policy misapplied"]["precision"] < 1  # it could fail

    # expert-assigned and LLM-assigned counts, apart, on the sheet
    fails = [i for i in range(world.LABELLED) if world.mode(i)]
    unl_fails = [i for i in range(world.LABELLED, world.N) if world.mode(i)]
    expert = {n: sum(1 for i in fails if tax.canonical(world.EXPERT_CAUSE[world.mode(i)]) == n) for n in tax.names}
    llm = {n: sum(1 for i in unl_fails if n in {tax.canonical(c) for c in world.classifier_causes(i)})
           for n in tax.names}
    rc = {row["root cause"]: row for row in table_after(sheet.grid("Root causes"), "Expert-assigned and LLM-assigned",
                                                         "root cause")}
    for name in tax.names:
        assert rc[name]["expert: labelled fails"] == by[name]["expert_count"] == expert[name]
        assert rc[name]["LLM: judge-failed unlabelled rows"] == by[name]["llm_count"] == llm[name]
    assert rc["dismissive tone"]["classifier recall"] == pytest.approx(r[tax.names.index("dismissive tone")])
    assert str(rc["wrong tone"]["status"]).startswith("unverified")

    # each specialized judge: agreement on test against the expert-derived truth, and its corrected rate
    rules = {"dismissive tone": ("RUDE", lambda i: world.tone_judge_fails(i)),
             "fee_check": ("FEE-ERROR", lambda i: world.mode(i) == "FEE-ERROR")}
    judges_tab = sheet.grid("Judges")
    compare = {row["judge"]: row for row in table_after(judges_tab, "Specialized judges", "judge")}
    for name, (marker, fails_) in rules.items():
        ids = [i for i in range(world.LABELLED) if world.split(i) == "test" and world.mode(i) in (None, marker)]
        t = ["fail" if world.mode(i) else "pass" for i in ids]
        v = ["fail" if fails_(i) else "pass" for i in ids]
        j = rep["judges"][name]
        assert j["headline"]["tpr"] == pytest.approx(recall_score(t, v, pos_label="pass"))
        assert j["headline"]["tnr"] == pytest.approx(recall_score(t, v, pos_label="fail"))
        unl = ["fail" if fails_(i) else "pass" for i in range(world.LABELLED, world.N)]
        est = corrected_success_rate(t, v, unl, method=METHOD)
        assert j["failure_rate"]["rate"] == pytest.approx(1 - est.theta)
        assert compare[name]["TPR"] == pytest.approx(j["headline"]["tpr"])
        assert compare[name]["TNR"] == pytest.approx(j["headline"]["tnr"])
    assert compare["fee_check"]["kind"] == "code assertion"


def test_the_decisions_are_the_experts_until_they_change_them(tmp_path, monkeypatch, fake, sheets_emulator,
                                                              gspread_client):
    """On Google: a re-run of triage after new critiques changes sheetsync's columns only; pull before any
    decision leaves the taxonomy as configured."""
    cfg, sheet = build("google", tmp_path, monkeypatch, sheets_emulator, gspread_client)
    runner = CliRunner()
    assert runner.invoke(cli, ["triage"]).exit_code == 0
    out = runner.invoke(cli, ["pull"]).output
    assert "root-cause proposals: 0 decided, 4 pending" in out
    assert load_taxonomy(cfg, Store.for_workspace(cfg.state_dir)).names == list(cfg.labels.root_causes)
    sheet.decide({"Rude reply": ("Rename to dismissive tone", "  spaces and\nlines kept  ")})
    assert split_of("r080") == "train" and world.mode(80) == "RUDE"
    GoogleExpert(gspread_client, TITLE).label({"r080": ("Fail", world.CRITIQUE["RUDE"], "rude reply")})
    assert runner.invoke(cli, ["pull"]).exit_code == 0
    fake.reset()
    assert runner.invoke(cli, ["triage"]).exit_code == 0 and fake.answered == 1  # one more critique: one call
    rows = {r[CATEGORY]: r for r in records(sheet.grid(TAB), PROPOSAL).values()}
    assert (rows["Rude reply"][DECISION], rows["Rude reply"][EDITED]) == ("Rename to dismissive tone",
                                                                          "  spaces and\nlines kept  ")
    assert all(not r[DECISION] for k, r in rows.items() if k != "Rude reply")
