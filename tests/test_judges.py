"""Steps 6 and 7 end to end with the fake LLM (real openai client) and a workbook the expert edits: triage → the
expert accepts, renames, merges and rejects → pull → classify → two specialized judges (an LLM one and a code
assertion), each measured against ground truth derived from the expert's root causes → report, whose Root
causes, Error analysis and Judges tabs show expert and LLM counts apart, the classifier's precision/recall and
each judge's agreement and corrected failure-mode rate — every figure checked against scikit-learn or the
formula it claims."""

import importlib
import sys

import openpyxl
import pytest
from click.testing import CliRunner
from sklearn.metrics import recall_score

from sheetsync.cli import cli
from sheetsync.metrics import corrected_success_rate
from sheetsync.report import report
from sheetsync.report.figures import METHOD
from sheetsync.store import Store
from tests import triage_world as world
from tests.fake_llm import fake_llm
from tests.test_classify import DECISIONS
from tests.test_triage import decide

JUDGES_TOML = '''
[judges."dismissive tone"]
criterion = "Is the reply courteous and helpful, never dismissive of the customer?"

[judges.fee_check]
root_cause = "policy misapplied"
assertion = "checks:no_fee_error"
'''

CHECKS = '''
def no_fee_error(row):
    bad = "FEE-ERROR" in row["output"]
    return (not bad, "quotes a fee the fare waives" if bad else "no fee quoted")
'''


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=world.responder) as server:
        yield server


@pytest.fixture
def steps(tmp_path, monkeypatch, fake):
    """Everything up to the report, through the CLI as an engineer would type it."""
    monkeypatch.chdir(tmp_path)
    _write_checks(tmp_path, CHECKS)
    cfg = world.build(tmp_path, extra_toml=JUDGES_TOML)
    run = CliRunner()

    def ok(*args):
        result = run.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    for split in ("dev", "test", "unlabeled"):
        ok("judge", "--split", split)
    out = ok("triage")
    assert "Proposed 4 root causes" in out and "decide in the Decision column" in out
    decide(tmp_path / "labels.xlsx", DECISIONS, sort=True)
    ok("pull")
    ok("classify")
    for name in ("dismissive tone", "fee_check"):
        for split in ("dev", "test", "unlabeled"):
            ok("judge", "--judge", name, "--split", split)
    ok("report")
    return cfg, tmp_path / "labels.xlsx"


def grid(book, tab):
    ws = openpyxl.load_workbook(book)[tab]
    return [[c.value for c in row] for row in ws.iter_rows()]


def table_after(rows, heading_prefix, first_cell):
    start = next(i for i, r in enumerate(rows) if r and isinstance(r[0], str) and r[0].startswith(heading_prefix))
    h = next(i for i in range(start, len(rows)) if rows[i] and rows[i][0] == first_cell)
    out = []
    for r in rows[h + 1:]:
        if sum(c is not None for c in r) <= 1:  # a blank line or a note: the table ended
            break
        out.append(dict(zip(rows[h], r, strict=False)))
    return out


def expected_agreement(name, truth_of, verdict_of):
    """TPR/TNR on the basis split (test) from the world's rules, with scikit-learn."""
    ids = [i for i in range(world.LABELLED) if world.split(i) == "test" and truth_of(i)]
    truth = [truth_of(i) for i in ids]
    pred = [verdict_of(i) for i in ids]
    return (recall_score(truth, pred, pos_label="pass"), recall_score(truth, pred, pos_label="fail"), len(ids),
            truth, pred)


def tone_truth(i):
    m = world.mode(i)
    return "fail" if m == "RUDE" else ("pass" if m is None else "")


def fee_truth(i):
    m = world.mode(i)
    return "fail" if m == "FEE-ERROR" else ("pass" if m is None else "")


def test_specialized_judges_each_get_agreement_and_a_corrected_rate(steps):
    cfg, book = steps
    rep = report(cfg, write=False).figures
    checks = {"dismissive tone": (tone_truth, lambda i: "fail" if world.tone_judge_fails(i) else "pass", "RUDE"),
              "fee_check": (fee_truth, lambda i: "fail" if world.mode(i) == "FEE-ERROR" else "pass", "FEE-ERROR")}
    for name, (truth_of, verdict_of, marker) in checks.items():
        j = rep["judges"][name]
        tpr, tnr, n, truth, pred = expected_agreement(name, truth_of, verdict_of)
        assert j["basis"] == "test" and j["headline"]["n"] == n
        assert j["headline"]["tpr"] == pytest.approx(tpr) and j["headline"]["tnr"] == pytest.approx(tnr)
        unl = ["pass" if verdict_of(i) == "pass" else "fail" for i in range(world.LABELLED, world.N)]
        est = corrected_success_rate(truth, pred, unl, method=METHOD)  # the report's interval (docs/coverage.md)
        assert j["failure_rate"]["rate"] == pytest.approx(1 - est.theta)
        assert (j["failure_rate"]["lower"], j["failure_rate"]["upper"]) == pytest.approx((1 - est.upper, 1 - est.lower))
        left_out = sum(1 for i in range(world.LABELLED) if world.split(i) in ("dev", "test") and world.mode(i)
                       and world.mode(i) != marker)
        assert j["ground_truth"]["left_out"] == left_out
    assert rep["judges"]["fee_check"]["kind"] == "code" and rep["judges"]["fee_check"]["headline"]["tnr"] == 1.0
    assert rep["judges"]["dismissive tone"]["headline"]["tpr"] < 1.0  # the LLM judge's false alarms are counted

    rows = grid(book, "Judges")
    compare = table_after(rows, "Specialized judges", "judge")
    assert [r["judge"] for r in compare] == ["dismissive tone", "fee_check"]
    assert compare[1]["kind"] == "code assertion" and compare[1]["TNR"] == 1.0
    assert compare[0]["TPR"] == pytest.approx(rep["judges"]["dismissive tone"]["headline"]["tpr"])
    assert sum(1 for r in rows if r and isinstance(r[0], str) and r[0].startswith("“")) == 2  # a section per judge


