"""sheetsync classify end to end with the fake LLM: the judge's failures on unlabelled rows get root causes from
the taxonomy the expert decided, the classifier is measured on labelled fails it never saw (per cause precision
and recall, checked against scikit-learn and statsmodels), calls are cached and resumable, the dry run costs them."""

import re

import openpyxl
import pytest
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer
from statsmodels.stats.proportion import proportion_confint

from sheetsync.judge import judge
from sheetsync.pull import pull
from sheetsync.store import Store
from sheetsync.taxonomy import load_taxonomy
from sheetsync.triage.classify import classify
from sheetsync.triage.propose import triage
from tests import triage_world as world
from tests.fake_llm import fake_llm
from tests.test_triage import decide

DECISIONS = {"Wrong fee quoted": ("Merge into policy misapplied", None),
             "Hallucinated fact": ("Accept", "States as fact what the context does not support."),
             "Rude reply": ("Rename to dismissive tone", None), "Formatting / layout": ("Reject", None)}


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=world.responder) as server:
        yield server


def decided_workspace(root, fake):
    cfg = world.build(root)
    for split in ("dev", "test", "unlabeled"):
        judge(cfg, split=split, progress=False)
    triage(cfg, progress=False)
    decide(root / "labels.xlsx", DECISIONS)
    pull(cfg)
    return cfg


@pytest.fixture
def decided(tmp_path, monkeypatch, fake):
    monkeypatch.chdir(tmp_path)
    return decided_workspace(tmp_path, fake)


def canonical(tax, causes):
    return {tax.canonical(c) for c in causes} - {None}


def test_classifier_is_measured_against_the_expert_on_rows_it_never_saw(decided, fake):
    tax = load_taxonomy(decided, Store.for_workspace(decided.state_dir))
    fake.reset()
    out = classify(decided, progress=False)
    measured = [i for i in range(world.LABELLED) if world.mode(i) and world.split(i) in ("dev", "test")]
    unlabelled_fails = [i for i in range(world.LABELLED, world.N) if world.mode(i)]
    assert out.n_measured == len(measured) and out.n_unlabelled == len(unlabelled_fails)
    assert out.calls_made == len(measured) + len(unlabelled_fails) == fake.answered

    # the examples are train fails only, and every measured row's own text is absent from them
    system = fake.chat_requests[0]["messages"][0]["content"]
    shown = {int(n) for n in re.findall(r"Question (\d+):", system)}
    assert shown and all(world.split(i) == "train" and world.mode(i) for i in shown)
    assert "dismissive tone" in system and "States as fact what the context does not support." in system
    # the unlabelled rows are classified with the judge's critique, never the expert's
    users = [r["messages"][1]["content"] for r in fake.chat_requests]
    assert all("Fails by the rule." in u for u in users) and not any("lounge voucher" in u for u in users)

    m = out.measurement
    truth = [canonical(tax, [world.EXPERT_CAUSE[world.mode(i)]]) for i in measured]
    pred = [canonical(tax, world.classifier_causes(i)) for i in measured]
    mlb = MultiLabelBinarizer(classes=tax.names)
    p, r, _f, support = precision_recall_fscore_support(mlb.fit_transform(truth), mlb.transform(pred), average=None,
                                                        zero_division=0)
    table = {rec["label"]: rec for rec in m["per_cause"]}
    assert m["n_measured"] == len(measured) and m["row_ids"] == sorted(world.rid(i) for i in measured)
    for k, name in enumerate(tax.names):
        rec = table[name]
        assert rec["support"] == support[k]
        if rec["predicted"]:
            assert rec["precision"] == pytest.approx(p[k])
            assert (rec["precision_low"], rec["precision_high"]) == pytest.approx(
                proportion_confint(rec["tp"], rec["predicted"], method="wilson"))
        if rec["support"]:
            assert rec["recall"] == pytest.approx(r[k])
            assert (rec["recall_low"], rec["recall_high"]) == pytest.approx(
                proportion_confint(rec["tp"], rec["support"], method="wilson"))
    assert table["policy misapplied"]["recall"] == 1.0 and table["policy misapplied"]["precision"] < 1.0
    assert table["dismissive tone"]["recall"] < 1.0 and table["dismissive tone"]["precision"] == 1.0
    assert table["wrong tone"]["support"] == 0 and table["wrong tone"]["status"].startswith("unverified")


def test_reruns_cost_nothing_and_the_dry_run_counts_the_calls(decided, fake):
    fake.reset()
    dry = classify(decided, dry_run=True)
    assert fake.call_count == 0 and dry.calls_needed == dry.n_measured + dry.n_unlabelled
    assert dry.estimated_cost is not None and dry.estimated_cost > 0
    half = classify(decided, limit=10, progress=False)  # an interrupted run: what finished is kept
    assert half.calls_made == 10
    rest = classify(decided, progress=False)
    assert rest.calls_made == dry.calls_needed - 10 and rest.cache_hits == 10
    again = classify(decided, progress=False)
    assert again.calls_made == 0 and classify(decided, dry_run=True).calls_needed == 0


def test_a_new_taxonomy_makes_old_classifications_stale(decided, fake, tmp_path):
    first = classify(decided, progress=False)
    assert first.measurement["n_measured"] > 0
    book = tmp_path / "labels.xlsx"
    decide(book, {"Rude reply": ("Reject", None)})
    pull(decided)
    from sheetsync.triage.measure import current_classifications

    store = Store.for_workspace(decided.state_dir)
    assert current_classifications(store, load_taxonomy(decided, store)) == {}
    assert "dismissive tone" not in classify(decided, dry_run=True).taxonomy


def test_no_taxonomy_is_a_clear_error(tmp_path, monkeypatch, fake):
    from click.testing import CliRunner

    from sheetsync.cli import cli

    monkeypatch.chdir(tmp_path)
    world.build(tmp_path, extra_toml="")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(re.sub(r"root_causes = \[.*\]", "root_causes = []", toml.read_text()))
    result = CliRunner().invoke(cli, ["classify"])
    assert result.exit_code == 2 and "no root causes to classify into" in result.output


def test_classify_on_the_cli_prints_the_measured_figures(decided, fake):
    from click.testing import CliRunner

    from sheetsync.cli import cli

    result = CliRunner().invoke(cli, ["classify"])
    assert result.exit_code == 0, result.output
    assert "measured on" in result.output and "policy misapplied: precision" in result.output
    dry = CliRunner().invoke(cli, ["classify", "--dry-run"])
    assert dry.exit_code == 0 and "0 calls needed" in dry.output


def test_annotate_cells_are_untouched_by_classification(decided, fake, tmp_path):
    before = [[c.value for c in row] for row in openpyxl.load_workbook(tmp_path / "labels.xlsx")["Annotate"].iter_rows()]
    classify(decided, progress=False)
    after = [[c.value for c in row] for row in openpyxl.load_workbook(tmp_path / "labels.xlsx")["Annotate"].iter_rows()]
    assert before == after
