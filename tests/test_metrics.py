"""sheetsync.metrics: labels, Wilson intervals, agreement and agreement_by.

References: scikit-learn for the confusion matrix, kappa, balanced accuracy and fail-class P/R/F1;
statsmodels for the Wilson interval; hand arithmetic (in comments) for the small cases.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from statsmodels.stats.proportion import proportion_confint

import sheetsync.metrics as metrics
from sheetsync.metrics import Agreement, agreement, agreement_by, normalize_label, wilson_interval

FIXTURE = Path(__file__).parent / "fixtures" / "tofueval_mediasum_sample.csv"
NAN = float("nan")


def tofueval(flip: float = 0.15, seed: int = 20240318) -> pd.DataFrame:
    """The TofuEval slice with expert = sent_label (yes = pass) and a judge that flips a seeded fraction."""
    df = pd.read_csv(FIXTURE)
    df["expert_verdict"] = df["sent_label"].map({"yes": "pass", "no": "fail"})
    flipped = np.random.default_rng(seed).random(len(df)) < flip
    df["judge_verdict"] = np.where(flipped, df["expert_verdict"].map({"pass": "fail", "fail": "pass"}),
                                   df["expert_verdict"])
    return df


# ---------------------------------------------------------------- normalize_label

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("pass", True), ("PASS", True), ("  Pass ", True), ("fail", False), ("FAIL", False), ("\tfAiL\n", False),
        (True, True), (False, False), (np.bool_(True), True), (np.bool_(False), False),
        (1, True), (0, False), (np.int64(1), True), (np.int8(0), False),
        (1.0, True), (0.0, False), (np.float32(1.0), True), (np.float64(0.0), False),
        ("1", True), ("0", False), (" 1 ", True),
        (None, None), (NAN, None), (np.nan, None), (np.float32("nan"), None), (pd.NA, None), ("", None),
        ("   ", None),
    ],
)
def test_normalize_label_accepts_every_documented_form(raw, expected):
    assert normalize_label(raw) is expected


@pytest.mark.parametrize("raw", ["yes", "no", "passed", "p", "true", "error", "2", "1.0", 2, -1, 0.5, 1.5,
                                 [1], {"x": 1}, b"pass", complex(1, 0) + 1j])
def test_normalize_label_rejects_anything_else_naming_the_value(raw):
    with pytest.raises(ValueError) as err:
        normalize_label(raw)
    assert repr(raw) in str(err.value)


# ---------------------------------------------------------------- wilson_interval

@pytest.mark.parametrize("successes, n", [(0, 1), (1, 1), (0, 10), (10, 10), (3, 7), (1, 2), (50, 100),
                                          (1, 1000), (999, 1000), (17, 23)])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(successes, n, confidence):
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(successes, n, confidence) == pytest.approx((low, high), abs=1e-12)


def test_wilson_interval_hand_computed():
    # 0 of 10 at 95%: z = 1.959964, z² = 3.841459; the upper bound is z²/(n + z²) = 3.841459/13.841459
    # = 0.277533, and the lower bound is exactly 0.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    # 5 of 10: centred on 0.5 by symmetry; half-width = z/(1 + z²/n) · sqrt(0.025 + z²/400)
    # = 1.959964/1.384146 · sqrt(0.025 + 0.009604) = 1.416009 · 0.186021 = 0.263406.
    low, high = wilson_interval(5, 10)
    assert (low + high) / 2 == pytest.approx(0.5, abs=1e-12)
    assert (high - low) / 2 == pytest.approx(0.263406, abs=1e-6)


def test_wilson_interval_is_none_for_no_data_and_checks_its_input():
    assert wilson_interval(0, 0) is None
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    for confidence in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="confidence"):
            wilson_interval(1, 2, confidence)


# ---------------------------------------------------------------- agreement vs references

def as_int(labels):
    return [int(normalize_label(x)) for x in labels]


def check_against_references(expert, judge, a: Agreement) -> None:
    """Every figure of `a` against scikit-learn / statsmodels, on pairs that are all usable."""
    y, p = as_int(expert), as_int(judge)
    (tp, fn), (fp, tn) = confusion_matrix(y, p, labels=[1, 0])
    assert (a.tp, a.fn, a.fp, a.tn) == (tp, fn, fp, tn)
    assert a.n == len(y) and a.n_excluded == 0
    assert a.accuracy == pytest.approx((tp + tn) / len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(y, p, labels=[0, 1])
        prec, rec, f1, _ = precision_recall_fscore_support(y, p, pos_label=0, average="binary",
                                                           zero_division=np.nan, labels=[0, 1])
        pass_prec, tpr, _, _ = precision_recall_fscore_support(y, p, pos_label=1, average="binary",
                                                               zero_division=np.nan, labels=[0, 1])
        balanced = balanced_accuracy_score(y, p)
    assert_same(a.kappa, kappa)
    assert_same(a.fail_precision, prec)
    assert_same(a.fail_recall, rec)
    assert_same(a.tnr, rec)
    assert_same(a.fail_f1, f1)
    assert_same(a.tpr, tpr)
    if a.tpr is not None and a.tnr is not None:  # sklearn averages only the classes present otherwise
        assert a.balanced_accuracy == pytest.approx(balanced, rel=1e-12)
    for ci, k, m in [(a.tpr_ci, tp, tp + fn), (a.tnr_ci, tn, tn + fp), (a.accuracy_ci, tp + tn, len(y))]:
        if m == 0:
            assert ci is None
        else:
            assert ci == pytest.approx(proportion_confint(k, m, alpha=0.05, method="wilson"), abs=1e-12)
    # Every None has a reason, and only Nones do.
    nones = {f.name for f in dataclasses.fields(a) if getattr(a, f.name) is None}
    assert nones == set(a.undefined)


def assert_same(ours, reference):
    if ours is None:
        assert math.isnan(reference), f"we say undefined, the reference says {reference}"
    else:
        assert ours == pytest.approx(reference, rel=1e-12, abs=1e-15)


CASES = {
    # name: (expert, judge)
    "mixed": (["pass"] * 4 + ["fail"] * 3, ["pass", "pass", "pass", "fail", "fail", "fail", "pass"]),
    "perfect": ([1, 1, 0, 0, 1], [1, 1, 0, 0, 1]),
    "all wrong": ([1, 1, 0, 0], [0, 0, 1, 1]),
    "all pass both": ([1] * 6, [1] * 6),
    "all fail both": ([0] * 6, [0] * 6),
    "expert all pass, judge mixed": ([1] * 5, [1, 0, 1, 0, 1]),
    "expert all fail, judge mixed": ([0] * 5, [1, 0, 1, 0, 0]),
    "expert all pass, judge all fail": ([1] * 3, [0] * 3),
    "expert all fail, judge all pass": ([0] * 3, [1] * 3),
    "judge never fails": ([1, 0, 1, 0], [1, 1, 1, 1]),
    "judge never passes": ([1, 0, 1, 0], [0, 0, 0, 0]),
    "n=1 agree pass": ([1], [1]),
    "n=1 agree fail": ([0], [0]),
    "n=1 disagree": ([1], [0]),
    "n=1 disagree other way": ([0], [1]),
    "tie: tpr = tnr": ([1, 1, 0, 0], [1, 0, 0, 1]),
    "kappa exactly zero": ([1, 1, 0, 0], [1, 0, 1, 0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_agreement_matches_references_on_edge_cases(name):
    expert, judge = CASES[name]
    check_against_references(expert, judge, agreement(expert, judge))


@pytest.mark.parametrize("seed", range(12))
def test_agreement_matches_references_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    expert = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
    judge = np.where(rng.random(n) < rng.uniform(0, 0.5), 1 - expert, expert)
    check_against_references(expert.tolist(), judge.tolist(), agreement(expert, judge))


def test_agreement_on_tofueval_sample_matches_references():
    df = tofueval()
    a = agreement(df["expert_verdict"], df["judge_verdict"])
    check_against_references(df["expert_verdict"].tolist(), df["judge_verdict"].tolist(), a)
    assert a.n == 200 and a.tp + a.fn == (df["sent_label"] == "yes").sum()


def test_agreement_hand_computed():
    # expert P P P P F F F, judge P P P F F F P:
    # tp = 3, fn = 1 (row 4), fp = 1 (row 7), tn = 2; n = 7.
    a = agreement(*CASES["mixed"])
    assert (a.n, a.tp, a.fn, a.fp, a.tn) == (7, 3, 1, 1, 2)
    assert a.tpr == pytest.approx(3 / 4)
    assert a.tnr == pytest.approx(2 / 3)
    assert a.accuracy == pytest.approx(5 / 7)
    assert a.balanced_accuracy == pytest.approx((3 / 4 + 2 / 3) / 2)  # = 17/24
    # po = 5/7; expert passes 4 and judge passes 4 of 7, so pe = (4·4 + 3·3)/49 = 25/49;
    # kappa = (35/49 - 25/49) / (1 - 25/49) = 10/24 = 5/12.
    assert a.kappa == pytest.approx(5 / 12)
    # FAIL as positive: precision = tn/(tn + fn) = 2/3, recall = tn/(tn + fp) = 2/3, F1 = 2/3.
    assert (a.fail_precision, a.fail_recall, a.fail_f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert a.undefined == {}


def test_agreement_confusion_orientation():
    # One row of each kind, so a swapped cell cannot go unnoticed.
    a = agreement(["pass", "pass", "fail", "fail", "pass"], ["pass", "fail", "pass", "fail", "pass"])
    assert (a.tp, a.fn, a.fp, a.tn) == (2, 1, 1, 1)


def test_agreement_excludes_missing_and_judge_errors_and_counts_them():
    expert = ["pass", None, "fail", NAN, "pass", "fail", "", "pass", "fail"]
    judge = ["pass", "pass", None, "fail", "error", " ERROR ", "fail", NAN, "fail"]
    a = agreement(expert, judge)
    # usable pairs: row 1 (pass/pass) and row 9 (fail/fail); the other 7 are excluded.
    assert (a.n, a.n_excluded, a.tp, a.fn, a.fp, a.tn) == (2, 7, 1, 0, 0, 1)


def test_agreement_with_mixed_label_forms_equals_plain_strings():
    expert = ["PASS", True, 1, 1.0, "1", " fail", False, 0, 0.0, "0", np.bool_(True), np.int64(0)]
    judge = [True, "pass", "fail", 0, 1.0, "FAIL", 0, "Pass", np.float64(1.0), "0", 1, False]
    plain = agreement([("pass" if normalize_label(e) else "fail") for e in expert],
                      [("pass" if normalize_label(j) else "fail") for j in judge])
    assert agreement(expert, judge) == plain
    assert agreement(np.array(expert, dtype=object), pd.Series(judge, index=range(100, 112))) == plain


def test_agreement_with_no_usable_rows_is_all_none_with_reasons():
    for expert, judge, excluded in [([], [], 0), ([None, "pass"], ["pass", "error"], 2)]:
        a = agreement(expert, judge)
        assert (a.n, a.n_excluded, a.tp, a.fn, a.fp, a.tn) == (0, excluded, 0, 0, 0, 0)
        rates = ["tpr", "tnr", "accuracy", "balanced_accuracy", "kappa", "fail_precision", "fail_recall",
                 "fail_f1", "tpr_ci", "tnr_ci", "accuracy_ci"]
        assert all(getattr(a, name) is None for name in rates)
        assert set(a.undefined) == set(rates)
        assert all("no rows" in reason for reason in a.undefined.values())


def test_agreement_reasons_say_what_is_missing():
    a = agreement([1, 1, 1], [1, 1, 1])
    assert a.tpr == 1.0 and a.accuracy == 1.0
    assert a.undefined["tnr"] == "no rows the expert failed"
    assert a.undefined["fail_recall"] == "no rows the expert failed"
    assert "pass" in a.undefined["kappa"]
    assert a.undefined["fail_precision"] == "the judge failed no rows"
    b = agreement([0, 0], [1, 0])
    assert b.undefined.keys() == {"tpr", "tpr_ci", "balanced_accuracy"}
    assert b.undefined["tpr"] == "no rows the expert passed"
    assert b.kappa == pytest.approx(0.0)  # expert uses one class: pe = po, kappa = 0, defined


def test_agreement_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        agreement([1, 0], [1])
    with pytest.raises(ValueError, match="'maybe'"):
        agreement(["pass", "maybe"], ["pass", "pass"])
    with pytest.raises(ValueError, match="'error'"):  # only the judge may error
        agreement(["error"], ["pass"])
    with pytest.raises(TypeError):
        agreement("pass", "pass")


def test_agreement_confidence_changes_only_the_intervals():
    expert, judge = CASES["mixed"]
    a95, a80 = agreement(expert, judge), agreement(expert, judge, confidence=0.8)
    assert a80.tpr == a95.tpr and a80.kappa == a95.kappa
    assert a80.tpr_ci == pytest.approx(proportion_confint(3, 4, alpha=0.2, method="wilson"))
    assert a80.tpr_ci[1] - a80.tpr_ci[0] < a95.tpr_ci[1] - a95.tpr_ci[0]


def test_agreement_is_frozen_and_serialisable():
    a = agreement(*CASES["all pass both"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.tp = 0
    d = a.to_dict()
    assert d["tp"] == 6 and d["tnr"] is None and d["undefined"]["tnr"] == "no rows the expert failed"
    assert json.loads(json.dumps(d))["tpr_ci"] == list(a.tpr_ci)


# ---------------------------------------------------------------- agreement_by

def test_agreement_by_equals_agreement_per_group_and_sklearn():
    df = tofueval()
    table = agreement_by(df, by="model_name")
    assert sorted(table["model_name"]) == sorted(df["model_name"].unique())
    assert table["n"].sum() == len(df)
    for _, row in table.iterrows():
        group = df[df["model_name"] == row["model_name"]]
        y, p = as_int(group["expert_verdict"]), as_int(group["judge_verdict"])
        (tp, fn), (fp, tn) = confusion_matrix(y, p, labels=[1, 0])
        assert (row["tp"], row["fn"], row["fp"], row["tn"]) == (tp, fn, fp, tn)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(y, p))
        a = agreement(group["expert_verdict"], group["judge_verdict"])
        assert row["tnr_ci_low"] == pytest.approx(a.tnr_ci[0])
        assert row["worst_ci_low"] == pytest.approx(min(a.tpr_ci[0], a.tnr_ci[0]))


def test_agreement_by_is_sorted_worst_and_smallest_first():
    df = tofueval()
    table = agreement_by(df, by=["model_name", "topic"])
    keys = list(zip(table["worst_ci_low"].fillna(-1), table["n"], strict=True))
    assert keys == sorted(keys)
    # small cells have wide intervals, so they come before the big ones
    assert table["n"].iloc[0] <= table["n"].median()


def test_agreement_by_pairs_of_dimensions_cover_every_combination_once():
    df = tofueval()
    table = agreement_by(df, by=["model_name", "topic"])
    combos = df.groupby(["model_name", "topic"]).size()
    assert len(table) == len(combos)
    for _, row in table.iterrows():
        assert row["n"] == combos[(row["model_name"], row["topic"])]


def test_agreement_by_undefined_cells_are_nan_with_reason_and_come_first():
    df = pd.DataFrame({
        "expert_verdict": ["pass", "pass", "fail", "pass", "fail", "pass", None, "pass"],
        "judge_verdict": ["pass", "fail", "fail", "pass", "fail", "pass", "pass", "error"],
        "dim": ["a", "a", "a", "b", "b", "c", "d", None],
    })
    table = agreement_by(df, by="dim").set_index("dim", drop=False)
    # d: its only row has no expert verdict; the missing-dimension cell: its only row is a judge error.
    assert set(table["dim"].iloc[:2].fillna("<missing>")) == {"d", "<missing>"}
    d = table.loc["d"]
    assert d["n"] == 0 and d["n_excluded"] == 1 and math.isnan(d["tpr"]) and math.isnan(d["worst_ci_low"])
    assert "tpr: no rows with both an expert and a judge verdict" in d["undefined"]
    c = table.loc["c"]  # one pass, judged pass: TPR defined, TNR not
    assert c["tpr"] == 1.0 and math.isnan(c["tnr"]) and "tnr: no rows the expert failed" in c["undefined"]
    a = table.loc["a"]  # tp=1, fn=1, tn=1
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (1, 1, 0, 1) and a["undefined"] == ""
    assert table["tpr"].dtype == float


def test_agreement_by_rejects_unknown_columns():
    with pytest.raises(KeyError, match="nope"):
        agreement_by(tofueval(), by="nope")
    with pytest.raises(ValueError):
        agreement_by(tofueval(), by=[])


# ---------------------------------------------------------------- the module is pure

def test_metrics_does_no_io():
    forbidden = {"open", "read_csv", "to_csv", "read_excel", "to_excel", "urlopen", "print", "input"}
    package = Path(metrics.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", None)
                 for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert not names & forbidden, f"{path.name} calls {names & forbidden}"