def test_the_main_judge_keeps_its_own_runs_and_tab(steps):
    cfg, book = steps
    store = Store.for_workspace(cfg.state_dir)
    assert len(store.runs()) == 3 and len(store.runs("dismissive tone")) == 3 and len(store.runs("fee_check")) == 3
    judge_tab = grid(book, "Judge")
    assert all(r[6] in ("Fails by the rule.", "Fine.", "judge critique") for r in judge_tab if r[0])
    rep = report(cfg, write=False).figures
    assert rep["agreement"]["headline"]["tpr"] == 1.0 and len(rep["agreement"]["history"]) == 3


def test_root_causes_and_error_analysis_show_expert_and_llm_counts_apart(steps):
    cfg, book = steps
    rep = report(cfg, write=False).figures
    cf = rep["classifier"]
    by = {r["root_cause"]: r for r in cf["causes"]}
    fails = [i for i in range(world.LABELLED) if world.mode(i)]
    assert by["dismissive tone"]["expert_count"] == sum(1 for i in fails if world.mode(i) == "RUDE")
    unl_fails = [i for i in range(world.LABELLED, world.N) if world.mode(i)]
    assert cf["n_judge_failed"] == cf["n_classified"] == len(unl_fails)
    assert by["dismissive tone"]["llm_count"] == sum(1 for i in unl_fails if "Rude reply" in world.classifier_causes(i))
    assert by["policy misapplied"]["llm_count"] == sum(
        1 for i in unl_fails if "policy misapplied" in world.classifier_causes(i))

    rc = table_after(grid(book, "Root causes"), "Expert-assigned and LLM-assigned", "root cause")
    row = next(r for r in rc if r["root cause"] == "dismissive tone")
    assert row["expert: labelled fails"] == by["dismissive tone"]["expert_count"]
    assert row["LLM: judge-failed unlabelled rows"] == by["dismissive tone"]["llm_count"]
    assert row["classifier recall"] == pytest.approx(by["dismissive tone"]["recall"])
    statuses = {r["root cause"]: r["status"] for r in rc}
    assert statuses["wrong tone"].startswith("unverified") and statuses["policy misapplied"].startswith("below floor")

    ea = table_after(grid(book, "Error analysis"), "Why the judge's failures fail", "root cause")
    assert {r["root cause"]: r["LLM: judge-failed unlabelled rows"] for r in ea} == {
        r["root_cause"]: r["llm_count"] for r in cf["causes"]}
    assert "expert: labelled fails" not in ea[0]
    rows = grid(book, "Error analysis")
    assert any(r and r[0] == "By tier: LLM-assigned root causes of the judge's failures" for r in rows)


def test_judge_errors_and_bad_judges_are_clear(steps, fake, tmp_path):
    cfg, _ = steps
    result = CliRunner().invoke(cli, ["judge", "--judge", "nope"])
    assert result.exit_code == 2 and "no such judge (known: dismissive tone, fee_check)" in result.output
    dry = CliRunner().invoke(cli, ["judge", "--judge", "dismissive tone", "--split", "dev", "--dry-run"])
    assert dry.exit_code == 0 and "0 calls needed" in dry.output


BROKEN = {
    "returns the wrong thing": ("def no_fee_error(row):\n    return 'maybe'\n",
                                "returned 'maybe'; expected (passed, reason)"),
    "raises": ("def no_fee_error(row):\n    x = 1\n    return row['no such field']\n",
               "raised KeyError: 'no such field' (checks.py, line 3)"),
    "raises on some rows": ("def no_fee_error(row):\n    if 'FEE-ERROR' in row['output']:\n        raise RuntimeError('boom')"
                            "\n    return True, 'fine'\n", "RuntimeError: boom (checks.py, line 3)"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_assertion_stops_with_its_line_and_records_nothing(steps, tmp_path, case):
    cfg, _ = steps
    code, message = BROKEN[case]
    _write_checks(tmp_path, code)
    store = Store.for_workspace(cfg.state_dir)
    before = len(store.runs("fee_check"))
    result = CliRunner().invoke(cli, ["judge", "--judge", "fee_check", "--split", "dev"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "[judges.fee_check]" in result.output
    assert "Nothing was recorded" in result.output and "Traceback" not in result.output
    assert len(Store.for_workspace(cfg.state_dir).runs("fee_check")) == before


@pytest.mark.parametrize(("assertion", "message"), [
    ("no_such_module:f", "no module named 'no_such_module'"),
    ("checks:missing", "checks has no attribute 'missing'"),
    ("checks:VALUE", "VALUE is a int, not a function"),
    ("checks.no_fee_error", "expected module:function"),
    ("broken_import:f", "importing broken_import failed: ZeroDivisionError"),
])
def test_a_bad_module_function_is_a_clear_error(steps, tmp_path, assertion, message):
    cfg, _ = steps
    _write_checks(tmp_path, CHECKS + "VALUE = 3\n")
    (tmp_path / "broken_import.py").write_text("1 / 0\n")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('assertion = "checks:no_fee_error"', f'assertion = "{assertion}"'))
    for args in (["judge", "--judge", "fee_check", "--split", "dev"], ["judge", "--judge", "fee_check", "--dry-run"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    sys.modules.pop("broken_import", None)


def _write_checks(folder, code):
    """A new checks.py, imported afresh by the next command (as a new process would)."""
    (folder / "checks.py").write_text(code)
    sys.modules.pop("checks", None)
    importlib.invalidate_caches()
